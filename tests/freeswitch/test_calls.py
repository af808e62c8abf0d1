# SPDX-License-Identifier: GPL-3.0-or-later
"""Every call type through the real FreeSWITCH on the rendered configuration, with its CDR."""

from __future__ import annotations

from tests.harness.office import CARRIER_CALLER, COMPANY, DID


def _answered(call, callee) -> None:
    assert call.ok, call.explain()
    answered = callee.wait(timeout=30)
    assert answered.ok, answered.explain()
    assert answered.received("INVITE") and answered.received("BYE")


def test_phone_calls_phone(office):
    desk = office.phone("desk101-1")
    call = office.call("102", "101")
    _answered(call, desk)
    cdr = office.cdr_of(call)
    assert (cdr["call_type"], cdr["caller_number"], cdr["destination"], cdr["extension"]) == (
        "internal",
        "102",
        "101",
        "101",
    )
    assert cdr["hangup_cause"] == "NORMAL_CLEARING" and cdr["answered_at"] is not None


def test_phone_calls_fxs_port(office):
    port2 = office.phone("ata1-2")
    call = office.call("desk101-1", "103")
    _answered(call, port2)
    invite = port2.wait().received("INVITE")[0]
    assert "ata1-2@" in invite.first_line  # FreeSWITCH rang the port's own registration
    cdr = office.cdr_of(call)
    assert (cdr["call_type"], cdr["extension"], cdr["trunk"]) == ("internal", "103", "")


def test_outbound_call_presents_the_extensions_number(office):
    carrier = office.carrier()
    call = office.call("desk101-1", "0301234567")
    _answered(call, carrier)
    invite = carrier.wait().received("INVITE")[0]
    assert invite.first_line.startswith("INVITE sip:+49301234567@"), invite.first_line
    assert "+4930555101" in invite.header("From")
    cdr = office.cdr_of(call)
    assert (cdr["call_type"], cdr["route"], cdr["trunk"], cdr["outbound_caller_id"]) == (
        "outbound",
        "national",
        "carrier",
        "+4930555101",
    )


def test_outbound_call_presents_the_company_number(office):
    carrier = office.carrier()
    call = office.call("101", "00441234567")
    _answered(call, carrier)
    invite = carrier.wait().received("INVITE")[0]
    assert COMPANY in invite.header("From") and "+4930555101" not in invite.text


def test_withheld_presentation_hides_the_number_from_the_far_end(office):
    carrier = office.carrier()
    call = office.call("101", "0900123456")
    _answered(call, carrier)
    invite = carrier.wait().received("INVITE")[0]
    from_header = invite.header("From").lower()
    assert "anonymous" in from_header and "+4930555101" not in from_header, invite.text
    assert invite.header("Privacy") is not None and "id" in invite.header("Privacy")
    assert "+4930555101" in (invite.header("P-Asserted-Identity") or ""), invite.text


def test_extension_without_outbound_permission_cannot_call_out(office):
    carrier = office.carrier()
    call = office.call("ata1-2", "0301234567")
    assert not call.ok, "a call from extension 103 reached the carrier"
    assert not [
        m for m in call.messages if m.first_line.startswith("SIP/2.0 200") and "INVITE" in (m.header("CSeq") or "")
    ]
    carrier.stop()
    assert not carrier.wait(timeout=5).received("INVITE")


def test_inbound_did_reaches_its_extension_with_the_tracking_tag(office):
    desk = office.phone("desk101-1")
    call = office.inbound(DID)
    _answered(call, desk)
    cdr = office.cdr_of(call)
    assert (cdr["call_type"], cdr["did"], cdr["tracking_tag"], cdr["extension"], cdr["caller_number"]) == (
        "inbound",
        DID,
        "spring-flyer",
        "101",
        CARRIER_CALLER,
    )


def test_unknown_did_and_outside_numbers_from_the_carrier_go_nowhere(office):
    for number in ("+4930555999", "0301234567", "101"):
        call = office.inbound(number)
        assert not call.ok
        finals = [m.first_line for m in call.messages if m.direction == "received" and m.first_line[8:9] in "456"]
        assert finals and finals[0].startswith("SIP/2.0 404"), (number, call.explain())


def test_outbound_socket_flow_runs_from_a_feature_code(office):
    call = office.call("102", "*43", hold_ms=500)
    assert call.ok, call.explain()
    cdr = office.cdr_of(call)
    assert cdr["variables"].get("appliance_flow_ran") == "echo", cdr["variables"]
