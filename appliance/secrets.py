# SPDX-License-Identifier: GPL-3.0-or-later
"""Generate credentials on the device: SIP passwords, voicemail PINs, daemon passwords."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from appliance.model.validate import pin_weakness

_SIP_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789"


def sip_password(length: int = 24) -> str:
    """Return a random password that phones accept (letters and digits, no look-alikes)."""
    return "".join(secrets.choice(_SIP_ALPHABET) for _ in range(length))


def voicemail_pin(number: str, length: int = 6) -> str:
    """Return a random PIN that is neither repeated, sequential nor the extension number."""
    while True:
        pin = "".join(secrets.choice("0123456789") for _ in range(length))
        if pin_weakness(pin, number) is None:
            return pin


def load_or_create(path: Path, length: int = 32) -> str:
    """Return the secret stored at path, creating it (mode 0600) the first time."""
    try:
        return path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    value = sip_password(length)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(value + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    return value
