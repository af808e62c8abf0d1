# SPDX-License-Identifier: GPL-3.0-or-later
"""Render forwarding rules, schedules and voicemail boxes into the dialplan (docs/pbx-features.md)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from appliance.model import Extension, Snapshot, destinations
from appliance.model import patterns as dialpatterns
from appliance.model.calls import ForwardRule, Holiday, Schedule, TimeRange, parse_days, parse_minutes

ZONEINFO = Path("/usr/share/zoneinfo")
VOICEMAIL_MAX_SECONDS = 180  # one message; mod_voicemail's limit is per profile, not per box
_CONDITION_ORDER = {"always": 0, "busy": 1, "no_answer": 2, "unreachable": 3}
# originate_disposition values after a failed ring, grouped by the rule that handles them.
REASONS = (
    ("busy", ("USER_BUSY", "CALL_REJECTED"), "on_busy"),
    ("no_answer", ("NO_ANSWER", "NO_USER_RESPONSE", "ALLOTTED_TIMEOUT"), "on_no_answer"),
    (
        "unreachable",
        (
            "USER_NOT_REGISTERED",
            "SUBSCRIBER_ABSENT",
            "DESTINATION_OUT_OF_ORDER",
            "RECOVERY_ON_TIMER_EXPIRE",
            "NORMAL_TEMPORARY_FAILURE",  # what a fork of unregistered and failing contacts reports
        ),
        "on_no_answer",
    ),
)


def context(snapshot: Snapshot) -> dict[str, Any]:
    """Return the template context entries of this feature."""
    featured = [e for e in snapshot.extensions if _featured(snapshot, e)]
    return {
        "forwarded_extensions": {e.number for e in featured},
        "mailbox_extensions": {m.extension for m in snapshot.mailboxes},
        "voicemail_max_seconds": VOICEMAIL_MAX_SECONDS,
        "timezones": [{"name": z, "rule": posix_rule(z)} for z in _zones(snapshot)],
        "forwarding": [_forwarding(snapshot, e) for e in featured],
        "clocks": [_clock(snapshot, s) for s in snapshot.schedules],
    }


def outputs(snapshot: Snapshot, ctx: dict[str, Any]) -> Iterator[tuple[str, str, dict]]:
    """Yield (template, destination path, extra context) for the per-object files of this feature."""
    for fx in ctx["forwarding"]:
        yield "dialplan/forwarding/_extension.xml.j2", f"dialplan/forwarding/{fx['number']}.xml", {"fx": fx}
    for box in snapshot.mailboxes:
        yield (
            "dialplan/targets/_voicemail.xml.j2",
            f"dialplan/targets/voicemail-{box.extension}.xml",
            {"box": box},
        )
    for clock in ctx["clocks"]:
        yield "dialplan/targets/_schedule.xml.j2", f"dialplan/targets/schedule-{clock['name']}.xml", {"clock": clock}


def mwi_account(snapshot: Snapshot, extension: str) -> str:
    """Return the mwi-account of a device line of this extension ('' without a mailbox)."""
    return f"{extension}@{snapshot.site.domain}" if snapshot.mailbox(extension) else ""


def posix_rule(zone: str) -> str:
    """Return the POSIX TZ rule of an IANA zone: the footer line of its TZif (v2+) file."""
    data = (ZONEINFO / zone).read_bytes()
    footer = data.rstrip(b"\n").rsplit(b"\n", 1)[-1].decode("ascii")
    if not footer or not data.startswith(b"TZif"):
        raise ValueError(f"timezone {zone!r}: {ZONEINFO / zone} has no POSIX rule")
    # FreeSWITCH's rule parser (switch_time.c getzname) knows only alphabetic zone names, not the
    # quoted numeric ones ("<-02>2", "<+0530>-5:30"): it would read such a rule as UTC. The names
    # are labels only, so quoted ones become plain letters.
    names = iter(("STD", "DST"))
    return re.sub(r"<[^>]*>", lambda _m: next(names, "DST"), footer)


def unsafe_values(snapshot: Snapshot) -> Iterator[str]:
    """Yield values of this feature the renderer cannot write safely (the model validates policy)."""
    for zone in _zones(snapshot):
        try:
            posix_rule(zone)
        except (OSError, ValueError, UnicodeDecodeError) as exc:
            yield f"timezone {zone!r}: {exc}"
    for sched in snapshot.schedules:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", sched.name):
            yield f"schedule {sched.name!r}: name must be letters, digits, '.', '_' or '-'"
        for state in ("open", "closed"):
            for _field, message in destinations.problems(
                snapshot, getattr(sched, f"{state}_kind"), getattr(sched, f"{state}_destination")
            ):
                yield f"schedule {sched.name}: {state}: {message}"
        try:
            _clock(snapshot, sched)
        except ValueError as exc:
            yield f"schedule {sched.name}: {exc}"
    for rule in snapshot.forward_rules:
        if snapshot.extension(rule.extension) is None:
            yield f"forward rule of {rule.extension!r}: extension does not exist"
        for _field, message in destinations.problems(snapshot, rule.destination_kind, rule.destination):
            yield f"forward rule of {rule.extension}: {message}"
        if rule.schedule and snapshot.schedule(rule.schedule) is None:
            yield f"forward rule of {rule.extension}: schedule {rule.schedule!r} does not exist"
        for text in rule.callers:
            try:
                dialpatterns.parse(text)
            except dialpatterns.PatternError as exc:
                yield f"forward rule of {rule.extension}: {exc}"


def _featured(snapshot: Snapshot, ext: Extension) -> bool:
    return snapshot.mailbox(ext.number) is not None or any(r.extension == ext.number for r in snapshot.forward_rules)


def _zones(snapshot: Snapshot) -> list[str]:
    return sorted({s.timezone or snapshot.site.timezone for s in snapshot.schedules})


def _forwarding(snapshot: Snapshot, ext: Extension) -> dict[str, Any]:
    rules = sorted(
        (r for r in snapshot.forward_rules if r.extension == ext.number),
        key=lambda r: (_CONDITION_ORDER.get(r.condition, 9), r.position),
    )
    box = snapshot.mailbox(ext.number)
    used = sorted({r.schedule for r in rules if r.schedule})
    return {
        "number": ext.number,
        "ring_seconds": snapshot.site.ring_seconds,
        "rules": [_rule(r) for r in rules],
        "clocks": [_clock(snapshot, snapshot.schedule(name)) for name in used if snapshot.schedule(name)],
        "reasons": [
            {"name": name, "causes": causes, "voicemail": bool(box and getattr(box, flag))}
            for name, causes, flag in REASONS
        ],
        "outbound": _outbound(snapshot, ext) if any(r.destination_kind == "outside" for r in rules) else None,
    }


def _rule(rule: ForwardRule) -> dict[str, Any]:
    callers = [dialpatterns.parse(t).regex()[1:-1] for t in rule.callers]
    text = f"to {rule.destination_kind} {rule.destination}"
    if rule.callers:
        text += f" for callers {', '.join(rule.callers)}"
    if rule.schedule:
        text += f" while schedule {rule.schedule} is {rule.during}"
    return {
        "condition": rule.condition,
        "position": rule.position,
        "transfer": destinations.transfer_data(rule.destination_kind, rule.destination),
        "callers_regex": "^(?:" + "|".join(callers) + ")$" if callers else "",
        "clock_var": _clock_var(rule.schedule) if rule.schedule else "",
        "during": rule.during,
        "ring_seconds": rule.ring_seconds,
        "text": text,
    }


def _outbound(snapshot: Snapshot, ext: Extension) -> dict[str, str]:
    return {
        "allowed": "true" if ext.outbound_allowed else "false",
        "routes": ext.outside_routes or snapshot.site.outside_routes,
        "max_calls": str(ext.max_outside_calls or snapshot.site.max_outside_calls),
        "cid_number": ext.caller_id_number or snapshot.site.company_number,
    }


def _clock_var(name: str) -> str:
    return "appliance_schedule_" + re.sub(r"[^A-Za-z0-9_]", "_", name)


def _clock(snapshot: Snapshot, sched: Schedule) -> dict[str, Any]:
    return {
        "name": sched.name,
        "var": _clock_var(sched.name),
        "timezone": sched.timezone or snapshot.site.timezone,
        "ranges": [_range(r) for r in sched.ranges],
        "holidays": [day for h in sched.holidays for day in _holiday_months(h)],
        "open_transfer": destinations.transfer_data(sched.open_kind, sched.open_destination),
        "closed_transfer": destinations.transfer_data(sched.closed_kind, sched.closed_destination),
        "open_text": f"{sched.open_kind} {sched.open_destination}",
        "closed_text": f"{sched.closed_kind} {sched.closed_destination}",
    }


def _range(rng: TimeRange) -> dict[str, str]:
    # FreeSWITCH's minute-of-day counts 1 (00:00) to 1440 (23:59), both ends inclusive.
    start, end = parse_minutes(rng.start), parse_minutes(rng.end, end=True)
    return {
        "wday": ",".join(str(d) for d in parse_days(rng.days)),
        "minutes": f"{start + 1}-{end}",
        "text": str(rng),
    }


def _holiday_months(holiday: Holiday) -> Iterator[dict[str, Any]]:
    """Split a holiday into one (year, month, day range) condition per calendar month it touches."""
    first = date.fromisoformat(holiday.start)
    last = date.fromisoformat(holiday.end) if holiday.end else first
    day = first
    while day <= last:
        month_end = (day.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
        stop = min(last, month_end)
        yield {
            "year": day.year,
            "mon": day.month,
            "mday": f"{day.day}-{stop.day}" if stop.day != day.day else str(day.day),
            "text": f"{holiday.name or 'holiday'} {day.isoformat()}..{stop.isoformat()}",
        }
        day = stop + timedelta(days=1)
