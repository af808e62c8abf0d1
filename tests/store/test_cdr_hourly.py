# SPDX-License-Identifier: GPL-3.0-or-later
"""cdr_hourly (migration 0008) always equals a count over cdrs: after writes, replays, outages, backfill."""

from __future__ import annotations

import json
import shutil
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from appliance.callcontrol.cdrwriter import CdrWriter
from appliance.callcontrol.fscdr import FreeSwitchCdrDir
from appliance.callcontrol.spool import Spool
from appliance.store.db import connect
from appliance.store.migrate import available, migrate
from tests.conftest import new_database

pytestmark = pytest.mark.timeout(120)

FSCDR = Path(__file__).resolve().parents[1] / "fixtures" / "fscdr"
T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
# What cdr_hourly must hold, computed from the CDRs themselves.
TRUTH = (
    "SELECT date_trunc('hour', started_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS hour, call_type, did,"
    " answered_at IS NOT NULL AS answered, count(*) AS calls, sum(billsec) AS billsec FROM cdrs GROUP BY 1, 2, 3, 4"
)
ROLLUP = "SELECT hour, call_type, did, answered, calls, billsec FROM cdr_hourly"


def _rows(conn: psycopg.Connection, sql: str) -> list[tuple]:
    return sorted(tuple(r.values()) for r in conn.execute(sql).fetchall())


def assert_rollup_matches(dsn: str, calls: int) -> None:
    with connect(dsn) as conn:
        truth, rollup = _rows(conn, TRUTH), _rows(conn, ROLLUP)
    assert sum(r[4] for r in truth) == calls
    assert rollup == truth


def _record(i: int, call_uuid: str | None = None) -> dict:
    """A spool record in one of a few hours, types and DIDs; every third unanswered."""
    started = T0 + timedelta(minutes=17 * i)
    answered = i % 3 != 0
    return {
        "uuid": call_uuid or str(uuid.uuid4()),
        "call_type": ("inbound", "outbound", "internal")[i % 3],
        "did": "+4930123456" if i % 3 == 0 else "",
        "caller_number": f"+4917{i:06d}",
        "started_at": started.isoformat(),
        "answered_at": (started + timedelta(seconds=3)).isoformat() if answered else None,
        "ended_at": (started + timedelta(seconds=40)).isoformat(),
        "duration_s": 40,
        "billsec": 37 if answered else 0,
    }


def _freeswitch_file(fsdir: Path, name: str) -> None:
    text = (FSCDR / name).read_text()
    new_uuid = str(uuid.uuid4())
    (fsdir / f"{new_uuid}.cdr.json").write_text(text.replace(json.loads(text)["variables"]["uuid"], new_uuid))


def test_rollup_equals_the_cdrs_after_batches_from_both_sources_and_a_replay(dsn, tmp_path):
    spool, fsdir = Spool(tmp_path / "spool"), tmp_path / "fs-cdr"
    queue = FreeSwitchCdrDir(fsdir)
    for i in range(25):
        spool.put(_record(i))
    for _ in range(3):
        _freeswitch_file(fsdir, "inbound-did.cdr.json")
        _freeswitch_file(fsdir, "outbound-withheld.cdr.json")
    kept = shutil.copytree(spool.new, tmp_path / "kept")  # what a crash right after COMMIT leaves
    writer = CdrWriter([spool, queue], dsn, batch_size=7)  # several batches, each a multi-row INSERT
    assert writer.drain() == 31
    assert_rollup_matches(dsn, 31)
    for path in kept.iterdir():
        shutil.copy2(path, spool.new / path.name)
    for i in range(25, 30):
        spool.put(_record(i))
    assert writer.drain() == 30  # 25 replayed (written nothing) + 5 new
    assert_rollup_matches(dsn, 36)


def test_rollup_survives_a_postgresql_outage_mid_stream(pg_cluster, dsn, tmp_path):
    spool = Spool(tmp_path)
    for i in range(10):
        spool.put(_record(i))
    writer = CdrWriter(spool, dsn, batch_size=4, min_backoff=0.1, max_backoff=0.3, idle_poll=0.05)
    assert writer.drain() == 10
    thread = threading.Thread(target=writer.run, daemon=True)
    try:
        pg_cluster.stop()
        thread.start()
        for i in range(10, 20):
            spool.put(_record(i))
        writer.wake()
        deadline = time.monotonic() + 10
        while writer.failures < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert writer.db_down and spool.depth() == 10
        pg_cluster.start()
        deadline = time.monotonic() + 15
        while spool.depth() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert spool.depth() == 0
    finally:
        if not pg_cluster.is_running():
            pg_cluster.start()
        writer.stop()
        thread.join(10)
    assert_rollup_matches(dsn, 20)


def test_a_refused_batch_written_row_by_row_is_counted_once(dsn, tmp_path):
    spool = Spool(tmp_path)
    for i in range(6):
        spool.put(_record(i))
    spool.put(_record(6) | {"duration_s": 2**40})  # PostgreSQL refuses it: the batch goes row by row
    assert CdrWriter(spool, dsn).drain() == 7
    assert len(list(spool.bad.iterdir())) == 1
    assert_rollup_matches(dsn, 6)


def test_deletes_updates_and_truncate_keep_the_rollup_true(conn, dsn, tmp_path):
    spool = Spool(tmp_path)
    for i in range(12):
        spool.put(_record(i))
    CdrWriter(spool, dsn).drain()
    conn.execute("DELETE FROM cdrs WHERE call_type = 'internal'")  # e.g. a retention purge
    assert_rollup_matches(dsn, 8)
    conn.execute("UPDATE cdrs SET started_at = started_at - interval '3 days', answered_at = NULL WHERE billsec > 0")
    assert_rollup_matches(dsn, 8)
    conn.execute("TRUNCATE cdrs")
    assert conn.execute("SELECT count(*) AS n FROM cdr_hourly").fetchone()["n"] == 0


def test_the_migration_backfills_cdrs_written_before_it(pg_cluster):
    dsn = new_database(pg_cluster)
    with connect(dsn, autocommit=True) as conn:
        # Start from an empty database migrated only up to 0007, with CDRs already in it.
        conn.execute("DROP SCHEMA public CASCADE")
        conn.execute("CREATE SCHEMA public")
        with conn.transaction():
            conn.execute("CREATE TABLE schema_migrations (version integer PRIMARY KEY, name text NOT NULL,"
                         " applied_at timestamptz NOT NULL DEFAULT now())")  # fmt: skip
            for version, name, sql in available():
                if version < 8:
                    conn.execute(sql)
                    conn.execute("INSERT INTO schema_migrations (version, name) VALUES (%s, %s)", (version, name))
        for i in range(9):
            r = _record(i)
            conn.execute(
                "INSERT INTO cdrs (uuid, call_type, did, started_at, answered_at, ended_at, billsec)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s)",
                (r["uuid"], r["call_type"], r["did"], r["started_at"], r["answered_at"], r["ended_at"], r["billsec"]),
            )
        assert "0008_cdr_scale.sql" in migrate(conn)
    assert_rollup_matches(dsn, 9)
