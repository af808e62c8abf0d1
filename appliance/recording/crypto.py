# SPDX-License-Identifier: GPL-3.0-or-later
"""Encrypt recordings to an age X25519 recipient and decrypt them with the owner's identity file.

The files are standard age files (age-encryption.org/v1), so the owner may use the `age` tool
instead of `appliance recording decrypt`; the key file has the layout `age-keygen` writes.
"""

from __future__ import annotations

import datetime
import os
from pathlib import Path

import pyrage

from appliance.model.media import recipient_problem

SUFFIX = ".age"


class RecordingKeyError(ValueError):
    """A key or key file that cannot be used; the message says which and why."""


def generate_key_file(path: Path) -> str:
    """Write a new identity to path (mode 0600, never overwriting); return its public key."""
    identity = pyrage.x25519.Identity.generate()
    public = str(identity.to_public())
    created = datetime.datetime.now(datetime.UTC).replace(microsecond=0).isoformat()
    text = f"# created: {created}\n# public key: {public}\n{identity}\n"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise RecordingKeyError(f"{path}: already exists; refusing to overwrite a private key") from None
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(text)
    return public


def load_identities(path: Path) -> list[pyrage.x25519.Identity]:
    """Read the private keys of an age identity file (as `age-keygen` writes it)."""
    try:
        lines = Path(path).read_text(encoding="ascii").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise RecordingKeyError(f"{path}: cannot read the key file: {exc}") from None
    identities = []
    for number, line in enumerate(lines, start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        try:
            identities.append(pyrage.x25519.Identity.from_str(line))
        except pyrage.IdentityError as exc:
            raise RecordingKeyError(f"{path}: line {number}: not an age private key ({exc})") from None
    if not identities:
        raise RecordingKeyError(f"{path}: no AGE-SECRET-KEY-1... line")
    return identities


def recipient(public_key: str) -> pyrage.x25519.Recipient:
    """Return the recipient of an age public key, or raise RecordingKeyError."""
    if why := recipient_problem(public_key):
        raise RecordingKeyError(f"recording key {why}")
    return pyrage.x25519.Recipient.from_str(public_key)


def encrypt_file(plain: Path, dest: Path, public_key: str) -> None:
    """Encrypt plain into dest atomically (temp file, fsync, rename); dest never holds a partial file."""
    to = recipient(public_key)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.part")
    with open(plain, "rb") as reader, open(tmp, "wb") as writer:
        os.fchmod(writer.fileno(), 0o640)
        pyrage.encrypt_io(reader, writer, [to])
        writer.flush()
        os.fsync(writer.fileno())
    os.replace(tmp, dest)
    _fsync_dir(dest.parent)


def decrypt_file(encrypted: Path, dest: Path, key_file: Path) -> None:
    """Decrypt an encrypted recording with the owner's key file into dest (mode 0600)."""
    identities = load_identities(key_file)
    tmp = Path(dest).with_name(f".{Path(dest).name}.part")
    try:
        with open(encrypted, "rb") as reader, open(tmp, "wb") as writer:
            os.fchmod(writer.fileno(), 0o600)
            pyrage.decrypt_io(reader, writer, identities)
    except pyrage.DecryptError as exc:
        tmp.unlink(missing_ok=True)
        raise RecordingKeyError(f"{encrypted}: cannot decrypt with {key_file}: {exc}") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, dest)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
