# SPDX-License-Identifier: GPL-3.0-or-later
"""Apply the numbered SQL migrations in order, each once, each in its own transaction."""

from __future__ import annotations

import logging
from importlib import resources

import psycopg
from psycopg.rows import tuple_row

log = logging.getLogger(__name__)

# Any constant works; it only has to be the same for every process that migrates.
_LOCK_KEY = 0x46534341


def available() -> list[tuple[int, str, str]]:
    """Return (version, name, sql) for every migration shipped with the package, in order."""
    found = []
    for entry in resources.files("appliance.store.migrations").iterdir():
        if entry.name.endswith(".sql"):
            version = int(entry.name.split("_", 1)[0])
            found.append((version, entry.name, entry.read_text(encoding="utf-8")))
    return sorted(found)


def migrate(conn: psycopg.Connection) -> list[str]:
    """Bring the schema up to date; return the names of the migrations applied now."""
    applied_now = []
    with conn.transaction():
        # Serialise concurrent migrators (two daemons starting at once) on one lock.
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        cur = conn.cursor(row_factory=tuple_row)
        done = {row[0] for row in cur.execute("SELECT version FROM schema_migrations")}
        for version, name, sql in available():
            if version in done:
                continue
            log.info("applying migration %s", name)
            conn.execute(sql)
            conn.execute("INSERT INTO schema_migrations (version, name) VALUES (%s, %s)", (version, name))
            applied_now.append(name)
    return applied_now
