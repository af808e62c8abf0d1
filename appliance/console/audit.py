# SPDX-License-Identifier: GPL-3.0-or-later
"""The audit log: one row per change, written in the change's own transaction, secrets masked."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

MASK = "********"


def record(
    conn: psycopg.Connection,
    actor: str,
    action: str,
    kind: str,
    key: str,
    summary: dict[str, Any],
    remote_addr: str = "",
) -> None:
    """Write one audit row; call it inside the transaction that makes the change."""
    conn.execute(
        "INSERT INTO audit_log (actor, action, object_kind, object_key, summary, remote_addr)"
        " VALUES (%s, %s, %s, %s, %s, %s)",
        (actor, action, kind, key, Jsonb(summary), remote_addr),
    )


def masked(data: dict[str, Any], secrets: Iterable[str]) -> dict[str, Any]:
    """Return data with every secret field that has a value replaced by a mask."""
    hidden = set(secrets)
    out: dict[str, Any] = {}
    for name, value in data.items():
        if name in hidden and value:
            out[name] = MASK
        elif isinstance(value, list):
            out[name] = [masked(v, hidden) if isinstance(v, dict) else v for v in value]
        else:
            out[name] = value
    return out


def diff(before: dict[str, Any], after: dict[str, Any], secrets: Iterable[str]) -> dict[str, Any]:
    """Return {field: [old, new]} for every field that changed; a changed secret shows only that it changed."""
    hidden = set(secrets)
    changed: dict[str, Any] = {}
    for name in sorted(set(before) | set(after)):
        old, new = before.get(name), after.get(name)
        if old == new:
            continue
        if name in hidden:
            changed[name] = "changed"
        elif isinstance(old, list) or isinstance(new, list):
            changed[name] = [masked_list(old, hidden), masked_list(new, hidden)]
        else:
            changed[name] = [old, new]
    return changed


def masked_list(value: Any, hidden: set[str]) -> Any:
    """Return a list with secrets masked inside its dict items."""
    if not isinstance(value, list):
        return value
    return [masked(v, hidden) if isinstance(v, dict) else v for v in value]


def recent(conn: psycopg.Connection, limit: int = 50, kind: str | None = None, key: str | None = None) -> list[dict]:
    """Return the newest audit rows, optionally for one object."""
    where, params = [], []
    if kind is not None:
        where.append("object_kind = %s")
        params.append(kind)
    if key is not None:
        where.append("object_key = %s")
        params.append(key)
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    return conn.execute(
        f"SELECT id, at, actor, action, object_kind, object_key, summary, remote_addr FROM audit_log {clause}"
        " ORDER BY at DESC, id DESC LIMIT %s",
        [*params, limit],
    ).fetchall()
