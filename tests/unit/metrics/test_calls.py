# SPDX-License-Identifier: GPL-3.0-or-later
"""CallStats counts A-legs from recorded hangup events and renders a counter and a rate."""

from __future__ import annotations

from appliance.metrics.calls import CALL_TYPES, WINDOW_S, CallStats
from appliance.metrics.causes import RESULTS
from tests.harness.fakeesl import events_in, load_transcript


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _samples(stats: CallStats) -> dict[tuple, float]:
    out = {}
    for family in stats.collect():
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def test_only_a_legs_are_counted_from_recorded_hangups():
    stats = CallStats()
    events = events_in(load_transcript("inbound-bridged-calls.txt"), "CHANNEL_HANGUP_COMPLETE")
    assert len(events) == 6  # three calls, each with its B-leg
    for headers in events:
        stats.on_hangup_complete(headers)
    assert stats.total() == 3
    assert [stats.total(kind, "answered") for kind in ("internal", "inbound", "outbound")] == [1, 1, 1]


def test_loopback_and_originate_legs_of_a_recording_are_not_calls():
    stats = CallStats()
    for headers in events_in(load_transcript("inbound-hangup-complete.txt"), "CHANNEL_HANGUP_COMPLETE"):
        stats.on_hangup_complete(headers)
    # Eight events, six A-legs (the loopback pair of the echo flow makes none).
    assert stats.total() == 6
    assert stats.total("unknown", "not_found") == 4
    assert (stats.total("inbound", "unanswered"), stats.total("unknown", "unavailable")) == (1, 1)


def test_every_known_series_exists_before_the_first_call():
    samples = _samples(CallStats())
    calls = {k: v for k, v in samples.items() if k[0] == "appliance_calls_total"}
    assert len(calls) == len(CALL_TYPES) * len(RESULTS)
    assert set(calls.values()) == {0}


def test_an_odd_call_type_is_folded_so_it_cannot_grow_the_series():
    stats = CallStats()
    stats.count("Robert'); DROP TABLE", "answered")
    stats.count("x" * 100, "answered")
    assert stats.total("other", "answered") == 2


def test_calls_per_second_covers_the_last_minute_only():
    clock = Clock()
    stats = CallStats(clock=clock)
    for _ in range(30):
        stats.count("internal", "answered")
    assert stats.calls_per_second() == 30 / WINDOW_S
    clock.now += WINDOW_S / 2
    stats.count("outbound", "busy")
    assert stats.calls_per_second() == 31 / WINDOW_S
    clock.now += WINDOW_S / 2
    assert stats.calls_per_second() == 1 / WINDOW_S  # the first thirty have left the window
    assert _samples(stats)[("appliance_calls_per_second", ())] == 1 / WINDOW_S
    assert _samples(stats)[("appliance_calls_total", (("call_type", "internal"), ("result", "answered")))] == 30
