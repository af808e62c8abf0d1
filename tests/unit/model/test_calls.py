# SPDX-License-Identifier: GPL-3.0-or-later
"""Validation of forwarding rules, schedules and mailboxes: each refusal names object, field and reason."""

from __future__ import annotations

import dataclasses

import pytest

from appliance.fsconf.calls import posix_rule
from appliance.model import Extension, OutboundRoute, Site, Snapshot, Trunk
from appliance.model.calls import ForwardRule, Holiday, Mailbox, Schedule, TimeRange, parse_days, parse_minutes
from appliance.model.validate import Problem, validate


def _ext(number: str, **changes) -> Extension:
    return dataclasses.replace(Extension(number, f"User {number}", "Vh3Kq9Zt2Lm7Xc4Rw8Pn", "493817"), **changes)


def _snapshot(*rules: ForwardRule, schedules: tuple[Schedule, ...] = (), **site) -> Snapshot:
    return Snapshot(
        site=dataclasses.replace(Site(), **site),
        extensions=(_ext("101"), _ext("102"), _ext("103", outbound_allowed=False)),
        trunks=(Trunk("carrier", "203.0.113.10"),),
        outbound_routes=(OutboundRoute("national", ("0ZX.",), ("carrier",)),),
        forward_rules=rules,
        schedules=schedules,
        mailboxes=(Mailbox("101"),),
    )


def _schedule(**changes) -> Schedule:
    base = Schedule("office", "extension", "101", "voicemail", "101", ranges=(TimeRange("mon-fri", "09:00", "17:00"),))
    return dataclasses.replace(base, **changes)


def _problems(snap: Snapshot) -> list[Problem]:
    return validate(snap)


def test_a_valid_configuration_has_no_problems():
    snap = _snapshot(
        ForwardRule("101", "always", "extension", "102", callers=("+49171.",)),
        ForwardRule("102", "no_answer", "voicemail", "101", ring_seconds=20),
        ForwardRule("101", "busy", "outside", "0301234567"),
        ForwardRule("102", "always", "schedule", "office"),
        schedules=(_schedule(open_destination="103", holidays=(Holiday("2025-12-24", "2025-12-26", "Christmas"),)),),
    )
    assert _problems(snap) == []


def test_a_loop_of_unconditional_forwarding_is_refused():
    snap = _snapshot(
        ForwardRule("101", "always", "extension", "102"),
        ForwardRule("102", "always", "extension", "101"),
    )
    assert _problems(snap) == [
        Problem(
            "extension 101",
            "forwarding",
            "forwarding loop: extension 101 -> extension 102 -> extension 101",
        )
    ]


def test_a_loop_through_a_schedule_is_refused():
    # 101 always goes to the schedule, whose open destination is 101 again.
    snap = _snapshot(ForwardRule("101", "always", "schedule", "office"), schedules=(_schedule(),))
    assert _problems(snap) == [
        Problem("extension 101", "forwarding", "forwarding loop: extension 101 -> schedule office -> extension 101")
    ]


def test_conditional_forwarding_back_is_not_a_loop():
    # 102 only forwards to 101 when busy: a call can still end at 102 or its box.
    snap = _snapshot(ForwardRule("101", "always", "extension", "102"), ForwardRule("102", "busy", "extension", "101"))
    assert _problems(snap) == []


def test_forwarding_to_itself_is_refused():
    assert _problems(_snapshot(ForwardRule("102", "busy", "extension", "102"))) == [
        Problem("forward rule 102 busy 1", "destination", "forwards the extension to itself")
    ]


def test_a_destination_to_nowhere_is_refused():
    problems = _problems(
        _snapshot(
            ForwardRule("101", "busy", "extension", "199"),
            ForwardRule("101", "no_answer", "voicemail", "102"),  # 102 has no box
            ForwardRule("101", "unreachable", "schedule", "night"),
        )
    )
    assert [(p.obj, p.field) for p in problems] == [
        ("forward rule 101 busy 1", "destination"),
        ("forward rule 101 no_answer 1", "destination"),
        ("forward rule 101 unreachable 1", "destination"),
    ]
    assert all("does not exist" in p.message or "no " in p.message for p in problems), problems
    assert "'199'" in problems[0].message and "'102'" in problems[1].message and "'night'" in problems[2].message


def test_a_rule_for_an_unknown_extension_or_condition_is_refused():
    problems = _problems(_snapshot(ForwardRule("109", "sometimes", "extension", "101")))
    assert Problem("forward rule 109 sometimes 1", "extension", "extension '109' does not exist") in problems
    assert (
        Problem(
            "forward rule 109 sometimes 1",
            "condition",
            "'sometimes' is not one of always, busy, no_answer, unreachable",
        )
        in problems
    )


def test_forwarding_out_needs_the_extensions_own_permission_and_a_route():
    problems = _problems(
        _snapshot(
            ForwardRule("103", "always", "outside", "0301234567"),  # 103 may not call out
            ForwardRule("101", "busy", "outside", "+12125550100"),  # no route dials this
        )
    )
    assert problems == [
        Problem(
            "forward rule 103 always 1", "destination", "extension 103 may not call out (outbound_allowed is false)"
        ),
        Problem(
            "forward rule 101 busy 1",
            "destination",
            "'+12125550100' matches no outbound route extension 101 may use",
        ),
    ]


def test_forwarding_out_is_limited_to_the_extensions_routes():
    snap = _snapshot(ForwardRule("101", "busy", "outside", "0301234567"))
    snap = dataclasses.replace(snap, extensions=(_ext("101", outside_routes="emergency"), *snap.extensions[1:]))
    assert [str(p) for p in _problems(snap) if p.obj.startswith("forward")] == [
        "forward rule 101 busy 1: destination: '0301234567' matches no outbound route extension 101 may use"
    ]


def test_a_malformed_caller_pattern_and_ring_time_are_refused():
    problems = _problems(
        _snapshot(
            ForwardRule("101", "always", "extension", "102", callers=("+49[171",)),
            ForwardRule("102", "busy", "extension", "101", ring_seconds=20),
        )
    )
    assert [(p.obj, p.field) for p in problems] == [
        ("forward rule 101 always 1", "callers"),
        ("forward rule 102 busy 1", "ring_seconds"),
    ]
    assert problems[1].message == "only a no_answer rule rings first: 5 to 300 seconds, or 0"


def test_overlapping_ranges_within_a_schedule_are_refused():
    sched = _schedule(ranges=(TimeRange("mon-fri", "09:00", "13:00"), TimeRange("fri", "12:00", "18:00")))
    assert _problems(_snapshot(schedules=(sched,))) == [
        Problem("schedule office", "ranges", "fri 12:00-18:00 overlaps mon-fri 09:00-13:00")
    ]
    # Touching ranges do not overlap (the end is exclusive).
    ok = _schedule(ranges=(TimeRange("mon-fri", "09:00", "13:00"), TimeRange("mon-fri", "13:00", "18:00")))
    assert _problems(_snapshot(schedules=(ok,))) == []


@pytest.mark.parametrize(
    ("rng", "message"),
    [
        (TimeRange("mon-fri", "9:00", "17:00"), "mon-fri 9:00-17:00: '9:00' is not a time like 09:30"),
        (
            TimeRange("mon-fri", "09:00", "24:30"),
            "mon-fri 09:00-24:30: '24:30' is not a time of day (00:00 to 23:59, or 24:00 as an end)",
        ),
        (
            TimeRange("mon-fri", "09:60", "17:00"),
            "mon-fri 09:60-17:00: '09:60' is not a time of day (00:00 to 23:59, or 24:00 as an end)",
        ),
        (
            TimeRange("mon-fri", "17:00", "09:00"),
            "mon-fri 17:00-09:00: ends before it starts (split a range across midnight in two)",
        ),
        (
            TimeRange("fri-mon", "09:00", "17:00"),
            "fri-mon 09:00-17:00: 'fri-mon': range 'fri-mon' runs backwards (write 'sat,sun' across the week end)",
        ),
        (
            TimeRange("monday", "09:00", "17:00"),
            "monday 09:00-17:00: 'monday': use day names sun, mon, tue, wed, thu, fri, sat as 'mon-fri' or 'sat,sun'",
        ),
    ],
)
def test_malformed_times_and_days_are_refused(rng, message):
    assert _problems(_snapshot(schedules=(_schedule(ranges=(rng,)),))) == [
        Problem("schedule office", "ranges", message)
    ]


@pytest.mark.parametrize(
    ("holiday", "message"),
    [
        (Holiday("2025-13-01"), "2025-13-01: dates must be YYYY-MM-DD"),
        (Holiday("24.12.2025"), "24.12.2025: dates must be YYYY-MM-DD"),
        (Holiday("2025-12-26", "2025-12-24"), "2025-12-26..2025-12-24: ends before it starts"),
        (Holiday("2025-01-01", "2026-06-01"), "2025-01-01..2026-06-01: longer than a year"),
    ],
)
def test_malformed_holidays_are_refused(holiday, message):
    snap = _snapshot(schedules=(_schedule(holidays=(holiday,)),))
    assert _problems(snap) == [Problem("schedule office", "holidays", message)]


def test_malformed_timezones_are_refused():
    assert _problems(_snapshot(schedules=(_schedule(timezone="Mars/Olympus"),))) == [
        Problem("schedule office", "timezone", "'Mars/Olympus' is not a known timezone (see /usr/share/zoneinfo)")
    ]
    assert _problems(_snapshot(schedules=(_schedule(timezone="../etc/passwd"),))) == [
        Problem("schedule office", "timezone", "'../etc/passwd' is not a timezone name like Europe/Berlin")
    ]
    assert _problems(_snapshot(timezone="CET+1")) == [
        Problem("site", "timezone", "'CET+1' is not a known timezone (see /usr/share/zoneinfo)")
    ]


def test_a_schedule_needs_open_hours_and_real_destinations():
    sched = _schedule(ranges=(), closed_kind="voicemail", closed_destination="102")
    problems = _problems(_snapshot(schedules=(sched,)))
    assert [(p.obj, p.field) for p in problems] == [
        ("schedule office", "closed_destination"),
        ("schedule office", "ranges"),
    ]


def test_day_and_time_parsing():
    assert parse_days("mon-fri") == [2, 3, 4, 5, 6]
    assert parse_days("sat,sun") == [7, 1]
    assert parse_minutes("24:00", end=True) == 1440
    with pytest.raises(ValueError):
        parse_minutes("24:00")


@pytest.mark.parametrize("zone", ["Etc/GMT+2", "America/Sao_Paulo", "Australia/Lord_Howe", "Europe/Berlin"])
def test_posix_rules_use_names_freeswitch_can_parse(zone):
    # FreeSWITCH's parser reads "<-02>2" as UTC: only alphabetic names may reach timezones.conf.
    rule = posix_rule(zone)
    assert "<" not in rule and ">" not in rule, rule
    assert rule[:3].isalpha(), rule
