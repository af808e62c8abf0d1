# SPDX-License-Identifier: GPL-3.0-or-later
"""Report tunnel health from wireguard-tools: handshake age and byte counters per peer.

Works the same against the kernel module and wireguard-go. A session's keys die 180 s after its
handshake (WireGuard's REJECT_AFTER_TIME) and a live session re-handshakes every two minutes, so a
peer whose last handshake is older than that has no working session.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from appliance.vpn import VpnError, wg

STALE_AFTER = 180.0


def handshake_age(ifname: str, peer_public_key: str, now: float | None = None) -> float | None:
    """Return the seconds since the peer's latest handshake, None if it never completed one."""
    found = wg.pairs(ifname, "latest-handshakes")
    if peer_public_key not in found:
        raise VpnError(f"{ifname} has no peer {peer_public_key}")
    return _age(int(found[peer_public_key]), now)


def transfer(ifname: str, peer_public_key: str) -> tuple[int, int]:
    """Return the bytes received from and sent to the peer since the interface came up."""
    found = wg.pairs(ifname, "transfer")
    if peer_public_key not in found:
        raise VpnError(f"{ifname} has no peer {peer_public_key}")
    rx, _, tx = found[peer_public_key].partition("\t")
    return int(rx), int(tx)


def status(ifname: str, names: Mapping[str, str] | None = None, now: float | None = None) -> dict[str, dict[str, Any]]:
    """Return a status dict per peer, keyed by public key: name, endpoint, handshake age, counters, state."""
    live = wg.show(ifname)
    names = names or {}
    now = time.time() if now is None else now
    out: dict[str, dict[str, Any]] = {}
    for key, peer in live.peers.items():
        age = _age(peer.latest_handshake, now)
        out[key] = {
            "name": names.get(key, ""),
            "public_key": key,
            "endpoint": peer.endpoint,
            "allowed_ips": sorted(peer.allowed_ips),
            "latest_handshake": peer.latest_handshake or None,
            "handshake_age": age,
            "rx_bytes": peer.rx_bytes,
            "tx_bytes": peer.tx_bytes,
            "persistent_keepalive": peer.persistent_keepalive,
            "preshared_key": peer.preshared_key is not None,
            "state": state(age),
        }
    return out


def interface_status(ifname: str) -> dict[str, Any]:
    """Return the interface's public key and listen port (never its private key)."""
    live = wg.show(ifname)
    return {"interface": ifname, "public_key": live.public_key, "listen_port": live.listen_port}


def state(age: float | None) -> str:
    """Name a handshake age: "up", "stale" (keys expired) or "never"."""
    if age is None:
        return "never"
    return "up" if age <= STALE_AFTER else "stale"


def _age(latest: int, now: float | None) -> float | None:
    if latest == 0:
        return None
    # Clamp: the hub and a box just set by NTP can disagree by a second or two.
    return max(0.0, (time.time() if now is None else now) - latest)
