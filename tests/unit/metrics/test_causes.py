# SPDX-License-Identifier: GPL-3.0-or-later
"""Result classes of finished calls, from recorded hangups and from the cause table."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from appliance.callcontrol.cdr import cdr_from_event
from appliance.metrics.causes import RESULTS, result_of
from tests.harness.fakeesl import events_in, load_transcript


def _results(transcript: str) -> dict[str, tuple[str, str]]:
    out = {}
    for headers in events_in(load_transcript(transcript), "CHANNEL_HANGUP_COMPLETE"):
        record = cdr_from_event(headers)
        if record is not None:
            out[record["uuid"]] = (record["call_type"], result_of(record))
    return out


def test_recorded_answered_calls_are_answered():
    assert sorted(_results("inbound-bridged-calls.txt").values()) == [
        ("inbound", "answered"),
        ("internal", "answered"),
        ("outbound", "answered"),
    ]


def test_recorded_failed_calls_are_classified_by_cause_then_sip_status():
    results = _results("inbound-hangup-complete.txt")
    # Four UNALLOCATED_NUMBER calls (404 from the public context), whatever their SIP status.
    assert [results[u] for u in ("248ba812-2a53-4dcf-801c-05307a5de666", "03912d9b-2160-4d0a-9a17-fef2ec317946")] == [
        ("unknown", "not_found"),
        ("unknown", "not_found"),
    ]
    # NORMAL_CLEARING unanswered: the 480 FreeSWITCH sent says the extension was unavailable ...
    assert results["3b72815d-c470-4eef-ba08-123e309e017d"] == ("unknown", "unavailable")
    # ... and without a SIP status nothing more can be said.
    assert results["59d35118-d1cb-4c1d-a27b-a6c9cb437e62"] == ("inbound", "unanswered")


@pytest.mark.parametrize(
    ("cause", "sip", "expected"),
    [
        ("USER_BUSY", "486", "busy"),
        ("NO_ANSWER", "", "no_answer"),
        ("ORIGINATOR_CANCEL", "487", "cancelled"),
        ("CALL_REJECTED", "603", "rejected"),
        ("NO_ROUTE_DESTINATION", "", "not_found"),
        ("USER_NOT_REGISTERED", "", "unavailable"),
        ("GATEWAY_DOWN", "", "network"),
        ("NORMAL_TEMPORARY_FAILURE", "503", "network"),
        ("INCOMPATIBLE_DESTINATION", "488", "failed"),
        ("NORMAL_CLEARING", "486", "busy"),
        ("NORMAL_CLEARING", "502", "network"),
        ("NORMAL_CLEARING", "", "unanswered"),
    ],
)
def test_unanswered_calls_by_cause(cause, sip, expected):
    assert result_of({"answered_at": None, "hangup_cause": cause, "sip_hangup_status": sip}) == expected
    assert expected in RESULTS


def test_an_answered_call_is_answered_whatever_ended_it():
    answered = datetime(2030, 1, 1, tzinfo=UTC)
    assert result_of({"answered_at": answered, "hangup_cause": "MEDIA_TIMEOUT"}) == "answered"
