# SPDX-License-Identifier: GPL-3.0-or-later
"""Per-device credentials shown to people: SSH host keys and the console admin password."""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path

from appliance.firstboot import system

log = logging.getLogger(__name__)

ADMIN_PASSWORD_FILE = Path("/root/appliance-admin-password")
_PASSWORD_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789"


def make_host_keys(etc_ssh: Path = Path("/etc/ssh")) -> list[Path]:
    """Create every missing SSH host key (ssh-keygen -A); return the public keys."""
    system.run(["ssh-keygen", "-A"])
    return sorted(etc_ssh.glob("ssh_host_*_key.pub"))


def fingerprints(public_keys: list[Path]) -> list[str]:
    """Return `ssh-keygen -lf` lines (bits, SHA256 fingerprint, comment, type) for each public key."""
    return [system.output(["ssh-keygen", "-l", "-f", str(key)]) for key in public_keys]


def parse_fingerprint(line: str) -> tuple[str, str]:
    """Return (type, SHA256:...) from an `ssh-keygen -l` line such as '256 SHA256:x root@h (ED25519)'."""
    words = line.split()
    kind = words[-1].strip("()") if words[-1].startswith("(") else "?"
    return kind, words[1]


def new_password(length: int = 20) -> str:
    """Return a random password people can type (no look-alike characters)."""
    return "".join(secrets.choice(_PASSWORD_ALPHABET) for _ in range(length))


def ensure_admin_password(path: Path = ADMIN_PASSWORD_FILE) -> str:
    """Return the console admin password, creating it (root-only file) the first time."""
    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    password = new_password()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(password + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    log.info("console admin password written to %s (root only)", path)
    return password
