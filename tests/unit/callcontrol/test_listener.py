# SPDX-License-Identifier: GPL-3.0-or-later
"""The listener daemon against a fake FreeSWITCH: hangups become spooled CDRs, before any database."""

from __future__ import annotations

import argparse
import os
import signal

import gevent
import gevent.event
import pytest

from appliance.callcontrol import listener
from appliance.callcontrol.esl import EslClient, run_forever
from appliance.callcontrol.spool import Spool
from tests.harness.fakeesl import FakeEslServer, events_in, load_transcript, wait_until

pytestmark = pytest.mark.timeout(30)

TRANSCRIPT = "inbound-hangup-complete.txt"  # recorded from FreeSWITCH 1.10.12
PASSWORD = "Zq8vN3xLp0"
A_LEGS = {
    "248ba812-2a53-4dcf-801c-05307a5de666.json",
    "0575baf5-0176-4a79-b131-38894d923d0f.json",
    "ffd370a1-3339-411f-9973-15a0b916d86e.json",
    "03912d9b-2160-4d0a-9a17-fef2ec317946.json",
    "59d35118-d1cb-4c1d-a27b-a6c9cb437e62.json",
    "3b72815d-c470-4eef-ba08-123e309e017d.json",
}


@pytest.fixture
def server():
    fake = FakeEslServer(load_transcript(TRANSCRIPT), password=PASSWORD).start()
    yield fake
    fake.stop()


def _names(spool: Spool) -> set[str]:
    return {p.name for p in spool.pending()}


def test_hangups_land_in_the_spool_and_only_the_needed_events_are_asked_for(server, tmp_path):
    spool = Spool(tmp_path)
    woken = []
    daemon = listener.Listener(spool, on_spooled=lambda: woken.append(1))
    stop = gevent.event.Event()
    loop = gevent.spawn(run_forever, lambda: EslClient("127.0.0.1", server.port, PASSWORD), daemon.on_connected, stop)
    try:
        wait_until(lambda: spool.depth() == 6, what="six spooled CDRs")
    finally:
        stop.set()
        loop.join(5)
    assert _names(spool) == A_LEGS
    assert server.commands[:2] == [f"auth {PASSWORD}", "event plain CHANNEL_HANGUP_COMPLETE"]
    assert (daemon.spooled, len(woken)) == (6, 6)
    record = spool.load(spool.new / "59d35118-d1cb-4c1d-a27b-a6c9cb437e62.json")
    assert (record["did"], record["answered_at"]) == ("+4930123456", None)
    assert record["started_at"] == "2026-11-22T10:28:24.150882+00:00"


def test_replayed_events_after_a_reconnect_do_not_double_the_spool(server, tmp_path):
    spool = Spool(tmp_path)
    daemon = listener.Listener(spool)
    stop = gevent.event.Event()
    loop = gevent.spawn(run_forever, lambda: EslClient("127.0.0.1", server.port, PASSWORD), daemon.on_connected, stop)
    try:
        wait_until(lambda: daemon.spooled == 6, what="first pass")
        server.stop()
        server.start()
        wait_until(lambda: daemon.skipped == 6, what="second pass after the reconnect")
    finally:
        stop.set()
        loop.join(5)
    assert server.connections == 2
    assert daemon.spooled == 6  # the replayed events cost no second disk write
    assert _names(spool) == A_LEGS


def test_a_failing_spool_is_logged_and_does_not_stop_the_listener(tmp_path, caplog, monkeypatch):
    spool = Spool(tmp_path)
    daemon = listener.Listener(spool)
    hangup = events_in(load_transcript(TRANSCRIPT), "CHANNEL_HANGUP_COMPLETE")[4]

    def disk_full(record):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(spool, "put", disk_full)
    daemon.on_hangup_complete(hangup)
    assert daemon.spooled == 0
    assert "could not spool CDR 59d35118-d1cb-4c1d-a27b-a6c9cb437e62" in caplog.text
    assert "+4930123456" in caplog.text  # the record itself is in the log, the last place left


def test_main_spools_then_stops_cleanly_on_sigterm(server, tmp_path):
    password_file = tmp_path / "esl-password"
    password_file.write_text(PASSWORD + "\n")
    spool_dir = tmp_path / "spool"
    (spool_dir / "tmp").mkdir(parents=True)
    (spool_dir / "tmp" / "leftover.json").write_text("{")
    argv = [
        "--esl-port", str(server.port), "--esl-password-file", str(password_file),
        "--spool-dir", str(spool_dir), "--dsn", "", "--cdr-source", "events",
    ]  # fmt: skip
    daemon = gevent.spawn(listener.main, argv)
    try:
        wait_until(lambda: Spool(spool_dir).depth() == 6, what="six spooled CDRs")
        os.kill(os.getpid(), signal.SIGTERM)
        daemon.join(5)
    finally:
        daemon.kill()
    assert daemon.dead and daemon.value == 0
    assert server.commands[-1] == "exit"
    assert list((spool_dir / "tmp").iterdir()) == []


def test_parse_args_defaults_stay_on_loopback():
    args = listener.parse_args([])
    assert isinstance(args, argparse.Namespace)
    assert (args.esl_host, args.esl_port) == ("127.0.0.1", 8021)
