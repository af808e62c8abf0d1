# SPDX-License-Identifier: GPL-3.0-or-later
"""roles/pki applied to a chroot as the image build does: the renewal timer and the plain-HTTP publisher.

Checked: the publisher's unit listens on the addresses given (IPv6 in brackets), enabled and never
started; the image's wildcard only with pki_http_listen_on_all; a wildcard without it refused before
anything is written; a second run changes nothing; `systemd-analyze verify` of the units.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.roles import chroots

UNIT = "etc/systemd/system/appliance-pki-http.service"


def exec_start(root: Path) -> str:
    return next(line for line in (root / UNIT).read_text().splitlines() if line.startswith("ExecStart="))


def test_the_publisher_listens_on_the_given_addresses_and_a_rerun_changes_nothing(chroot, tmp_path):
    addresses = ["192.168.1.10", "fd10::1"]
    first = chroots.apply_role("pki", chroot, tmp_path, pki_http_listen=addresses)
    assert first.returncode == 0, first.stdout[-3000:]
    assert exec_start(chroot).endswith("serve-http --listen 192.168.1.10:80 --listen [fd10::1]:80")
    assert (chroot / "etc/systemd/system/multi-user.target.wants/appliance-pki-http.service").is_symlink()
    assert (chroot / "etc/systemd/system/timers.target.wants/appliance-pki-renew.timer").is_symlink()
    assert chroots.run("pgrep", "-f", "pki serve-http").returncode == 1  # enabled, never started

    again = chroots.apply_role("pki", chroot, tmp_path, pki_http_listen=addresses)
    assert again.returncode == 0 and chroots.changed(again) == 0, again.stdout[-3000:]
    if shutil.which("systemd-analyze"):
        verify = chroots.run("systemd-analyze", "verify", f"--root={chroot}", f"/{UNIT}")
        assert "appliance-pki-http" not in verify.stderr, verify.stderr


def test_the_image_listens_on_all_only_when_asked(chroot, tmp_path):
    refused = chroots.apply_role("pki", chroot, tmp_path, pki_http_listen=["0.0.0.0"])
    assert refused.returncode != 0
    assert "pki_http_listen must list the box's LAN and tunnel IP addresses" in refused.stdout
    assert not (chroot / UNIT).exists()

    image = chroots.apply_role("pki", chroot, tmp_path, pki_http_listen=["0.0.0.0"], pki_http_listen_on_all=True)
    assert image.returncode == 0, image.stdout[-3000:]
    assert exec_start(chroot).endswith("serve-http --listen-on-all --listen 0.0.0.0:80")
