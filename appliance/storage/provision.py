# SPDX-License-Identifier: GPL-3.0-or-later
"""First boot's half of the security stack: bind the new volume to Tang, add and escrow its recovery key.

Called by appliance.firstboot.volume while the initial key (in first boot's root-only state folder) still
opens the volume; first boot then removes that key's slot.
"""

from __future__ import annotations

import logging
from pathlib import Path

from appliance.storage import escrow, luks
from appliance.storage.settings import StorageSettings

log = logging.getLogger(__name__)


def tang_configured(settings: StorageSettings) -> bool:
    """Return whether Tang servers are configured (a box without a TPM then uses them)."""
    return bool(settings.tang_servers)


def escrow_recovery_key(settings: StorageSettings, luks_uuid: str, recovery_key: str) -> Path | None:
    """Seal the recovery key to the fleet's escrow key; return the sealed file, or None without an escrow key."""
    if not settings.escrow_public_key:
        return None
    path = escrow.write_sealed(settings.escrow_dir, luks_uuid, recovery_key, settings.escrow_public_key)
    log.info("recovery key sealed to the fleet's escrow key in %s (only the hub can open it)", path)
    return path


def enrol_tang_binding(settings: StorageSettings, device: str, initial_key: str) -> None:
    """Bind the volume to the Tang servers (a Clevis key slot)."""
    luks.bind_tang(device, initial_key, settings.tang_servers)
    log.info("data volume bound to Tang: %s", ", ".join(s.url for s in settings.tang_servers))


def add_recovery_key(device: str, initial_key: str) -> str:
    """Add a recovery key slot (opened by the initial key); return the recovery key."""
    return luks.add_recovery_key(device, initial_key)


def drop_initial_key(device: str, initial_key: str) -> None:
    """Remove the initial key's slot, once the lasting slots (Tang, recovery) exist."""
    luks.remove_key(device, initial_key)
