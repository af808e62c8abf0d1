# FreeSWITCH Carrier Appliance — developer entry points. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV    ?= .venv
PY      := $(VENV)/bin/python
PYTEST  := $(VENV)/bin/pytest
# Debian packages the test layers use: a real PostgreSQL server, sipp as phones and trunks,
# OpenSSL to verify the CA's chains, WireGuard (userspace wireguard-go: no kernel module here)
# in network namespaces with nftables.
APT_TEST := postgresql sip-tester python3-venv iproute2 procps openssl wireguard-tools wireguard-go \
            nftables iputils-ping
STAMP   := $(VENV)/.installed

.PHONY: help setup test test-fast bench lint run image clean

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  make %-10s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

setup: $(STAMP) ## Install Debian packages and the Python environment (idempotent)

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

test: setup ## Run every test layer this machine can (FreeSWITCH layers skip with one line when absent)
	$(PYTEST) -q

test-fast: setup ## Run the fast layers only (no image builds or boots)
	$(PYTEST) -q -m "not image"

bench: setup ## Print performance figures: calls/s vs a static dialplan, post-dial delay
	$(PY) -m tests.bench.calls

lint: setup ## ruff, yamllint and ansible-lint
	$(VENV)/bin/ruff check appliance tests
	$(VENV)/bin/ruff format --check appliance tests
	$(VENV)/bin/yamllint -s ansible roles inventory
	cd ansible && ../$(VENV)/bin/ansible-lint

run: setup ## Start the whole stack on loopback: PostgreSQL, FreeSWITCH ($$FREESWITCH_PREFIX), daemons
	$(PY) -m appliance.devstack.run

image: ## Build a flashable appliance image (TARGET=x86_64|rpi) — see issue #4
	@echo "make image: the image build (images/, ansible/) is not implemented yet; see docs/roadmap.md" >&2; exit 1

clean: ## Remove the virtualenv, caches and build output
	rm -rf $(VENV) dist build .pytest_cache .ruff_cache tests/artifacts
