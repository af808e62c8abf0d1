# SPDX-License-Identifier: GPL-3.0-or-later
"""Leave the root filesystem with no identity and no secrets, and check that it is so (image contract)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from images.progress import BuildError, say
from images.rootfs import BUILD_CAS, sources
from images.target import Target

PLACEHOLDER_HOSTNAME = "appliance"  # the same on every device until first boot names it

# Per-device state packages create while installing; first boot makes the device's own.
IDENTITY_FILES = (
    "etc/ssh/ssh_host_*",
    "var/lib/dbus/machine-id",
    "var/lib/systemd/random-seed",
    "var/lib/systemd/credential.secret",
    "var/lib/systemd/timesync/clock",
)
# Build leftovers: caches, logs, the package lists (apt-get update fetches them on the box).
LEFTOVERS = (
    "var/lib/apt/lists/*",
    "var/cache/apt/*.bin",
    "var/cache/apt/archives/*.deb",
    "var/cache/debconf/*-old",
    "var/lib/dpkg/*-old",
    "var/log/journal/*",
    "root/.cache",
    "root/.ansible",
    "root/.bash_history",
    "root/.wget-hsts",
    "tmp/*",
    "var/tmp/*",
)
# Where a private key must not be found in a finished image.
SECRET_DIRS = ("etc", "root", "home", "opt", "srv", "var/lib", "usr/local/etc")
SECRET_MARKERS = (b"PRIVATE KEY-----", b"OPENSSH PRIVATE KEY")


def _remove(rootdir: Path, pattern: str) -> None:
    for path in rootdir.glob(pattern):
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()


def scrub(rootdir: Path, target: Target) -> None:
    """Remove identity and build leftovers; set the runtime apt sources and a placeholder hostname."""
    for pattern in IDENTITY_FILES + LEFTOVERS:
        _remove(rootdir, pattern)
    # empty, not absent: systemd then treats the first boot as first boot (ConditionFirstBoot) and writes one
    (rootdir / "etc/machine-id").write_text("")
    (rootdir / "var/lib/dbus").mkdir(parents=True, exist_ok=True)
    (rootdir / "var/lib/dbus/machine-id").symlink_to("/etc/machine-id")
    (rootdir / "etc/hostname").write_text(PLACEHOLDER_HOSTNAME + "\n")
    (rootdir / "etc/hosts").write_text(
        f"127.0.0.1\tlocalhost\n127.0.1.1\t{PLACEHOLDER_HOSTNAME}\n::1\tlocalhost ip6-localhost ip6-loopback\n"
    )
    (rootdir / "etc/apt/sources.list").write_text(
        "\n".join(sources(target, target.runtime_mirror, target.runtime_security_mirror)) + "\n"
    )
    # logs: keep the files (some daemons expect them), drop their content
    for dirpath, _, filenames in os.walk(rootdir / "var/log"):
        for name in filenames:
            path = Path(dirpath, name)
            if path.is_file() and not path.is_symlink():
                path.write_bytes(b"")


def find_secrets(rootdir: Path) -> list[str]:
    """Return files that hold a private key or an account with a password (none may remain)."""
    found = []
    for top in SECRET_DIRS:
        for dirpath, _, filenames in os.walk(rootdir / top):
            if "/site-packages/" in dirpath + "/" or "/dist-packages/" in dirpath + "/":
                continue  # Python packages' test keys are public, not this device's secrets
            for name in filenames:
                path = Path(dirpath, name)
                if path.is_symlink() or not path.is_file() or path.stat().st_size > 1_000_000:
                    continue
                try:
                    data = path.read_bytes()
                except OSError:
                    continue
                if any(marker in data for marker in SECRET_MARKERS):
                    found.append("/" + str(path.relative_to(rootdir)))
    shadow = rootdir / "etc/shadow"
    if shadow.exists():
        for line in shadow.read_text().splitlines():
            user, _, hashed = line.partition(":")
            hashed = hashed.split(":", 1)[0]
            if hashed and hashed[0] not in "*!":
                found.append(f"/etc/shadow: {user} has a password")
    return found


def identity_left(rootdir: Path) -> list[str]:
    """Return what would give every device the same identity."""
    left = []
    if (rootdir / "etc/machine-id").read_text().strip():
        left.append("/etc/machine-id is not empty")
    left += ["/" + str(p.relative_to(rootdir)) for p in rootdir.glob("etc/ssh/ssh_host_*")]
    return left


def check(rootdir: Path) -> None:
    """Stop the build if the image would leave with a secret or an identity."""
    problems = find_secrets(rootdir) + identity_left(rootdir)
    if (rootdir / BUILD_CAS).exists():
        problems.append(f"/{BUILD_CAS}: the build host's CAs are still trusted")
    if problems:
        listed = "\n".join(f"      {p}" for p in problems)
        raise BuildError(
            "the image would leave the builder with secrets or identity (docs/image-contract.md: no keys, no "
            f"passwords, empty machine-id, no host keys):\n{listed}\n"
            "    The role that installs each must remove it in the image build and first boot must make it."
        )


def contract_warnings(rootdir: Path) -> list[str]:
    """Return what the roles were to provide (docs/image-contract.md) and the image lacks."""
    warnings = []
    # lexists: links in the image point into the image (absolute), which the build host does not have
    wants = [d / "appliance-firstboot.service" for d in (rootdir / "etc/systemd/system").glob("*.wants")]
    if not any(os.path.lexists(w) for w in wants):
        warnings.append("appliance-firstboot.service is not enabled: the image will never report ready")
    if not os.path.lexists(rootdir / "usr/local/bin/appliance"):
        warnings.append("/usr/local/bin/appliance is missing")
    if not (rootdir / "opt/appliance").is_dir():
        warnings.append("/opt/appliance (the appliance's virtualenv) is missing")
    for w in warnings:
        say(f"    warning: {w}")
    return warnings
