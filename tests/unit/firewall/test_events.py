# SPDX-License-Identifier: GPL-3.0-or-later
"""What the guard reads from sofia's registration events, as FreeSWITCH 1.10.12 sent them."""

from __future__ import annotations

from appliance.firewall.events import CHALLENGE, FAILURE, SUCCESS, Observation, observe
from tests.harness.fakeesl import events_in, load_transcript


def _observations() -> list[Observation | None]:
    return [observe(headers) for headers in events_in(load_transcript("inbound-sipguard.txt"))]


def test_recorded_events_say_who_tried_what_and_how_it_went():
    seen = _observations()
    assert None not in seen
    assert [(o.kind, o.address) for o in seen[:4]] == [
        (CHALLENGE, "127.0.0.3"),
        (SUCCESS, "127.0.0.3"),
        (CHALLENGE, "127.0.0.2"),
        (FAILURE, "127.0.0.2"),
    ]
    assert seen[1] == Observation(SUCCESS, "127.0.0.3", user="101", profile="internal", request="REGISTER")
    assert seen[3] == Observation(FAILURE, "127.0.0.2", user="102", profile="internal", request="REGISTER")


def test_a_wrong_password_on_an_invite_is_a_failure_too():
    invites = [o for o in _observations() if o and o.request == "INVITE"]
    assert invites == [Observation(FAILURE, "127.0.0.2", user="00441234567", profile="internal", request="INVITE")]


def test_counts_per_source_in_the_recording():
    seen = [o for o in _observations() if o]
    count = {(o.kind, o.address): 0 for o in seen}
    for o in seen:
        count[(o.kind, o.address)] += 1
    assert count == {
        (CHALLENGE, "127.0.0.3"): 5,
        (SUCCESS, "127.0.0.3"): 2,
        (FAILURE, "127.0.0.3"): 3,
        (CHALLENGE, "127.0.0.2"): 6,
        (FAILURE, "127.0.0.2"): 5,
    }


def test_other_events_and_bad_addresses_are_ignored():
    assert observe({"Event-Subclass": "sofia::unregister", "network-ip": "192.0.2.1"}) is None
    assert observe({"Event-Subclass": "sofia::register_failure", "network-ip": "not-an-ip"}) is None
    assert observe({"Event-Subclass": "sofia::register_failure"}) is None


def test_ipv4_mapped_ipv6_sources_count_as_ipv4():
    obs = observe({"Event-Subclass": "sofia::register_failure", "network-ip": "::ffff:192.0.2.9"})
    assert obs is not None and obs.address == "192.0.2.9"
    obs = observe({"Event-Subclass": "sofia::register_failure", "network-ip": "[2001:DB8::9]"})
    assert obs is not None and obs.address == "2001:db8::9"
