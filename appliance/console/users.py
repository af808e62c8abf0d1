# SPDX-License-Identifier: GPL-3.0-or-later
"""Console users: create, authenticate, change passwords. Plain functions over a connection (no Flask)."""

from __future__ import annotations

import re
from dataclasses import dataclass

import psycopg
from argon2 import PasswordHasher

from appliance.console import audit, passwords
from appliance.model.validate import Problem, ValidationFailed

ROLES = ("admin", "readonly")
USERNAME_RE = re.compile(r"^[a-z][a-z0-9_.-]{0,31}$")
_COLUMNS = "id, username, password_hash, role, must_change_password, session_epoch, disabled"
# Verified against when the user name is unknown, so a wrong name costs as long as a wrong password.
_DUMMY_PASSWORD = "not-a-password-of-anyone"


@dataclass(frozen=True)
class User:
    """One console user as stored."""

    id: int
    username: str
    password_hash: str
    role: str
    must_change_password: bool
    session_epoch: int
    disabled: bool

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def get(conn: psycopg.Connection, user_id: int) -> User | None:
    """Return the user with this id, or None."""
    row = conn.execute(f"SELECT {_COLUMNS} FROM console_users WHERE id = %s", (user_id,)).fetchone()
    return User(**row) if row else None


def by_name(conn: psycopg.Connection, username: str) -> User | None:
    """Return the user with this name, or None."""
    if not USERNAME_RE.match(username):
        return None
    row = conn.execute(f"SELECT {_COLUMNS} FROM console_users WHERE username = %s", (username,)).fetchone()
    return User(**row) if row else None


def all_users(conn: psycopg.Connection) -> list[dict]:
    """Return every user without the password hash."""
    return conn.execute(
        "SELECT username, role, must_change_password, disabled, created_at, password_changed_at, last_sign_in_at"
        " FROM console_users ORDER BY username"
    ).fetchall()


def create(
    conn: psycopg.Connection,
    ph: PasswordHasher,
    username: str,
    password: str,
    role: str,
    *,
    actor: str,
    must_change: bool = True,
) -> User:
    """Create a user (refused with problems naming the field); audited in the same transaction."""
    obj = f"console user {username}"
    problems = []
    if not USERNAME_RE.match(username):
        problems.append(Problem(obj, "username", "use 1-32 lowercase letters, digits, '.', '_' or '-'"))
    if role not in ROLES:
        problems.append(Problem(obj, "role", f"{role!r} is not one of {', '.join(ROLES)}"))
    if why := passwords.weakness(password, username=username):
        problems.append(Problem(obj, "password", why))
    if problems:
        raise ValidationFailed(problems)
    with conn.transaction():
        if conn.execute("SELECT 1 FROM console_users WHERE username = %s", (username,)).fetchone():
            raise ValidationFailed([Problem(obj, "username", "already exists")])
        conn.execute(
            "INSERT INTO console_users (username, password_hash, role, must_change_password) VALUES (%s, %s, %s, %s)",
            (username, passwords.hash_password(ph, password), role, must_change),
        )
        audit.record(conn, actor, "create", "console_user", username, {"role": role, "must_change": must_change})
    user = by_name(conn, username)
    assert user is not None
    return user


def set_password(
    conn: psycopg.Connection,
    ph: PasswordHasher,
    user: User,
    new_password: str,
    *,
    actor: str,
    must_change: bool = False,
    remote_addr: str = "",
) -> User:
    """Replace a user's password, end their other sessions, audit it; the caller checked the policy."""
    with conn.transaction():
        conn.execute(
            "UPDATE console_users SET password_hash = %s, must_change_password = %s,"
            " session_epoch = session_epoch + 1, password_changed_at = now() WHERE id = %s",
            (passwords.hash_password(ph, new_password), must_change, user.id),
        )
        audit.record(
            conn,
            actor,
            "update",
            "console_user",
            user.username,
            {"password": "changed", "must_change": must_change},
            remote_addr,
        )
    updated = get(conn, user.id)
    assert updated is not None
    return updated


def authenticate(conn: psycopg.Connection, ph: PasswordHasher, username: str, password: str) -> User | None:
    """Return the user if the password is right and the account enabled; upgrade an outdated hash."""
    user = by_name(conn, username)
    if user is None:
        passwords.verify(ph, _dummy_hash(ph), password)
        return None
    if not passwords.verify(ph, user.password_hash, password) or user.disabled:
        return None
    if ph.check_needs_rehash(user.password_hash):
        conn.execute(
            "UPDATE console_users SET password_hash = %s WHERE id = %s",
            (passwords.hash_password(ph, password), user.id),
        )
    conn.execute("UPDATE console_users SET last_sign_in_at = now() WHERE id = %s", (user.id,))
    return user


_dummy_hashes: dict[tuple, str] = {}


def _dummy_hash(ph: PasswordHasher) -> str:
    key = (ph.time_cost, ph.memory_cost, ph.parallelism)
    if key not in _dummy_hashes:
        _dummy_hashes[key] = ph.hash(_DUMMY_PASSWORD)
    return _dummy_hashes[key]
