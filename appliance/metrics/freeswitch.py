# SPDX-License-Identifier: GPL-3.0-or-later
"""Read FreeSWITCH's API replies: `status`, `show ... count` and `sofia xmlstatus gateway`.

Each parser returns None (or nothing) for a reply it does not recognise, such as `-ERR ...` from a
FreeSWITCH without mod_sofia, so a surprise leaves one metric out instead of stopping the poll.
"""

from __future__ import annotations

import logging
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass

log = logging.getLogger(__name__)

_COUNT = re.compile(r"^(\d+) total\.$", re.M)
_UPTIME = re.compile(
    r"^UP (\d+) years?, (\d+) days?, (\d+) hours?, (\d+) minutes?, (\d+) seconds?, "
    r"(\d+) milliseconds?, (\d+) microseconds?",
    re.M,
)
_SESSIONS = re.compile(r"^(\d+) session\(s\) - peak (\d+)", re.M)
_SINCE_STARTUP = re.compile(r"^(\d+) session\(s\) since startup", re.M)
# FreeSWITCH counts a year as 365 days in switch_core_measure_time().
_UNITS = (365 * 86400, 86400, 3600, 60, 1, 1e-3, 1e-6)
# A gateway that registers is usable once REGED; one that does not (NOREG) whenever its status is UP
# (always, unless OPTIONS pings are configured and fail).
_USABLE_STATES = frozenset({"REGED", "NOREG"})


@dataclass(frozen=True)
class Status:
    """What `api status` says about the switch."""

    uptime_seconds: float
    sessions: int
    sessions_peak: int
    sessions_since_startup: int


@dataclass(frozen=True)
class Gateway:
    """One sofia gateway (trunk) as `sofia xmlstatus gateway` reports it."""

    name: str
    profile: str
    state: str
    status: str
    calls_in: int = 0
    calls_out: int = 0
    failed_calls_in: int = 0
    failed_calls_out: int = 0

    @property
    def up(self) -> bool:
        """Tell whether calls can use the trunk: registered (or not registering) and not found dead."""
        return self.status == "UP" and self.state in _USABLE_STATES


def parse_status(text: str) -> Status | None:
    """Return the parsed reply of `api status`, or None if it does not look like one."""
    uptime = _UPTIME.search(text)
    sessions = _SESSIONS.search(text)
    if not uptime or not sessions:
        return None
    since = _SINCE_STARTUP.search(text)
    return Status(
        uptime_seconds=round(sum(int(v) * unit for v, unit in zip(uptime.groups(), _UNITS, strict=True)), 6),
        sessions=int(sessions.group(1)),
        sessions_peak=int(sessions.group(2)),
        sessions_since_startup=int(since.group(1)) if since else 0,
    )


def parse_count(text: str) -> int | None:
    """Return N from the "N total." line that `show <view> count` ends with."""
    found = _COUNT.search(text)
    return int(found.group(1)) if found else None


def parse_gateways(text: str) -> list[Gateway] | None:
    """Return the gateways listed by `sofia xmlstatus gateway`, or None if the reply is not that XML."""
    try:
        root = ET.fromstring(text.strip())
    except ET.ParseError:
        return None
    nodes = [root] if root.tag == "gateway" else root.findall("gateway") if root.tag == "gateways" else None
    if nodes is None:
        return None
    return [_gateway(node) for node in nodes if node.findtext("name")]


def _gateway(node: ET.Element) -> Gateway:
    def text(tag: str) -> str:
        return (node.findtext(tag) or "").strip()

    def number(tag: str) -> int:
        try:
            return int(text(tag))
        except ValueError:
            return 0

    return Gateway(
        name=text("name"),
        profile=text("profile"),
        state=text("state"),
        status=text("status"),
        calls_in=number("calls-in"),
        calls_out=number("calls-out"),
        failed_calls_in=number("failed-calls-in"),
        failed_calls_out=number("failed-calls-out"),
    )
