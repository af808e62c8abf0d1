# SPDX-License-Identifier: GPL-3.0-or-later
"""Console passwords: argon2id hashes and the rules a new password must meet."""

from __future__ import annotations

from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from appliance.model.validate import password_weakness

MIN_LENGTH = 12
MAX_LENGTH = 256  # argon2 takes any length; this only bounds the work an anonymous POST can cause


def hasher(params: dict[str, Any] | None = None) -> PasswordHasher:
    """Return an argon2id hasher; no params means argon2-cffi's defaults (RFC 9106 low-memory profile)."""
    return PasswordHasher(**(params or {}))


def hash_password(ph: PasswordHasher, password: str) -> str:
    """Return the argon2id hash of password."""
    return ph.hash(password)


def verify(ph: PasswordHasher, stored_hash: str, password: str) -> bool:
    """Return whether password matches stored_hash."""
    if len(password) > MAX_LENGTH:
        return False
    try:
        return ph.verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def weakness(password: str, *, username: str, current: str | None = None) -> str | None:
    """Return why password may not be a console password, or None."""
    if len(password) > MAX_LENGTH:
        return f"must be at most {MAX_LENGTH} characters"
    if current is not None and password == current:
        return "must differ from the current password"
    return password_weakness(password, username=username, minimum=MIN_LENGTH)
