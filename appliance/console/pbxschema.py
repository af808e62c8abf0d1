# SPDX-License-Identifier: GPL-3.0-or-later
"""The PBX features' rows of the console's object table: forwarding, schedules, voicemail, menus.

Like schema.py's kinds, these make the forms, the API's input checks and its OpenAPI document.
Meaning (loops, overlapping ranges, destinations to nowhere) is checked by the Store.
"""

from __future__ import annotations

from appliance.console.schema import Field, Kind
from appliance.model.calls import FORWARD_CONDITIONS, SCHEDULE_STATES
from appliance.model.destinations import DESTINATION_KINDS
from appliance.model.menus import GROUP_STRATEGIES, QUEUE_STRATEGIES
from appliance.model.validate import EXTENSION_RE, NAME_RE

OPTIONAL_KINDS = ("", *DESTINATION_KINDS)  # a fallback or overflow may be absent


def _name(what: str) -> Field:
    return Field(
        "name",
        "str",
        "Name",
        f"{what}; letters, digits, '.', '_', '-'",
        required=True,
        key=True,
        max_length=63,
        pattern=NAME_RE.pattern,
    )


def _number() -> Field:
    return Field(
        "number", "str", "Internal number", "phones dial it (2 to 6 digits); empty: none", default="", max_length=6
    )


def _destination(
    prefix: str, label: str, required: bool, kinds: tuple[str, ...] = DESTINATION_KINDS
) -> tuple[Field, ...]:
    kind_name = f"{prefix}_kind" if prefix else "destination_kind"
    value_name = f"{prefix}_destination" if prefix else "destination"
    return (
        Field(kind_name, "str", f"{label}: kind", choices=kinds, default=kinds[0]),
        Field(
            value_name,
            "str",
            label,
            "an extension number, a name, or an outside number",
            required=required,
            default="",
            max_length=64,
        ),
    )


FORWARD = Kind(
    "forward",
    "forwards",
    "Forwarding rule",
    "forward rule",
    (
        Field("rule", "str", "Rule", "EXTENSION-CONDITION-POSITION", key=True, readonly=True),
        Field(
            "extension",
            "str",
            "Extension",
            "whose calls are forwarded",
            required=True,
            max_length=6,
            pattern=EXTENSION_RE.pattern,
        ),
        Field(
            "condition",
            "str",
            "When",
            "always, or when busy, unanswered or unreachable",
            required=True,
            choices=FORWARD_CONDITIONS,
        ),
        *_destination("", "Destination", True),
        Field(
            "callers",
            "strlist",
            "Callers",
            "dial patterns of caller numbers (X, Z, N, [1-5], final .); empty: every caller",
            max_length=32,
        ),
        Field(
            "schedule",
            "str",
            "Schedule",
            "apply only while this schedule is open or closed; empty: at any time",
            default="",
            max_length=63,
        ),
        Field("during", "str", "While the schedule is", choices=SCHEDULE_STATES, default="open"),
        Field(
            "ring_seconds",
            "int",
            "Ring first (seconds)",
            "no answer: 0 means the site's ring time",
            default=0,
            minimum=0,
            maximum=600,
        ),
        Field(
            "position",
            "int",
            "Position",
            "order among the rules of this extension and condition; 0: last",
            default=0,
            minimum=0,
            maximum=1000,
        ),
    ),
    labeler=lambda key: f"forward rule {key.replace('-', ' ')}".strip(),
    field_map={"forwarding": "destination"},
)

SCHEDULE = Kind(
    "schedule",
    "schedules",
    "Schedule",
    "schedule",
    (
        _name("business hours"),
        *_destination("open", "When open", True),
        *_destination("closed", "When closed", True),
        Field(
            "ranges",
            "rows",
            "Open hours",
            "one range a line: mon-fri 09:00-17:00 (end exclusive; sat,sun allowed)",
            required=True,
            max_length=64,
        ),
        Field(
            "holidays",
            "rows",
            "Holidays",
            "one a line, closed all day: 2030-12-24 or 2030-12-24..2030-12-26, then a name",
            max_length=120,
        ),
        Field(
            "timezone", "str", "Time zone", "IANA name like Europe/Berlin; empty: the site's", default="", max_length=64
        ),
    ),
    field_map={"forwarding": "open_destination"},
)

MAILBOX = Kind(
    "mailbox",
    "mailboxes",
    "Mailbox",
    "mailbox",
    (
        Field(
            "extension",
            "str",
            "Extension",
            "its PIN is the extension's voicemail PIN",
            required=True,
            key=True,
            max_length=6,
            pattern=EXTENSION_RE.pattern,
        ),
        Field("on_busy", "bool", "Take a message when busy", default=True),
        Field("on_no_answer", "bool", "Take a message when nobody answers", default=True),
    ),
)

IVR = Kind(
    "ivr",
    "ivrs",
    "IVR menu",
    "IVR",
    (
        _name("the menu"),
        Field(
            "greeting",
            "str",
            "Greeting",
            "say:TEXT (spoken), a sound file, or a tone_stream:// URL",
            default="",
            max_length=1000,
        ),
        Field("options", "options", "Options", "one a line: DIGITS=KIND:VALUE, e.g. 1=extension:101, 2=queue:support"),
        _number(),
        Field("dial_by_extension", "bool", "Callers may dial an extension", default=False),
        Field("timeout_ms", "int", "Wait for a key (ms)", default=5000, minimum=1000, maximum=60000),
        Field(
            "max_attempts",
            "int",
            "Attempts",
            "invalid entries or timeouts before the fallback",
            default=3,
            minimum=1,
            maximum=10,
        ),
        Field("invalid_prompt", "str", "On an invalid key", default="say:That is not a valid choice.", max_length=1000),
        Field("fallback_kind", "str", "Fallback: kind", choices=OPTIONAL_KINDS, default=""),
        Field("fallback", "str", "Fallback", "after the attempts; empty: goodbye", default="", max_length=64),
    ),
)

GROUP = Kind(
    "group",
    "groups",
    "Ring group",
    "ring group",
    (
        _name("the group"),
        Field(
            "members", "strlist", "Members", "extensions, in order for sequential ringing", required=True, max_length=6
        ),
        Field("strategy", "str", "Ringing", choices=GROUP_STRATEGIES, default="simultaneous"),
        Field(
            "ring_seconds",
            "int",
            "Ring time (seconds)",
            "the whole group, or each member when sequential",
            default=20,
            minimum=1,
            maximum=600,
        ),
        _number(),
        Field("fallback_kind", "str", "Fallback: kind", choices=OPTIONAL_KINDS, default=""),
        Field("fallback", "str", "Fallback", "when nobody answers; empty: hang up", default="", max_length=64),
    ),
)

QUEUE = Kind(
    "queue",
    "queues",
    "Call queue",
    "queue",
    (
        _name("the queue"),
        Field(
            "agents",
            "strlist",
            "Agents",
            "extensions; they log in and out by feature code",
            required=True,
            max_length=6,
        ),
        Field("strategy", "str", "Strategy", choices=QUEUE_STRATEGIES, default="longest-idle-agent"),
        Field(
            "max_wait_seconds",
            "int",
            "Longest wait (seconds)",
            "then the overflow",
            default=300,
            minimum=1,
            maximum=86400,
        ),
        Field(
            "hold_music",
            "str",
            "Hold music",
            "a sound file or tone_stream:// URL; empty: a built-in tone",
            default="",
            max_length=1000,
        ),
        Field(
            "announce_seconds",
            "int",
            "Announce position every (seconds)",
            "0: never",
            default=30,
            minimum=0,
            maximum=3600,
        ),
        Field("agent_ring_seconds", "int", "Ring an agent (seconds)", default=15, minimum=1, maximum=600),
        _number(),
        Field("overflow_kind", "str", "Overflow: kind", choices=OPTIONAL_KINDS, default=""),
        Field("overflow", "str", "Overflow", "after the longest wait; empty: hang up", default="", max_length=64),
    ),
)

PBX_KINDS: dict[str, Kind] = {k.name: k for k in (FORWARD, SCHEDULE, MAILBOX, IVR, GROUP, QUEUE)}
