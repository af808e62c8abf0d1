# SPDX-License-Identifier: GPL-3.0-or-later
"""`appliance forward|schedule|voicemail`: call forwarding rules, business hours and voicemail boxes.

Registered into the `appliance` command by appliance/cli.py; the same table or --json output and
the same refusals (exit 2, each object and field named, nothing written) as every other command.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from appliance.model.calls import FORWARD_CONDITIONS, SCHEDULE_STATES, ForwardRule, Schedule
from appliance.model.destinations import DESTINATION_KINDS
from appliance.model.validate import Problem, ValidationFailed
from appliance.store.calls import CallsStore
from appliance.store.db import connect
from appliance.store.repo import load_snapshot

Group = Callable[[Any, str, str], Any]
Command = Callable[[Any, str, Callable, str], argparse.ArgumentParser]


def add_commands(sub: Any, group: Group, cmd: Command) -> None:
    """Add the forward, schedule and voicemail command groups to the `appliance` parser."""
    _forward_commands(group(sub, "forward", "call forwarding rules of extensions"), cmd)
    _schedule_commands(group(sub, "schedule", "business hours and holidays (destination kind 'schedule')"), cmd)
    _voicemail_commands(group(sub, "voicemail", "voicemail boxes of extensions"), cmd)


# -- parsers ---------------------------------------------------------------------------------------
def _forward_commands(fwd: Any, cmd: Command) -> None:
    a = cmd(fwd, "add", _forward_add, "forward an extension's calls: always, or when busy/unanswered/unreachable")
    a.add_argument("extension")
    a.add_argument("condition", choices=FORWARD_CONDITIONS)
    a.add_argument(
        "destination", metavar="KIND:VALUE", help=f"where to, e.g. extension:102 ({', '.join(DESTINATION_KINDS)})"
    )
    a.add_argument(
        "--caller", action="append", default=[], help="only for callers matching this dial pattern (repeatable)"
    )
    a.add_argument("--schedule", default="", help="only while this schedule is --during open or closed")
    a.add_argument("--during", choices=SCHEDULE_STATES, default="open")
    a.add_argument("--ring", type=int, default=0, metavar="SECONDS", help="no_answer: ring this long first")
    a.add_argument("--position", type=int, help="order among the extension's rules of this condition")
    cmd(fwd, "list", _forward_list, "list forwarding rules").add_argument("extension", nargs="?")
    r = cmd(fwd, "remove", _forward_remove, "remove a forwarding rule")
    r.add_argument("extension")
    r.add_argument("condition", choices=FORWARD_CONDITIONS)
    r.add_argument("position", type=int)


def _schedule_commands(sched: Any, cmd: Command) -> None:
    a = cmd(sched, "add", _schedule_add, "add a business-hours schedule")
    a.add_argument("name")
    a.add_argument("--open", required=True, metavar="KIND:VALUE", help="where calls go in open hours")
    a.add_argument("--closed", required=True, metavar="KIND:VALUE", help="where calls go otherwise")
    a.add_argument(
        "--range", action="append", required=True, help="open hours, e.g. 'mon-fri 09:00-17:00' (repeatable)"
    )
    a.add_argument("--holiday", action="append", default=[], help="'2025-12-24..2025-12-26 Christmas' (repeatable)")
    a.add_argument("--timezone", default="", help="IANA zone (default: the site's timezone)")
    cmd(sched, "list", _schedule_list, "list schedules")
    cmd(sched, "remove", _schedule_remove, "remove a schedule nothing uses").add_argument("name")
    h = cmd(sched, "holiday-add", _holiday_add, "add a holiday: DATE[..DATE] [name]")
    h.add_argument("name")
    h.add_argument("holiday", nargs="+", metavar="DATE[..DATE] [NAME]")
    h = cmd(sched, "holiday-remove", _holiday_remove, "remove the holiday starting on DATE")
    h.add_argument("name")
    h.add_argument("date")


def _voicemail_commands(vm: Any, cmd: Command) -> None:
    a = cmd(vm, "add", _voicemail_add, "give an extension a voicemail box (PIN: its voicemail_pin)")
    a.add_argument("extension")
    a.add_argument("--no-busy", action="store_true", help="do not take a message when the extension is busy")
    a.add_argument("--no-no-answer", action="store_true", help="do not take a message when nobody answers")
    cmd(vm, "list", _voicemail_list, "list voicemail boxes")
    cmd(vm, "remove", _voicemail_remove, "remove a box (messages on disk are kept)").add_argument("extension")


# -- handlers --------------------------------------------------------------------------------------
def _store(args: argparse.Namespace, cfg: dict[str, Any]) -> CallsStore:
    return CallsStore(connect(cfg["database"]["dsn"], autocommit=True), actor=args.managed_by)


def _snapshot(cfg: dict[str, Any]):
    with connect(cfg["database"]["dsn"], autocommit=True) as conn:
        return load_snapshot(conn)


def _destination(obj: str, field: str, text: str) -> tuple[str, str]:
    kind, sep, value = text.partition(":")
    if not sep or not kind or not value:
        raise ValidationFailed([Problem(obj, field, f"{text!r} must look like KIND:VALUE, e.g. extension:102")])
    return kind, value


def _forward_add(args, cfg) -> dict[str, Any]:
    obj = f"forward rule {args.extension} {args.condition}"
    kind, value = _destination(obj, "destination", args.destination)
    options: dict[str, Any] = {"callers": args.caller, "during": args.during, "ring_seconds": args.ring}
    if args.schedule:
        options["schedule"] = args.schedule
    if args.position is not None:
        options["position"] = args.position
    return _rule_row(_store(args, cfg).add_forward(args.extension, args.condition, kind, value, **options))


def _forward_list(args, cfg) -> list[dict[str, Any]]:
    rules = _snapshot(cfg).forward_rules
    return [_rule_row(r) for r in rules if args.extension in (None, r.extension)]


def _forward_remove(args, cfg) -> dict[str, Any]:
    _store(args, cfg).remove_forward(args.extension, args.condition, args.position)
    return {"removed": f"{args.extension} {args.condition} {args.position}"}


def _rule_row(rule: ForwardRule) -> dict[str, Any]:
    return {
        "extension": rule.extension,
        "condition": rule.condition,
        "position": rule.position,
        "destination": f"{rule.destination_kind}:{rule.destination}",
        "callers": list(rule.callers),
        "schedule": f"{rule.schedule}:{rule.during}" if rule.schedule else "",
        "ring_seconds": rule.ring_seconds,
        "managed_by": rule.managed_by,
    }


def _schedule_add(args, cfg) -> dict[str, Any]:
    obj = f"schedule {args.name}"
    open_kind, open_value = _destination(obj, "open_destination", args.open)
    closed_kind, closed_value = _destination(obj, "closed_destination", args.closed)
    sched = _store(args, cfg).add_schedule(
        args.name,
        open_kind=open_kind,
        open_destination=open_value,
        closed_kind=closed_kind,
        closed_destination=closed_value,
        ranges=args.range,
        holidays=args.holiday,
        timezone=args.timezone,
    )
    return _schedule_row(sched)


def _schedule_list(args, cfg) -> list[dict[str, Any]]:
    return [_schedule_row(s) for s in _snapshot(cfg).schedules]


def _schedule_remove(args, cfg) -> dict[str, Any]:
    _store(args, cfg).remove_schedule(args.name)
    return {"removed": args.name}


def _holiday_add(args, cfg) -> dict[str, Any]:
    sched = _existing_schedule(cfg, args.name)
    holidays = [_holiday_text(h) for h in sched.holidays] + [" ".join(args.holiday)]
    return _schedule_row(_store(args, cfg).update_schedule(args.name, holidays=holidays))


def _holiday_remove(args, cfg) -> dict[str, Any]:
    sched = _existing_schedule(cfg, args.name)
    kept = [h for h in sched.holidays if h.start != args.date]
    if len(kept) == len(sched.holidays):
        raise ValidationFailed([Problem(f"schedule {args.name}", "holidays", f"no holiday starts on {args.date}")])
    return _schedule_row(_store(args, cfg).update_schedule(args.name, holidays=[_holiday_text(h) for h in kept]))


def _existing_schedule(cfg: dict[str, Any], name: str) -> Schedule:
    sched = _snapshot(cfg).schedule(name)
    if sched is None:
        raise ValidationFailed([Problem(f"schedule {name}", "name", "does not exist")])
    return sched


def _holiday_text(holiday) -> str:
    return f"{holiday.start}..{holiday.end or holiday.start} {holiday.name}".strip()


def _schedule_row(sched: Schedule) -> dict[str, Any]:
    return {
        "name": sched.name,
        "open": f"{sched.open_kind}:{sched.open_destination}",
        "closed": f"{sched.closed_kind}:{sched.closed_destination}",
        "ranges": [str(r) for r in sched.ranges],
        "holidays": [_holiday_text(h) for h in sched.holidays],
        "timezone": sched.timezone,
        "managed_by": sched.managed_by,
    }


def _voicemail_add(args, cfg):
    return _store(args, cfg).add_mailbox(args.extension, on_busy=not args.no_busy, on_no_answer=not args.no_no_answer)


def _voicemail_list(args, cfg):
    return list(_snapshot(cfg).mailboxes)


def _voicemail_remove(args, cfg) -> dict[str, Any]:
    _store(args, cfg).remove_mailbox(args.extension)
    return {"removed": args.extension}
