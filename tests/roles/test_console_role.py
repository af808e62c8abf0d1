# SPDX-License-Identifier: GPL-3.0-or-later
"""roles/console applied to a chroot through Ansible's chroot connection, as the image build does.

The chroot is this machine's own /usr (read-only) under a copy of /etc, so it costs seconds, not a
debootstrap. Checked: files and modes, the unit enabled and never started, idempotence (the second
run changes nothing), `systemd-analyze verify` of the unit, and a wildcard address refused before
anything is written.
"""

from __future__ import annotations

import shutil
import stat

import yaml

from appliance.console.settings import settings
from tests.roles import chroots


def test_console_role_in_a_chroot(chroot, tmp_path):
    addresses = ["192.168.1.10", "10.77.0.2"]
    first = chroots.apply_role("console", chroot, tmp_path, console_bind_addresses=addresses)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-2000:]
    assert chroots.changed(first) >= 3

    unit = chroot / "etc/systemd/system/appliance-console.service"
    dropin = chroot / "etc/appliance/conf.d/60-console.yml"
    assert stat.S_IMODE(unit.stat().st_mode) == 0o644
    assert stat.S_IMODE(dropin.stat().st_mode) == 0o640
    text = unit.read_text()
    for line in ("User=appliance", "NoNewPrivileges=true", "ProtectSystem=strict", "AmbientCapabilities="):
        assert line in text, line
    console = settings(yaml.safe_load(dropin.read_text()))
    assert console["bind"] == ["192.168.1.10", "10.77.0.2"] and console["port"] == 443
    # The CA's keys are root's: the unit copies the console's pair into its runtime folder as root ('+'),
    # and the console reads that copy (it crash-looped on the image reading the CA's private folder).
    export = "+/usr/local/bin/appliance pki export-console --dir /run/appliance-console"
    assert f"ExecStartPre={export}" in text and f"ExecReload={export}" in text
    assert "RuntimeDirectory=appliance-console" in text
    assert (console["cert"], console["key"]) == ("/run/appliance-console/chain.pem", "/run/appliance-console/key.pem")
    wants = chroot / "etc/systemd/system/multi-user.target.wants/appliance-console.service"
    assert wants.is_symlink()
    # Enabled, never started: nothing runs the chroot's console.
    assert chroots.run("pgrep", "-f", "appliance console serve").returncode == 1

    again = chroots.apply_role("console", chroot, tmp_path, console_bind_addresses=addresses)
    assert again.returncode == 0, again.stdout[-3000:]
    assert chroots.changed(again) == 0, again.stdout[-3000:]

    if shutil.which("systemd-analyze"):
        verify = chroots.run(
            "systemd-analyze", "verify", f"--root={chroot}", "/etc/systemd/system/appliance-console.service"
        )
        assert verify.returncode == 0, verify.stdout + verify.stderr
        assert "appliance-console" not in verify.stderr, verify.stderr


def test_a_wildcard_address_is_refused_before_anything_is_written(chroot, tmp_path):
    refused = chroots.apply_role("console", chroot, tmp_path, console_bind_addresses=["0.0.0.0"])
    assert refused.returncode != 0
    assert "console_bind_addresses must list the box's LAN and tunnel IP addresses" in refused.stdout
    assert not (chroot / "etc/systemd/system/appliance-console.service").exists()
    assert not (chroot / "etc/appliance/conf.d/60-console.yml").exists()


def test_a_wildcard_is_accepted_when_the_image_asks_for_it(chroot, tmp_path):
    done = chroots.apply_role(
        "console", chroot, tmp_path, console_bind_addresses=["0.0.0.0"], console_listen_on_all=True
    )
    assert done.returncode == 0, done.stdout[-3000:]
    dropin = chroot / "etc/appliance/conf.d/60-console.yml"
    assert settings(yaml.safe_load(dropin.read_text()))["bind"] == ["0.0.0.0"]
