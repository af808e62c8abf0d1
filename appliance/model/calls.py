# SPDX-License-Identifier: GPL-3.0-or-later
"""Call forwarding rules, business-hours schedules with holidays, and voicemail boxes.

FreeSWITCH applies all three from the rendered dialplan alone (docs/pbx-features.md):
no Python process is in the path of a forwarded call, a schedule or a voicemail deposit.
"""

from __future__ import annotations

from dataclasses import dataclass

FORWARD_CONDITIONS = ("always", "busy", "no_answer", "unreachable")
SCHEDULE_STATES = ("open", "closed")
# Day names as admins write them; FreeSWITCH's wday counts 1 = Sunday .. 7 = Saturday.
WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


@dataclass(frozen=True)
class ForwardRule:
    """Send an extension's calls elsewhere: always, or when it is busy, unanswered or unreachable."""

    extension: str
    condition: str  # one of FORWARD_CONDITIONS
    destination_kind: str
    destination: str
    callers: tuple[str, ...] = ()  # dial patterns of caller numbers; empty: every caller
    schedule: str = ""  # a schedule's name; empty: at any time
    during: str = "open"  # with a schedule: apply while it is "open" or while it is "closed"
    ring_seconds: int = 0  # no_answer: ring this long first; 0: the site's ring_seconds
    position: int = 1  # order among the extension's rules for the same condition; first match wins
    managed_by: str = "console"
    id: int | None = None


@dataclass(frozen=True)
class TimeRange:
    """Open hours on some weekdays: days like 'mon-fri' or 'sat,sun', times 'HH:MM' (end exclusive)."""

    days: str
    start: str
    end: str

    def __str__(self) -> str:
        return f"{self.days} {self.start}-{self.end}"


@dataclass(frozen=True)
class Holiday:
    """Closed all day from start to end (ISO dates, inclusive); end '' means the start day only."""

    start: str
    end: str = ""
    name: str = ""

    def __str__(self) -> str:
        return f"{self.start}..{self.end}" if self.end and self.end != self.start else self.start


@dataclass(frozen=True)
class Schedule:
    """Business hours: calls go to the open destination within a range, else to the closed one."""

    name: str
    open_kind: str
    open_destination: str
    closed_kind: str
    closed_destination: str
    ranges: tuple[TimeRange, ...] = ()
    holidays: tuple[Holiday, ...] = ()
    timezone: str = ""  # an IANA zone name; empty: the site's timezone
    managed_by: str = "console"
    id: int | None = None


@dataclass(frozen=True)
class Mailbox:
    """An extension's voicemail box (PIN: the extension's voicemail_pin)."""

    extension: str
    on_busy: bool = True  # take a message when the extension is busy and no rule forwards the call
    on_no_answer: bool = True  # ... when nobody answers (or no phone is registered)
    managed_by: str = "console"
    id: int | None = None


def parse_days(text: str) -> list[int]:
    """Return FreeSWITCH wday numbers (1 = Sunday) for 'mon-fri', 'sat,sun' or 'mon'; ValueError if malformed."""
    days: list[int] = []
    for part in text.lower().split(","):
        ends = part.strip().split("-")
        if len(ends) > 2 or any(e not in WEEKDAYS for e in ends):
            raise ValueError(f"{text!r}: use day names {', '.join(WEEKDAYS)} as 'mon-fri' or 'sat,sun'")
        first, last = WEEKDAYS.index(ends[0]), WEEKDAYS.index(ends[-1])
        if last < first:
            raise ValueError(f"{text!r}: range {part.strip()!r} runs backwards (write 'sat,sun' across the week end)")
        days += range(first + 1, last + 2)
    return days


def parse_minutes(text: str, *, end: bool = False) -> int:
    """Return minutes after midnight for 'HH:MM' ('24:00' only as an end); ValueError if malformed."""
    hours, sep, minutes = text.partition(":")
    if not (sep and len(hours) == 2 and len(minutes) == 2 and hours.isdigit() and minutes.isdigit()):
        raise ValueError(f"{text!r} is not a time like 09:30")
    value = int(hours) * 60 + int(minutes)
    if int(minutes) > 59 or value > 24 * 60 or (value == 24 * 60 and not end):
        raise ValueError(f"{text!r} is not a time of day (00:00 to 23:59, or 24:00 as an end)")
    return value
