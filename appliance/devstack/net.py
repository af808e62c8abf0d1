# SPDX-License-Identifier: GPL-3.0-or-later
"""Loopback port helpers."""

from __future__ import annotations

import os
import socket
import time


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    """Return a port that is free on 127.0.0.1 for both TCP and UDP right now."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, kind) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        other = socket.SOCK_DGRAM if kind == socket.SOCK_STREAM else socket.SOCK_STREAM
        try:
            with socket.socket(socket.AF_INET, other) as s:
                s.bind(("127.0.0.1", port))
        except OSError:
            continue
        return port
    raise RuntimeError("no free loopback port found")


# Media ports for test peers come from below FreeSWITCH's RTP ranges (devstack spreads those over
# 20000-39999) and below the kernel's ephemeral ports (32768+), so neither can take one between
# the check here and the peer's own bind. The cursor keeps concurrent peers of one process apart.
_MEDIA_LOW, _MEDIA_HIGH = 10000, 20000
_media_cursor = _MEDIA_LOW + (os.getpid() % 250) * 40


def free_udp_block(count: int) -> int:
    """Return the first of `count` consecutive UDP ports free on 127.0.0.1, outside the RTP and ephemeral ranges."""
    global _media_cursor
    span = _MEDIA_HIGH - _MEDIA_LOW
    for _ in range(span // count):
        first = _media_cursor
        _media_cursor = _MEDIA_LOW + (_media_cursor - _MEDIA_LOW + count) % (span - count)
        if all(_udp_free(port) for port in range(first, first + count)):
            return first
    raise RuntimeError(f"no {count} consecutive free UDP ports in {_MEDIA_LOW}-{_MEDIA_HIGH}")


def _udp_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def wait_for_tcp(port: int, host: str = "127.0.0.1", timeout: float = 30.0) -> None:
    """Block until something accepts TCP connections on host:port, or raise TimeoutError."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"nothing listening on {host}:{port} after {timeout:.0f}s")
