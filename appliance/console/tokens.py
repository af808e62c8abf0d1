# SPDX-License-Identifier: GPL-3.0-or-later
"""API tokens: made once and shown once, stored as a SHA-256 digest, scoped read or read+write."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass

import psycopg

from appliance.console import audit
from appliance.model.validate import Problem, ValidationFailed

SCOPES = ("read", "write")
PREFIX = "fsca_"  # lets secret scanners (gitleaks) recognise a leaked token
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")


@dataclass(frozen=True)
class Token:
    """A valid token's name and scopes (never the token itself)."""

    id: int
    name: str
    scopes: tuple[str, ...]

    def allows(self, scope: str) -> bool:
        # Whoever may write may also read what they wrote.
        return scope in self.scopes or (scope == "read" and "write" in self.scopes)


def digest(token: str) -> str:
    """Return the stored form of a token."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def create(conn: psycopg.Connection, name: str, scopes: list[str], actor: str, remote_addr: str = "") -> str:
    """Create a token and return it; this is the only time it exists in clear."""
    obj = f"api token {name}"
    problems = []
    if not NAME_RE.match(name):
        problems.append(Problem(obj, "name", "use letters, digits, '.', '_' or '-' (at most 63)"))
    if not scopes or any(s not in SCOPES for s in scopes):
        problems.append(Problem(obj, "scopes", f"choose from {', '.join(SCOPES)}"))
    if problems:
        raise ValidationFailed(problems)
    token = PREFIX + secrets.token_urlsafe(32)
    with conn.transaction():
        if conn.execute("SELECT 1 FROM api_tokens WHERE name = %s", (name,)).fetchone():
            raise ValidationFailed([Problem(obj, "name", "already exists")])
        conn.execute(
            "INSERT INTO api_tokens (name, token_hash, scopes, created_by) VALUES (%s, %s, %s, %s)",
            (name, digest(token), sorted(set(scopes)), actor),
        )
        audit.record(conn, actor, "create", "api_token", name, {"scopes": sorted(set(scopes))}, remote_addr)
    return token


def revoke(conn: psycopg.Connection, name: str, actor: str, remote_addr: str = "") -> None:
    """Revoke a token at once."""
    with conn.transaction():
        row = conn.execute(
            "UPDATE api_tokens SET revoked_at = now() WHERE name = %s AND revoked_at IS NULL RETURNING id", (name,)
        ).fetchone()
        if row is None:
            raise ValidationFailed([Problem(f"api token {name}", "name", "no such active token")])
        audit.record(conn, actor, "delete", "api_token", name, {"revoked": True}, remote_addr)


def verify(conn: psycopg.Connection, token: str) -> Token | None:
    """Return the token's record if it is valid and not revoked."""
    if not token.startswith(PREFIX) or len(token) > 128:
        return None
    row = conn.execute(
        "SELECT id, name, scopes FROM api_tokens WHERE token_hash = %s AND revoked_at IS NULL", (digest(token),)
    ).fetchone()
    if row is None:
        return None
    # At most one write a minute per token, not one per request.
    conn.execute(
        "UPDATE api_tokens SET last_used_at = now() WHERE id = %s"
        " AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')",
        (row["id"],),
    )
    return Token(row["id"], row["name"], tuple(row["scopes"]))


def all_tokens(conn: psycopg.Connection) -> list[dict]:
    """Return every token's name, scopes and dates (never a digest)."""
    return conn.execute(
        "SELECT name, scopes, created_by, created_at, last_used_at, revoked_at FROM api_tokens"
        " ORDER BY revoked_at IS NOT NULL, name"
    ).fetchall()
