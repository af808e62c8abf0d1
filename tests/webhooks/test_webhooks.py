# SPDX-License-Identifier: GPL-3.0-or-later
"""Webhooks: signatures, payloads from call events, the outbox, retries with backoff, a real receiver."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from appliance.callcontrol.spool import Spool
from appliance.model.validate import ValidationFailed
from appliance.webhooks import sender, signing, store
from appliance.webhooks.daemon import Dispatcher, EventSpooler
from appliance.webhooks.events import payload_from_event
from tests.harness.webhooks import WebhookReceiver

SECRET = "whsec_test-secret-0123456789"
T0 = datetime(2030, 6, 3, 12, 30, tzinfo=UTC)
CALL = "0b3f8a52-6b7c-4d21-9a55-2f4f1c0d9e11"


def channel_event(name: str, **extra: str) -> dict[str, str]:
    """Return the headers of a channel event of an inbound A-leg, as greenswitch decodes them."""
    return {
        "Event-Name": name,
        "Unique-ID": CALL,
        "Call-Direction": "inbound",
        "Channel-Name": "sofia/internal/101@office.test",
        "Caller-Caller-ID-Number": "101",
        "Caller-Caller-ID-Name": "Alice",
        "Caller-Destination-Number": "0301234567",
        "Event-Date-Timestamp": str(int(T0.timestamp() * 1_000_000)),
        "variable_appliance_call_type": "outbound",
        "variable_sip_gateway_name": "carrier",
        **extra,
    }


# -- signatures -------------------------------------------------------------------------------------
def test_signature_verifies_and_refuses_tampering_and_replays():
    body = b'{"id":"e1"}'
    ts = int(T0.timestamp())
    headers = signing.headers(SECRET, ts, body, "e1", "call.start")
    assert headers[signing.SIGNATURE_HEADER].startswith("v1=") and len(headers[signing.SIGNATURE_HEADER]) == 67
    assert signing.verify(SECRET, headers, body, now=ts + 10) == ts
    with pytest.raises(signing.SignatureError, match="does not match"):
        signing.verify(SECRET, headers, b'{"id":"e2"}', now=ts)
    with pytest.raises(signing.SignatureError, match="does not match"):
        signing.verify("whsec_another-secret-000000", headers, body, now=ts)
    with pytest.raises(signing.SignatureError, match="replay"):
        signing.verify(SECRET, headers, body, now=ts + 301)
    # A replay with a fresh timestamp but the old signature fails: the timestamp is signed too.
    with pytest.raises(signing.SignatureError, match="does not match"):
        signing.verify(SECRET, {**headers, signing.TIMESTAMP_HEADER: str(ts + 400)}, body, now=ts + 400)
    with pytest.raises(signing.SignatureError, match="not an integer"):
        signing.verify(SECRET, {}, body, now=ts)


# -- payloads ---------------------------------------------------------------------------------------
def test_payloads_for_start_answer_hangup_of_the_a_leg_only():
    start = payload_from_event(channel_event("CHANNEL_CREATE"), new_id=lambda: "e-start")
    assert start == {
        "id": "e-start",
        "type": "call.start",
        "occurred_at": "2030-06-03T12:30:00Z",
        "call": {
            "uuid": CALL,
            "direction": "inbound",
            "caller_number": "101",
            "caller_name": "Alice",
            "destination": "0301234567",
            "call_type": "outbound",
            "extension": "",
            "did": "",
            "trunk": "carrier",
            "tracking_tag": "",
        },
    }
    assert payload_from_event(channel_event("CHANNEL_ANSWER"))["type"] == "call.answer"
    hangup = payload_from_event(
        channel_event(
            "CHANNEL_HANGUP_COMPLETE",
            **{"Hangup-Cause": "NORMAL_CLEARING", "variable_duration": "42", "variable_billsec": "37"},
            variable_answer_epoch="1906713005",
        )
    )
    assert hangup["type"] == "call.hangup"
    assert {k: hangup["call"][k] for k in ("hangup_cause", "duration_s", "billsec", "answered")} == {
        "hangup_cause": "NORMAL_CLEARING",
        "duration_s": 42,
        "billsec": 37,
        "answered": True,
    }
    b_leg = channel_event("CHANNEL_CREATE", **{"Call-Direction": "outbound", "variable_originating_leg_uuid": CALL})
    assert payload_from_event(b_leg) is None
    assert payload_from_event(channel_event("CHANNEL_CREATE", **{"Channel-Name": "loopback/x-a"})) is None
    assert payload_from_event(channel_event("CHANNEL_PARK")) is None
    assert payload_from_event(channel_event("CHANNEL_CREATE", **{"Unique-ID": "not-a-uuid"})) is None


# -- registrations ----------------------------------------------------------------------------------
def test_create_refuses_bad_fields_naming_each_and_saves_nothing(conn):
    with pytest.raises(ValidationFailed) as refused:
        store.create(conn, "bad name", "ftp://x", ["call.start", "call.nope"], "short", actor="test")
    fields = {p.field for p in refused.value.problems}
    assert fields == {"name", "url", "secret", "events"}
    assert all(p.obj == "webhook bad name" for p in refused.value.problems)
    with pytest.raises(ValidationFailed, match="user name or password"):
        store.create(conn, "crm", "https://u:p@crm.example/h", ["call.start"], actor="test")
    assert conn.execute("SELECT count(*) AS n FROM webhooks").fetchone()["n"] == 0
    assert conn.execute("SELECT count(*) AS n FROM audit_log").fetchone()["n"] == 0


def test_create_generates_a_secret_audits_it_masked_and_refuses_duplicates(conn):
    row, secret = store.create(conn, "crm", "https://crm.example/hook", ["call.hangup", "call.start"], actor="user:a")
    assert secret.startswith("whsec_") and len(secret) > 40
    assert row["events"] == ["call.start", "call.hangup"] and row["managed_by"] == "console"
    assert "secret" not in row
    audit = conn.execute("SELECT actor, action, object_kind, summary FROM audit_log").fetchone()
    assert audit["summary"]["secret"] == "********" and secret not in str(audit)
    with pytest.raises(ValidationFailed, match="already exists"):
        store.create(conn, "crm", "https://other.example/", ["call.start"], actor="user:a")


def test_ansible_webhooks_cannot_be_removed(conn):
    store.create(conn, "fleet", "https://hub.example/hook", ["call.hangup"], SECRET, actor="ansible")
    conn.execute("UPDATE webhooks SET managed_by = 'ansible'")
    with pytest.raises(ValidationFailed, match="Ansible"):
        store.remove(conn, "fleet", actor="user:a")
    assert store.get(conn, "fleet") is not None


# -- outbox and delivery ----------------------------------------------------------------------------
def test_events_go_only_to_webhooks_that_want_them_and_once(conn):
    store.create(conn, "all", "https://a.example/", ["call.start", "call.answer", "call.hangup"], SECRET, actor="t")
    store.create(conn, "ends", "https://b.example/", ["call.hangup"], SECRET, actor="t")
    store.create(conn, "off", "https://c.example/", ["call.start"], SECRET, actor="t")
    conn.execute("UPDATE webhooks SET enabled = false WHERE name = 'off'")
    start = payload_from_event(channel_event("CHANNEL_CREATE"))
    hangup = payload_from_event(channel_event("CHANNEL_HANGUP_COMPLETE"))
    assert store.enqueue(conn, start, T0) == 1
    assert store.enqueue(conn, hangup, T0) == 2
    assert store.enqueue(conn, hangup, T0) == 0  # the same event again (a replayed spool file)


def test_delivery_to_a_real_receiver_is_signed_and_verified(conn):
    with WebhookReceiver(SECRET, clock=lambda: T0.timestamp()) as receiver:
        store.create(conn, "crm", receiver.url, ["call.start", "call.hangup"], SECRET, actor="t")
        for name in ("CHANNEL_CREATE", "CHANNEL_ANSWER", "CHANNEL_HANGUP_COMPLETE"):
            store.enqueue(conn, payload_from_event(channel_event(name)), T0)
        assert sender.send_due(conn, T0) == {"delivered": 2, "retry": 0, "gave_up": 0}
        got = receiver.accepted()
        assert [r.payload["type"] for r in got] == ["call.start", "call.hangup"]
        assert all(r.path == "/hooks/calls" and r.headers["Content-Type"] == "application/json" for r in got)
        assert got[0].headers[signing.EVENT_HEADER] == "call.start"
        assert got[0].headers[signing.EVENT_ID_HEADER] == got[0].payload["id"]
        assert sender.send_due(conn, T0 + timedelta(hours=1)) == {"delivered": 0, "retry": 0, "gave_up": 0}
        rows = store.recent_deliveries(conn, "crm")
        assert all(r["delivered_at"] == T0 and r["last_status"] == 204 and r["attempts"] == 1 for r in rows)


def test_a_wrong_secret_is_refused_by_the_receiver_and_retried(conn):
    with WebhookReceiver(SECRET, clock=lambda: T0.timestamp()) as receiver:
        store.create(conn, "crm", receiver.url, ["call.start"], "whsec_not-the-receivers-secret", actor="t")
        store.enqueue(conn, payload_from_event(channel_event("CHANNEL_CREATE")), T0)
        assert sender.send_due(conn, T0)["retry"] == 1
        assert receiver.requests[0].verdict == f"{signing.SIGNATURE_HEADER} does not match the body"
        assert store.recent_deliveries(conn, "crm")[0]["last_error"] == "HTTP 401"


def test_failures_back_off_exponentially_then_succeed_with_a_fresh_signature(conn):
    clock = {"now": T0}
    policy = sender.Policy(timeout=2, backoff_base=10, backoff_max=60, max_attempts=10)
    with WebhookReceiver(SECRET, clock=lambda: clock["now"].timestamp()) as receiver:
        store.create(conn, "crm", receiver.url, ["call.start"], SECRET, actor="t")
        store.enqueue(conn, payload_from_event(channel_event("CHANNEL_CREATE")), T0)
        receiver.failures = [500, 503, 502, 500]
        waits = []
        for _ in range(4):
            assert sender.send_due(conn, clock["now"], policy)["retry"] == 1
            row = store.recent_deliveries(conn, "crm")[0]
            waits.append((row["next_attempt_at"] - clock["now"]).total_seconds())
            # Not due a second early: nothing is sent.
            assert sender.send_due(conn, row["next_attempt_at"] - timedelta(seconds=1), policy)["retry"] == 0
            clock["now"] = row["next_attempt_at"]
        assert waits == [10, 20, 40, 60]  # doubling, capped at backoff_max
        assert sender.send_due(conn, clock["now"], policy)["delivered"] == 1
        ok = receiver.accepted()
        assert len(ok) == 1 and int(ok[0].headers[signing.TIMESTAMP_HEADER]) == int(clock["now"].timestamp())
        assert store.recent_deliveries(conn, "crm")[0]["attempts"] == 5


def test_gives_up_after_the_attempt_limit(conn):
    policy = sender.Policy(timeout=1, backoff_base=1, backoff_max=1, max_attempts=3)
    statuses = []

    def refuse(url, body, headers, timeout):
        statuses.append(url)
        raise ConnectionRefusedError("connection refused")

    store.create(conn, "crm", "http://127.0.0.1:9/", ["call.start"], SECRET, actor="t")
    store.enqueue(conn, payload_from_event(channel_event("CHANNEL_CREATE")), T0)
    now = T0
    results = []
    for _ in range(5):
        results.append(sender.send_due(conn, now, policy, post=refuse))
        now += timedelta(seconds=2)
    assert [r["retry"] for r in results] == [1, 1, 0, 0, 0] and results[2]["gave_up"] == 1
    row = store.recent_deliveries(conn, "crm")[0]
    assert row["gave_up_at"] is not None and "ConnectionRefusedError" in row["last_error"] and row["attempts"] == 3
    assert len(statuses) == 3


def test_a_claimed_delivery_is_not_sent_twice_until_its_lease_ends(conn):
    store.create(conn, "crm", "https://crm.example/", ["call.start"], SECRET, actor="t")
    store.enqueue(conn, payload_from_event(channel_event("CHANNEL_CREATE")), T0)
    lease = timedelta(seconds=15)
    assert len(store.claim_due(conn, T0, lease)) == 1
    assert store.claim_due(conn, T0 + timedelta(seconds=14), lease) == []
    assert len(store.claim_due(conn, T0 + timedelta(seconds=15), lease)) == 1  # the sender died mid-send


# -- the daemon's two halves ------------------------------------------------------------------------
def test_events_flow_from_the_spool_through_the_outbox_to_the_receiver(dsn, conn, tmp_path):
    spool = Spool(tmp_path / "spool")
    with WebhookReceiver(SECRET) as receiver:
        store.create(conn, "crm", receiver.url, ["call.start", "call.answer", "call.hangup"], SECRET, actor="t")
        dispatcher = Dispatcher(spool, dsn, sender.Policy(timeout=2), idle_poll=0.05)
        spooler = EventSpooler(spool, dispatcher.wake)
        for name in ("CHANNEL_CREATE", "CHANNEL_ANSWER", "CHANNEL_PARK", "CHANNEL_HANGUP_COMPLETE"):
            spooler.on_event(channel_event(name))
        assert spooler.spooled == 3 and spool.depth() == 3  # durable before anything else happens
        thread = threading.Thread(target=dispatcher.run)
        thread.start()
        try:
            got = receiver.wait_for(3, timeout=10)
        finally:
            dispatcher.stop()
            thread.join(10)
        assert sorted(r.payload["type"] for r in got) == ["call.answer", "call.hangup", "call.start"]
        assert spool.depth() == 0 and dispatcher.totals["queued"] == 3 and dispatcher.totals["delivered"] == 3


def test_events_wait_in_the_spool_while_postgresql_is_unreachable(tmp_path):
    spool = Spool(tmp_path / "spool")
    dispatcher = Dispatcher(
        spool, "host=127.0.0.1 port=9 dbname=none connect_timeout=1", sender.Policy(), idle_poll=0.01
    )
    EventSpooler(spool, dispatcher.wake).on_event(channel_event("CHANNEL_CREATE"))
    thread = threading.Thread(target=dispatcher.run)
    thread.start()
    dispatcher.stop()
    thread.join(10)
    assert not thread.is_alive() and spool.depth() == 1


def test_a_broken_spool_file_is_quarantined(dsn, tmp_path):
    spool = Spool(tmp_path / "spool")
    spool.put({"uuid": "5d7e4e31-79a4-4f4e-9a3c-9a8d2a8e0f00", "not": "a webhook event"})
    from appliance.store.db import connect

    with connect(dsn, autocommit=True) as c:
        Dispatcher(spool, dsn, sender.Policy()).round(c)
    assert spool.depth() == 0 and len(list(spool.bad.iterdir())) == 1
