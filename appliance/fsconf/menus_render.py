# SPDX-License-Identifier: GPL-3.0-or-later
"""Render IVR menus, ring groups, queues and call parking into FreeSWITCH's own configuration.

Everything here runs inside FreeSWITCH (mod_dptools `ivr`, `bridge`, mod_callcenter,
mod_valet_parking), so menus, groups, queues and parking keep working with every Python
daemon stopped (DESIGN principle 2; docs/decisions.md).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from appliance.fsconf import contacts
from appliance.model import Snapshot, destinations
from appliance.model.menus import Ivr, Queue, RingGroup

log = logging.getLogger(__name__)

TTS_ENGINE = "flite"  # mod_flite: speech without any sound files on the box
TTS_VOICE = "kal"
SILENCE = "silence_stream://250"
# Hold music when none is configured (no music ships with the appliance): a soft two-tone phrase.
DEFAULT_HOLD_MUSIC = "tone_stream://%(300,3700,440,480);loops=-1"
PARK_LOT = "appliance"
PARK_SLOTS = range(1, 20)  # retrieved with *71 followed by the slot number
CONFIRM_TONE = "tone_stream://%(150,50,660);%(150,50,880)"
ERROR_TONE = "tone_stream://%(300,100,480,620);%(300,100,480,620)"


def context(snapshot: Snapshot) -> dict[str, Any]:
    """Return the template variables for menus, groups, queues and parking."""
    domain = snapshot.site.domain
    return {
        "ivr_menus": [_ivr(snapshot, ivr) for ivr in snapshot.ivrs],
        "ring_groups": [_group(snapshot, group) for group in snapshot.groups],
        "call_queues": [_queue(snapshot, queue, domain) for queue in snapshot.queues],
        "queue_agents": _agents(snapshot),
        "menu_numbers": [
            {"number": obj.number, "target": f"{kind}-{obj.name}"}
            for kind, objs in (("ivr", snapshot.ivrs), ("group", snapshot.groups), ("queue", snapshot.queues))
            for obj in objs
            if obj.number
        ],
        "park": {
            "lot": PARK_LOT,
            "slots": list(PARK_SLOTS),
            "timeout": snapshot.site.park_timeout_seconds,
            "hold_music": DEFAULT_HOLD_MUSIC,
            "parkers": _parkers(snapshot),
        },
        "confirm_tone": CONFIRM_TONE,
        "error_tone": ERROR_TONE,
        "tts_engine": TTS_ENGINE,
        "tts_voice": TTS_VOICE,
    }


def outputs(ctx: dict[str, Any]) -> Iterator[tuple[str, str, dict]]:
    """Yield (template, destination path, extra context): one targets file per menu, group and queue."""
    for ivr in ctx["ivr_menus"]:
        yield "dialplan/targets/_ivr.xml.j2", f"dialplan/targets/ivr-{ivr['name']}.xml", {"ivr": ivr}
    for group in ctx["ring_groups"]:
        yield "dialplan/targets/_group.xml.j2", f"dialplan/targets/group-{group['name']}.xml", {"group": group}
    for queue in ctx["call_queues"]:
        yield "dialplan/targets/_queue.xml.j2", f"dialplan/targets/queue-{queue['name']}.xml", {"queue": queue}


def prompt(value: str, default: str = "") -> str:
    """Return what FreeSWITCH should play for a model prompt; a missing file plays silence, with a warning."""
    value = value or default
    if not value:
        return ""
    if value.startswith("/") and not Path(value).is_file():
        log.warning("sound file %s does not exist on this box: silence is played instead", value)
        return SILENCE
    return value


def _ivr(snapshot: Snapshot, ivr: Ivr) -> dict[str, Any]:
    entries = [
        {"digits": o.digits, "param": "transfer " + destinations.transfer_data(o.destination_kind, o.destination)}
        for o in ivr.options
    ]
    longest = max((len(o.digits) for o in ivr.options), default=1)
    if ivr.dial_by_extension and snapshot.extensions:
        numbers = "|".join(re.escape(e.number) for e in snapshot.extensions)
        entries.append({"digits": f"/^({numbers})$/", "param": "transfer $1 XML default"})
        longest = max(longest, *(len(e.number) for e in snapshot.extensions))
    return {
        "name": ivr.name,
        "menu": f"appliance-{ivr.name}",
        "greeting": prompt(ivr.greeting, SILENCE),
        "invalid": prompt(ivr.invalid_prompt),
        "timeout_ms": ivr.timeout_ms,
        "max_attempts": ivr.max_attempts,
        "digit_len": longest,
        "entries": entries,
        "fallback": _transfer(ivr.fallback_kind, ivr.fallback),
    }


def _group(snapshot: Snapshot, group: RingGroup) -> dict[str, Any]:
    # Every registration of each member, spelled out: inside a multi-leg bridge FreeSWITCH's user/
    # endpoint would ring only the first contact of the user's dial string (the extension's own).
    domain = snapshot.site.domain
    if group.strategy == "sequential":
        # Each member (all its phones at once) rings for ring_seconds in turn; unregistered ones are skipped.
        timeout = f"leg_timeout={group.ring_seconds}"
        dial = "|".join(",".join(contacts.legs(snapshot, m, m, domain, timeout)) for m in group.members)
        total = group.ring_seconds * len(group.members)
    else:
        dial = ",".join(c for m in group.members for c in contacts.legs(snapshot, m, m, domain))
        total = group.ring_seconds
    return {
        "name": group.name,
        "strategy": group.strategy,
        "members": list(group.members),
        "dial": dial,
        "call_timeout": total,
        "ring_seconds": group.ring_seconds,
        "fallback": _transfer(group.fallback_kind, group.fallback),
    }


def _queue(snapshot: Snapshot, queue: Queue, domain: str) -> dict[str, Any]:
    return {
        "name": queue.name,
        "strategy": queue.strategy,
        "max_wait": queue.max_wait_seconds,
        "moh": prompt(queue.hold_music, DEFAULT_HOLD_MUSIC),
        "announce_seconds": queue.announce_seconds,
        "agents": list(queue.agents),
        "overflow": _transfer(queue.overflow_kind, queue.overflow),
    }


def _agents(snapshot: Snapshot) -> list[dict[str, Any]]:
    """Return, per extension that may log in, the queues it joins and its contact."""
    queues: dict[str, list[str]] = {}
    ring: dict[str, int] = {}
    for queue in snapshot.queues:
        for agent in queue.agents:
            queues.setdefault(agent, []).append(queue.name)
            ring[agent] = max(ring.get(agent, 0), queue.agent_ring_seconds)
    return [
        {
            "extension": ext,
            "queues": names,
            "contact": f"[leg_timeout={ring[ext]}]user/{ext}@{snapshot.site.domain}",
        }
        for ext, names in sorted(queues.items())
    ]


def _parkers(snapshot: Snapshot) -> list[dict[str, str]]:
    """Return every SIP user that can park a call, with the extension a timed-out parked call rings."""
    users = [{"user": e.number, "extension": e.number} for e in snapshot.extensions]
    users += [{"user": ln.sip_username, "extension": ln.extension} for d in snapshot.devices for ln in d.lines]
    return users


def _transfer(kind: str, value: str) -> str:
    return destinations.transfer_data(kind, value) if kind and value else ""
