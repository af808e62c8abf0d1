# SPDX-License-Identifier: GPL-3.0-or-later
"""IVR menus, ring groups and call queues: where a caller is led, rung or made to wait.

Each is reached as a destination (`ivr-<name>`, `group-<name>`, `queue-<name>` in the
`targets` context) and, optionally, from an internal number phones can dial.
"""

from __future__ import annotations

from dataclasses import dataclass

GROUP_STRATEGIES = ("simultaneous", "sequential")
QUEUE_STRATEGIES = ("longest-idle-agent", "ring-all", "round-robin", "top-down", "agent-with-least-talk-time")


@dataclass(frozen=True)
class IvrOption:
    """One key (or key sequence) of a menu and where it sends the caller."""

    digits: str
    destination_kind: str
    destination: str


@dataclass(frozen=True)
class Ivr:
    """A menu FreeSWITCH plays itself (mod_dptools `ivr`, ivr.conf), so it works with Python down.

    Prompts are `say:<text>` (spoken by mod_flite), a sound file path, or a `tone_stream://` URL.
    After `max_attempts` invalid entries or silent timeouts the caller goes to the fallback,
    or is told goodbye and hung up when there is none.
    """

    name: str
    greeting: str = ""
    options: tuple[IvrOption, ...] = ()
    number: str = ""
    dial_by_extension: bool = False
    timeout_ms: int = 5000
    max_attempts: int = 3
    invalid_prompt: str = "say:That is not a valid choice."
    fallback_kind: str = ""
    fallback: str = ""
    managed_by: str = "console"
    id: int | None = None


@dataclass(frozen=True)
class RingGroup:
    """Extensions rung together (simultaneous) or one after another (sequential), then a fallback."""

    name: str
    members: tuple[str, ...] = ()
    strategy: str = "simultaneous"
    ring_seconds: int = 20  # the whole group (simultaneous) or each member (sequential)
    number: str = ""
    fallback_kind: str = ""
    fallback: str = ""
    managed_by: str = "console"
    id: int | None = None


@dataclass(frozen=True)
class Queue:
    """A call queue (mod_callcenter): callers wait with hold music for agents who log in by feature code."""

    name: str
    agents: tuple[str, ...] = ()
    strategy: str = "longest-idle-agent"
    max_wait_seconds: int = 300
    hold_music: str = ""  # a sound file or tone_stream:// URL; "" is a built-in tone
    announce_seconds: int = 30  # how often a waiting caller hears its position (0: never)
    agent_ring_seconds: int = 15
    number: str = ""
    overflow_kind: str = ""
    overflow: str = ""
    managed_by: str = "console"
    id: int | None = None
