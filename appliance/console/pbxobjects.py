# SPDX-License-Identifier: GPL-3.0-or-later
"""The PBX features for objects.py: how each kind is read (views) and changed (the Stores' calls).

Forwarding rules have no name: the console keys them EXTENSION-CONDITION-POSITION (the Store's own
way of naming one in a refusal) and edits one by removing and re-adding it in one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from appliance.model import Snapshot
from appliance.model.calls import ForwardRule, Schedule
from appliance.store.calls import CallsStore
from appliance.store.menus import MenuStore
from appliance.store.repo import Store


@dataclass(frozen=True)
class ForwardView:
    """A forwarding rule as the console shows it: with its key."""

    rule: str
    extension: str
    condition: str
    destination_kind: str
    destination: str
    callers: tuple[str, ...]
    schedule: str
    during: str
    ring_seconds: int
    position: int
    managed_by: str


@dataclass(frozen=True)
class ScheduleView:
    """A schedule with its ranges and holidays as the lines an admin types."""

    name: str
    open_kind: str
    open_destination: str
    closed_kind: str
    closed_destination: str
    ranges: tuple[str, ...]
    holidays: tuple[str, ...]
    timezone: str
    managed_by: str


def forward_key(rule: ForwardRule) -> str:
    """Return the console's key of a forwarding rule."""
    return f"{rule.extension}-{rule.condition}-{rule.position}"


def _forward_view(rule: ForwardRule) -> ForwardView:
    return ForwardView(
        forward_key(rule),
        rule.extension,
        rule.condition,
        rule.destination_kind,
        rule.destination,
        rule.callers,
        rule.schedule,
        rule.during,
        rule.ring_seconds,
        rule.position,
        rule.managed_by,
    )


def _schedule_view(s: Schedule) -> ScheduleView:
    holidays = tuple(f"{h} {h.name}".strip() for h in s.holidays)
    return ScheduleView(
        s.name,
        s.open_kind,
        s.open_destination,
        s.closed_kind,
        s.closed_destination,
        tuple(str(r) for r in s.ranges),
        holidays,
        s.timezone,
        s.managed_by,
    )


def items(snap: Snapshot, kind: str) -> tuple[Any, ...]:
    """Return every object of one of the PBX kinds, as the console shows it."""
    if kind == "forward":
        return tuple(_forward_view(r) for r in snap.forward_rules)
    if kind == "schedule":
        return tuple(_schedule_view(s) for s in snap.schedules)
    return {"mailbox": snap.mailboxes, "ivr": snap.ivrs, "group": snap.groups, "queue": snap.queues}[kind]


def _calls(store: Store) -> CallsStore:
    return CallsStore(store.conn, actor=store.actor)


# -- forwarding rules -------------------------------------------------------------------------------


def _forward_options(v: dict[str, Any]) -> dict[str, Any]:
    options = {k: v[k] for k in ("callers", "schedule", "during", "ring_seconds", "position") if k in v}
    options["callers"] = list(options.get("callers") or ())
    if not options.get("position"):
        options.pop("position", None)  # 0: after the others
    return options


def add_forward(store: Store, v: dict[str, Any]) -> str:
    rule = _calls(store).add_forward(
        v["extension"], v["condition"], v["destination_kind"], v["destination"], **_forward_options(v)
    )
    return forward_key(rule)


def replace_forward(store: Store, before: ForwardView, v: dict[str, Any]) -> str:
    merged = {
        "extension": before.extension,
        "condition": before.condition,
        "destination_kind": before.destination_kind,
        "destination": before.destination,
        "callers": before.callers,
        "schedule": before.schedule,
        "during": before.during,
        "ring_seconds": before.ring_seconds,
        "position": before.position,
        **v,
    }
    moved = (merged["extension"], merged["condition"]) != (before.extension, before.condition)
    if moved and "position" not in v:
        merged["position"] = 0  # a rule moved to another extension or condition goes last there
    calls = _calls(store)
    calls.remove_forward(before.extension, before.condition, before.position)
    return add_forward(calls, merged)


def remove_forward(store: Store, key: str, before: ForwardView) -> None:
    _calls(store).remove_forward(before.extension, before.condition, before.position)


# -- schedules and mailboxes ------------------------------------------------------------------------


def add_schedule(store: Store, v: dict[str, Any]) -> str:
    options = {k: val for k, val in v.items() if k != "name"}
    options["ranges"] = list(options.get("ranges") or ())
    options["holidays"] = list(options.get("holidays") or ())
    return _calls(store).add_schedule(v["name"], **options).name


def update_schedule(store: Store, before: ScheduleView, v: dict[str, Any]) -> str:
    return _calls(store).update_schedule(before.name, **v).name


def add_mailbox(store: Store, v: dict[str, Any]) -> str:
    _calls(store).add_mailbox(v["extension"], on_busy=v["on_busy"], on_no_answer=v["on_no_answer"])
    return v["extension"]


def update_mailbox(store: Store, before: Any, v: dict[str, Any]) -> str:
    _calls(store).update_mailbox(before.extension, **v)
    return before.extension


# -- menus, groups, queues --------------------------------------------------------------------------


def add_menu(kind: str):
    def add(store: Store, v: dict[str, Any]) -> str:
        values = {k: val for k, val in v.items() if k != "name"}
        for name in ("members", "agents", "options"):
            if name in values:
                values[name] = list(values[name] or ())
        return MenuStore(store).add(kind, v["name"], **values).name

    return add


def update_menu(kind: str):
    def update(store: Store, before: Any, v: dict[str, Any]) -> str:
        return MenuStore(store).update(kind, before.name, **v).name

    return update


def remove_menu(kind: str):
    def remove(store: Store, key: str, before: Any) -> None:
        MenuStore(store).remove(kind, key)

    return remove


CREATE = {
    "forward": add_forward,
    "schedule": add_schedule,
    "mailbox": add_mailbox,
    "ivr": add_menu("ivr"),
    "group": add_menu("group"),
    "queue": add_menu("queue"),
}
UPDATE = {
    "forward": replace_forward,
    "schedule": update_schedule,
    "mailbox": update_mailbox,
    "ivr": update_menu("ivr"),
    "group": update_menu("group"),
    "queue": update_menu("queue"),
}
REMOVE = {
    "forward": remove_forward,
    "schedule": lambda store, key, before: _calls(store).remove_schedule(key),
    "mailbox": lambda store, key, before: _calls(store).remove_mailbox(key),
    "ivr": remove_menu("ivr"),
    "group": remove_menu("group"),
    "queue": remove_menu("queue"),
}
