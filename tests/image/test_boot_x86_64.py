# SPDX-License-Identifier: GPL-3.0-or-later
"""Boot the x86_64 image under QEMU (q35, OVMF, TCG) and check the appliance from outside, then reboot once.

The tests run in file order against one VM: first boot, then what it made, then a reboot.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from images import qemu
from tests.image import checks
from tests.image.conftest import Guest, has_freeswitch

pytestmark = [pytest.mark.image, pytest.mark.timeout(7200)]

BOOT_TIMEOUT = float(os.environ.get("IMAGE_BOOT_TIMEOUT", "2400"))  # TCG on 2 cores: first boot takes minutes
SSH_USER = os.environ.get("APPLIANCE_SSH_USER", "root")


@pytest.fixture(scope="module")
def guest(x86_64_image: Path, test_key: Path, tmp_path_factory) -> Guest:
    """Boot a copy of the image, enlarged to 8 GiB, and wait for first boot to report ready."""
    workdir = tmp_path_factory.mktemp("vm-x86_64")
    disk = qemu.prepare_disk(x86_64_image, workdir / "disk.img", "8G")
    vm = qemu.Vm(disk, workdir, qemu.pick_ports(), serial_log=workdir / "serial.log")
    with checks.booted(
        vm, Guest(vm, test_key, workdir, SSH_USER, freeswitch=has_freeswitch(x86_64_image)), BOOT_TIMEOUT
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


def test_data_volume_is_sealed_to_the_tpm2_with_a_recovery_key(guest: Guest):
    if shutil.which("swtpm") is None:
        pytest.skip("swtpm missing: the VM has no TPM2 to seal the data volume to")
    checks.data_volume_sealed_to_the_tpm(guest)


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
