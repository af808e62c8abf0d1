# SPDX-License-Identifier: GPL-3.0-or-later
"""Wait until a background sipp listens: a request FreeSWITCH sends to a port nobody has bound yet is
lost (the ICMP error ends sofia's transaction at once, so there is no retransmission to catch)."""

from __future__ import annotations

import time


def udp_bound(port: int) -> bool:
    """Return whether some socket on this host is bound to the UDP port (from /proc/net/udp and udp6)."""
    for table in ("/proc/net/udp", "/proc/net/udp6"):
        with open(table) as rows:
            next(rows)  # the header
            if any(int(row.split()[1].rsplit(":", 1)[1], 16) == port for row in rows):
                return True
    return False


def wait_udp_bound(port: int, timeout: float = 10) -> None:
    """Wait (bounded) until the UDP port is bound; fail the test naming the port otherwise."""
    deadline = time.monotonic() + timeout
    while not udp_bound(port):
        if time.monotonic() > deadline:
            raise AssertionError(f"nothing listens on UDP port {port} after {timeout}s")
        time.sleep(0.05)
