# SPDX-License-Identifier: GPL-3.0-or-later
"""Survivability and durability: calls without PostgreSQL or daemons, CDR spool replay, ESL reconnect."""

from __future__ import annotations

import time
from pathlib import Path

from appliance.devstack.freeswitch import FreeSwitchProcess, find_freeswitch
from appliance.storage import survival
from tests.harness.office import DID
from tests.harness.sipp import Sipp


def _answered(call, callee) -> None:
    assert call.ok, call.explain()
    answered = callee.wait(timeout=30)
    assert answered.ok and answered.received("INVITE"), answered.explain()


def _call_answered(office, callee: Sipp, caller: str, destination: str) -> None:
    """Place a call to an answering sipp started first, and check both ends saw it through."""
    _answered(office.call(caller, destination), callee)


def test_basic_calls_route_with_postgresql_and_every_daemon_stopped(own_office, pg_cluster):
    office = own_office
    office.stop_daemons()  # listener, outbound, recorder, announcer, and any added later
    pg_cluster.stop()
    try:
        assert not office.daemons and not pg_cluster.is_running()
        _call_answered(office, office.phone("desk101-1"), "102", "101")  # phone to phone
        _call_answered(office, office.phone("ata1-2"), "desk101-1", "103")  # phone to FXS port
        _call_answered(office, office.carrier(), "101", "0301234567")  # outbound route
        desk = office.phone("desk101-1")
        _answered(office.inbound(DID), desk)  # inbound DID
    finally:
        pg_cluster.start()


def _waiting(office) -> list[Path]:
    """CDR files not yet written to PostgreSQL: FreeSWITCH's own, and any in the listener's spool."""
    spooled = (Path(office.cfg["cdr"]["spool_dir"]) / "new").glob("*.json")
    written_by_freeswitch = Path(office.cfg["cdr"]["freeswitch_dir"]).glob("*.cdr.json")
    return sorted([*spooled, *written_by_freeswitch])


def test_cdrs_made_while_postgresql_is_down_land_once_when_it_returns(own_office, pg_cluster):
    office = own_office
    pg_cluster.stop()
    calls = []
    try:
        for _ in range(3):
            desk = office.phone("desk101-1")
            call = office.call("102", "101")
            _answered(call, desk)
            calls.append(call)
        deadline = time.monotonic() + 15
        while len(_waiting(office)) < 3 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(_waiting(office)) == 3, "the CDRs are not waiting on disk while PostgreSQL is down"
    finally:
        pg_cluster.start()
    cdrs = [office.cdr_of(call, timeout=30) for call in calls]
    assert len({cdr["uuid"] for cdr in cdrs}) == 3
    deadline = time.monotonic() + 10
    while _waiting(office) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _waiting(office)
    # A restarted listener finds nothing left to replay, and nothing is written twice.
    office.stop_daemon("listener")
    office.start_listener()
    time.sleep(1)
    assert len(office.cdrs(3)) == 3


def test_listener_reconnects_after_freeswitch_restarts(own_office):
    office = own_office
    office.fs.restart()
    office.wait_profiles()
    desk = office.phone("desk101-1")
    call = office.call("102", "101")
    _answered(call, desk)
    cdr = office.cdr_of(call, timeout=15)
    assert cdr["call_type"] == "internal"
    assert "reconnect" in office.daemon_log("listener").lower() or "unavailable" in office.daemon_log("listener")


def test_calls_ending_while_the_listener_is_down_get_their_cdr_from_freeswitchs_own_files(own_office):
    office = own_office
    office.stop_daemon("listener")
    desk = office.phone("desk101-1")
    call = office.call("102", "101")
    _answered(call, desk)
    office.start_listener()
    cdr = office.cdr_of(call, timeout=15)
    assert (cdr["call_type"], cdr["extension"]) == ("internal", "101")
    assert len(office.cdrs(1)) == 1
    assert not list(Path(office.cfg["cdr"]["freeswitch_dir"]).glob("*.cdr.json"))


def test_the_survival_configuration_starts_and_phones_call_each_other_on_it(own_office, tmp_path):
    """What a box with its data volume locked runs (appliance.storage.survival), on the real FreeSWITCH."""
    office = own_office
    current = Path(office.cfg["freeswitch"]["conf_root"]) / "current"
    office.close()  # the normal FreeSWITCH and the daemons: survival runs with neither
    conf = survival.refresh(current, tmp_path / "survival", group=None)
    office.fs = FreeSwitchProcess(find_freeswitch(), conf, tmp_path / "survival-fs", office.ports["esl"]).start()
    deadline = time.monotonic() + 30
    registered = office.register("101")
    while time.monotonic() < deadline and not registered.received("SIP/2.0 200"):
        time.sleep(1)  # the internal profile may still be starting
        registered = office.register("101")
    assert registered.received("SIP/2.0 200"), registered.explain()  # checked against the a1-hash
    refused = office.register("102", password="not-the-password")
    assert not refused.received("SIP/2.0 200"), refused.explain()
    _call_answered(office, office.phone("desk101-1"), "102", "101")
