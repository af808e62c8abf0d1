# SPDX-License-Identifier: GPL-3.0-or-later
"""The CDR writer against a real PostgreSQL: none lost, none doubled, outages survived."""

from __future__ import annotations

import json
import logging
import shutil
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import gevent
import gevent.event
import psycopg
import pytest

from appliance.callcontrol import listener
from appliance.callcontrol.cdr import cdr_from_event
from appliance.callcontrol.cdrwriter import CdrWriter
from appliance.callcontrol.fscdr import FreeSwitchCdrDir
from appliance.callcontrol.spool import Spool
from appliance.store.db import connect
from tests.harness.fakeesl import FakeEslServer, events_in, load_transcript, wait_until

pytestmark = pytest.mark.timeout(120)

# Both recorded from FreeSWITCH 1.10.12 (see tests/fixtures/esl/README.md).
FSCDR = Path(__file__).resolve().parents[1] / "fixtures" / "fscdr"
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


def _run_listener(dsn: str, tmp_path, rows: int, *options: str) -> dict:
    """Run the listener daemon against recorded FreeSWITCH events until rows CDRs are in PostgreSQL."""
    password_file = tmp_path / "esl-password"
    password_file.write_text("Zq8vN3xLp0\n")
    fake = FakeEslServer(load_transcript(RECORDED), password="Zq8vN3xLp0").start()
    stop = gevent.event.Event()
    args = listener.parse_args(
        ["--esl-port", str(fake.port), "--esl-password-file", str(password_file),
         "--spool-dir", str(tmp_path / "spool"), "--dsn", dsn, *options]
    )  # fmt: skip
    daemon = gevent.spawn(listener.serve, args, stop)
    try:
        wait_until(lambda: _count(dsn) == rows, timeout=20, what=f"{rows} CDRs in PostgreSQL")
    finally:
        stop.set()
        daemon.join(10)
        fake.stop()
    return daemon.value


def test_listener_daemon_moves_hangups_from_freeswitch_into_postgresql(dsn, tmp_path):
    counters = _run_listener(dsn, tmp_path, 6, "--cdr-source", "events", "--freeswitch-cdr-dir", str(tmp_path / "fs"))
    assert counters == {"spooled": 6, "waiting": 0}


def _freeswitch_file(fsdir, name: str, new_uuid: str | None = None):
    """Copy a real mod_json_cdr file into fsdir, under another call's UUID when asked."""
    text = (FSCDR / name).read_text()
    if new_uuid:
        old_uuid = json.loads(text)["variables"]["uuid"]
        text, name = text.replace(old_uuid, new_uuid), f"{new_uuid}.cdr.json"
    path = fsdir / name
    path.write_text(text)
    return path


def test_writer_drains_freeswitchs_own_files_straight_into_postgresql(dsn, tmp_path):
    fsdir = tmp_path / "fs-cdr"
    queue = FreeSwitchCdrDir(fsdir)
    _freeswitch_file(fsdir, "inbound-did.cdr.json")
    _freeswitch_file(fsdir, "outbound-withheld.cdr.json")
    third = "0f3f2c51-7a5e-4d35-9a57-6f0c1e2d3b4a"
    full = _freeswitch_file(fsdir, "inbound-did.cdr.json", third).read_text()
    (fsdir / f"{third}.cdr.json").write_text(full[: len(full) // 2])  # FreeSWITCH still writing it
    writer = CdrWriter([Spool(tmp_path / "spool"), queue], dsn)
    assert writer.drain() == 2
    assert _count(dsn) == 2 and queue.depth() == 1, "the half-written file must wait, not be lost"
    (fsdir / f"{third}.cdr.json").write_text(full)
    assert writer.drain() == 1
    assert _count(dsn) == 3 and queue.depth() == 0
    with connect(dsn) as conn:
        tags = [r["tracking_tag"] for r in conn.execute("SELECT tracking_tag FROM cdrs ORDER BY tracking_tag")]
    assert tags == ["", "spring-flyer", "spring-flyer"]


def test_freeswitch_files_wait_through_an_outage_and_land_once(dsn, tmp_path):
    fsdir = tmp_path / "fs-cdr"
    queue = FreeSwitchCdrDir(fsdir)
    _freeswitch_file(fsdir, "inbound-did.cdr.json")
    down = CdrWriter(queue, "host=127.0.0.1 port=1 dbname=nothing connect_timeout=1")
    with pytest.raises(psycopg.OperationalError):
        down.drain()
    assert queue.depth() == 1, "a file must stay until its row is committed"
    writer = CdrWriter(queue, dsn)
    assert writer.drain() == 1
    _freeswitch_file(fsdir, "inbound-did.cdr.json")  # the same call again: a replay after a crash
    assert writer.drain() == 1
    assert _count(dsn) == 1 and queue.depth() == 0


def test_listener_in_files_mode_writes_freeswitchs_files_without_respooling_them(dsn, tmp_path):
    fsdir = tmp_path / "fs-cdr"
    fsdir.mkdir()
    _freeswitch_file(fsdir, "inbound-did.cdr.json")
    _freeswitch_file(fsdir, "outbound-withheld.cdr.json")
    assert _run_listener(dsn, tmp_path, 2, "--freeswitch-cdr-dir", str(fsdir)) == {"spooled": 0, "waiting": 0}
    assert not list(fsdir.glob("*.cdr.json")) and Spool(tmp_path / "spool").depth() == 0


def test_the_next_batch_is_parsed_while_one_commits_and_a_failed_commit_keeps_its_files(dsn, tmp_path, monkeypatch):
    spool = Spool(tmp_path)
    assert _spool_transcript(spool) == 3
    writer = CdrWriter(spool, dsn, batch_size=1)
    real_insert = writer._insert
    committing = threading.Event()
    release = threading.Event()
    loads_during_commit = []
    real_load = spool.load

    def load(path):
        loads_during_commit.append(committing.is_set() and not release.is_set())
        if committing.is_set():
            release.set()  # a file read while the first batch's commit is held: let the commit go
        return real_load(path)

    def insert(source, batch):
        if not committing.is_set():  # the first batch: held until the writer reads the next (never, if serial)
            committing.set()
            assert release.wait(10), "the writer did not read the next batch while this one committed"
            return real_insert(source, batch)
        raise psycopg.OperationalError("server closed the connection (injected)")

    monkeypatch.setattr(spool, "load", load)
    monkeypatch.setattr(writer, "_insert", insert)
    with pytest.raises(psycopg.OperationalError):
        writer.drain()
    assert loads_during_commit[:2] == [False, True]  # the second file was read while the first committed
    assert _count(dsn) == 1 and spool.depth() == 2  # the failed batch's file stays queued
    monkeypatch.setattr(writer, "_insert", real_insert)
    assert writer.drain() == 2
    assert _count(dsn) == 3 and spool.depth() == 0
