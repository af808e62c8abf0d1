# SPDX-License-Identifier: GPL-3.0-or-later
"""More PBX calls on the real FreeSWITCH with sipp: forwarding out through a route, by schedule and when
unreachable, and *98 with the voicemail menu past login.

The tests share one office (its own, so test_pbx_calls.py's rules stay as they are) and run in file order.
"""

from __future__ import annotations

import re

import pytest

from appliance.model.validate import ValidationFailed
from appliance.store.calls import CallsStore
from appliance.store.db import connect
from appliance.store.repo import Store
from tests.conftest import new_database
from tests.freeswitch.test_pbx_calls import DOMAIN, _box, _noon_zone, _seen, _speak, _tone_wav, _until
from tests.harness.events import Events
from tests.harness.office import Office
from tests.harness.ports import wait_udp_bound
from tests.harness.rtp import RtpStream
from tests.harness.sipp import SipMessage

OUTSIDE = "030123456789"  # dialled as a national number: the route strips the 0 and prepends +49
OUTSIDE_E164 = "+4930123456789"


@pytest.fixture(scope="module")
def pbx(pg_cluster, tmp_path_factory):
    """104 forwards out, 105 may not call out, 102 forwards in office hours, 103 when unreachable."""
    office = Office(tmp_path_factory.mktemp("pbx-more"), new_database(pg_cluster))
    office.populate()
    zone, _local = _noon_zone()
    with connect(office.dsn, autocommit=True) as conn:
        Store(conn).add_extension("104", "Dave", caller_id_number="+4930555104")
        Store(conn).add_extension("105", "Erin", outbound_allowed=False)
        store = CallsStore(conn)
        store.add_mailbox("101")
        store.add_forward("104", "always", "outside", OUTSIDE)
        store.add_forward("103", "unreachable", "extension", "101")
        store.add_schedule(
            "office",
            open_kind="extension",
            open_destination="101",
            closed_kind="voicemail",
            closed_destination="101",
            timezone=zone,
            ranges=["sun-sat 10:00-14:00"],  # about noon there now: open
        )
        store.add_forward("102", "always", "extension", "101", schedule="office", during="open")
    try:
        yield office.start()
    finally:
        office.close()


def _invite(messages: list[SipMessage]) -> SipMessage:
    return next(m for m in messages if m.direction == "received" and m.first_line.startswith("INVITE"))


def _user(header: str | None) -> str:
    """Return the user part of a From/To/Request-URI."""
    found = re.search(r"sip:([^@;>]+)@", header or "")
    return found.group(1) if found else ""


# -- forwarding out --------------------------------------------------------------------------------
def test_forward_to_an_outside_number_goes_out_through_the_route(pbx):
    carrier = pbx.carrier()
    call = pbx.call("101", "104", hold_ms=1000)
    assert call.ok, call.explain()
    out = carrier.wait(timeout=30)
    assert out.ok, out.explain()
    invite = _invite(out.messages)
    # The national route turned 0301... into +49301...; the forwarding extension's own number is shown.
    assert _user(invite.first_line) == OUTSIDE_E164, invite.text
    assert _user(invite.header("From")) == "+4930555104", invite.text
    cdr = pbx.cdr_of(call)
    assert (
        cdr["variables"]["appliance_forwarded_by"],
        cdr["variables"]["appliance_forward_reason"],
        cdr["variables"]["appliance_landed"],
    ) == ("104", "always", f"outside-{OUTSIDE}"), cdr["variables"]


def test_forward_to_an_outside_number_is_refused_without_outside_calls(pbx):
    # 105 may not call out: the rule is refused, naming it and the field, and nothing is written ...
    with connect(pbx.dsn, autocommit=True) as conn:
        with pytest.raises(ValidationFailed) as refused:
            CallsStore(conn).add_forward("105", "always", "outside", OUTSIDE)
        # ... and 104, which forwards out, cannot lose its outside calls while the rule exists.
        with pytest.raises(ValidationFailed) as kept:
            Store(conn).update_extension("104", outbound_allowed=False)
        rules = conn.execute(
            "SELECT e.number FROM forward_rules f JOIN extensions e ON e.id = f.extension_id"
            " WHERE f.destination_kind = 'outside' ORDER BY 1"
        ).fetchall()
        allowed = conn.execute("SELECT outbound_allowed FROM extensions WHERE number = '104'").fetchone()
    assert [(p.obj, p.field) for p in refused.value.problems] == [("forward rule 105 always 1", "destination")]
    assert "may not call out" in str(refused.value)
    assert any("104" in p.obj for p in kept.value.problems), kept.value.problems
    assert [r["number"] for r in rules] == ["104"] and allowed["outbound_allowed"] is True
    # Live: a call to 105 (no rule, no phone) never reaches the carrier.
    carrier = pbx.carrier()
    call = pbx.call("101", "105", hold_ms=1000)
    assert not call.received("SIP/2.0 200"), call.explain()
    carrier.stop()
    assert not carrier.wait(timeout=5).received("INVITE"), "the carrier was called"


# -- forwarding when unreachable, by schedule ------------------------------------------------------
def test_unreachable_extension_forwards_to_another_extension(pbx):
    desk = pbx.phone("desk101-1")  # nothing is registered for 103 (ATA port 2)
    call = pbx.call("102", "103")
    assert call.ok, call.explain()
    assert desk.wait(timeout=30).received("INVITE")
    cdr = pbx.cdr_of(call)
    assert (
        cdr["variables"]["appliance_forwarded_by"],
        cdr["variables"]["appliance_forward_reason"],
        cdr["variables"]["appliance_landed"],
    ) == ("103", "unreachable", "extension-101"), cdr["variables"]


def test_forward_rule_with_a_schedule_applies_in_hours_only(pbx):
    # In hours (about noon in the schedule's zone): 102's rule sends the call to 101, 102 does not ring.
    desk, port = pbx.phone("desk101-1"), pbx.phone("ata1-1")
    call = pbx.call("103", "102")
    assert call.ok, call.explain()
    assert desk.wait(timeout=30).received("INVITE")
    port.stop()
    assert not port.wait(timeout=5).received("INVITE"), "102 rang in hours"
    cdr = pbx.cdr_of(call)
    assert (cdr["variables"]["appliance_forwarded_by"], cdr["variables"]["appliance_landed"]) == (
        "102",
        "extension-101",
    ), cdr["variables"]

    # Out of hours (the office now opens at 16:00 there): the rule does not apply, 102 itself rings.
    with connect(pbx.dsn, autocommit=True) as conn:
        CallsStore(conn).update_schedule("office", ranges=["sun-sat 16:00-18:00"])
    pbx.apply()
    desk, port = pbx.phone("desk101-1"), pbx.phone("ata1-1")
    call = pbx.call("103", "102")
    assert call.ok, call.explain()
    assert port.wait(timeout=30).received("INVITE")
    desk.stop()
    assert not desk.wait(timeout=5).received("INVITE"), "the rule applied out of hours"
    cdr = pbx.cdr_of(call)
    assert cdr["variables"]["appliance_landed"] == "extension-102", cdr["variables"]
    assert "appliance_forwarded_by" not in cdr["variables"], cdr["variables"]


# -- *98 and the voicemail menu --------------------------------------------------------------------
def test_any_mailbox_login_and_listening_marks_the_message_read(pbx):
    desk = pbx.phone("desk101-1")  # 101's phone: its lamp lights, then goes out
    # sipp starts in the background: a NOTIFY sent before it listens is lost (ICMP ends sofia's transaction).
    wait_udp_bound(pbx._phone_ports["desk101-1"])
    message = _tone_wav(pbx.workdir / "message.wav")
    assert pbx.esl(f"vm_inject 101@{DOMAIN} {message}").startswith("+OK")
    _until("NOTIFY Messages-Waiting: yes", lambda: [m for m in _seen(desk, "NOTIFY") if "yes" in m.text.lower()])
    assert _box(pbx, "101")[0] == 1
    pin = pbx.snapshot().extension("101").voicemail_pin
    # From 102's phone: *98, the box number, its PIN, 1 (new messages), then 2 (save) after the message.
    stream = (
        RtpStream()
        .silence(2)
        .digits("101#")
        .silence(3)
        .digits(pin + "#")
        .silence(4)
        .digits("1")
        .silence(6)
        .digits("2")
        .silence(4)
    )
    media = stream.write(pbx.workdir / "check.pcap")
    events = Events(pbx, ["PLAYBACK_START"], custom=("vm::maintenance",))
    try:
        call = _speak(pbx, "102", "*98", media, int(stream.seconds * 1000))
        assert call.ok, call.explain()
        logins = events.until("vm login", lambda e: e.get("VM-Action") == "authentication")
        played = events.until(
            "the message played",
            lambda e: (
                "/voicemail/" in (e.get("Playback-File-Path") or "") and "msg_" in e.get("Playback-File-Path", "")
            ),
        )
        updates = events.until("MWI update after listening", lambda e: e.get("VM-Action") == "mwi-update")
    finally:
        events.close()
    assert [(e["VM-User"], e["VM-Auth-Result"]) for e in logins] == [("101", "success")], logins
    assert played[0]["Playback-File-Path"].endswith(".wav"), played[0]
    assert _box(pbx, "101")[0] == 0  # no new message left: it was heard and saved
    lamp = _until(
        "NOTIFY Messages-Waiting: no",
        lambda: [m for m in _seen(desk, "NOTIFY") if re.search(r"Messages-Waiting:\s*no", m.text)],
    )
    assert f"101@{DOMAIN}" in (lamp[-1].header("Message-Account") or ""), lamp[-1].text
    assert updates and pbx.cdr_of(call)["variables"]["appliance_landed"] == "voicemail-check"
    desk.stop()
