# FreeSWITCH Carrier Appliance — developer entry points. `make help` lists them.
SHELL := /bin/bash
comma := ,
.DEFAULT_GOAL := help

VENV    ?= .venv
PY      := $(VENV)/bin/python
PYTEST  := $(VENV)/bin/pytest
# Debian packages the test layers use: a real PostgreSQL server, sipp as phones and trunks,
# OpenSSL to verify the CA's chains, WireGuard (userspace wireguard-go: no kernel module here)
# in network namespaces with nftables.
APT_TEST := postgresql sip-tester python3-venv iproute2 procps openssl wireguard-tools wireguard-go \
            nftables iputils-ping chromium libnss3-tools fdisk cloud-guest-utils age \
            tang clevis jose socat
STAMP   := $(VENV)/.installed
export PROMTOOL := $(abspath $(VENV))/bin/promtool
# Debian packages the image build and the image tests use (docs/images.md): mmdebstrap (+eatmydata) for the
# base; qemu-user-static, binfmt-support and arch-test to build arm64 on x86_64; e2fsprogs, dosfstools, mtools
# and fdisk to make filesystems as files and the disk without loop devices; xz-utils and bmap-tools for the
# artefacts; QEMU with OVMF (x86_64 UEFI) and qemu-efi-aarch64, swtpm (a TPM 2.0 for the VM) and
# openssh-client to boot and check the images.
APT_IMAGE := mmdebstrap eatmydata arch-test qemu-user-static binfmt-support e2fsprogs dosfstools mtools fdisk \
             xz-utils bmap-tools qemu-system-x86 qemu-system-arm qemu-utils ovmf qemu-efi-aarch64 swtpm \
             openssh-client
# Python packages the image build adds to the virtualenv: the full 'ansible' (community.general's chroot
# connection applies the roles to the image) and wheel (builds the appliance wheel without a download)
PIP_IMAGE := 'ansible>=11' wheel
IMAGE_STAMP := $(VENV)/.image-installed
TARGET  ?= x86_64

.PHONY: help setup test test-images test-fast bench lint run image image-deps run-image clean

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  make %-10s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

setup: $(STAMP) $(PROMTOOL) ## Install Debian packages and the Python environment (idempotent)

# promtool checks the shipped alert rules and runs their unit tests (tests/unit/metrics). Debian's
# prometheus package would also install and start a Prometheus server; only its promtool is taken.
$(PROMTOOL): | $(STAMP)
	@echo ">> extracting promtool from Debian's prometheus package"
	@tmp=$$(mktemp -d) && cd $$tmp && apt-get download -qq prometheus && dpkg-deb -x prometheus_*.deb root && \
	  install -m 0755 root/usr/bin/promtool $(abspath $@) && rm -rf $$tmp

$(STAMP): pyproject.toml
	@missing=$$(for p in $(APT_TEST); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo ">> installing Debian packages: $$missing"; \
	  $(if $(filter 0,$(shell id -u)),,sudo) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(if $(filter 0,$(shell id -u)),,sudo) apt-get install -y -qq $$missing; \
	fi
	@test -x $(PY) || python3 -m venv $(VENV)
	@echo ">> installing the appliance package and dev tools into $(VENV)"
	@$(VENV)/bin/pip install -q -e '.[dev]'
	@touch $@

# The image layer (marker `image`) is part of `make test`: the x86_64 image is built (without FreeSWITCH
# where the machine has none) and booted under QEMU. The Raspberry Pi image's build and boot (marker
# `image_rpi`: its arm64 base is built through qemu-user, ~50 min cold on 2 cores) and the security
# image's own build and three boots (marker `image_security`, ~25 min more) run only in
# `make test-images`: with them `make test` would not fit its hour. docs/testing.md has the times.
test: image-deps ## Run every test layer this machine can, the x86_64 image build and boot included
	$(PYTEST) -q -m "not image_rpi and not image_security"

test-images: image-deps ## Build the x86_64, security and Raspberry Pi images and boot them under QEMU
	$(PYTEST) -q -m image

test-fast: setup ## Run the fast layers only (no image builds or boots)
	$(PYTEST) -q -m "not image"

bench: setup $(if $(filter 1,$(IMAGE_BENCH)),image-deps) ## Print performance figures: calls/s, post-dial delay, CDRs at a million (IMAGE_BENCH=1: images too)
	$(PY) -m tests.bench.calls
	$(PY) -m tests.bench.cdrs
	$(PY) -m tests.bench.images

lint: setup ## ruff, yamllint and ansible-lint
	$(VENV)/bin/ruff check appliance images tests
	$(VENV)/bin/ruff format --check appliance images tests
	$(VENV)/bin/yamllint -s ansible roles inventory images tests/bench/plain-debian.yml
	cd ansible && ../$(VENV)/bin/ansible-lint

run: setup ## Start the whole stack on loopback: PostgreSQL, FreeSWITCH ($$FREESWITCH_PREFIX), daemons
	$(PY) -m appliance.devstack.run

image: ## Build a flashable image into dist/ (TARGET=x86_64|rpi, a FREESWITCH_* source, SSH_KEYS=a.pub,b.pub)
	@# the FreeSWITCH source is checked first, with the system python, before anything is installed or built
	@python3 -m images.preflight --source-only --target $(TARGET)
	@$(MAKE) --no-print-directory image-deps
	$(PY) -m images.build --target $(TARGET) $(foreach k,$(subst $(comma), ,$(SSH_KEYS)),--ssh-key $(k))

image-deps: setup $(IMAGE_STAMP) ## Install what the image build and image tests need (APT_IMAGE, ansible)

$(IMAGE_STAMP): $(STAMP)
	@missing=$$(for p in $(APT_IMAGE); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo ">> installing Debian packages for images: $$missing"; \
	  $(if $(filter 0,$(shell id -u)),,sudo) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(if $(filter 0,$(shell id -u)),,sudo) apt-get install -y -qq --no-install-recommends $$missing; \
	fi
	@echo ">> installing $(PIP_IMAGE) into $(VENV)"
	@$(VENV)/bin/pip install -q $(PIP_IMAGE)
	@touch $@

run-image: image-deps ## Boot the last x86_64 image in QEMU; SSH, HTTPS console, SIP on printed 127.0.0.1 ports
	$(PY) -m images.qemu $(if $(FRESH),--fresh)

clean: ## Remove the virtualenv, caches and build output
	rm -rf $(VENV) dist build .pytest_cache .ruff_cache tests/artifacts
