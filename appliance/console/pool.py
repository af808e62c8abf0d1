# SPDX-License-Identifier: GPL-3.0-or-later
"""A few idle PostgreSQL connections kept between requests: a new connection costs more than a page.

Opening a connection (a backend process forked, authentication) took longer than rendering a page of
CDRs in the benchmark (docs/benchmarks.md, "CDRs at scale"). Connections are handed out one per
request and come back only when idle and healthy; anything else is closed. No dependency: a lock and
a list are all a single-process console needs.
"""

from __future__ import annotations

import contextlib
import logging
import threading

import psycopg
from psycopg import pq

from appliance.store.db import connect

log = logging.getLogger(__name__)


class ConnectionPool:
    """Keep up to `size` idle autocommit connections to one database."""

    def __init__(self, dsn: str, size: int):
        self.dsn = dsn
        self.size = size
        self._idle: list[psycopg.Connection] = []
        self._lock = threading.Lock()

    def get(self) -> psycopg.Connection:
        """Return an idle connection that still answers, or a new one."""
        while True:
            with self._lock:
                conn = self._idle.pop() if self._idle else None
            if conn is None:
                return connect(self.dsn, autocommit=True)
            try:
                # PostgreSQL may have restarted while it sat idle: a round trip is cheaper than a 500.
                conn.execute("SELECT 1")
                return conn
            except psycopg.Error as exc:
                log.info("dropping a pooled connection that no longer answers: %s", exc)
                self._discard(conn)

    def put(self, conn: psycopg.Connection) -> None:
        """Take a connection back if it is idle, healthy and there is room; close it otherwise."""
        healthy = not conn.closed and not conn.broken and conn.info.transaction_status == pq.TransactionStatus.IDLE
        if healthy and conn.autocommit:
            with self._lock:
                if len(self._idle) < self.size:
                    self._idle.append(conn)
                    return
        self._discard(conn)

    def close(self) -> None:
        """Close every idle connection."""
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            self._discard(conn)

    @staticmethod
    def _discard(conn: psycopg.Connection) -> None:
        with contextlib.suppress(psycopg.Error):
            conn.close()
