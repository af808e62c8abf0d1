# SPDX-License-Identifier: GPL-3.0-or-later
"""Forwarding, schedules with holidays and voicemail on the real FreeSWITCH, with sipp as phones.

The tests share one office and run in file order: the boxes fill up as they go.
"""

from __future__ import annotations

import math
import re
import struct
import time
import wave
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import gevent
import pytest

from appliance.firewall.guard import GuardClient
from appliance.store.calls import CallsStore
from appliance.store.db import connect
from appliance.store.repo import Store
from tests.conftest import new_database
from tests.harness.office import CARRIER_CALLER, DID, Office
from tests.harness.rtp import RtpStream
from tests.harness.sipp import SipMessage, Sipp, SippResult, _messages

DOMAIN = "office.test"


def _noon_zone() -> tuple[str, datetime]:
    """Return an Etc/GMT zone where it is now about noon, and the local time there (the injected clock)."""
    now = datetime.now(UTC)
    offset = 12 - now.hour  # -11 .. +12 hours: every value has an Etc/GMT zone
    zone = f"Etc/GMT{'-' if offset > 0 else '+'}{abs(offset)}" if offset else "Etc/GMT"
    return zone, now + timedelta(hours=offset)


@pytest.fixture(scope="module")
def pbx(pg_cluster, tmp_path_factory):
    """An office where 101 and 102 have boxes, 102 and 103 forwarding rules, a DID goes through a schedule."""
    office = Office(tmp_path_factory.mktemp("pbx"), new_database(pg_cluster))
    office.populate()
    zone, local = _noon_zone()
    with connect(office.dsn, autocommit=True) as conn:
        store = CallsStore(conn)
        store.add_mailbox("102")
        store.add_mailbox("101")
        # The carrier's number 0171... is sent to 101 whatever; busy goes to voicemail (the box's default).
        store.add_forward("102", "always", "extension", "101", callers=["+49171."])
        # 103 has no box: busy goes to 101, unanswered after 5 s to 101's box.
        store.add_forward("103", "busy", "extension", "101")
        store.add_forward("103", "no_answer", "voicemail", "101", ring_seconds=5)
        # Open now (around noon in this zone), closed tomorrow: the holiday test changes this.
        store.add_schedule(
            "office",
            open_kind="extension",
            open_destination="101",
            closed_kind="voicemail",
            closed_destination="101",
            timezone=zone,
            ranges=["sun-sat 10:00-14:00"],
        )
        Store(conn).add_number("+4930555102", "102")
        Store(conn).add_number("+4930555200", "office", destination_kind="schedule")
    office.local_noon = local  # type: ignore[attr-defined]
    try:
        yield office.start()
    finally:
        office.close()


# -- helpers ---------------------------------------------------------------------------------------
def _speak(office: Office, caller: str, number: str, media: Path, hold_ms: int) -> SippResult:
    """Call number from caller's phone and play media (speech, digits) while holding the call."""
    return office.sipp(
        "speak.xml",
        office.ports["sip"],
        service=number,
        auth=office.account(caller),
        duration_ms=hold_ms,
        keys={"from_user": caller, "from_name": caller, "media": str(media)},
        name=f"speak-{caller}-{time.monotonic_ns()}",
        timeout_s=60,
    ).run(timeout=90)


def _speech(office: Office, seconds: float) -> tuple[Path, int]:
    """Return a capture of speech lasting `seconds`, and how long to hold the call for it (ms)."""
    stream = RtpStream().speech(seconds)
    return stream.write(office.workdir / f"speech-{time.monotonic_ns()}.pcap"), int(stream.seconds * 1000)


def _until(what: str, check: Callable[[], object], timeout: float = 20):
    """Poll check() until it returns something true (bounded), and return that."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if found := check():
            return found
        time.sleep(0.1)
    raise AssertionError(f"{what}: not seen within {timeout}s")


def _seen(phone: Sipp, method: str) -> list[SipMessage]:
    """Return what a running sipp phone has received so far whose first line starts with method."""
    return [m for m in _messages(phone.msgfile) if m.direction == "received" and m.first_line.startswith(method)]


def _box(office: Office, extension: str) -> tuple[int, list[Path]]:
    """Return (new messages mod_voicemail counts, message files on disk) of an extension's box."""
    count = int(office.esl(f"vm_boxcount {extension}@{DOMAIN}|new").strip())
    return count, sorted((office.workdir / "voicemail" / DOMAIN / extension).glob("msg_*.wav"))


def _tone_wav(path: Path, seconds: float = 3.0) -> Path:
    """Write a 440 Hz tone as 8 kHz mono WAV (a message to inject into a box)."""
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        frames = (int(8000 * math.sin(2 * math.pi * 440 * n / 8000)) for n in range(int(8000 * seconds)))
        out.writeframes(b"".join(struct.pack("<h", f) for f in frames))
    return path


def _voicemail_events(office: Office) -> tuple[GuardClient, list[dict]]:
    """Subscribe to mod_voicemail's vm::maintenance events; the list fills while gevent runs."""
    client = GuardClient("127.0.0.1", office.ports["esl"], office.esl_password())
    client.connect()
    events: list[dict] = []
    client.on("vm::maintenance", events.append)
    client.subscribe_custom(["vm::maintenance"])
    return client, events


def _events_until(events: list[dict], count: int, timeout: float = 15) -> list[dict]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and len(events) < count:
        gevent.sleep(0.1)  # lets the ESL client's greenlets read the socket
    return events


# -- voicemail -------------------------------------------------------------------------------------
def test_unreachable_extension_takes_a_voicemail(pbx):
    # Nothing is registered for 102: the ring fails, the box takes the message (sipp speaks into it).
    media, hold_ms = _speech(pbx, 14)
    call = _speak(pbx, "101", "102", media, hold_ms)
    assert call.ok, call.explain()
    cdr = pbx.cdr_of(call)
    assert (cdr["variables"]["appliance_landed"], cdr["variables"]["appliance_forward_reason"]) == (
        "voicemail-102",
        "unreachable",
    ), cdr["variables"]
    count, files = _box(pbx, "102")
    assert count == 1 and len(files) == 1, (count, files)
    # What the box kept is the caller's speech: several seconds of it, past mod_voicemail's 2 s minimum.
    with wave.open(str(files[0])) as message:
        assert message.getnframes() / message.getframerate() > 3


def test_busy_extension_takes_a_voicemail_and_lights_the_lamp(pbx):
    # 102's ATA port is registered but busy: the call goes to 102's box, and the port's lamp lights.
    port = pbx.phone("ata1-1", calls=99, scenario="busy.xml")  # stopped below, once the lamp is lit
    media, hold_ms = _speech(pbx, 14)
    call = _speak(pbx, "101", "102", media, hold_ms)
    assert call.ok, call.explain()
    cdr = pbx.cdr_of(call)
    assert (cdr["variables"]["appliance_landed"], cdr["variables"]["appliance_forward_reason"]) == (
        "voicemail-102",
        "busy",
    ), cdr["variables"]
    assert _box(pbx, "102")[0] == 2
    # The NOTIFY that follows this deposit: two new messages (one NOTIFY at registration said 1).
    lamp = _until(
        "NOTIFY Messages-Waiting: yes, 2 new",
        lambda: [m for m in _seen(port, "NOTIFY") if re.search(r"Voice-Message:\s*2/", m.text)],
    )
    assert re.search(r"Messages-Waiting:\s*yes", lamp[0].text), lamp[0].text
    assert f"102@{DOMAIN}" in (lamp[0].header("Message-Account") or ""), lamp[0].text
    assert _seen(port, "INVITE")
    port.stop()


def test_voicemail_menu_refuses_a_wrong_pin_and_admits_the_right_one(pbx):
    pin = pbx.snapshot().extension("101").voicemail_pin
    wrong = "2468" if pin != "2468" else "1357"
    stream = RtpStream().silence(2).digits(wrong + "#").silence(5).digits(pin + "#").silence(5)
    media = stream.write(pbx.workdir / "pin.pcap")
    client, events = _voicemail_events(pbx)
    try:
        call = _speak(pbx, "101", "*97", media, int(stream.seconds * 1000))
        assert call.ok, call.explain()
        logins = [e for e in _events_until(events, 2) if e.get("VM-Action") == "authentication"]
    finally:
        client.close()
    assert [(e["VM-User"], e["VM-Auth-Result"]) for e in logins] == [("101", "fail"), ("101", "success")], events
    assert pbx.cdr_of(call)["variables"]["appliance_landed"] == "voicemail-check"


# -- forwarding ------------------------------------------------------------------------------------
def test_forwarding_by_caller_number(pbx):
    desk = pbx.phone("desk101-1")
    # 101's lamp lights while the phone waits for calls: the phone answers the NOTIFY, then the call.
    assert pbx.esl(f"vm_inject 101@{DOMAIN} {_tone_wav(pbx.workdir / 'inject.wav')}").startswith("+OK")
    _until("MWI NOTIFY at desk101-1", lambda: _seen(desk, "NOTIFY"))
    # The carrier's caller number decides: a DID of 102, called from a 0171 mobile number.
    call = pbx.inbound("+4930555102", caller="+491711234567")
    assert call.ok, call.explain()
    result = desk.wait(timeout=30)
    assert result.ok and result.received("INVITE") and result.received("NOTIFY"), result.explain()
    cdr = pbx.cdr_of(call)
    assert (cdr["variables"]["appliance_forwarded_by"], cdr["variables"]["appliance_forward_reason"]) == (
        "102",
        "always",
    )
    assert cdr["variables"]["appliance_landed"] == "extension-101"


def test_busy_extension_forwards(pbx):
    busy = pbx.phone("ata1-2", scenario="busy.xml")  # 103 is busy ...
    desk = pbx.phone("desk101-1")  # ... so its busy rule sends the call to 101
    call = pbx.call("102", "103")
    assert call.ok, call.explain()
    assert busy.wait(timeout=30).received("INVITE")
    assert desk.wait(timeout=30).received("INVITE")
    cdr = pbx.cdr_of(call)
    assert (
        cdr["variables"]["appliance_forwarded_by"],
        cdr["variables"]["appliance_forward_reason"],
        cdr["variables"]["appliance_landed"],
    ) == ("103", "busy", "extension-101"), cdr["variables"]


def test_unanswered_extension_forwards_after_its_ring_time(pbx):
    ringing = pbx.phone("ata1-2", scenario="ring.xml")  # 103 rings, nobody answers; after 5 s: 101's box
    call = pbx.call("102", "103", hold_ms=1000)
    assert call.ok, call.explain()
    rang = ringing.wait(timeout=30)
    assert rang.ok, rang.explain()
    cdr = pbx.cdr_of(call)
    assert (
        cdr["variables"]["appliance_forwarded_by"],
        cdr["variables"]["appliance_forward_reason"],
        cdr["variables"]["appliance_landed"],
    ) == ("103", "no_answer", "voicemail-101"), cdr["variables"]
    # The rule's ring time (5 s), not the site's 10 s: the box answered the caller well before 10 s
    # (4.3 s measured once: the timeout does not count from the CDR's start to the microsecond).
    assert rang.received("INVITE") and rang.received("CANCEL"), rang.explain()
    rung = (cdr["answered_at"] - cdr["started_at"]).total_seconds()
    assert 3.5 <= rung <= 7.5, rung


# -- schedules -------------------------------------------------------------------------------------
def test_schedule_routes_in_hours_and_on_a_holiday(pbx):
    desk = pbx.phone("desk101-1")
    call = pbx.inbound("+4930555200", caller=CARRIER_CALLER)
    assert call.ok, call.explain()
    assert desk.wait(timeout=30).received("INVITE")
    cdr = pbx.cdr_of(call)
    assert cdr["variables"]["appliance_schedule"] == "office:open"
    assert cdr["variables"]["appliance_landed"] == "extension-101"

    today = pbx.local_noon.date().isoformat()
    with connect(pbx.dsn, autocommit=True) as conn:
        CallsStore(conn).update_schedule("office", holidays=[f"{today} today"])
    pbx.apply()
    call = pbx.inbound("+4930555200", caller=CARRIER_CALLER, hold_ms=1500)
    assert call.ok, call.explain()
    cdr = pbx.cdr_of(call)
    assert cdr["variables"]["appliance_schedule"] == "office:closed"
    assert cdr["variables"]["appliance_landed"] == "voicemail-101"
    assert DID  # the office's main DID still goes straight to 101 (test_calls.py covers it)
