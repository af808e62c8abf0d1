# SPDX-License-Identifier: GPL-3.0-or-later
"""The Raspberry Pi image unlocks its data volume through Tang, unattended: a Pi has no TPM.

The same image test_boot_rpi.py boots (built once per session), booted the same way (its own arm64 kernel
and initrd under -M virt), this time with storage.yml naming a real Tang server on this host (10.0.2.2 from
the guest) and the hub's escrow key, as enrolment leaves a Pi:
1. first boot binds the volume to Tang and seals the recovery key to the escrow key;
2. reboot: unattended unlock through Tang;
3. Tang stopped, reboot: degraded boot that says so, and the escrowed recovery key opens the volume by hand.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from images import qemu
from tests.image import checks, unlock
from tests.image.conftest import Guest
from tests.unit.storage.tangd import Tang

pytestmark = [pytest.mark.image, pytest.mark.image_rpi, pytest.mark.timeout(10800)]

BOOT_TIMEOUT = float(os.environ.get("IMAGE_BOOT_TIMEOUT_RPI", "3600"))


@pytest.fixture(scope="module")
def guest(rpi_image: Path, test_key: Path, tang: Tang, hub_identity, tmp_path_factory) -> Guest:
    """Boot a copy of the Pi image with Tang and the escrow key configured, and wait for first boot."""
    workdir = tmp_path_factory.mktemp("vm-rpi-tang")
    disk = qemu.prepare_disk(rpi_image, workdir / "disk.img", "8G")
    unlock.put_settings(disk, unlock.tang_settings(tang, hub_identity), workdir / "mnt")
    direct = qemu.pi_direct_kernel(disk, workdir)
    vm = qemu.Vm(disk, workdir, qemu.pick_ports(), serial_log=workdir / "serial.log", direct=direct)
    with checks.booted(
        vm, Guest(vm, test_key, workdir, "root", freeswitch=False), BOOT_TIMEOUT, tail_lines=60
    ) as guest:
        yield guest


def test_first_boot_binds_the_pis_volume_to_tang(guest: Guest):
    checks.data_volume_luks2_mounted(guest)
    assert unlock.bound_to_tang(guest) == []
    status = unlock.status(guest)
    assert status["state"] == "unlocked" and status["mounted"] and not status["lab_mode"], status


def test_the_pi_reboots_and_unlocks_through_tang_unattended(guest: Guest):
    guest.run("echo kept > /var/lib/appliance/tang-marker")
    unlock.reboot(guest, BOOT_TIMEOUT)
    status = unlock.status(guest)
    assert status["state"] == "unlocked" and status["method"] == "tang", status
    assert guest.out("findmnt -n -o SOURCE /var/lib/appliance").startswith("/dev/mapper/")
    assert guest.out("cat /var/lib/appliance/tang-marker") == "kept"


def test_without_tang_the_pi_boots_degraded_and_the_escrowed_key_opens_it(guest: Guest, tang: Tang, hub_identity):
    tang.stop()
    unlock.reboot(guest, BOOT_TIMEOUT)
    status = unlock.status(guest)
    assert status["state"] == "degraded" and not status["mounted"], status
    assert any("tang" in p for p in status["problems"]), status["problems"]
    guest.run(
        f"printf %s '{unlock.recovery_key(guest, hub_identity)}' | appliance storage unlock --recovery-key-file -"
    )
    status = unlock.status(guest)
    assert status["state"] == "unlocked" and status["method"] == "recovery-key" and status["mounted"], status
    assert guest.out("cat /var/lib/appliance/tang-marker") == "kept"
