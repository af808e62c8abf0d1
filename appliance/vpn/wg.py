# SPDX-License-Identifier: GPL-3.0-or-later
"""Run wireguard-tools' `wg` and read `wg show <if> dump`.

`wg` speaks to the kernel module and to wireguard-go's control socket alike, so everything above this
module works with either. Secrets are only ever passed to `wg` as file paths, never on a command line.
"""

from __future__ import annotations

import logging
import subprocess
from dataclasses import dataclass, field
from typing import IO

from appliance.vpn import VpnError

log = logging.getLogger(__name__)

WG = "wg"
TIMEOUT = 15


@dataclass(frozen=True)
class LivePeer:
    """A peer as the running interface has it."""

    public_key: str
    endpoint: str | None
    allowed_ips: frozenset[str]
    latest_handshake: int
    rx_bytes: int
    tx_bytes: int
    persistent_keepalive: int
    preshared_key: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class LiveInterface:
    """The running interface's WireGuard settings; the private key is deliberately not kept."""

    public_key: str | None
    listen_port: int
    fwmark: int
    peers: dict[str, LivePeer]


def run(args: list[str], stdin: IO[str] | None = None) -> str:
    """Run `wg args`; return its output or raise VpnError with wg's own message."""
    try:
        proc = subprocess.run([WG, *args], stdin=stdin, capture_output=True, text=True, timeout=TIMEOUT, check=False)
    except FileNotFoundError:
        raise VpnError("wg not found: install wireguard-tools") from None
    except subprocess.TimeoutExpired:
        raise VpnError(f"wg {args[0]} did not answer within {TIMEOUT}s") from None
    if proc.returncode != 0:
        raise VpnError(f"wg {' '.join(args[:2])}: {proc.stderr.strip() or f'exit status {proc.returncode}'}")
    return proc.stdout


def show(ifname: str) -> LiveInterface:
    """Return the live WireGuard settings and peer counters of ifname."""
    return parse_dump(run(["show", ifname, "dump"]))


def parse_dump(text: str) -> LiveInterface:
    """Parse `wg show <if> dump`: one interface line, then one line per peer, tab-separated."""
    lines = [line for line in text.splitlines() if line]
    if not lines:
        raise VpnError("wg show dump printed nothing")
    head = lines[0].split("\t")
    if len(head) != 4:
        raise VpnError(f"wg show dump: unexpected interface line with {len(head)} fields")
    # head[0] is the private key: dropped here so it travels no further than this function.
    peers: dict[str, LivePeer] = {}
    for line in lines[1:]:
        f = line.split("\t")
        if len(f) != 8:
            raise VpnError(f"wg show dump: unexpected peer line with {len(f)} fields")
        peers[f[0]] = LivePeer(
            public_key=f[0],
            preshared_key=None if f[1] == "(none)" else f[1],
            endpoint=None if f[2] == "(none)" else f[2],
            allowed_ips=frozenset() if f[3] == "(none)" else frozenset(f[3].split(",")),
            latest_handshake=int(f[4]),
            rx_bytes=int(f[5]),
            tx_bytes=int(f[6]),
            persistent_keepalive=0 if f[7] == "off" else int(f[7]),
        )
    return LiveInterface(
        public_key=None if head[1] == "(none)" else head[1],
        listen_port=int(head[2]),
        fwmark=0 if head[3] == "off" else int(head[3], 0),
        peers=peers,
    )


def pairs(ifname: str, what: str) -> dict[str, str]:
    """Return `wg show <if> <what>` (latest-handshakes, transfer, endpoints...) as {public key: rest}."""
    out: dict[str, str] = {}
    for line in run(["show", ifname, what]).splitlines():
        key, _, rest = line.partition("\t")
        if key:
            out[key] = rest
    return out
