# SPDX-License-Identifier: GPL-3.0-or-later
"""Boot the Raspberry Pi image's root filesystem under qemu-system-aarch64 -M virt and check it from outside.

There is no Pi in QEMU that boots Debian's raspi-firmware, so the VM boots the image's own generic arm64
kernel and initrd (taken from its firmware partition) with cmdline.txt's root=, on the whole image as its
disk: the same root filesystem, first boot and services as on a Pi; the Pi's firmware stage is not tested.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from images import qemu
from tests.image import checks
from tests.image.conftest import Guest, has_freeswitch

pytestmark = [pytest.mark.image, pytest.mark.image_rpi, pytest.mark.timeout(10800)]

# an emulated Cortex-A72 on x86_64 is slower still than TCG x86_64
BOOT_TIMEOUT = float(os.environ.get("IMAGE_BOOT_TIMEOUT_RPI", "3600"))
SSH_USER = os.environ.get("APPLIANCE_SSH_USER", "root")


@pytest.fixture(scope="module")
def guest(rpi_image: Path, test_key: Path, tmp_path_factory) -> Guest:
    """Boot a copy of the Pi image, enlarged to 8 GiB, and wait for first boot to report ready."""
    workdir = tmp_path_factory.mktemp("vm-rpi")
    disk = qemu.prepare_disk(rpi_image, workdir / "disk.img", "8G")
    direct = qemu.pi_direct_kernel(disk, workdir)
    vm = qemu.Vm(disk, workdir, qemu.pick_ports(), serial_log=workdir / "serial.log", direct=direct)
    with checks.booted(
        vm, Guest(vm, test_key, workdir, SSH_USER, freeswitch=has_freeswitch(rpi_image)), BOOT_TIMEOUT
    ) as guest:
        yield guest


def test_first_boot_reports_ready_on_the_serial_console(guest: Guest):
    checks.first_boot_ready(guest)


def test_ssh_host_keys_match_the_fingerprints_on_the_console(guest: Guest, tmp_path):
    checks.ssh_host_keys_match_console(guest, tmp_path)


def test_no_failed_units(guest: Guest):
    checks.no_failed_units(guest)


def test_data_volume_is_luks2_and_mounted(guest: Guest):
    checks.data_volume_luks2_mounted(guest)


def test_freeswitch_answers_sip_options(guest: Guest):
    checks.freeswitch_answers_options(guest)


def test_console_answers_https_with_the_appliance_ca(guest: Guest):
    checks.console_https_with_appliance_ca(guest)


def test_the_firewall_is_loaded_with_every_wired_nic_as_the_lan(guest: Guest):
    checks.firewall_guards_the_box(guest)


def test_the_metrics_exporter_reports_the_boxs_health(guest: Guest):
    checks.metrics_exported(guest)


def test_reboot_keeps_identity_and_unlocks_the_data_volume_unattended(guest: Guest):
    checks.reboot_keeps_identity_and_unlocks(guest, BOOT_TIMEOUT)
