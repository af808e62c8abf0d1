# SPDX-License-Identifier: GPL-3.0-or-later
"""IVR menus, ring groups, queues and parking on the real FreeSWITCH, driven by sipp phones and carrier."""

from __future__ import annotations

import re
import time
from datetime import datetime
from pathlib import Path

import pytest

from appliance.devstack.freeswitch import NOT_FOUND, find_freeswitch
from appliance.store.db import connect
from appliance.store.menus import MenuStore
from appliance.store.repo import Store
from tests.conftest import new_database
from tests.harness import sipp as sipp_harness
from tests.harness.office import Office
from tests.harness.sipp import Sipp, SippResult

DID_IVR, DID_SIM, DID_SEQ, DID_QUEUE, DID_HELP, DID_BOB = (f"+49305552{n:02d}" for n in range(6))
PCAPS = Path("/usr/share/sip-tester")
RING_S = 5


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
            "group", "sales", members=["101", "102"], ring_seconds=RING_S, fallback_kind="extension", fallback="103"
        )
        menus.add("group", "line", members=["101", "102"], strategy="sequential", ring_seconds=RING_S)
        menus.add("queue", "support", agents=["102"], max_wait_seconds=6, overflow_kind="extension", overflow="103")
        menus.add("queue", "help", agents=["102"], max_wait_seconds=60)
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
        ):
            store.add_number(did, name, destination_kind=kind, trunk="carrier")
    try:
        yield office.start()
    finally:
        office.close()


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


def _caller_scenario(workdir: Path, digits: str, how: str, wait_ms: int, hold_ms: int) -> str:
    """Write a carrier caller that waits, keys `digits` (RFC 2833 or SIP INFO), holds, hangs up."""
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
</scenario>
"""
    path = workdir / f"caller-{how}-{digits or 'none'}-{time.monotonic_ns()}.xml"
    path.write_text(head + body)
    return str(path)


def _dial_in(
    office: Office, did: str, digits: str = "", how: str = "rfc2833", wait_ms: int = 1500, hold_ms: int = 1500
) -> Sipp:
    scenario = _caller_scenario(office.workdir, digits, how, wait_ms, hold_ms)
    return office.sipp(
        scenario,
        office.ports["external"],
        service=did,
        keys={"from_user": "+4917612345678", "from_name": "Customer"},
        name=f"dial-in-{did}-{time.monotonic_ns()}",
        timeout_s=45,
    ).start()


def _ringing_phone(office: Office, username: str) -> Sipp:
    """Register an account, then let it ring without ever answering."""
    port = office._phone_ports.setdefault(username, sipp_harness.free_port())
    assert office.register(username, port=port).ok
    return office.sipp(
        "ring.xml", office.ports["sip"], local_port=port, name=f"ring-{username}-{time.monotonic_ns()}"
    ).start()


_STAMP = re.compile(r"^-{20,}\s*(\d{4}-\d\d-\d\d\s+\d\d:\d\d:\d\d\.\d+)", re.M)


def _invite_time(phone: Sipp) -> float:
    """Return when (epoch seconds) the phone received its first INVITE, from sipp's message log."""
    text = phone.msgfile.read_text()
    for match in _STAMP.finditer(text):
        chunk = text[match.end() : match.end() + 400]
        if "message received" in chunk and re.search(r"^\s*INVITE ", chunk, re.M):
            return datetime.strptime(re.sub(r"\s+", " ", match.group(1)), "%Y-%m-%d %H:%M:%S.%f").timestamp()
    raise AssertionError(f"{phone.name} received no INVITE:\n{text[-2000:]}")


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
    alice, bob = office.phone("desk101-1"), office.phone("ata1-1")
    caller = _dial_in(office, DID_IVR, "1", "rfc2833").wait()
    _answered(caller, alice)
    _nobody_else(bob)
    cdr = office.cdr_of(caller)
    assert cdr["extension"] == "101" and "/ivr-main" in cdr["variables"]["appliance_path"], cdr["variables"]


def test_ivr_option_keyed_as_sip_info_reaches_its_extension(office):
    alice, bob = office.phone("desk101-1"), office.phone("ata1-1")
    caller = _dial_in(office, DID_IVR, "2", "info").wait()
    _answered(caller, bob)
    _nobody_else(alice)
    assert office.cdr_of(caller)["extension"] == "102"


def test_ivr_dial_by_extension(office):
    alice, carol = office.phone("desk101-1"), office.phone("ata1-2")
    caller = _dial_in(office, DID_IVR, "103", "rfc2833").wait()
    _answered(caller, carol)
    _nobody_else(alice)
    assert office.cdr_of(caller)["extension"] == "103"


def test_ivr_sub_menu(office):
    alice, bob = office.phone("desk101-1"), office.phone("ata1-1")
    caller = _dial_in(office, DID_IVR, "4 1", "rfc2833").wait()  # 4: the sub-menu, then its 1: extension 102
    _answered(caller, bob)
    _nobody_else(alice)
    cdr = office.cdr_of(caller)
    assert cdr["extension"] == "102" and cdr["variables"]["appliance_path"].endswith("/ivr-main/ivr-sub")


@pytest.mark.parametrize(("digits", "exit_status"), [("9", "failure"), ("", "timeout")])
def test_ivr_invalid_entry_or_silence_goes_to_the_fallback(office, digits, exit_status):
    alice, carol = office.phone("desk101-1"), office.phone("ata1-2")
    caller = _dial_in(office, DID_IVR, digits, "rfc2833", hold_ms=5000).wait()
    _answered(caller, carol)
    _nobody_else(alice)
    cdr = office.cdr_of(caller)
    assert cdr["extension"] == "103" and cdr["variables"]["appliance_ivr_exit"] == exit_status, cdr["variables"]
