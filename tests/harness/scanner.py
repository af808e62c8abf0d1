# SPDX-License-Identifier: GPL-3.0-or-later
"""sipp from other loopback addresses: a scanner on 127.0.0.2, a registered phone on 127.0.0.3.

Linux answers for all of 127.0.0.0/8 on `lo`, so each address is a distinct SIP source to FreeSWITCH
(its `network-ip`) without leaving the host. Floods are bounded in count and rate.
"""

from __future__ import annotations

import time

from tests.harness.office import Office
from tests.harness.sipp import Sipp, SippResult

SCANNER = "127.0.0.2"
PHONE = "127.0.0.3"


def from_address(sipp: Sipp, address: str) -> Sipp:
    """Make sipp send its SIP and media from address instead of 127.0.0.1."""
    for flag in ("-i", "-mi"):
        sipp.cmd[sipp.cmd.index(flag) + 1] = address
    return sipp


def register(office: Office, address: str, user: str, password: str, port: int | None = None) -> SippResult:
    """Register user from address; the result holds FreeSWITCH's final answer (200 or 403)."""
    sipp = office.sipp(
        "register.xml",
        office.ports["sip"],
        service=user,
        auth=(user, password),
        local_port=port,
        name=f"register-{address}-{user}-{time.monotonic_ns()}",
    )
    return from_address(sipp, address).run(timeout=30)


def flood(office: Office, address: str, user: str, password: str, count: int = 200, rate: int = 50) -> Sipp:
    """Start `count` REGISTERs with a wrong password from address, `rate` per second; return the running sipp."""
    sipp = office.sipp(
        "register.xml",
        office.ports["sip"],
        service=user,
        auth=(user, password),
        calls=count,
        timeout_s=max(30, 3 * count // rate),
        extra=["-r", str(rate), "-rp", "1000", "-l", str(rate)],
        name=f"flood-{address}-{time.monotonic_ns()}",
    )
    return from_address(sipp, address).start()


def invite(
    office: Office, address: str, destination: str, port: int, auth: tuple[str, str] | None = None
) -> SippResult:
    """Send one INVITE to destination from address; with auth, answer the challenge with those credentials."""
    caller = auth[0] if auth else "scanner"
    sipp = office.sipp(
        "call.xml" if auth else "invite_refused.xml",
        port,
        service=destination,
        keys={"from_user": caller, "from_name": caller},
        timeout_s=15,
        extra=["-au", auth[0], "-ap", auth[1]] if auth else [],
        name=f"invite-{address}-{destination}-{time.monotonic_ns()}",
    )
    return from_address(sipp, address).run(timeout=30)


def final_status(result: SippResult) -> int | None:
    """Return the first final (>= 300) response code sipp received, or None."""
    for message in result.messages:
        line = message.first_line
        if message.direction == "received" and line.startswith("SIP/2.0 ") and line[8:9] in "3456":
            return int(line[8:11])
    return None
