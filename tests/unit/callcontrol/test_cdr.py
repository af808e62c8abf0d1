# SPDX-License-Identifier: GPL-3.0-or-later
"""CDR mapping, driven by CHANNEL_HANGUP_COMPLETE events recorded from FreeSWITCH 1.10.12.

inbound-bridged-calls.txt: answered calls in the test office (phone to phone, phone out
through the carrier gateway, a DID call from the carrier), each with its B-leg.
inbound-hangup-complete.txt: unanswered and unroutable calls, API-originated legs, loopback.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from appliance.callcontrol.cdr import cdr_from_event, is_a_leg, trunk_of
from appliance.callcontrol.cdrwriter import COLUMNS
from tests.harness.fakeesl import events_in, load_transcript

INTERNAL_A, INTERNAL_B = "ca36506c-198d-4e6c-aac4-0bba7c7e49d8", "e656a6ba-40f0-43be-a2e6-f00e3531811e"
OUTBOUND_A, OUTBOUND_B = "3b66b28a-9db4-479a-9da6-f7e0e4fd0de1", "7ed4b9a5-7bb6-4469-8c38-c3b767e7cdc6"
DID_A, DID_B = "c4371671-0999-42e4-a6a6-b07a5c5281a6", "6d9de191-4fce-41e9-ab0a-c4e2a83f996a"


def _t(h: int, m: int, s: int, us: int) -> datetime:
    return datetime(2026, 11, 22, h, m, s, us, tzinfo=UTC)


@pytest.fixture(scope="module")
def bridged() -> list[dict[str, str]]:
    return events_in(load_transcript("inbound-bridged-calls.txt"), "CHANNEL_HANGUP_COMPLETE")


@pytest.fixture(scope="module")
def recorded() -> list[dict[str, str]]:
    return events_in(load_transcript("inbound-hangup-complete.txt"), "CHANNEL_HANGUP_COMPLETE")


@pytest.fixture(scope="module")
def cdrs(bridged) -> dict[str, dict]:
    rows = [cdr_from_event(event) for event in bridged]
    return {row["uuid"]: row for row in rows if row is not None}


def _by_uuid(events, uuid: str) -> dict[str, str]:
    return next(e for e in events if e["Unique-ID"] == uuid)


# -- answered, bridged calls --------------------------------------------------------------------


def test_only_the_a_leg_of_a_bridged_call_makes_a_cdr(bridged, cdrs):
    assert len(bridged) == 6
    assert set(cdrs) == {INTERNAL_A, OUTBOUND_A, DID_A}
    for b_leg in (INTERNAL_B, OUTBOUND_B, DID_B):
        event = _by_uuid(bridged, b_leg)
        assert (event["Call-Direction"], event["Other-Type"]) == ("outbound", "originator")
        assert not is_a_leg(event)


def test_every_row_has_exactly_the_table_columns(cdrs):
    for row in cdrs.values():
        assert tuple(row) == COLUMNS


def test_phone_to_phone_call_maps_every_field(cdrs):
    row = cdrs[INTERNAL_A]
    assert {k: v for k, v in row.items() if k != "variables"} == {
        "uuid": INTERNAL_A,
        "call_type": "internal",
        "caller_number": "102",
        "caller_name": "102",
        "destination": "101",
        "context": "default",
        "extension": "101",
        "trunk": "",
        "route": "",
        "did": "",
        "tracking_tag": "",
        "outbound_caller_id": "",
        "started_at": _t(10, 33, 1, 215139),
        "answered_at": _t(10, 33, 1, 235124),
        "ended_at": _t(10, 33, 2, 475979),
        "duration_s": 1,
        "billsec": 1,
        "hangup_cause": "NORMAL_CLEARING",
        "sip_hangup_status": "200",
    }


def test_variables_keep_appliance_and_tracing_values_but_not_the_whole_event(bridged, cdrs):
    variables = cdrs[INTERNAL_A]["variables"]
    assert variables["appliance_call_type"] == "internal"
    assert variables["sip_call_id"] == "1-23629@127.0.0.1"
    assert variables["last_bridge_to"] == INTERNAL_B
    assert variables["channel_name"] == "sofia/internal/102@127.0.0.1"
    assert "variable_switch_r_sdp" in _by_uuid(bridged, INTERNAL_A)
    assert "switch_r_sdp" not in variables and "start_uepoch" not in variables
    assert len(variables) < 40


def test_outbound_call_names_route_caller_id_and_the_gateway_from_the_dial_string(bridged, cdrs):
    row = cdrs[OUTBOUND_A]
    assert (row["call_type"], row["route"], row["destination"]) == ("outbound", "national", "0301234567")
    assert row["outbound_caller_id"] == "+4930555101"
    assert "variable_appliance_trunk" not in _by_uuid(bridged, OUTBOUND_A)
    assert row["trunk"] == "carrier"  # from last_arg: sofia/gateway/carrier/+49301234567


def test_did_call_from_the_carrier_carries_number_tag_and_trunk(cdrs):
    row = cdrs[DID_A]
    assert (row["call_type"], row["did"], row["tracking_tag"]) == ("inbound", "+4930555100", "spring-flyer")
    assert (row["caller_number"], row["caller_name"]) == ("+4917612345678", "Customer")
    assert (row["trunk"], row["extension"], row["destination"]) == ("carrier", "101", "101")
    assert row["answered_at"] == _t(10, 33, 5, 495128)


# -- unanswered, unroutable, originated and loopback calls --------------------------------------


def test_recorded_hangups_make_cdrs_for_every_leg_but_loopback(recorded):
    assert len(recorded) == 8
    loopback = [e for e in recorded if e["Channel-Name"].startswith("loopback/")]
    assert len(loopback) == 2 and all(cdr_from_event(e) is None for e in loopback)
    assert {e["Call-Direction"] for e in loopback} == {"inbound", "outbound"}
    # Three calls into FreeSWITCH, and the three API-originated legs that placed them.
    rows = [row for row in map(cdr_from_event, recorded) if row is not None]
    directions = sorted(_by_uuid(recorded, row["uuid"])["Call-Direction"] for row in rows)
    assert directions == ["inbound"] * 3 + ["outbound"] * 3


def test_unanswered_did_call_has_no_answer_time_and_a_decoded_utf8_name(recorded):
    row = cdr_from_event(_by_uuid(recorded, "59d35118-d1cb-4c1d-a27b-a6c9cb437e62"))
    assert (row["call_type"], row["did"], row["tracking_tag"]) == (
        "inbound",
        "+4930123456",
        "google ads/spring",
    )
    assert (row["caller_number"], row["caller_name"]) == ("+14155550123", "Zoë Müller & Co")
    assert (row["context"], row["destination"], row["extension"]) == ("default", "1001", "1001")
    assert (row["answered_at"], row["duration_s"], row["billsec"]) == (None, 0, 0)
    assert row["ended_at"] - row["started_at"] == timedelta(microseconds=19996)
    assert row["hangup_cause"] == "NORMAL_CLEARING"
    assert row["variables"]["originate_disposition"] == "USER_NOT_REGISTERED"


def test_call_to_nowhere_still_gets_a_cdr_of_unknown_type(recorded):
    row = cdr_from_event(_by_uuid(recorded, "248ba812-2a53-4dcf-801c-05307a5de666"))
    assert (row["call_type"], row["context"], row["destination"]) == ("unknown", "public", "*43")
    assert row["hangup_cause"] == "UNALLOCATED_NUMBER"


def test_api_originated_leg_is_its_own_a_leg_with_the_sip_status_it_received(recorded):
    event = _by_uuid(recorded, "03912d9b-2160-4d0a-9a17-fef2ec317946")
    assert event["Call-Direction"] == "outbound" and "Other-Type" not in event
    row = cdr_from_event(event)
    assert (row["destination"], row["sip_hangup_status"]) == ("1002", "404")


# -- edge cases, on a recorded event -------------------------------------------------------------


def test_rows_survive_a_json_round_trip(cdrs):
    for row in cdrs.values():
        assert json.loads(json.dumps(row, default=str))["uuid"] == row["uuid"]


def test_other_events_make_no_cdr(bridged):
    event = dict(_by_uuid(bridged, INTERNAL_A), **{"Event-Name": "CHANNEL_HANGUP"})
    assert cdr_from_event(event) is None


def test_event_without_usable_uuid_makes_no_cdr(bridged):
    event = dict(_by_uuid(bridged, INTERNAL_A))
    event["Unique-ID"] = event["variable_uuid"] = "not-a-uuid"
    assert cdr_from_event(event) is None


def test_whole_second_epochs_are_used_when_microseconds_are_missing(bridged):
    event = {k: v for k, v in _by_uuid(bridged, INTERNAL_A).items() if not k.endswith("_uepoch")}
    row = cdr_from_event(event)
    assert (row["started_at"], row["answered_at"]) == (_t(10, 33, 1, 0), _t(10, 33, 1, 0))


def test_undef_values_count_as_empty(bridged):
    event = dict(_by_uuid(bridged, INTERNAL_A), **{"Caller-Caller-ID-Name": "_undef_"})
    assert cdr_from_event(event)["caller_name"] == ""


def test_failover_dial_string_names_no_single_trunk():
    both = {"variable_last_arg": "sofia/gateway/carrier/+49301234567|sofia/gateway/backup/+49301234567"}
    assert trunk_of(both) == ""
    assert trunk_of({**both, "variable_appliance_trunk": "backup"}) == "backup"


def test_secrets_stay_out_of_variables(bridged):
    event = dict(_by_uuid(bridged, OUTBOUND_A))
    event["variable_appliance_voicemail_pin"] = "493817"
    event["variable_last_arg"] = "{sip_auth_username=acct,sip_auth_password=hunter2}sofia/gateway/carrier/123"
    variables = cdr_from_event(event)["variables"]
    assert "appliance_voicemail_pin" not in variables
    assert "hunter2" not in json.dumps(variables)
    assert "sip_auth_username=acct" in variables["last_arg"]
