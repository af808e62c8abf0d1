# SPDX-License-Identifier: GPL-3.0-or-later
"""The CDR writer against a real PostgreSQL: none lost, none doubled, outages survived."""

from __future__ import annotations

import logging
import shutil
import threading
import time
from datetime import UTC, datetime

import gevent
import gevent.event
import pytest

from appliance.callcontrol import listener
from appliance.callcontrol.cdr import cdr_from_event
from appliance.callcontrol.cdrwriter import CdrWriter
from appliance.callcontrol.spool import Spool
from appliance.store.db import connect
from tests.harness.fakeesl import FakeEslServer, events_in, load_transcript, wait_until

pytestmark = pytest.mark.timeout(120)

# Both recorded from FreeSWITCH 1.10.12 (see tests/fixtures/esl/README.md).
RECORDED = "inbound-hangup-complete.txt"
TRANSCRIPT = "inbound-bridged-calls.txt"
INTERNAL_A = "ca36506c-198d-4e6c-aac4-0bba7c7e49d8"


def _spool_transcript(spool: Spool) -> int:
    records = [cdr_from_event(e) for e in events_in(load_transcript(TRANSCRIPT), "CHANNEL_HANGUP_COMPLETE")]
    for record in filter(None, records):
        spool.put(record)
    return spool.depth()


def _count(dsn: str) -> int:
    with connect(dsn) as conn:
        return conn.execute("SELECT count(*) AS n FROM cdrs").fetchone()["n"]


def test_a_drained_spool_lands_once(dsn, tmp_path):
    spool = Spool(tmp_path)
    assert _spool_transcript(spool) == 3
    writer = CdrWriter(spool, dsn, batch_size=2)
    assert writer.drain() == 3
    assert spool.depth() == 0
    with connect(dsn) as conn:
        row = conn.execute("SELECT * FROM cdrs WHERE uuid = %s", (INTERNAL_A,)).fetchone()
        tags = conn.execute("SELECT tracking_tag FROM cdrs WHERE tracking_tag <> '' ORDER BY 1").fetchall()
    assert row["started_at"] == datetime(2026, 11, 22, 10, 33, 1, 215139, tzinfo=UTC)
    assert (row["call_type"], row["duration_s"], row["billsec"]) == ("internal", 1, 1)
    assert row["variables"]["sip_call_id"] == "1-23629@127.0.0.1"
    assert [t["tracking_tag"] for t in tags] == ["spring-flyer"]
    assert _count(dsn) == 3


def test_replaying_files_after_a_crash_between_commit_and_unlink_writes_nothing_more(dsn, tmp_path):
    spool = Spool(tmp_path / "spool")
    _spool_transcript(spool)
    kept = shutil.copytree(spool.new, tmp_path / "copy")  # what a crash right after COMMIT leaves behind
    writer = CdrWriter(spool, dsn)
    assert writer.drain() == 3
    for path in kept.iterdir():
        shutil.copy2(path, spool.new / path.name)
    assert spool.depth() == 3
    assert writer.drain() == 3  # settled again ...
    assert spool.depth() == 0
    assert _count(dsn) == 3  # ... but written only once


def test_records_wait_out_a_postgresql_outage_and_land_when_it_returns(pg_cluster, dsn, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="appliance.callcontrol.cdrwriter")
    spool = Spool(tmp_path)
    writer = CdrWriter(spool, dsn, min_backoff=0.1, max_backoff=0.5, idle_poll=0.1)
    thread = threading.Thread(target=writer.run, daemon=True)
    try:
        pg_cluster.stop()
        thread.start()
        assert _spool_transcript(spool) == 3
        writer.wake()
        deadline = time.monotonic() + 10
        while writer.failures < 4 and time.monotonic() < deadline:
            time.sleep(0.05)  # let it retry a few times while PostgreSQL is down
        assert writer.db_down and writer.failures >= 4
        assert spool.depth() == 3
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
    assert not thread.is_alive()
    assert _count(dsn) == 3
    messages = [r.getMessage() for r in caplog.records]
    assert sum("PostgreSQL unavailable" in m for m in messages) == 1
    assert sum("PostgreSQL is back" in m for m in messages) == 1


def test_unusable_records_are_set_aside_and_the_rest_still_land(dsn, tmp_path):
    spool = Spool(tmp_path)
    _spool_transcript(spool)
    broken = spool.put({"uuid": "11111111-2222-4333-8444-555555555555", "call_type": "internal"})
    refused = dict(spool.load(spool.new / f"{INTERNAL_A}.json"))
    refused |= {"uuid": "99999999-2222-4333-8444-555555555555", "duration_s": 2**40}
    spool.put(refused)
    assert CdrWriter(spool, dsn).drain() == 5
    assert spool.depth() == 0
    assert sorted(p.name for p in spool.bad.iterdir()) == [
        "11111111-2222-4333-8444-555555555555.json",
        "99999999-2222-4333-8444-555555555555.json",
    ]
    assert broken.name in {p.name for p in spool.bad.iterdir()}
    assert _count(dsn) == 3


def test_listener_daemon_moves_hangups_from_freeswitch_into_postgresql(dsn, tmp_path):
    password_file = tmp_path / "esl-password"
    password_file.write_text("Zq8vN3xLp0\n")
    fake = FakeEslServer(load_transcript(RECORDED), password="Zq8vN3xLp0").start()
    stop = gevent.event.Event()
    args = listener.parse_args(
        ["--esl-port", str(fake.port), "--esl-password-file", str(password_file),
         "--spool-dir", str(tmp_path / "spool"), "--dsn", dsn, "--cdr-source", "events",
         "--freeswitch-cdr-dir", str(tmp_path / "fs-cdr")]
    )  # fmt: skip
    daemon = gevent.spawn(listener.serve, args, stop)
    try:
        wait_until(lambda: _count(dsn) == 6, timeout=20, what="six CDRs in PostgreSQL")
    finally:
        stop.set()
        daemon.join(10)
        fake.stop()
    assert daemon.value == {"spooled": 6, "waiting": 0}
