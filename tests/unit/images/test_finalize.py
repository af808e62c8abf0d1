# SPDX-License-Identifier: GPL-3.0-or-later
"""The image leaves the builder with no identity and no secrets, or the build stops naming what is left."""

from __future__ import annotations

from pathlib import Path

import pytest

from images import finalize
from images.progress import BuildError
from images.target import load

# A stand-in, not a key: assembled at run time so no private-key marker sits in the repository.
PRIVATE = "-----BEGIN " + "PRIVATE KEY-----\nMIIB\n-----END " + "PRIVATE KEY-----\n"


@pytest.fixture
def rootfs(tmp_path) -> Path:
    """A tiny root filesystem with what Debian's packages leave behind."""
    root = tmp_path / "root"
    for d in ("etc/ssh", "etc/ssl/private", "var/lib/dbus", "var/lib/apt/lists", "var/log/apt", "tmp", "etc/apt"):
        (root / d).mkdir(parents=True)
    (root / "etc/machine-id").write_text("0123456789abcdef0123456789abcdef\n")
    (root / "var/lib/dbus/machine-id").write_text("0123456789abcdef0123456789abcdef\n")
    (root / "etc/ssh/ssh_host_ed25519_key").write_text("-----BEGIN " + "OPENSSH PRIVATE KEY-----\n")
    (root / "etc/ssh/ssh_host_ed25519_key.pub").write_text("ssh-ed25519 AAAA root@build\n")
    (root / "etc/shadow").write_text("root:*:19000:0:99999:7:::\n")
    (root / "var/lib/apt/lists/deb.debian.org_Packages").write_text("x" * 100)
    (root / "var/log/apt/history.log").write_text("Start-Date: ...\n")
    (root / "tmp/leftover").write_text("x")
    return root


def test_scrub_removes_identity_and_leftovers(rootfs):
    finalize.scrub(rootfs, load("x86_64"))
    assert (rootfs / "etc/machine-id").read_text() == ""
    assert (rootfs / "var/lib/dbus/machine-id").is_symlink()
    assert not list((rootfs / "etc/ssh").glob("ssh_host_*"))
    assert not list((rootfs / "var/lib/apt/lists").iterdir())
    assert (rootfs / "var/log/apt/history.log").read_text() == ""
    assert not (rootfs / "tmp/leftover").exists()
    assert (rootfs / "etc/hostname").read_text() == "appliance\n"
    assert "deb http://deb.debian.org/debian bookworm main" in (rootfs / "etc/apt/sources.list").read_text()
    finalize.check(rootfs)  # nothing left: no error


def test_check_names_each_secret_and_password(rootfs):
    finalize.scrub(rootfs, load("x86_64"))
    (rootfs / "etc/ssl/private/ssl-cert-snakeoil.key").write_text(PRIVATE)
    (rootfs / "etc/shadow").write_text("root:$y$j9T$abc:19000:0:99999:7:::\nnobody:!:19000::::::\n")
    with pytest.raises(BuildError) as exc:
        finalize.check(rootfs)
    assert "/etc/ssl/private/ssl-cert-snakeoil.key" in str(exc.value)
    assert "/etc/shadow: root has a password" in str(exc.value)
    assert "nobody" not in str(exc.value)


def test_python_packages_test_keys_are_not_secrets(rootfs):
    finalize.scrub(rootfs, load("x86_64"))
    tests = rootfs / "opt/appliance/lib/python3.11/site-packages/gevent/tests"
    tests.mkdir(parents=True)
    (tests / "server.key").write_text(PRIVATE)
    finalize.check(rootfs)


def test_identity_left_by_a_role_stops_the_build(rootfs):
    finalize.scrub(rootfs, load("x86_64"))
    (rootfs / "etc/machine-id").write_text("feedface\n")
    (rootfs / "etc/ssh/ssh_host_rsa_key.pub").write_text("ssh-rsa AAAA\n")
    with pytest.raises(BuildError, match="machine-id is not empty"):
        finalize.check(rootfs)


def test_contract_warnings_follow_links_inside_the_image(rootfs):
    # absolute links in the image point into the image, not the build host
    wants = rootfs / "etc/systemd/system/multi-user.target.wants"
    wants.mkdir(parents=True)
    (wants / "appliance-firstboot.service").symlink_to("/etc/systemd/system/appliance-firstboot.service")
    (rootfs / "usr/local/bin").mkdir(parents=True)
    (rootfs / "usr/local/bin/appliance").symlink_to("/opt/appliance/bin/appliance")
    (rootfs / "opt/appliance").mkdir(parents=True)
    assert finalize.contract_warnings(rootfs) == []
    (wants / "appliance-firstboot.service").unlink()
    assert finalize.contract_warnings(rootfs) == [
        "appliance-firstboot.service is not enabled: the image will never report ready"
    ]
