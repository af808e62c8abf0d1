# SPDX-License-Identifier: GPL-3.0-or-later
"""Drain CDR queues into PostgreSQL: insert, commit, and only then forget the files.

A queue is anything with the `CdrSource` interface: the listener's spool, or FreeSWITCH's own
CDR directory (`fscdr.FreeSwitchCdrDir`), which the writer drains directly by default.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol

import psycopg
from psycopg.types.json import Jsonb

from appliance.callcontrol.fscdr import NotReady
from appliance.store.db import connect

log = logging.getLogger(__name__)

COLUMNS = (
    "uuid",
    "call_type",
    "caller_number",
    "caller_name",
    "destination",
    "context",
    "extension",
    "trunk",
    "route",
    "did",
    "tracking_tag",
    "outbound_caller_id",
    "started_at",
    "answered_at",
    "ended_at",
    "duration_s",
    "billsec",
    "hangup_cause",
    "sip_hangup_status",
    "variables",
)
_CASTS = {
    "uuid": "::uuid",
    "started_at": "::timestamptz",
    "answered_at": "::timestamptz",
    "ended_at": "::timestamptz",
}
_REQUIRED = ("uuid", "call_type", "started_at", "ended_at")
_TEXT_COLUMNS = (*COLUMNS[1:12], "hangup_cause", "sip_hangup_status")

# The uuid is the A-leg's channel UUID and the primary key, so a record replayed after a
# crash (committed, but its file not yet unlinked) is silently skipped: never written twice.
_PLACEHOLDERS = ", ".join("%(" + c + ")s" + _CASTS.get(c, "") for c in COLUMNS)
INSERT_CDR = f"INSERT INTO cdrs ({', '.join(COLUMNS)}) VALUES ({_PLACEHOLDERS}) ON CONFLICT (uuid) DO NOTHING"
# A batch goes in as one multi-row INSERT: one statement, one round trip, one run of the cdr_hourly
# trigger (migration 0008) per chunk instead of per row. PostgreSQL takes at most 65,535 parameters
# in a statement, so a chunk holds at most this many rows.
_ROW_VALUES = "(" + ", ".join("%s" + _CASTS.get(c, "") for c in COLUMNS) + ")"
MAX_ROWS_PER_STATEMENT = 65_535 // len(COLUMNS)


@functools.lru_cache(maxsize=4)
def insert_many_sql(rows: int) -> str:
    """Return the INSERT of `rows` CDRs in one statement (positional parameters, row after row)."""
    values = ", ".join([_ROW_VALUES] * rows)
    return f"INSERT INTO cdrs ({', '.join(COLUMNS)}) VALUES {values} ON CONFLICT (uuid) DO NOTHING"


class CdrSource(Protocol):
    """A durable queue of CDR files: `Spool` and `FreeSwitchCdrDir` both are one."""

    def pending(self, limit: int | None = None) -> list[Path]: ...

    # The record, or None for a file that holds no CDR; raises NotReady while it is being written.
    def load(self, path: Path) -> dict[str, Any] | None: ...

    def done_many(self, paths: list[Path]) -> None: ...

    def quarantine(self, path: Path, reason: str) -> None: ...

    def depth(self) -> int: ...


class CdrWriter:
    """Move queued CDRs into PostgreSQL, surviving PostgreSQL outages with the files still on disk."""

    def __init__(
        self,
        sources: CdrSource | Sequence[CdrSource],
        dsn: str,
        *,
        batch_size: int = 1000,
        min_backoff: float = 0.2,
        max_backoff: float = 3.0,
        idle_poll: float = 1.0,
    ):
        self.sources: tuple[CdrSource, ...] = tuple(sources) if isinstance(sources, Sequence) else (sources,)
        self.dsn = dsn
        self.batch_size = batch_size
        self.min_backoff = min_backoff
        self.max_backoff = max_backoff
        self.idle_poll = idle_poll
        self._conn: psycopg.Connection | None = None
        # One committer thread owns the connection: while it inserts and commits one batch (PostgreSQL
        # works on the other core), the caller reads and parses the next (docs/decisions.md, "CDR writer").
        self._committer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cdr-commit")
        self._inflight: Future[None] | None = None
        self._inflight_paths: frozenset[Path] = frozenset()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self.db_down = False
        self.failures = 0  # failed attempts to reach PostgreSQL, for metrics and tests

    def wake(self) -> None:
        """Tell the writer a new record is waiting."""
        self._wake.set()

    def stop(self) -> None:
        """Ask run() to return after its current batch."""
        self._stop.set()
        self._wake.set()

    def run(self) -> None:
        """Drain the sources until stop() is called, backing off while PostgreSQL is away."""
        delay = self.min_backoff
        while not self._stop.is_set():
            self._wake.clear()
            try:
                written = self._step()
                if written < self.batch_size:
                    self._settle()  # the queue is short: commit now rather than after the next wait
            except Exception as exc:
                # Whatever went wrong, the records are still on disk: log once, back off, retry.
                self._abandon()
                self.failures += 1
                if not self.db_down:
                    waiting = self.depth()
                    if isinstance(exc, psycopg.OperationalError):
                        log.warning("PostgreSQL unavailable (%s); %d CDRs wait on disk", exc, waiting)
                    else:
                        log.exception("CDR writer failed; %d CDRs wait on disk", waiting)
                    self.db_down = True
                self._stop.wait(delay)
                delay = min(delay * 2, self.max_backoff)
                continue
            if self.db_down:
                log.info("PostgreSQL is back; writing the waiting CDRs")
                self.db_down = False
            delay = self.min_backoff
            if written < self.batch_size:
                self._wake.wait(self.idle_poll)
        self._abandon()

    def depth(self) -> int:
        """Return how many CDRs wait in every source."""
        return sum(source.depth() for source in self.sources)

    def drain(self) -> int:
        """Write every queued record now; return how many files were settled."""
        total = 0
        with self._committed():
            while written := self._step():
                total += written
        return total

    def drain_once(self) -> int:
        """Write one batch from each source, committed before it returns; return how many files were settled."""
        with self._committed():
            return self._step()

    @contextlib.contextmanager
    def _committed(self) -> Iterator[None]:
        """Leave the block with the batch in flight committed, or abandoned when the block or its commit failed."""
        try:
            yield
            self._settle()
        except BaseException:
            self._abandon()
            raise

    def _step(self) -> int:
        """Parse one batch from each source and hand it to the committer (the previous batch is settled first)."""
        return sum(self._drain_source(source) for source in self.sources)

    def _settle(self) -> None:
        """Wait for the batch being committed; raise what its commit raised (its files then stay queued)."""
        future, self._inflight = self._inflight, None
        self._inflight_paths = frozenset()
        if future is not None:
            future.result()

    def _abandon(self) -> None:
        """After a failure: wait out the batch in flight, ignoring its outcome, and drop the connection."""
        with contextlib.suppress(Exception):
            self._settle()
        self._close()

    def _drain_source(self, source: CdrSource) -> int:
        # The batch in flight is still on disk until its commit: not read twice.
        inflight = self._inflight_paths
        paths = [p for p in source.pending(limit=self.batch_size + len(inflight)) if p not in inflight]
        paths = paths[: self.batch_size]
        batch: list[tuple[Path, dict[str, Any]]] = []
        empty: list[Path] = []  # files that hold no CDR: settled without a row
        waiting = 0
        for path in paths:
            try:
                record = source.load(path)
            except FileNotFoundError:
                continue
            except NotReady:
                waiting += 1
                continue
            except (ValueError, KeyError, TypeError) as exc:
                source.quarantine(path, f"unreadable: {exc}")
                continue
            if record is None:
                empty.append(path)
                continue
            try:
                batch.append((path, _row(record)))
            except (ValueError, KeyError, TypeError) as exc:
                source.quarantine(path, f"unreadable: {exc}")
        self._settle()
        source.done_many(empty)
        if batch:
            self._inflight_paths = frozenset(path for path, _ in batch)
            self._inflight = self._committer.submit(self._insert, source, batch)
        return len(paths) - waiting

    def _insert(self, source: CdrSource, batch: list[tuple[Path, dict[str, Any]]]) -> None:
        conn = self._connection()
        try:
            with conn.transaction():
                rows = [row for _, row in batch]
                for at in range(0, len(rows), MAX_ROWS_PER_STATEMENT):
                    chunk = rows[at : at + MAX_ROWS_PER_STATEMENT]
                    conn.execute(insert_many_sql(len(chunk)), [row[c] for row in chunk for c in COLUMNS])
        except psycopg.OperationalError:
            raise
        except psycopg.Error as exc:
            log.warning("batch of %d CDRs rejected (%s); retrying one by one", len(batch), exc)
            batch = self._insert_one_by_one(conn, source, batch)
        # Only now, with the rows committed, may the files go: a crash before this line
        # replays them, and the ON CONFLICT makes the replay write nothing.
        source.done_many([path for path, _ in batch])

    def _insert_one_by_one(
        self, conn: psycopg.Connection, source: CdrSource, batch: list[tuple[Path, dict[str, Any]]]
    ) -> list[tuple[Path, dict[str, Any]]]:
        """Insert rows singly; quarantine the ones PostgreSQL refuses; return the ones written."""
        written = []
        for path, row in batch:
            try:
                with conn.transaction():
                    conn.execute(INSERT_CDR, row)
            except psycopg.OperationalError:
                raise
            except psycopg.Error as exc:
                source.quarantine(path, f"PostgreSQL refused it: {exc}")
                continue
            written.append((path, row))
        return written

    def _connection(self) -> psycopg.Connection:
        if self._conn is None or self._conn.closed or self._conn.broken:
            self._close()
            self._conn = connect(self.dsn, autocommit=True)
        return self._conn

    def _close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(psycopg.Error):
                self._conn.close()
            self._conn = None


def _row(record: dict[str, Any]) -> dict[str, Any]:
    """Shape a queued record into INSERT_CDR parameters."""
    missing = [c for c in _REQUIRED if not record.get(c)]
    if missing:
        raise ValueError(f"missing {', '.join(missing)}")
    row = {c: record.get(c) for c in COLUMNS}
    for column in _TEXT_COLUMNS:
        row[column] = str(row[column] or "")
    row["duration_s"] = int(row["duration_s"] or 0)
    row["billsec"] = int(row["billsec"] or 0)
    row["variables"] = Jsonb(row["variables"] or {})
    return row
