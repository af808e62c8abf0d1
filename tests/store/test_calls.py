# SPDX-License-Identifier: GPL-3.0-or-later
"""Mailboxes, schedules and forwarding rules in real PostgreSQL: a refused change writes nothing."""

from __future__ import annotations

import pytest

from appliance.model.calls import Holiday, TimeRange
from appliance.model.validate import Problem, ValidationFailed
from appliance.store.calls import CallsStore
from appliance.store.repo import load_snapshot


@pytest.fixture
def store(conn):
    store = CallsStore(conn)
    store.add_extension("101", "Alice")
    store.add_extension("102", "Bob")
    store.add_extension("103", "Carol", outbound_allowed=False)
    store.add_trunk("carrier", "127.0.0.2")
    store.add_route("national", ["0[1-8]XXXXX."], ["carrier"])
    store.add_mailbox("101")
    return store


def _refused(call, *args, **kwargs) -> list[Problem]:
    with pytest.raises(ValidationFailed) as info:
        call(*args, **kwargs)
    return info.value.problems


def _counts(store: CallsStore) -> tuple[int, int, int]:
    snap = load_snapshot(store.conn)
    return len(snap.forward_rules), len(snap.schedules), len(snap.mailboxes)


def test_rules_schedules_and_boxes_round_trip(store):
    rule = store.add_forward("101", "no_answer", "voicemail", "101", ring_seconds=15, callers=["+49171."])
    assert (rule.position, rule.ring_seconds, rule.callers, rule.managed_by) == (1, 15, ("+49171.",), "console")
    assert store.add_forward("101", "no_answer", "extension", "102").position == 2
    sched = store.add_schedule(
        "office",
        open_kind="extension",
        open_destination="101",
        closed_kind="voicemail",
        closed_destination="101",
        ranges=["mon-fri 09:00-17:00", {"days": "sat", "start": "10:00", "end": "12:00"}],
        holidays=["2025-12-24..2025-12-26 Christmas"],
        timezone="Europe/Berlin",
    )
    assert sched.ranges == (TimeRange("mon-fri", "09:00", "17:00"), TimeRange("sat", "10:00", "12:00"))
    assert sched.holidays == (Holiday("2025-12-24", "2025-12-26", "Christmas"),)
    assert store.update_mailbox("101", on_busy=False).on_busy is False
    store.remove_forward("101", "no_answer", 2)
    assert _counts(store) == (1, 1, 1)


def test_a_forwarding_loop_is_refused_and_nothing_written(store):
    store.add_forward("101", "always", "extension", "102")
    problems = _refused(store.add_forward, "102", "always", "extension", "101")
    assert problems == [
        Problem("extension 101", "forwarding", "forwarding loop: extension 101 -> extension 102 -> extension 101")
    ]
    assert _counts(store) == (1, 0, 1)


def test_a_loop_through_a_schedule_is_refused(store):
    store.add_schedule(
        "office",
        open_kind="extension",
        open_destination="102",
        closed_kind="voicemail",
        closed_destination="101",
        ranges=["mon-fri 09:00-17:00"],
    )
    problems = _refused(store.add_forward, "102", "always", "schedule", "office")
    assert problems == [
        Problem("extension 102", "forwarding", "forwarding loop: extension 102 -> schedule office -> extension 102")
    ]
    assert _counts(store) == (0, 1, 1)


def test_forwarding_to_itself_or_nowhere_is_refused(store):
    assert _refused(store.add_forward, "101", "busy", "extension", "101") == [
        Problem("forward rule 101 busy 1", "destination", "forwards the extension to itself")
    ]
    problems = _refused(store.add_forward, "101", "busy", "voicemail", "102")
    assert [(p.obj, p.field) for p in problems] == [("forward rule 101 busy 1", "destination")]
    assert "'102'" in problems[0].message
    assert _refused(store.add_forward, "109", "busy", "extension", "101") == [
        Problem("forward rule 109 busy", "extension", "extension '109' does not exist")
    ]
    assert _refused(store.add_forward, "101", "busy", "extension", "102", schedule="night") == [
        Problem("forward rule 101 busy", "schedule", "schedule 'night' does not exist")
    ]
    assert _counts(store) == (0, 0, 1)


def test_forwarding_out_from_an_extension_forbidden_outbound_is_refused(store):
    assert _refused(store.add_forward, "103", "always", "outside", "0301234567") == [
        Problem(
            "forward rule 103 always 1", "destination", "extension 103 may not call out (outbound_allowed is false)"
        )
    ]
    assert store.add_forward("102", "always", "outside", "0301234567").destination == "0301234567"
    assert _counts(store) == (1, 0, 1)


def test_overlapping_or_malformed_schedules_are_refused(store):
    options = {"open_kind": "extension", "open_destination": "101", "closed_kind": "voicemail"}
    problems = _refused(
        store.add_schedule,
        "office",
        closed_destination="101",
        ranges=["mon-fri 09:00-13:00", "fri 12:00-18:00"],
        **options,
    )
    assert problems == [Problem("schedule office", "ranges", "fri 12:00-18:00 overlaps mon-fri 09:00-13:00")]
    problems = _refused(
        store.add_schedule,
        "office",
        closed_destination="101",
        ranges=["mon-fri 9-17"],
        holidays=["2025-02-30"],
        timezone="Nowhere/City",
        **options,
    )
    assert [(p.field, p.message) for p in problems] == [
        ("timezone", "'Nowhere/City' is not a known timezone (see /usr/share/zoneinfo)"),
        ("ranges", "mon-fri 9-17: '9' is not a time like 09:30"),
        ("holidays", "2025-02-30: dates must be YYYY-MM-DD"),
    ]
    assert _counts(store) == (0, 0, 1)


def test_a_schedule_in_use_cannot_be_removed(store):
    store.add_schedule(
        "office",
        open_kind="extension",
        open_destination="101",
        closed_kind="voicemail",
        closed_destination="101",
        ranges=["mon-fri 09:00-17:00"],
    )
    store.add_forward("102", "busy", "extension", "101", schedule="office")
    assert _refused(store.remove_schedule, "office") == [
        Problem("schedule office", "references", "still used by forward rule of extension 102")
    ]
    assert _counts(store) == (1, 1, 1)


def test_a_second_mailbox_and_a_box_for_nobody_are_refused(store):
    assert _refused(store.add_mailbox, "101") == [Problem("mailbox 101", "extension", "already has a mailbox")]
    assert _refused(store.add_mailbox, "109") == [Problem("mailbox 109", "extension", "extension '109' does not exist")]
    assert _refused(store.remove_mailbox, "102") == [Problem("mailbox 102", "extension", "has no mailbox")]
    assert _counts(store) == (0, 0, 1)
