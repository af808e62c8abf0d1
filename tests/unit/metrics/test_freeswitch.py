# SPDX-License-Identifier: GPL-3.0-or-later
"""Parsing FreeSWITCH's recorded API replies."""

from __future__ import annotations

from appliance.metrics import freeswitch
from tests.unit.metrics import replies


def test_status_gives_uptime_and_sessions():
    status = freeswitch.parse_status(replies.STATUS_IN_CALL)
    assert status == freeswitch.Status(uptime_seconds=27.378026, sessions=2, sessions_peak=2, sessions_since_startup=2)
    assert freeswitch.parse_status(replies.STATUS_IDLE).sessions == 0


def test_long_uptimes_count_years_of_365_days():
    text = replies.STATUS_IDLE.replace(
        "UP 0 years, 0 days, 0 hours, 0 minutes, 24 seconds", "UP 1 year, 2 days, 3 hours, 4 minutes, 5 seconds"
    )
    expected = 365 * 86400 + 2 * 86400 + 3 * 3600 + 4 * 60 + 5 + 0.390938
    assert freeswitch.parse_status(text).uptime_seconds == round(expected, 6)


def test_counts():
    assert freeswitch.parse_count(replies.COUNT_ZERO) == 0
    assert freeswitch.parse_count(replies.CALLS_IN_CALL) == 1


def test_gateways_up_when_registered_or_not_registering():
    gateways = {g.name: g for g in freeswitch.parse_gateways(replies.GATEWAYS)}
    assert {name: (g.state, g.status, g.up) for name, g in gateways.items()} == {
        "carrier": ("NOREG", "UP", True),
        "backup": ("REGED", "UP", True),
        "dead": ("FAIL_WAIT", "DOWN", False),
    }
    assert gateways["carrier"].profile == "external"


def test_a_single_gateway_reply_is_understood():
    [gateway] = freeswitch.parse_gateways(replies.ONE_GATEWAY)
    assert (gateway.name, gateway.up) == ("carrier", True)


def test_an_empty_gateway_list_and_errors():
    assert freeswitch.parse_gateways('<?xml version="1.0" encoding="ISO-8859-1"?>\n<gateways>\n</gateways>\n') == []
    for text in (replies.ERR_NO_REPLY, "", "<profiles/>"):
        assert freeswitch.parse_gateways(text) is None
    assert freeswitch.parse_status(replies.ERR_NO_REPLY) is None
    assert freeswitch.parse_count(replies.ERR_NO_REPLY) is None


def test_a_registering_gateway_that_is_up_but_not_yet_registered_is_down():
    text = replies.GATEWAYS.replace("<state>REGED</state>", "<state>TRYING</state>")
    gateways = {g.name: g.up for g in freeswitch.parse_gateways(text)}
    assert gateways["backup"] is False
