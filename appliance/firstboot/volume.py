# SPDX-License-Identifier: GPL-3.0-or-later
"""Create, unlock and mount the data volume: the storage step put together from `storage`'s pieces."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from appliance.firstboot import storage, system
from appliance.firstboot.settings import Settings
from appliance.storage import luks, provision
from appliance.storage import settings as storage_settings

log = logging.getLogger(__name__)


def set_up(settings: Settings, device: str, etc: Path = Path("/etc")) -> str:
    """Make device the unlocked, mounted, boot-time-configured data volume; return the unlock mode."""
    volume = storage.Volume(device, settings.luks_name, settings.data_dir, settings.data_label)
    mode = _mode(settings, volume)
    initial = settings.state_dir / "initial.key"  # TPM2 mode: until the TPM slot exists (root only)
    keyfile = settings.keyfile if mode == "lab" else initial
    if not storage.is_luks(device):
        storage.write_key(keyfile)
        storage.format_luks(device, keyfile, settings.data_label)
        log.info("created the LUKS2 data volume on %s", device)
    storage.unlock(volume, keyfile if keyfile.exists() else None)
    storage.make_filesystem(volume)
    uuid = storage.luks_uuid(device)
    if mode != "tang":
        storage.ensure_line(etc / "crypttab", storage.crypttab_line(volume.name, uuid, mode, settings.keyfile), 0)
    # Tang: no crypttab line (its generated unit would ask for a passphrase on the console before the
    # network is up); appliance-storage-unlock.service opens the volume, and the mount waits for it.
    timeout = "0" if mode == "tang" else "90s"
    storage.ensure_line(etc / "fstab", storage.fstab_line(volume.mapper, volume.mountpoint, timeout), 1)
    _mount(volume.mountpoint)
    if mode == "tpm2" and initial.exists():
        recovery = storage.enrol_tpm2(device, initial.read_text(encoding="ascii"), settings.tpm2_pcrs)
        storage.escrow_recovery_key(recovery, settings.hub_url, luks_uuid=uuid)
        initial.unlink()
    if mode == "tang" and initial.exists():
        # Tang (Clevis) and a recovery key replace the initial key (appliance.storage.provision)
        key = initial.read_text(encoding="ascii")
        stored = storage_settings.load()
        if "tang" not in luks.clevis_pins(device) and "sss" not in luks.clevis_pins(device):
            provision.enrol_tang_binding(stored, device, key)
        recovery = provision.add_recovery_key(device, key)
        storage.escrow_recovery_key(recovery, settings.hub_url, luks_uuid=uuid)
        provision.drop_initial_key(device, key)
        initial.unlink()
    (settings.data_dir / storage.MODE_FILE).write_text(storage.mode_file_text(mode, settings.keyfile), encoding="utf-8")
    if mode == "lab":
        for line in ("*" * 78, storage.LAB_BANNER.format(keyfile=settings.keyfile), "*" * 78):
            log.warning("%s", line)
    # The layout the roles describe in tmpfiles.d, now on the volume (owners and modes included).
    system.run(["systemd-tmpfiles", "--create", "--prefix", str(settings.data_dir)], check=False)
    return mode


def _mode(settings: Settings, volume: storage.Volume) -> str:
    """Return the unlock mode: as set up before on a resumed run, else as the settings and hardware allow."""
    recorded = storage.read_mode(settings.data_dir)
    if os.path.ismount(settings.data_dir) and recorded:
        return recorded
    if storage.is_luks(volume.device) and settings.keyfile.exists():
        return "lab"
    return storage.choose_mode(settings.storage_mode, tang=provision.tang_configured(storage_settings.load()))


def _mount(mountpoint: Path) -> None:
    if not os.path.ismount(mountpoint):
        mountpoint.mkdir(parents=True, exist_ok=True)
        system.run(["mount", str(mountpoint)])  # by its new fstab line
    # Let systemd read the new crypttab and fstab, so the units that need the volume see it mounted.
    system.run(["systemctl", "daemon-reload"], check=False)
