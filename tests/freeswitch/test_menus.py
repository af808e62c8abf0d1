# SPDX-License-Identifier: GPL-3.0-or-later
"""IVR menus, ring groups, queues and parking on the real FreeSWITCH, driven by sipp phones and carrier."""

from __future__ import annotations

import re
import time
from datetime import datetime
from pathlib import Path

import pytest

from appliance.devstack.freeswitch import NOT_FOUND, find_freeswitch
from appliance.fsconf.menus_render import SILENCE
from appliance.store.db import connect
from appliance.store.menus import MenuStore
from appliance.store.repo import Store
from tests.conftest import new_database
from tests.freeswitch.test_pbx_calls import _tone_wav
from tests.harness import sipp as sipp_harness
from tests.harness.events import Events
from tests.harness.office import Office
from tests.harness.ports import wait_udp_bound
from tests.harness.sipp import Sipp, SippResult

DID_IVR, DID_SIM, DID_SEQ, DID_QUEUE, DID_HELP, DID_BOB, DID_WAIT, DID_SLOW, DID_GREETING, DID_LOST, DID_GONE = (
    f"+49305552{n:02d}" for n in range(11)
)
GROUP_NUMBER, IVR_NUMBER = "600", "700"
AGENT_RING_S = 5
PCAPS = Path("/usr/share/sip-tester")
RING_S = 5
ANNOUNCE_S = 5


@pytest.fixture(scope="module")
def office(pg_cluster, tmp_path_factory):
    if find_freeswitch() is None or not sipp_harness.available():
        pytest.skip(f"{NOT_FOUND}: live call tests skipped")
    office = Office(tmp_path_factory.mktemp("menus"), new_database(pg_cluster))
    office.site["park_timeout_seconds"] = 6
    office.populate()
    with connect(office.dsn, autocommit=True) as conn:
        store = Store(conn)
        menus = MenuStore(store)
        menus.add(
            "group",
            "sales",
            members=["101", "102"],
            ring_seconds=RING_S,
            fallback_kind="extension",
            fallback="103",
            number=GROUP_NUMBER,
        )
        menus.add("group", "line", members=["101", "102"], strategy="sequential", ring_seconds=RING_S)
        menus.add(
            "queue",
            "support",
            agents=["102"],
            max_wait_seconds=6,
            announce_seconds=ANNOUNCE_S,
            overflow_kind="extension",
            overflow="103",
        )
        menus.add("queue", "help", agents=["102"], max_wait_seconds=60)
        menus.add("queue", "wait", agents=["101"], max_wait_seconds=60, announce_seconds=ANNOUNCE_S)
        menus.add("queue", "slow", agents=["103"], max_wait_seconds=60, agent_ring_seconds=AGENT_RING_S)
        opt = [{"digits": "1", "destination_kind": "extension", "destination": "102"}]
        menus.add("ivr", "sub", greeting="say:Sub menu.", options=opt, timeout_ms=3000)
        menus.add(
            "ivr",
            "main",
            greeting="say:Welcome.",
            options=[
                {"digits": "1", "destination_kind": "extension", "destination": "101"},
                {"digits": "2", "destination_kind": "extension", "destination": "102"},
                {"digits": "4", "destination_kind": "ivr", "destination": "sub"},
            ],
            dial_by_extension=True,
            number=IVR_NUMBER,
            timeout_ms=2000,
            max_attempts=1,
            fallback_kind="extension",
            fallback="103",
        )
        for did, kind, name in (
            (DID_IVR, "ivr", "main"),
            (DID_SIM, "group", "sales"),
            (DID_SEQ, "group", "line"),
            (DID_QUEUE, "queue", "support"),
            (DID_HELP, "queue", "help"),
            (DID_BOB, "extension", "102"),
            (DID_WAIT, "queue", "wait"),
            (DID_SLOW, "queue", "slow"),
        ):
            store.add_number(did, name, destination_kind=kind, trunk="carrier")
    try:
        office.start()
        _start_announcer(office)
        yield office
    finally:
        office.close()


def _start_announcer(office: Office) -> None:
    """Restart the announcer the stack started, with a short tick so announcements come on time."""
    before = office.daemon_log("announcer").count("connected to")  # the log is appended to
    office.stop_daemon("announcer")
    office.start_announcer(tick_seconds=0.2)
    _wait_for(lambda: office.daemon_log("announcer").count("connected to") > before)


# -- sipp helpers ------------------------------------------------------------------------------------


def _digit_steps(digits: str, how: str) -> str:
    steps = []
    for digit in digits:
        if digit == " ":  # let the menu act on what came before
            steps.append('<pause milliseconds="3500"/>')
        elif how == "rfc2833":
            name = {"*": "star", "#": "pound"}.get(digit, digit)
            steps.append(
                f'<nop><action><exec play_pcap_audio="{PCAPS}/dtmf_2833_{name}.pcap"/></action></nop>'
                '<pause milliseconds="400"/>'
            )
        else:
            steps.append(
                '<send retrans="500"><![CDATA[\n'
                "INFO [next_url] SIP/2.0\n"
                "Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]\n"
                "Max-Forwards: 70\n[last_From:]\n[last_To:]\nCall-ID: [call_id]\n"
                f"CSeq: [cseq] INFO\nContent-Type: application/dtmf-relay\nContent-Length: [len]\n\n"
                f"Signal={digit}\nDuration=160\n]]></send>"
                '<recv response="200"/><pause milliseconds="300"/>'
            )
    return "\n".join(steps)


def _caller_scenario(workdir: Path, digits: str, how: str, wait_ms: int, hold_ms: int, far_hangup: bool = False) -> str:
    """Write a carrier caller that waits, keys `digits` (RFC 2833 or SIP INFO), holds, hangs up.

    With `far_hangup` the caller instead waits up to `wait_ms` for the other side's BYE (and fails without it).
    """
    base = (sipp_harness.SCENARIOS / "call.xml").read_text()
    head, _, _rest = base.partition('  <label id="auth"/>')
    head = head.replace('<recv response="407" optional="true" auth="true" next="auth"/>', "")
    head = head.replace('<recv response="401" optional="true" auth="true" next="auth"/>', "")
    head = head.replace(
        '<recv response="200" rtd="true" rrs="true" next="answered"/>', '<recv response="200" rtd="true" rrs="true"/>'
    )
    body = f"""
  <send>
    <![CDATA[
      ACK [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      Max-Forwards: 70
      [last_From:]
      [last_To:]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Content-Length: 0

    ]]>
  </send>
{_far_hangup(wait_ms) if far_hangup else _own_hangup(digits, how, wait_ms, hold_ms)}
</scenario>
"""
    path = workdir / f"caller-{how}-{digits or 'none'}-{time.monotonic_ns()}.xml"
    path.write_text(head + body)
    return str(path)


def _far_hangup(wait_ms: int) -> str:
    return f"""
  <recv request="BYE" timeout="{wait_ms}"/>
  <send>
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0

    ]]>
  </send>
  <timewait milliseconds="300"/>
"""


def _own_hangup(digits: str, how: str, wait_ms: int, hold_ms: int) -> str:
    return f"""
  <pause milliseconds="{wait_ms}"/>
  {_digit_steps(digits, how)}
  <pause milliseconds="{hold_ms}"/>
  <send retrans="500">
    <![CDATA[
      BYE [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      Max-Forwards: 70
      [last_From:]
      [last_To:]
      Call-ID: [call_id]
      CSeq: 10 BYE
      Content-Length: 0

    ]]>
  </send>
  <recv response="200" crlf="true"/>
"""


def _dial_in(
    office: Office,
    did: str,
    digits: str = "",
    how: str = "rfc2833",
    wait_ms: int = 1500,
    hold_ms: int = 1500,
    far_hangup: bool = False,
) -> Sipp:
    scenario = _caller_scenario(office.workdir, digits, how, wait_ms, hold_ms, far_hangup)
    return office.sipp(
        scenario,
        office.ports["external"],
        service=did,
        keys={"from_user": "+4917612345678", "from_name": "Customer"},
        name=f"dial-in-{did}-{time.monotonic_ns()}",
        timeout_s=45,
    ).start()


def _port(office: Office, username: str) -> int:
    """Return the account's phone port, stopping whatever phone an earlier test left on it."""
    port = office._phone_ports.setdefault(username, sipp_harness.free_port())
    for sipp in office.sipps:
        if sipp.local_port == port:
            sipp.stop()
    return port


def _reachable(office: Office, username: str) -> None:
    """Wait until FreeSWITCH's registration table (written asynchronously) knows the phone's contact."""
    deadline = time.monotonic() + 5
    while "error/" in office.esl(f"sofia_contact */{username}@office.test") and time.monotonic() < deadline:
        time.sleep(0.1)


def _phone(office: Office, username: str) -> Sipp:
    port = _port(office, username)
    phone = office.phone(username)
    wait_udp_bound(port)  # an INVITE sent before sipp listens is lost
    _reachable(office, username)
    return phone


def _ringing_phone(office: Office, username: str) -> Sipp:
    """Register an account, then let it ring without ever answering."""
    port = _port(office, username)
    # ring.xml also answers the message-waiting NOTIFY that may follow the REGISTER (an unexpected
    # NOTIFY made the former ring_cancel.xml abort and exit).
    phone = office.phone(username, scenario="ring.xml")
    wait_udp_bound(port)  # an INVITE sent before sipp listens is lost
    return phone


_STAMP = re.compile(r"^-{20,}\s*(\d{4}-\d\d-\d\d\s+\d\d:\d\d:\d\d\.\d+)", re.M)


def _invite_time(phone: Sipp, method: str = "INVITE") -> float:
    """Return when (epoch seconds) the phone received its first INVITE (or `method`), from sipp's message log."""
    text = phone.msgfile.read_text()
    stamps = list(_STAMP.finditer(text))
    for match, after in zip(stamps, [*stamps[1:], None], strict=True):
        # One logged message only: a short one (the 200 OK to a NOTIFY) must not lend its stamp to the next.
        chunk = text[match.end() : after.start() if after else len(text)]
        if "message received" in chunk and re.search(rf"^\s*{method} ", chunk, re.M):
            return datetime.strptime(re.sub(r"\s+", " ", match.group(1)), "%Y-%m-%d %H:%M:%S.%f").timestamp()
    raise AssertionError(f"{phone.name} received no {method}:\n{text[-2000:]}")


def _answered(caller: SippResult, phone: Sipp) -> SippResult:
    assert caller.ok, caller.explain()
    result = phone.wait(timeout=30)
    assert result.ok and result.received("INVITE"), result.explain()
    return result


def _nobody_else(*phones: Sipp) -> None:
    for phone in phones:
        phone.stop()
        assert not phone.wait(timeout=5).received("INVITE"), f"{phone.name} rang"


# -- IVR ---------------------------------------------------------------------------------------------


def test_ivr_option_keyed_as_rfc2833_reaches_its_extension(office):
    alice, bob = _phone(office, "desk101-1"), _phone(office, "ata1-1")
    caller = _dial_in(office, DID_IVR, "1", "rfc2833").wait()
    _answered(caller, alice)
    _nobody_else(bob)
    cdr = office.cdr_of(caller)
    assert cdr["extension"] == "101" and "/ivr-main" in cdr["variables"]["appliance_path"], cdr["variables"]


def test_ivr_option_keyed_as_sip_info_reaches_its_extension(office):
    alice, bob = _phone(office, "desk101-1"), _phone(office, "ata1-1")
    caller = _dial_in(office, DID_IVR, "2", "info").wait()
    _answered(caller, bob)
    _nobody_else(alice)
    assert office.cdr_of(caller)["extension"] == "102"


def test_ivr_dial_by_extension(office):
    alice, carol = _phone(office, "desk101-1"), _phone(office, "ata1-2")
    caller = _dial_in(office, DID_IVR, "103", "rfc2833").wait()
    _answered(caller, carol)
    _nobody_else(alice)
    assert office.cdr_of(caller)["extension"] == "103"


def test_ivr_sub_menu(office):
    alice, bob = _phone(office, "desk101-1"), _phone(office, "ata1-1")
    caller = _dial_in(office, DID_IVR, "4 1", "rfc2833").wait()  # 4: the sub-menu, then its 1: extension 102
    _answered(caller, bob)
    _nobody_else(alice)
    cdr = office.cdr_of(caller)
    assert cdr["extension"] == "102" and cdr["variables"]["appliance_path"].endswith("/ivr-main/ivr-sub")


@pytest.mark.parametrize(("digits", "exit_status"), [("9", "failure"), ("", "timeout")])
def test_ivr_invalid_entry_or_silence_goes_to_the_fallback(office, digits, exit_status):
    alice, carol = _phone(office, "desk101-1"), _phone(office, "ata1-2")
    caller = _dial_in(office, DID_IVR, digits, "rfc2833", hold_ms=5000).wait()
    _answered(caller, carol)
    _nobody_else(alice)
    cdr = office.cdr_of(caller)
    assert cdr["extension"] == "103" and cdr["variables"]["appliance_ivr_exit"] == exit_status, cdr["variables"]


def _greeting_menu(office: Office, name: str, did: str, greeting: str) -> None:
    """Add an IVR whose greeting is a file, option 1 to extension 101, reached from did; apply it."""
    with connect(office.dsn, autocommit=True) as conn:
        store = Store(conn)
        opt = [{"digits": "1", "destination_kind": "extension", "destination": "101"}]
        MenuStore(store).add("ivr", name, greeting=greeting, options=opt, timeout_ms=3000)
        store.add_number(did, name, destination_kind="ivr", trunk="carrier")
    office.apply()


def _played(events: Events, path: str) -> list[dict]:
    return events.until(f"playback of {path}", lambda e: e.get("Playback-File-Path") == path)


def test_ivr_greeting_from_a_recorded_file_is_played(office):
    greeting = _tone_wav(office.workdir / "greeting.wav", seconds=1.0)
    _greeting_menu(office, "recorded", DID_GREETING, str(greeting))
    alice = _phone(office, "desk101-1")
    events = Events(office, ["PLAYBACK_START", "PLAYBACK_STOP"])
    try:
        caller = _dial_in(office, DID_GREETING, "1", "rfc2833", wait_ms=2500).wait()
        _answered(caller, alice)
        started = _played(events, str(greeting))
        stopped = events.until(
            "end of the greeting",
            lambda e: e.get("Event-Name") == "PLAYBACK_STOP" and e.get("Playback-File-Path") == str(greeting),
        )
    finally:
        events.close()
    # FreeSWITCH opened the WAV (a start event) and played it to its end before the key came.
    assert started[0]["Unique-ID"] == stopped[0]["Unique-ID"], (started, stopped)
    assert stopped[0].get("Playback-Status") == "done", stopped[0]
    assert office.cdr_of(caller)["extension"] == "101"


def test_ivr_greeting_file_missing_plays_silence_and_the_menu_still_works(office):
    _greeting_menu(office, "lost", DID_LOST, str(office.workdir / "no-such-greeting.wav"))
    alice = _phone(office, "desk101-1")
    events = Events(office, ["PLAYBACK_START"])
    try:
        caller = _dial_in(office, DID_LOST, "1", "rfc2833").wait()
        _answered(caller, alice)
        _played(events, SILENCE)
    finally:
        events.close()
    cdr = office.cdr_of(caller)
    assert cdr["extension"] == "101" and cdr["variables"]["appliance_path"].endswith("/ivr-lost"), cdr["variables"]


def test_ivr_greeting_file_deleted_after_rendering_does_not_break_the_menu(office):
    # The render-time check cannot see a file removed later: FreeSWITCH fails to open it at call time.
    greeting = _tone_wav(office.workdir / "gone.wav", seconds=1.0)
    _greeting_menu(office, "gone", DID_GONE, str(greeting))
    greeting.unlink()
    alice = _phone(office, "desk101-1")
    caller = _dial_in(office, DID_GONE, "1", "rfc2833").wait()
    _answered(caller, alice)
    assert office.cdr_of(caller)["extension"] == "101"


# -- ring groups -------------------------------------------------------------------------------------


def test_simultaneous_group_rings_everyone_at_once_then_the_fallback(office):
    alice, bob, carol = _ringing_phone(office, "desk101-1"), _ringing_phone(office, "ata1-1"), _phone(office, "ata1-2")
    caller = _dial_in(office, DID_SIM, wait_ms=RING_S * 1000 + 1500).wait()
    _answered(caller, carol)
    rang = {name: phone.wait(timeout=10) for name, phone in (("alice", alice), ("bob", bob))}
    assert all(r.received("INVITE") and r.received("CANCEL") for r in rang.values()), rang
    t_alice, t_bob, t_carol = _invite_time(alice), _invite_time(bob), _invite_time(carol)
    assert abs(t_alice - t_bob) < 1.0, (t_alice, t_bob)
    # originate counts its timeouts in whole seconds from its start: up to 1 s early.
    assert RING_S - 1 <= t_carol - t_alice <= RING_S + 3, (t_alice, t_carol)
    cdr = office.cdr_of(caller)
    assert cdr["extension"] == "103" and cdr["variables"]["appliance_path"].startswith("/group-sales")


def test_sequential_group_rings_one_after_another(office):
    alice, bob = _ringing_phone(office, "desk101-1"), _phone(office, "ata1-1")
    caller = _dial_in(office, DID_SEQ, wait_ms=RING_S * 1000 + 1500).wait()
    _answered(caller, bob)
    assert alice.wait(timeout=10).received("CANCEL")
    t_alice, t_bob = _invite_time(alice), _invite_time(bob)
    assert RING_S - 1 <= t_bob - t_alice <= RING_S + 3, (t_alice, t_bob)  # whole seconds, as above
    assert office.cdr_of(caller)["variables"]["appliance_target"] == "group-line"


def test_phone_dials_the_internal_number_of_a_group(office):
    alice, bob = _phone(office, "desk101-1"), _ringing_phone(office, "ata1-1")
    call = office.call("ata1-2", GROUP_NUMBER, hold_ms=1000)
    assert call.ok, call.explain()
    assert alice.wait(timeout=10).received("INVITE")
    assert bob.wait(timeout=10).received("CANCEL")  # rang with alice, stopped when she answered
    assert office.cdr_of(call)["variables"]["appliance_target"] == "group-sales"


def test_phone_dials_the_internal_number_of_a_menu(office):
    carol = _phone(office, "ata1-2")
    call = office.call("ata1-1", IVR_NUMBER, hold_ms=7000)  # says nothing: the menu times out to 103
    assert call.ok, call.explain()
    assert carol.wait(timeout=10).received("INVITE")
    variables = office.cdr_of(call)["variables"]
    assert variables["appliance_path"].startswith("/ivr-main") and variables["appliance_ivr_exit"] == "timeout"


# -- queues ------------------------------------------------------------------------------------------


def test_queue_overflows_to_its_destination_after_the_wait(office):
    bob, carol = _phone(office, "ata1-1"), _phone(office, "ata1-2")
    started = time.monotonic()
    caller = _dial_in(office, DID_QUEUE, wait_ms=9000).wait()
    _answered(caller, carol)
    _nobody_else(bob)  # 102 is an agent of this queue but never logged in
    assert _invite_time(carol) - (time.time() - (time.monotonic() - started)) >= 6 - 0.5
    cdr = office.cdr_of(caller)
    assert cdr["extension"] == "103" and cdr["variables"]["appliance_queue_exit"] == "TIMEOUT", cdr["variables"]


def test_agent_logs_in_by_feature_code_and_gets_the_waiting_call(office):
    bob = _phone(office, "ata1-1")
    caller = _dial_in(office, DID_HELP, wait_ms=8000)
    time.sleep(1.5)  # the caller is in the queue, hearing hold music; no agent is logged in
    assert bob.proc.poll() is None  # the agent phone is still waiting for a call
    login = office.call("ata1-1", "*50", hold_ms=200)
    assert login.ok, login.explain()
    try:
        result = caller.wait()
        _answered(result, bob)
        cdr = office.cdr_of(result)
        assert cdr["variables"]["appliance_target"] == "queue-help"
        assert cdr["variables"].get("cc_agent") == "102", cdr["variables"]
    finally:
        assert office.call("ata1-1", "*51", hold_ms=200).ok
    status = office.esl("callcenter_config agent get status 102")
    assert "Logged Out" in status, status


def test_an_agent_phone_rings_only_agent_ring_seconds(office):
    carol = _ringing_phone(office, "ata1-2")
    login = office.call("ata1-2", "*50", hold_ms=200)
    assert login.ok, login.explain()
    try:
        caller = _dial_in(office, DID_SLOW, wait_ms=AGENT_RING_S * 1000 + 4000)
        rang = carol.wait(timeout=30)
        assert rang.ok and rang.received("CANCEL"), rang.explain()
        rung = _invite_time(carol, "CANCEL") - _invite_time(carol)
        # originate counts its leg timeout in whole seconds from the originate's start: up to 1 s early.
        assert AGENT_RING_S - 1 <= rung <= AGENT_RING_S + 2, rung
        result = caller.wait()
        assert result.ok, result.explain()  # still waiting in the queue after the agent's leg gave up
    finally:
        assert office.call("ata1-2", "*51", hold_ms=200).ok


def test_waiting_callers_hear_their_position(office):
    first = _dial_in(office, DID_WAIT, wait_ms=ANNOUNCE_S * 1000 + 3000)
    time.sleep(1)
    second = _dial_in(office, DID_WAIT, wait_ms=ANNOUNCE_S * 1000 + 2000)
    results = first.wait(), second.wait()
    assert all(r.ok for r in results), [r.explain() for r in results]
    log = (office.workdir / "fs" / "log" / "freeswitch.log").read_text(errors="replace")
    for position, result in enumerate(results, start=1):
        cdr = office.cdr_of(result)
        assert cdr["variables"]["appliance_queue_position"] == str(position), cdr["variables"]
        # The caller's own channel executed the speech (FreeSWITCH logs each application it runs).
        spoken = [ln for ln in log.splitlines() if str(cdr["uuid"]) in ln and f"You are caller number {position}" in ln]
        assert any("EXECUTE" in ln and "speak(flite|kal|" in ln for ln in spoken), spoken or log[-3000:]
        # ...without an error (a bad TTS engine or voice is logged against the channel).
        failed = [ln for ln in log.splitlines() if str(cdr["uuid"]) in ln and "[ERR]" in ln]
        assert not failed, failed


def test_queue_works_without_the_announcer(office):
    office.stop_daemon("announcer")
    try:
        bob, carol = _phone(office, "ata1-1"), _phone(office, "ata1-2")
        caller = _dial_in(office, DID_QUEUE, wait_ms=9000).wait()
        _answered(caller, carol)
        _nobody_else(bob)
        cdr = office.cdr_of(caller)
        assert cdr["variables"]["appliance_queue_exit"] == "TIMEOUT", cdr["variables"]
        assert "appliance_queue_position" not in cdr["variables"], cdr["variables"]
    finally:
        _start_announcer(office)


# -- parking -----------------------------------------------------------------------------------------


def _park_from_bob(office: Office) -> Sipp:
    """A carrier caller reaches 102, whose phone parks the call with a blind transfer to *70."""
    port = _port(office, "ata1-1")
    assert office.register("ata1-1", port=port).ok
    parker = office.sipp(
        "answer_park.xml", office.ports["sip"], local_port=port, service="ata1-1", name=f"park-{time.monotonic_ns()}"
    ).start()
    return parker


def _parked_slots(office: Office) -> list[str]:
    return re.findall(r">(\d+)</extension>", office.esl("valet_info appliance"))


def _wait_for(predicate, timeout: float = 10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(0.2)
    return predicate()


def test_parked_call_is_retrieved_from_another_phone(office):
    parker = _park_from_bob(office)
    caller = _dial_in(office, DID_BOB, wait_ms=20000, far_hangup=True)  # talks until the retriever hangs up
    assert parker.wait(timeout=20).ok, parker.explain()
    slots = _wait_for(lambda: _parked_slots(office))
    assert len(slots) == 1, slots
    pickup = office.call("101", f"*71{slots[0]}", hold_ms=2000)
    assert pickup.ok, pickup.explain()
    result = caller.wait()
    assert result.ok and result.received("BYE"), result.explain()
    assert _parked_slots(office) == []
    # uuid_bridge makes the retriever's leg the parked call's B-leg: the parked call's CDR names it.
    parked = office.cdr_of(result)
    assert parked["variables"]["bridge_channel"] == "sofia/internal/101@127.0.0.1", parked["variables"]
    assert parked["variables"]["appliance_path"].endswith("/park"), parked["variables"]
    # An empty slot answers with an error tone; it must not park the retriever instead.
    empty = office.call("101", f"*71{slots[0]}", hold_ms=300)
    assert empty.ok, empty.explain()
    assert office.cdr_of(empty)["variables"]["appliance_target"] == "park-retrieve-empty"
    assert _parked_slots(office) == []


def test_parked_call_rings_back_the_parker_after_the_timeout(office):
    parker = _park_from_bob(office)
    caller = _dial_in(office, DID_BOB, wait_ms=12000)
    assert parker.wait(timeout=20).ok, parker.explain()
    assert len(_wait_for(lambda: _parked_slots(office))) == 1
    parked_at = time.monotonic()
    bob = _phone(office, "ata1-1")  # the same phone, now simply answering
    _answered(caller.wait(), bob)
    assert time.monotonic() - parked_at >= 6 - 1
    cdr = office.cdr_of(caller.wait())
    assert cdr["variables"]["appliance_path"].endswith("/park/park-return-102"), cdr["variables"]
    assert cdr["extension"] == "102"
