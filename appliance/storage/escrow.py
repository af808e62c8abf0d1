# SPDX-License-Identifier: GPL-3.0-or-later
"""The recovery key, sealed to the fleet's escrow public key (age, X25519) so that only the hub can read it.

The box keeps only the sealed file (and hands it to the hub at enrolment); the plaintext recovery key
exists in memory while first boot adds it as a key slot, never on disk.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pyrage
from pyrage import x25519

from appliance.config import ConfigError

SUFFIX = ".age"


class EscrowError(ConfigError):
    """A key or sealed file that cannot be used; the message names it."""


def check_public_key(text: str, what: str = "escrow public key") -> x25519.Recipient:
    """Return the age recipient for text, or raise EscrowError naming `what`."""
    try:
        return x25519.Recipient.from_str(text.strip())
    except Exception as exc:  # pyrage raises its own RecipientError or ValueError
        raise EscrowError(f"{what}: not an age X25519 public key (age1...): {exc}") from None


def seal(secret: str, public_key: str) -> bytes:
    """Return secret encrypted to public_key (the age format)."""
    return pyrage.encrypt(secret.encode("utf-8"), [check_public_key(public_key)])


def open_sealed(sealed: bytes, identity: str) -> str:
    """Return the secret in sealed, opened with the hub's private key (AGE-SECRET-KEY-1...); else EscrowError."""
    try:
        key = x25519.Identity.from_str(identity.strip())
    except Exception as exc:
        raise EscrowError(f"escrow identity: not an age X25519 private key: {exc}") from None
    try:
        return pyrage.decrypt(sealed, [key]).decode("utf-8")
    except Exception as exc:  # DecryptError: wrong key or damaged file
        raise EscrowError(f"the sealed recovery key does not open with this identity: {exc}") from None


def write_sealed(escrow_dir: Path, luks_uuid: str, recovery_key: str, public_key: str) -> Path:
    """Seal the recovery key of volume luks_uuid into escrow_dir/<uuid>.age (with a .json note); return the path."""
    escrow_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(escrow_dir, 0o700)
    path = escrow_dir / f"{luks_uuid}{SUFFIX}"
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(seal(recovery_key.strip(), public_key))
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    note = {"luks_uuid": luks_uuid, "recipient": public_key, "sealed_at": int(time.time()), "file": path.name}
    path.with_suffix(".json").write_text(json.dumps(note, indent=2) + "\n", encoding="utf-8")
    return path
