# SPDX-License-Identifier: GPL-3.0-or-later
"""Signed webhooks from a real call: FreeSWITCH's events, the daemon, a receiver on 127.0.0.1."""

from __future__ import annotations

import copy
import time

import yaml

from appliance.store.db import connect
from appliance.webhooks import signing, store
from tests.harness.webhooks import WebhookReceiver

SECRET = "whsec_live-test-secret-0001"


def _wait_connected(office, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if "connected to" in office.daemon_log("webhooks"):
            return
        time.sleep(0.1)
    raise AssertionError("webhooks daemon did not connect:\n" + office.daemon_log("webhooks")[-3000:])


def test_a_call_posts_signed_start_answer_and_hangup(office, tmp_path):
    with WebhookReceiver(SECRET) as receiver:
        with connect(office.dsn, autocommit=True) as conn:
            store.create(conn, "crm", receiver.url, ["call.start", "call.answer", "call.hangup"], SECRET, actor="t")
        cfg = copy.deepcopy(office.cfg)
        cfg["webhooks"] = {"spool_dir": str(tmp_path / "spool"), "idle_poll": 0.1}
        config = tmp_path / "config.yml"
        config.write_text(yaml.safe_dump(cfg))
        office._daemon("webhooks", "--config", str(config))
        try:
            _wait_connected(office)
            desk = office.phone("desk101-1")
            call = office.call("102", "101")
            assert call.ok, call.explain()
            assert desk.wait(timeout=30).ok
            got = receiver.wait_for(3, timeout=20)
        finally:
            office.stop_daemon("webhooks")
            with connect(office.dsn, autocommit=True) as conn:
                store.remove(conn, "crm", actor="t")
    # One call, seen from its A-leg only: three events, in order, all with good signatures.
    assert [r.payload["type"] for r in got] == ["call.start", "call.answer", "call.hangup"], [
        (r.payload["type"], r.payload["call"]) for r in got
    ]
    assert all(r.verdict == "ok" for r in receiver.requests), [r.verdict for r in receiver.requests]
    calls = {r.payload["call"]["uuid"] for r in got}
    assert len(calls) == 1
    start, hangup = got[0].payload["call"], got[2].payload["call"]
    assert (start["caller_number"], start["destination"], start["direction"]) == ("102", "101", "inbound")
    assert hangup["hangup_cause"] == "NORMAL_CLEARING" and hangup["answered"] is True
    assert len({r.headers[signing.EVENT_ID_HEADER] for r in got}) == 3
