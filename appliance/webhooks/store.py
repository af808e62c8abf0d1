# SPDX-License-Identifier: GPL-3.0-or-later
"""Registered webhooks and their delivery outbox in PostgreSQL. Plain functions over a connection."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import psycopg
from psycopg.types.json import Jsonb

from appliance.console import audit
from appliance.model.validate import Problem, ValidationFailed
from appliance.webhooks import signing
from appliance.webhooks.events import EVENT_TYPES

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
MAX_URL = 2000
_COLUMNS = "id, name, url, events, enabled, managed_by, created_by, created_at"


@dataclass(frozen=True)
class Due:
    """One delivery claimed for sending, with what is needed to sign and send it."""

    id: int
    webhook: str
    url: str
    secret: str
    event_id: str
    event_type: str
    payload: dict[str, Any]
    attempts: int


def problems(name: str, url: str, secret: str, events: list[str]) -> list[Problem]:
    """Return every problem with a new webhook's fields (empty when it may be saved)."""
    obj = f"webhook {name}"
    found = []
    if not NAME_RE.match(name):
        found.append(Problem(obj, "name", "use letters, digits, '.', '_' or '-' (at most 63)"))
    parts = urlsplit(url)
    if (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or len(url) > MAX_URL
        or any(c.isspace() for c in url)
    ):
        found.append(Problem(obj, "url", "give an http:// or https:// URL with a host (at most 2000 characters)"))
    elif parts.username or parts.password:
        found.append(Problem(obj, "url", "must not carry a user name or password: the signature authenticates us"))
    if secret and len(secret) < signing.MIN_SECRET_LENGTH:
        found.append(Problem(obj, "secret", f"use at least {signing.MIN_SECRET_LENGTH} characters, or leave it empty"))
    if not events or any(e not in EVENT_TYPES for e in events):
        found.append(Problem(obj, "events", f"choose one or more of {', '.join(EVENT_TYPES)}"))
    return found


def create(
    conn: psycopg.Connection,
    name: str,
    url: str,
    events: list[str],
    secret: str = "",
    *,
    actor: str,
    remote_addr: str = "",
) -> tuple[dict[str, Any], str]:
    """Register a webhook (audited, refused with problems by field); return it and its secret."""
    events = sorted(set(events), key=EVENT_TYPES.index) if all(e in EVENT_TYPES for e in events) else events
    found = problems(name, url, secret, events)
    if found:
        raise ValidationFailed(found)
    secret = secret or signing.new_secret()
    with conn.transaction():
        if conn.execute("SELECT 1 FROM webhooks WHERE name = %s", (name,)).fetchone():
            raise ValidationFailed([Problem(f"webhook {name}", "name", "already exists")])
        conn.execute(
            "INSERT INTO webhooks (name, url, secret, events, created_by) VALUES (%s, %s, %s, %s, %s)",
            (name, url, secret, events, actor),
        )
        audit.record(
            conn, actor, "create", "webhook", name, {"url": url, "events": events, "secret": audit.MASK}, remote_addr
        )
    found_row = get(conn, name)
    assert found_row is not None
    return found_row, secret


def remove(conn: psycopg.Connection, name: str, *, actor: str, remote_addr: str = "") -> None:
    """Remove a webhook and its pending deliveries; Ansible's are refused."""
    with conn.transaction():
        row = conn.execute("SELECT managed_by FROM webhooks WHERE name = %s FOR UPDATE", (name,)).fetchone()
        if row is None:
            raise ValidationFailed([Problem(f"webhook {name}", "name", "no such webhook")])
        if row["managed_by"] == "ansible":
            raise ValidationFailed([Problem(f"webhook {name}", "managed_by", "managed by Ansible: read-only here")])
        conn.execute("DELETE FROM webhooks WHERE name = %s", (name,))
        audit.record(conn, actor, "delete", "webhook", name, {}, remote_addr)


def get(conn: psycopg.Connection, name: str) -> dict[str, Any] | None:
    """Return one webhook without its secret, or None."""
    return conn.execute(f"SELECT {_COLUMNS} FROM webhooks WHERE name = %s", (name,)).fetchone()


def all_webhooks(conn: psycopg.Connection) -> list[dict[str, Any]]:
    """Return every webhook without its secret, with counts of pending and failed deliveries."""
    return conn.execute(
        f"SELECT {', '.join('w.' + c for c in _COLUMNS.split(', '))},"
        " count(d.id) FILTER (WHERE d.delivered_at IS NULL AND d.gave_up_at IS NULL) AS pending,"
        " count(d.id) FILTER (WHERE d.gave_up_at IS NOT NULL) AS given_up,"
        " count(d.id) FILTER (WHERE d.delivered_at IS NOT NULL) AS delivered"
        " FROM webhooks w LEFT JOIN webhook_deliveries d ON d.webhook_id = w.id GROUP BY w.id ORDER BY w.name"
    ).fetchall()


def recent_deliveries(conn: psycopg.Connection, name: str, limit: int = 50) -> list[dict[str, Any]]:
    """Return a webhook's newest deliveries and how each went."""
    return conn.execute(
        "SELECT d.event_id, d.event_type, d.created_at, d.attempts, d.next_attempt_at, d.delivered_at,"
        " d.gave_up_at, d.last_status, d.last_error FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id"
        " WHERE w.name = %s ORDER BY d.created_at DESC, d.id DESC LIMIT %s",
        (name, limit),
    ).fetchall()


def enqueue(conn: psycopg.Connection, payload: dict[str, Any], now: datetime) -> int:
    """Add one delivery per enabled webhook that wants this event; a repeat of an event adds none."""
    with conn.transaction():
        cur = conn.execute(
            "INSERT INTO webhook_deliveries (webhook_id, event_id, event_type, payload, created_at, next_attempt_at)"
            " SELECT id, %s, %s, %s, %s, %s FROM webhooks WHERE enabled AND %s = ANY (events)"
            " ON CONFLICT (webhook_id, event_id) DO NOTHING",
            (payload["id"], payload["type"], Jsonb(payload), now, now, payload["type"]),
        )
        return cur.rowcount


def claim_due(conn: psycopg.Connection, now: datetime, lease: timedelta, limit: int = 20) -> list[Due]:
    """Claim deliveries that are due: each is hidden for the lease, so a crash mid-send retries it later."""
    with conn.transaction():
        rows = conn.execute(
            "UPDATE webhook_deliveries d SET next_attempt_at = %s FROM webhooks w"
            " WHERE w.id = d.webhook_id AND d.id IN ("
            "   SELECT id FROM webhook_deliveries WHERE delivered_at IS NULL AND gave_up_at IS NULL"
            "   AND next_attempt_at <= %s ORDER BY next_attempt_at, id LIMIT %s FOR UPDATE SKIP LOCKED)"
            " RETURNING d.id, w.name, w.url, w.secret, d.event_id, d.event_type, d.payload, d.attempts",
            (now + lease, now, limit),
        ).fetchall()
    return [
        Due(r["id"], r["name"], r["url"], r["secret"], str(r["event_id"]), r["event_type"], r["payload"], r["attempts"])
        for r in sorted(rows, key=lambda r: r["id"])
    ]


def delivered(conn: psycopg.Connection, delivery_id: int, now: datetime, status: int) -> None:
    """Mark a delivery done."""
    conn.execute(
        "UPDATE webhook_deliveries SET attempts = attempts + 1, delivered_at = %s, last_status = %s, last_error = ''"
        " WHERE id = %s",
        (now, status, delivery_id),
    )


def failed(
    conn: psycopg.Connection, delivery_id: int, status: int | None, error: str, retry_at: datetime | None, now: datetime
) -> None:
    """Record a failed attempt: retry at retry_at, or give up when it is None."""
    conn.execute(
        "UPDATE webhook_deliveries SET attempts = attempts + 1, last_status = %s, last_error = %s,"
        " next_attempt_at = COALESCE(%s, next_attempt_at), gave_up_at = CASE WHEN %s THEN %s END WHERE id = %s",
        (status, error[:500], retry_at, retry_at is None, now, delivery_id),
    )
