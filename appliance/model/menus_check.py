# SPDX-License-Identifier: GPL-3.0-or-later
"""Validate IVR menus, ring groups and queues; every problem names the object and the field."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator

from appliance.model import Snapshot, destinations
from appliance.model import patterns as dialpatterns
from appliance.model.menus import GROUP_STRATEGIES, QUEUE_STRATEGIES, Ivr, Queue, RingGroup
from appliance.model.validate import EXTENSION_RE, MANAGERS, NAME_RE, Problem

DIGITS_RE = re.compile(r"^[0-9*]{1,4}$")  # '#' ends input in FreeSWITCH's menus, so it is no option key
# A prompt: text spoken by mod_flite, an absolute sound file path, or a generated tone.
PROMPT_RE = re.compile(
    r"^(say:[^\n|]{1,300}|/[A-Za-z0-9._/-]+\.(wav|mp3|ogg|sln|flac)|tone_stream://[0-9A-Za-z%(),;.=+-]+)$"
)
FALLBACK_KINDS = ("ivr", "group", "queue")  # kinds whose own timeout can lead on to another fallback


def menu_problems(snap: Snapshot) -> list[Problem]:
    """Return every problem of the snapshot's menus, groups and queues."""
    problems: list[Problem] = []
    problems += _numbers(snap)
    for ivr in snap.ivrs:
        problems += _ivr(snap, ivr)
    for group in snap.groups:
        problems += _group(snap, group)
    for queue in snap.queues:
        problems += _queue(snap, queue)
    problems += _names(snap)
    if not 5 <= snap.site.park_timeout_seconds <= 3600:
        problems.append(Problem("site", "park_timeout_seconds", f"{snap.site.park_timeout_seconds} must be 5 to 3600"))
    problems += _fallback_loops(snap)
    return problems


def _names(snap: Snapshot) -> Iterator[Problem]:
    for label, objs in (("IVR", snap.ivrs), ("ring group", snap.groups), ("queue", snap.queues)):
        seen: set[str] = set()
        for obj in objs:
            if not NAME_RE.match(obj.name):
                yield Problem(f"{label} {obj.name}", "name", "use letters, digits, '.', '_' or '-' (at most 63)")
            if obj.name in seen:
                yield Problem(f"{label} {obj.name}", "name", f"already used by another {label}")
            seen.add(obj.name)
            if obj.managed_by not in MANAGERS:
                yield Problem(
                    f"{label} {obj.name}", "managed_by", f"{obj.managed_by!r} is not one of {', '.join(MANAGERS)}"
                )


def _numbers(snap: Snapshot) -> Iterator[Problem]:
    """Internal numbers of menus, groups and queues: plain, and taken by nothing else."""
    taken = {e.number: f"extension {e.number}" for e in snap.extensions}
    patterns = []
    for route in snap.outbound_routes:
        for text in route.patterns:
            with contextlib.suppress(dialpatterns.PatternError):  # reported with the route
                patterns.append((route.name, dialpatterns.parse(text)))
    for label, objs in (("IVR", snap.ivrs), ("ring group", snap.groups), ("queue", snap.queues)):
        for obj in objs:
            if not obj.number:
                continue
            where = f"{label} {obj.name}"
            if not EXTENSION_RE.match(obj.number):
                yield Problem(where, "number", "must be 2 to 6 digits, not starting with 0")
            elif obj.number in taken:
                yield Problem(where, "number", f"{obj.number} is already {taken[obj.number]}")
            for route, pattern in patterns:
                if pattern.matches(obj.number):
                    yield Problem(
                        where, "number", f"{obj.number} is matched by outbound route {route!r} ({pattern.text!r})"
                    )
            taken.setdefault(obj.number, where)


def _destination(obj: str, field: str, snap: Snapshot, kind: str, value: str) -> Iterator[Problem]:
    for _f, message in destinations.problems(snap, kind, value):
        yield Problem(obj, field, message)


def _fallback(obj: str, field: str, snap: Snapshot, kind: str, value: str) -> Iterator[Problem]:
    if not kind and not value:
        return
    if not kind or not value:
        yield Problem(obj, field, "give both the kind and the name or number, or neither")
        return
    yield from _destination(obj, field, snap, kind, value)


def _prompt(obj: str, field: str, prompt: str) -> Iterator[Problem]:
    if prompt and not PROMPT_RE.match(prompt):
        yield Problem(
            obj, field, f"{prompt[:40]!r} must be 'say:<text>', an absolute sound file path or a tone_stream:// URL"
        )


def _ivr(snap: Snapshot, ivr: Ivr) -> Iterator[Problem]:
    obj = f"IVR {ivr.name}"
    yield from _prompt(obj, "greeting", ivr.greeting)
    yield from _prompt(obj, "invalid_prompt", ivr.invalid_prompt)
    if not ivr.options and not ivr.dial_by_extension:
        yield Problem(obj, "options", "a menu needs at least one option or dial-by-extension")
    seen: set[str] = set()
    extensions = {e.number for e in snap.extensions}
    for option in ivr.options:
        where = f"{obj} option {option.digits}"
        if not DIGITS_RE.match(option.digits):
            yield Problem(where, "digits", "use 1 to 4 of 0-9 and '*'")
        if option.digits in seen:
            yield Problem(where, "digits", "already used by another option of this menu")
        seen.add(option.digits)
        if ivr.dial_by_extension and option.digits in extensions:
            yield Problem(where, "digits", f"is also extension {option.digits}, which dial-by-extension offers")
        yield from _destination(where, "destination", snap, option.destination_kind, option.destination)
    if not 1000 <= ivr.timeout_ms <= 60000:
        yield Problem(obj, "timeout_ms", f"{ivr.timeout_ms} must be between 1000 and 60000")
    if not 1 <= ivr.max_attempts <= 10:
        yield Problem(obj, "max_attempts", f"{ivr.max_attempts} must be between 1 and 10")
    if ivr.fallback_kind == "ivr" and ivr.fallback == ivr.name:
        yield Problem(obj, "fallback", "a menu cannot be its own fallback: a silent caller would loop forever")
    else:
        yield from _fallback(obj, "fallback", snap, ivr.fallback_kind, ivr.fallback)


def _group(snap: Snapshot, group: RingGroup) -> Iterator[Problem]:
    obj = f"ring group {group.name}"
    if not group.members:
        yield Problem(obj, "members", "a ring group needs at least one extension")
    if len(set(group.members)) != len(group.members):
        yield Problem(obj, "members", "an extension is listed twice")
    for member in dict.fromkeys(group.members):
        if snap.extension(member) is None:
            yield Problem(obj, "members", f"extension {member!r} does not exist")
    if group.strategy not in GROUP_STRATEGIES:
        yield Problem(obj, "strategy", f"{group.strategy!r} is not one of {', '.join(GROUP_STRATEGIES)}")
    if not 5 <= group.ring_seconds <= 300:
        yield Problem(obj, "ring_seconds", f"{group.ring_seconds} must be between 5 and 300")
    if group.fallback_kind == "group" and group.fallback == group.name:
        yield Problem(obj, "fallback", "a ring group cannot be its own fallback: it would ring forever")
    else:
        yield from _fallback(obj, "fallback", snap, group.fallback_kind, group.fallback)


def _queue(snap: Snapshot, queue: Queue) -> Iterator[Problem]:
    obj = f"queue {queue.name}"
    if not queue.agents:
        yield Problem(obj, "agents", "a queue needs at least one extension that may log in as its agent")
    if len(set(queue.agents)) != len(queue.agents):
        yield Problem(obj, "agents", "an extension is listed twice")
    for agent in dict.fromkeys(queue.agents):
        if snap.extension(agent) is None:
            yield Problem(obj, "agents", f"extension {agent!r} does not exist")
    if queue.strategy not in QUEUE_STRATEGIES:
        yield Problem(obj, "strategy", f"{queue.strategy!r} is not one of {', '.join(QUEUE_STRATEGIES)}")
    if not 5 <= queue.max_wait_seconds <= 7200:
        yield Problem(obj, "max_wait_seconds", f"{queue.max_wait_seconds} must be between 5 and 7200")
    if queue.announce_seconds and not 5 <= queue.announce_seconds <= 600:
        yield Problem(obj, "announce_seconds", f"{queue.announce_seconds} must be 0 (never) or 5 to 600")
    if not 5 <= queue.agent_ring_seconds <= 120:
        yield Problem(obj, "agent_ring_seconds", f"{queue.agent_ring_seconds} must be between 5 and 120")
    if queue.hold_music.startswith("say:"):
        yield Problem(obj, "hold_music", "use a sound file or a tone_stream:// URL, not speech")
    else:
        yield from _prompt(obj, "hold_music", queue.hold_music)
    if queue.overflow_kind == "queue" and queue.overflow == queue.name:
        yield Problem(obj, "overflow", "a queue cannot overflow into itself: callers would wait forever")
    else:
        yield from _fallback(obj, "overflow", snap, queue.overflow_kind, queue.overflow)


def _fallback_loops(snap: Snapshot) -> Iterator[Problem]:
    """Refuse fallback chains (menu -> group -> menu ...) that never reach a person or an end."""
    edges: dict[tuple[str, str], tuple[str, str]] = {}
    labels = {"ivr": "IVR", "group": "ring group", "queue": "queue"}
    for ivr in snap.ivrs:
        edges[("ivr", ivr.name)] = (ivr.fallback_kind, ivr.fallback)
    for group in snap.groups:
        edges[("group", group.name)] = (group.fallback_kind, group.fallback)
    for queue in snap.queues:
        edges[("queue", queue.name)] = (queue.overflow_kind, queue.overflow)
    reported: set[frozenset] = set()
    for start in edges:
        path = [start]
        node = edges[start]
        while node in edges and node not in path:
            path.append(node)
            node = edges[node]
        if node == start and len(path) > 1 and frozenset(path) not in reported:
            reported.add(frozenset(path))
            chain = " -> ".join(f"{k} {v}" for k, v in [*path, start])
            field = "overflow" if start[0] == "queue" else "fallback"
            yield Problem(f"{labels[start[0]]} {start[1]}", field, f"fallbacks loop forever: {chain}")
