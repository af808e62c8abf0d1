# SPDX-License-Identifier: GPL-3.0-or-later
"""Validate forwarding rules, schedules and mailboxes; every problem names the object and the field."""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Iterator
from datetime import date

from appliance.model import destinations
from appliance.model import patterns as dialpatterns
from appliance.model.calls import (
    FORWARD_CONDITIONS,
    SCHEDULE_STATES,
    ForwardRule,
    Schedule,
    parse_days,
    parse_minutes,
)
from appliance.model.validate import NAME_RE, Problem, _managed

_ZONE_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+)*$")


def validate_calls(snap) -> Iterator[Problem]:
    """Yield every problem of the site's timezone, mailboxes, schedules and forwarding rules."""
    if why := timezone_problem(snap.site.timezone):
        yield Problem("site", "timezone", why)
    yield from _mailboxes(snap)
    yield from _schedules(snap)
    yield from _rules(snap)
    yield from _loops(snap)


def timezone_problem(name: str) -> str | None:
    """Return why name is not a usable IANA timezone, or None."""
    if not _ZONE_RE.match(name or ""):
        return f"{name!r} is not a timezone name like Europe/Berlin"
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return f"{name!r} is not a known timezone (see /usr/share/zoneinfo)"
    return None


def _mailboxes(snap) -> Iterator[Problem]:
    seen: set[str] = set()
    for box in snap.mailboxes:
        obj = f"mailbox {box.extension}"
        if snap.extension(box.extension) is None:
            yield Problem(obj, "extension", f"extension {box.extension!r} does not exist")
        if box.extension in seen:
            yield Problem(obj, "extension", "already has a mailbox")
        seen.add(box.extension)
        yield from _managed(obj, box.managed_by)


def _schedules(snap) -> Iterator[Problem]:
    names: set[str] = set()
    for sched in snap.schedules:
        obj = f"schedule {sched.name}"
        if not NAME_RE.match(sched.name):
            yield Problem(obj, "name", "use letters, digits, '.', '_' or '-' (at most 63)")
        if sched.name in names:
            yield Problem(obj, "name", "already used by another schedule")
        names.add(sched.name)
        if sched.timezone and (why := timezone_problem(sched.timezone)):
            yield Problem(obj, "timezone", why)
        for state in SCHEDULE_STATES:
            kind, value = getattr(sched, f"{state}_kind"), getattr(sched, f"{state}_destination")
            for field, message in destinations.problems(snap, kind, value):
                yield Problem(obj, f"{state}_{field.removeprefix('destination_')}", message)
        yield from _ranges(obj, sched)
        yield from _holidays(obj, sched)
        yield from _managed(obj, sched.managed_by)


def _ranges(obj: str, sched: Schedule) -> Iterator[Problem]:
    if not sched.ranges:
        yield Problem(obj, "ranges", "a schedule needs at least one range of open hours, e.g. mon-fri 09:00-17:00")
    spans: list[tuple[int, int, int, str]] = []  # (wday, start, end, text)
    for rng in sched.ranges:
        try:
            days = parse_days(rng.days)
            start, end = parse_minutes(rng.start), parse_minutes(rng.end, end=True)
        except ValueError as exc:
            yield Problem(obj, "ranges", f"{rng}: {exc}")
            continue
        if start >= end:
            yield Problem(obj, "ranges", f"{rng}: ends before it starts (split a range across midnight in two)")
            continue
        for day in days:
            for other_day, other_start, other_end, other in spans:
                if day == other_day and start < other_end and other_start < end:
                    yield Problem(obj, "ranges", f"{rng} overlaps {other}")
            spans.append((day, start, end, str(rng)))


def _holidays(obj: str, sched: Schedule) -> Iterator[Problem]:
    for holiday in sched.holidays:
        try:
            first = date.fromisoformat(holiday.start)
            last = date.fromisoformat(holiday.end) if holiday.end else first
        except ValueError:
            yield Problem(obj, "holidays", f"{holiday}: dates must be YYYY-MM-DD")
            continue
        if not all(re.fullmatch(r"\d{4}-\d{2}-\d{2}", d) for d in (holiday.start, holiday.end) if d):
            yield Problem(obj, "holidays", f"{holiday}: dates must be YYYY-MM-DD")
        elif last < first:
            yield Problem(obj, "holidays", f"{holiday}: ends before it starts")
        elif (last - first).days > 366:
            yield Problem(obj, "holidays", f"{holiday}: longer than a year")


def _rules(snap) -> Iterator[Problem]:
    positions: set[tuple[str, str, int]] = set()
    schedules = {s.name for s in snap.schedules}
    for rule in snap.forward_rules:
        obj = f"forward rule {rule.extension} {rule.condition} {rule.position}"
        ext = snap.extension(rule.extension)
        if ext is None:
            yield Problem(obj, "extension", f"extension {rule.extension!r} does not exist")
        if rule.condition not in FORWARD_CONDITIONS:
            yield Problem(obj, "condition", f"{rule.condition!r} is not one of {', '.join(FORWARD_CONDITIONS)}")
        key = (rule.extension, rule.condition, rule.position)
        if key in positions:
            yield Problem(obj, "position", "another rule of this extension and condition has this position")
        positions.add(key)
        if rule.position < 1:
            yield Problem(obj, "position", "must be 1 or more")
        for field, message in destinations.problems(snap, rule.destination_kind, rule.destination):
            yield Problem(obj, field, message)
        if rule.destination_kind == "extension" and rule.destination == rule.extension:
            yield Problem(obj, "destination", "forwards the extension to itself")
        for text in rule.callers:
            try:
                dialpatterns.parse(text)
            except dialpatterns.PatternError as exc:
                yield Problem(obj, "callers", str(exc))
        if rule.schedule and rule.schedule not in schedules:
            yield Problem(obj, "schedule", f"schedule {rule.schedule!r} does not exist")
        if rule.during not in SCHEDULE_STATES:
            yield Problem(obj, "during", f"{rule.during!r} is not one of {', '.join(SCHEDULE_STATES)}")
        if rule.ring_seconds and (rule.condition != "no_answer" or not 5 <= rule.ring_seconds <= 300):
            yield Problem(obj, "ring_seconds", "only a no_answer rule rings first: 5 to 300 seconds, or 0")
        if ext is not None and rule.destination_kind == "outside":
            yield from _outside(obj, snap, rule, ext)
        yield from _managed(obj, rule.managed_by)


def _outside(obj: str, snap, rule: ForwardRule, ext) -> Iterator[Problem]:
    """Refuse forwarding out for an extension that may not call out itself (toll-fraud guard)."""
    if not ext.outbound_allowed:
        yield Problem(obj, "destination", f"extension {ext.number} may not call out (outbound_allowed is false)")
        return
    allowed = (ext.outside_routes or snap.site.outside_routes).split(",")
    for route in snap.outbound_routes:
        permitted = "*" in allowed or route.name in allowed
        if permitted and any(dialpatterns.parse(p).matches(rule.destination) for p in route.patterns if _parses(p)):
            return
    yield Problem(obj, "destination", f"{rule.destination!r} matches no outbound route extension {ext.number} may use")


def _parses(text: str) -> bool:
    try:
        dialpatterns.parse(text)
    except dialpatterns.PatternError:
        return False
    return True


def _loops(snap) -> Iterator[Problem]:
    """Refuse a cycle of unconditional forwarding (101 -> 102 -> 101), also through schedules."""
    edges: dict[str, list[str]] = {}
    for rule in snap.forward_rules:
        if rule.condition == "always" and rule.destination_kind in ("extension", "schedule"):
            edges.setdefault(f"extension {rule.extension}", []).append(f"{rule.destination_kind} {rule.destination}")
    for sched in snap.schedules:
        for state in SCHEDULE_STATES:
            kind, value = getattr(sched, f"{state}_kind"), getattr(sched, f"{state}_destination")
            if kind in ("extension", "schedule"):
                edges.setdefault(f"schedule {sched.name}", []).append(f"{kind} {value}")
    reported: set[frozenset[str]] = set()
    for start in sorted(edges):
        for cycle in _cycles_from(start, edges):
            if frozenset(cycle) not in reported:
                reported.add(frozenset(cycle))
                obj = next((n for n in cycle if n.startswith("extension")), cycle[0])
                yield Problem(obj, "forwarding", "forwarding loop: " + " -> ".join([*cycle, cycle[0]]))


def _cycles_from(start: str, edges: dict[str, list[str]]) -> Iterator[list[str]]:
    stack: list[tuple[str, list[str]]] = [(start, [start])]
    while stack:
        node, path = stack.pop()
        for nxt in edges.get(node, []):
            if nxt == start:
                yield path
            elif nxt not in path and len(path) < 64:
                stack.append((nxt, [*path, nxt]))
