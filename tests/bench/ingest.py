# SPDX-License-Identifier: GPL-3.0-or-later
"""CDR ingest through the product's paths, into the million-row table, PostgreSQL durable (fsync on).

1. The default path: FreeSWITCH's own CDR files (mod_json_cdr documents: copies of the recorded
   tests/fixtures/fscdr/*.cdr.json under new call UUIDs, spread over the last day) drained by
   CdrWriter([Spool, FreeSwitchCdrDir]) as the listener runs it.
2. The spool path (`--cdr-source events`): records put in the listener's durable spool with
   Spool.put (fsync per record), drained by the same writer.

Each drain is timed from its first file to its last committed row; then the rows are counted (none
lost, none doubled) and cdr_hourly is compared with a count over cdrs. A smaller drain of each kind
under cProfile says where the time goes.
"""

from __future__ import annotations

import cProfile
import json
import pstats
import random
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from appliance.callcontrol.cdrwriter import CdrWriter
from appliance.callcontrol.fscdr import FreeSwitchCdrDir
from appliance.callcontrol.spool import Spool
from appliance.store.db import connect
from tests.bench import cdrgen

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "fscdr"
PROFILED = 2_000
# Where a drain spends its time, by function (file suffix, function name) -> label.
_PARTS = {
    ("spool.py", "waiting"): "list the queue (scandir, at most a batch)",
    ("spool.py", "load"): "read and parse the files",
    ("fscdr.py", "load"): "read and parse the files",
    ("cdrwriter.py", "_row"): "shape rows",
    ("cdrwriter.py", "_insert"): "INSERT + COMMIT, then the unlinks (nested)",
    ("spool.py", "done_many"): "unlink the settled files",
    ("fscdr.py", "done_many"): "unlink the settled files",
}


@dataclass
class Drain:
    """What one ingest run measured."""

    name: str
    records: int
    prepare_seconds: float
    drain_seconds: float
    rows_written: int
    rollup_true: bool
    parts: dict[str, float] = field(default_factory=dict)
    profiled_seconds: float = 0.0

    @property
    def rate(self) -> float:
        return self.rows_written / self.drain_seconds if self.drain_seconds else 0.0

    def lines(self, prepared: str) -> list[str]:
        lost = self.records - self.rows_written
        out = [
            f"\n{self.name}: {self.records:,} records {prepared} in {self.prepare_seconds:.1f} s"
            f" ({self.records / self.prepare_seconds:,.0f}/s)",
            f"  CdrWriter.drain() wrote them into PostgreSQL in {self.drain_seconds:.2f} s = {self.rate:,.0f} CDRs/s"
            f" ({self.rows_written:,} rows, {'none lost or doubled' if lost == 0 else f'{lost:+,} MISSING'};"
            f" cdr_hourly {'equals' if self.rollup_true else 'DIFFERS FROM'} a count over cdrs)",
            f"  where a drain of {PROFILED:,} spends its time (cProfile, {self.profiled_seconds:.2f} s in all):",
        ]
        for label, seconds in sorted(self.parts.items(), key=lambda kv: -kv[1]):
            share = seconds / self.profiled_seconds * 100 if self.profiled_seconds else 0
            out.append(f"    {label:<46} {seconds:6.2f} s  {share:4.0f}%")
        return out


@dataclass
class Ingest:
    """Both paths."""

    files: Drain
    spool: Drain

    @property
    def rate(self) -> float:
        """The default path's rate: what the target is judged on."""
        return self.files.rate

    def lines(self) -> list[str]:
        return [
            *self.files.lines("written as FreeSWITCH's CDR files (not timed: FreeSWITCH's work)"),
            *self.spool.lines("spooled (Spool.put, fsync per record: the listener's side)"),
        ]


def spool_records(count: int, end: datetime, seed: int) -> list[dict[str, Any]]:
    """Return count spool records shaped like the listener's (appliance.callcontrol.cdr), in the last day."""
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


def write_freeswitch_files(directory: Path, count: int, end: datetime, seed: int) -> float:
    """Write count mod_json_cdr files as FreeSWITCH would (no fsync), each a recorded call moved in time."""
    rng = random.Random(seed)
    templates = []
    for path in sorted(FIXTURES.glob("*.cdr.json")):
        text = path.read_text()
        templates.append((text, json.loads(text)["variables"]["uuid"]))
    directory.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    for i in range(count):
        text, old_uuid = templates[i % len(templates)]
        new_uuid = str(uuid.uuid4())
        doc = json.loads(text.replace(old_uuid, new_uuid))
        # The call started somewhere in the last day: shift every timestamp FreeSWITCH recorded.
        start = int(doc["variables"]["start_uepoch"])
        shift = int((end.timestamp() - rng.uniform(120, 86_400)) * 1_000_000) - start
        for name, value in doc["variables"].items():
            if name.endswith("_uepoch") and value not in ("0", ""):
                doc["variables"][name] = str(int(value) + shift)
            elif name.endswith("_epoch") and value not in ("0", ""):
                doc["variables"][name] = str(int(value) + shift // 1_000_000)
        (directory / f"{new_uuid}.cdr.json").write_text(json.dumps(doc) + "\n")
    return time.perf_counter() - started


def _count(dsn: str) -> int:
    with connect(dsn) as conn:
        return conn.execute("SELECT count(*) AS n FROM cdrs").fetchone()["n"]


def _rollup_true(dsn: str) -> bool:
    """Tell whether cdr_hourly equals a count over all of cdrs, group for group, both ways."""
    truth = (
        "SELECT date_trunc('hour', started_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', call_type, did,"
        " answered_at IS NOT NULL, count(*), sum(billsec) FROM cdrs GROUP BY 1, 2, 3, 4"
    )
    rollup = "SELECT hour, call_type, did, answered, calls, billsec FROM cdr_hourly"
    with connect(dsn) as conn:
        return not conn.execute(f"({truth} EXCEPT {rollup}) UNION ALL ({rollup} EXCEPT {truth}) LIMIT 1").fetchall()


def _timed_drain(writer: CdrWriter) -> float:
    started = time.perf_counter()
    writer.drain()
    return time.perf_counter() - started


def _profile(writer: CdrWriter, result: Drain) -> None:
    """Drain under cProfile and sum the time of the writer's steps."""
    profile = cProfile.Profile()
    started = time.perf_counter()
    profile.runcall(writer.drain)
    result.profiled_seconds = time.perf_counter() - started
    stats = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    for (filename, _line, name), (_cc, _nc, _tt, cumulative, _callers) in stats.items():
        label = next(
            (lab for (suffix, func), lab in _PARTS.items() if filename.endswith(suffix) and name == func), None
        )
        if label:
            result.parts[label] = result.parts.get(label, 0.0) + cumulative


def measure_ingest(dsn: str, work: Path, count: int, end: datetime, spooled_count: int | None = None) -> Ingest:
    """Drain count FreeSWITCH files, then count spooled records, into PostgreSQL; profile smaller drains."""
    spool, queue = Spool(work / "spool"), FreeSwitchCdrDir(work / "freeswitch-cdr")
    writer = CdrWriter([spool, queue], dsn)  # as the listener builds it (default batch size)

    prepare = write_freeswitch_files(queue.directory, count, end, seed=61)
    before = _count(dsn)
    files = Drain("CDR ingest, FreeSWITCH's files (the default path)", count, prepare, _timed_drain(writer), 0, False)
    files.rows_written = _count(dsn) - before
    files.rollup_true = _rollup_true(dsn)

    # Spool.put fsyncs every record (~100/s on the shared machine): the spool path gets fewer records.
    spooled_count = spooled_count or count
    started = time.perf_counter()
    for record in spool_records(spooled_count, end, seed=62):
        spool.put(record)
    prepare = time.perf_counter() - started
    before = _count(dsn)
    spooled = Drain("CDR ingest, the listener's spool (--cdr-source events)", spooled_count, prepare, 0.0, 0, False)
    spooled.drain_seconds = _timed_drain(writer)
    spooled.rows_written = _count(dsn) - before
    spooled.rollup_true = _rollup_true(dsn)

    write_freeswitch_files(queue.directory, PROFILED, end - timedelta(hours=2), seed=63)
    _profile(writer, files)
    for record in spool_records(PROFILED, end - timedelta(hours=3), seed=64):
        spool.put(record)
    _profile(writer, spooled)
    writer.stop()
    writer.run()  # closes its connection (stop() was called, so run() returns at once)
    return Ingest(files, spooled)
