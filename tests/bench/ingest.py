# SPDX-License-Identifier: GPL-3.0-or-later
"""CDR ingest through the product's path: records in the durable spool, the CdrWriter drains them.

Measured on the database that already holds the generated CDRs (so every index is as large as it
will be), with PostgreSQL durable. A second, smaller drain under cProfile says where the time goes.
"""

from __future__ import annotations

import cProfile
import pstats
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from appliance.callcontrol.cdrwriter import CdrWriter
from appliance.callcontrol.spool import Spool
from appliance.store.db import connect
from tests.bench import cdrgen

PROFILED = 3_000
# Where a drain spends its time, by function (file suffix, function name) -> label.
_PARTS = {
    ("spool.py", "pending"): "list the spool (scandir, stat, sort)",
    ("spool.py", "load"): "read and parse the JSON files",
    ("cdrwriter.py", "_row"): "shape rows",
    ("cursor.py", "executemany"): "INSERT (executemany, PostgreSQL round trips)",
    ("spool.py", "done_many"): "unlink the files + fsync the directory",
}


@dataclass
class Ingest:
    """What an ingest run measured."""

    records: int
    spool_seconds: float
    drain_seconds: float
    rows_written: int
    parts: dict[str, float] = field(default_factory=dict)
    profiled_seconds: float = 0.0

    @property
    def rate(self) -> float:
        return self.rows_written / self.drain_seconds if self.drain_seconds else 0.0

    def lines(self) -> list[str]:
        out = [
            f"\nCDR ingest: {self.records:,} records spooled (Spool.put, fsync per record)"
            f" in {self.spool_seconds:.1f} s"
            f" = {self.records / self.spool_seconds:,.0f}/s (the listener's side)",
            f"CdrWriter.run() drained them into PostgreSQL in {self.drain_seconds:.2f} s = {self.rate:,.0f} CDRs/s"
            f" ({self.rows_written:,} rows written, batch size 200)",
            f"where a drain of {PROFILED:,} spends its time (cProfile, {self.profiled_seconds:.2f} s in all):",
        ]
        for label, seconds in sorted(self.parts.items(), key=lambda kv: -kv[1]):
            share = seconds / self.profiled_seconds * 100 if self.profiled_seconds else 0
            out.append(f"  {label:<48} {seconds:6.2f} s  {share:4.0f}%")
        return out


def records(count: int, end: datetime, seed: int) -> list[dict[str, Any]]:
    """Return count spool records shaped like the listener's (appliance.callcontrol.cdr), in the last hour."""
    out = []
    for fields in cdrgen.rows(count, end, days=1, seed=seed):
        row = dict(zip(cdrgen.COPY_COLUMNS, fields, strict=True))
        row["uuid"] = str(uuid.uuid4())
        row["answered_at"] = None if row["answered_at"] == "\\N" else row["answered_at"]
        row["duration_s"], row["billsec"] = int(row["duration_s"]), int(row["billsec"])
        row["caller_name"] = row["caller_name"].replace("\\t", "\t")
        row["variables"] = {"sip_call_id": f"{row['uuid']}@192.0.2.1", "hostname": "pbx1"}
        out.append(row)
    return out


def _fill(spool: Spool, batch: list[dict[str, Any]]) -> float:
    started = time.perf_counter()
    for record in batch:
        spool.put(record)
    return time.perf_counter() - started


def _count(dsn: str) -> int:
    with connect(dsn) as conn:
        return conn.execute("SELECT count(*) AS n FROM cdrs").fetchone()["n"]


def measure_ingest(dsn: str, spool_dir: Path, count: int, end: datetime) -> Ingest:
    """Spool count records, then time CdrWriter.run() until the spool is empty."""
    spool = Spool(spool_dir)
    spool_seconds = _fill(spool, records(count, end, seed=61))
    before = _count(dsn)
    writer = CdrWriter(spool, dsn, idle_poll=0.05)
    started = time.perf_counter()
    thread = threading.Thread(target=writer.run, daemon=True)
    thread.start()
    # Bounded: at 100 CDRs/s the writer would be 20x too slow for the target; stop looking long before.
    deadline = started + count / 100
    while spool.depth() and time.perf_counter() < deadline:
        time.sleep(0.02)
    drained = time.perf_counter() - started
    writer.stop()
    thread.join(timeout=30)
    result = Ingest(count, spool_seconds, drained, _count(dsn) - before)
    if spool.depth():
        result.drain_seconds = float("inf")
    _profile(dsn, spool, end, result)
    return result


def _profile(dsn: str, spool: Spool, end: datetime, result: Ingest) -> None:
    """Drain a smaller batch under cProfile and sum the time of the writer's steps."""
    _fill(spool, records(PROFILED, end - timedelta(hours=2), seed=62))
    writer = CdrWriter(spool, dsn)
    profile = cProfile.Profile()
    started = time.perf_counter()
    profile.runcall(writer.drain)
    result.profiled_seconds = time.perf_counter() - started
    writer.stop()
    writer.run()  # closes its connection (stop() was called, so run() returns at once)
    stats = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    for (filename, _line, name), (_cc, _nc, _tt, cumulative, _callers) in stats.items():
        for (suffix, func), label in _PARTS.items():
            if filename.endswith(suffix) and name == func:
                result.parts[label] = result.parts.get(label, 0.0) + cumulative
