# SPDX-License-Identifier: GPL-3.0-or-later
"""Make WireGuard keys on the device with wireguard-tools; private and preshared keys are files, 0600.

The private key never leaves the box: only `public_key()` is exported for enrolment. A key file is
created with O_EXCL, so an existing key is never overwritten (replacing it would cut the box off from
its hub until it is enrolled again).
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

from appliance.vpn import VpnError, wg
from appliance.vpn.model import is_key

log = logging.getLogger(__name__)


def ensure_private_key(path: Path) -> bool:
    """Create a private key at path unless one is there; return whether one was created."""
    return _ensure(path, "genkey")


def ensure_preshared_key(path: Path) -> bool:
    """Create a preshared key at path unless one is there; return whether one was created."""
    return _ensure(path, "genpsk")


def public_key(private_key_file: Path) -> str:
    """Return the public key belonging to the private key in private_key_file."""
    check_secret_file(private_key_file)
    with private_key_file.open(encoding="ascii") as fh:
        key = wg.run(["pubkey"], stdin=fh).strip()
    if not is_key(key):
        raise VpnError(f"{private_key_file}: wg pubkey did not return a key; is the file a WireGuard private key?")
    return key


def read_preshared_key(path: Path) -> str:
    """Return the preshared key stored at path, after checking the file's mode."""
    check_secret_file(path)
    key = path.read_text(encoding="ascii").strip()
    if not is_key(key):
        raise VpnError(f"{path}: not a WireGuard preshared key")
    return key


def check_secret_file(path: Path) -> None:
    """Refuse a key file that is missing or that group or others may read."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise VpnError(f"{path}: no such key file (appliance vpn keygen creates the private key)") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        # A key others could read may already be copied; tightening the mode would hide that.
        raise VpnError(f"{path}: mode {stat.S_IMODE(mode):04o} lets others read the key; replace the key")


def _ensure(path: Path, command: str) -> bool:
    if path.exists():
        check_secret_file(path)
        return False
    _make_private_dir(path.parent)
    key = wg.run([command]).strip()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        # Another process made it between our check and now: theirs stands, ours is dropped.
        return False
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(key + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    log.info("created %s with wg %s", path, command)
    return True


def _make_private_dir(path: Path) -> None:
    if path.is_dir():
        return
    # Only the key's own folder is private; its parents keep the modes other services rely on.
    path.parent.mkdir(parents=True, exist_ok=True)
    path.mkdir(mode=0o700, exist_ok=True)
