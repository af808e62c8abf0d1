# SPDX-License-Identifier: GPL-3.0-or-later
"""`appliance ivr|group|queue ...`: IVR menus, ring groups and call queues from the command line.

Destinations are written KIND:VALUE (`extension:101`, `group:sales`, `outside:+4930...`), the
kinds of appliance/model/destinations.py. Every change goes through MenuStore, so a refused
change names the object and field and writes nothing.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from appliance.model.destinations import DESTINATION_KINDS
from appliance.model.menus import GROUP_STRATEGIES, QUEUE_STRATEGIES
from appliance.model.validate import Problem, ValidationFailed

Command = Callable[..., argparse.ArgumentParser]
_LABELS = {"ivr": "IVR", "group": "ring group", "queue": "queue"}


def destination(obj: str, field: str, text: str) -> tuple[str, str]:
    """Split KIND:VALUE, refusing an unknown kind or an empty value."""
    kind, sep, value = text.partition(":")
    if not sep or not value:
        raise ValidationFailed([Problem(obj, field, f"{text!r} must look like KIND:VALUE, e.g. extension:101")])
    if kind not in DESTINATION_KINDS:
        raise ValidationFailed([Problem(obj, field, f"{kind!r} is not one of {', '.join(DESTINATION_KINDS)}")])
    return kind, value


def _menus(args: argparse.Namespace, cfg: dict[str, Any]):
    from appliance.cli import _store  # the CLI owns connections and the acting user
    from appliance.store.menus import MenuStore

    return MenuStore(_store(args, cfg))


def _fallback(obj: str, field: str, text: str | None, kind_field: str) -> dict[str, str]:
    if not text:
        return {}
    kind, value = destination(obj, field, text)
    return {kind_field: kind, field: value}


def _ivr_add(args, cfg):
    obj = f"IVR {args.name}"
    options = []
    for spec in args.option or ():
        digits, sep, target = spec.partition("=")
        if not sep:
            raise ValidationFailed([Problem(obj, "options", f"{spec!r} must look like DIGITS=KIND:VALUE")])
        kind, value = destination(obj, "options", target)
        options.append({"digits": digits, "destination_kind": kind, "destination": value})
    values: dict[str, Any] = {
        "greeting": args.greeting,
        "options": options,
        "number": args.number,
        "dial_by_extension": args.dial_by_extension,
        "timeout_ms": args.timeout_ms,
        "max_attempts": args.max_attempts,
    }
    if args.invalid_prompt is not None:
        values["invalid_prompt"] = args.invalid_prompt
    return _menus(args, cfg).add(
        "ivr", args.name, **values, **_fallback(obj, "fallback", args.fallback, "fallback_kind")
    )


def _group_add(args, cfg):
    obj = f"ring group {args.name}"
    return _menus(args, cfg).add(
        "group",
        args.name,
        members=list(args.member or ()),
        strategy=args.strategy,
        ring_seconds=args.ring_seconds,
        number=args.number,
        **_fallback(obj, "fallback", args.fallback, "fallback_kind"),
    )


def _queue_add(args, cfg):
    obj = f"queue {args.name}"
    return _menus(args, cfg).add(
        "queue",
        args.name,
        agents=list(args.agent or ()),
        strategy=args.strategy,
        max_wait_seconds=args.max_wait,
        hold_music=args.hold_music,
        announce_seconds=args.announce_seconds,
        agent_ring_seconds=args.agent_ring_seconds,
        number=args.number,
        **_fallback(obj, "overflow", args.overflow, "overflow_kind"),
    )


def _list(kind: str):
    def handler(args, cfg):
        from appliance.cli import _snapshot

        return list(getattr(_snapshot(cfg), f"{kind}s"))

    return handler


def _show(kind: str):
    def handler(args, cfg):
        return _menus(args, cfg).get(kind, args.name)

    return handler


def _remove(kind: str):
    def handler(args, cfg):
        _menus(args, cfg).remove(kind, args.name)
        return {"removed": args.name}

    return handler


def add_commands(group: Callable[[str, str], Any], cmd: Command) -> None:
    """Register `ivr`, `group` and `queue` with their add/list/show/remove actions."""
    ivr = group("ivr", "IVR menus played by FreeSWITCH (docs/pbx-menus.md)")
    a = cmd(ivr, "add", _ivr_add, "add a menu; options as DIGITS=KIND:VALUE")
    a.add_argument("name")
    a.add_argument("--greeting", default="", help="say:<text>, a sound file path or a tone_stream:// URL")
    a.add_argument("--option", action="append", metavar="DIGITS=KIND:VALUE", help="a key and its destination")
    a.add_argument("--number", default="", help="internal number phones dial to reach it")
    a.add_argument("--dial-by-extension", action="store_true", help="accept any extension number as an entry")
    a.add_argument("--timeout-ms", type=int, default=5000, help="silence before an attempt counts as failed")
    a.add_argument("--max-attempts", type=int, default=3)
    a.add_argument("--invalid-prompt", help="played after an invalid entry")
    a.add_argument("--fallback", metavar="KIND:VALUE", help="where callers go after the last failed attempt")

    grp = group("group", "ring groups (simultaneous or sequential)")
    a = cmd(grp, "add", _group_add, "add a ring group")
    a.add_argument("name")
    a.add_argument("--member", action="append", metavar="EXTENSION", help="extension to ring (repeatable, in order)")
    a.add_argument("--strategy", choices=GROUP_STRATEGIES, default="simultaneous")
    a.add_argument("--ring-seconds", type=int, default=20, help="the whole group, or each member in turn")
    a.add_argument("--number", default="")
    a.add_argument("--fallback", metavar="KIND:VALUE", help="where the call goes when nobody answers")

    que = group("queue", "call queues (mod_callcenter)")
    a = cmd(que, "add", _queue_add, "add a queue; agents log in with *50 and out with *51")
    a.add_argument("name")
    a.add_argument("--agent", action="append", metavar="EXTENSION", help="extension that may log in (repeatable)")
    a.add_argument("--strategy", choices=QUEUE_STRATEGIES, default="longest-idle-agent")
    a.add_argument("--max-wait", type=int, default=300, help="seconds before the caller overflows")
    a.add_argument("--hold-music", default="", help="sound file or tone_stream:// URL (default: a built-in tone)")
    a.add_argument("--announce-seconds", type=int, default=30, help="position announcement interval (0: never)")
    a.add_argument("--agent-ring-seconds", type=int, default=15, help="how long an agent's phone rings")
    a.add_argument("--number", default="")
    a.add_argument("--overflow", metavar="KIND:VALUE", help="where the caller goes after --max-wait")

    for kind, sub in (("ivr", ivr), ("group", grp), ("queue", que)):
        label = _LABELS[kind]
        cmd(sub, "list", _list(kind), f"list {label}s")
        cmd(sub, "show", _show(kind), f"show one {label}").add_argument("name")
        cmd(sub, "remove", _remove(kind), f"remove a {label}").add_argument("name")
