# SPDX-License-Identifier: GPL-3.0-or-later
"""Make the interface's WireGuard settings match the model with `wg set`: key, port, peers.

The live state is read with `wg show <if> dump` and compared field by field, so only a difference
leads to a `wg set`: the same model applied twice changes nothing, a changed peer is updated in place
(its session survives), a peer that is no longer in the model is removed. A peer is its public key,
so a new key for the same name is one removal and one addition.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import socket
from dataclasses import dataclass

from appliance.vpn import keys, wg
from appliance.vpn.model import HOSTPORT_RE, Peer, Tunnel

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Step:
    """One `wg set` to run and what it does, for the log and the caller."""

    args: tuple[str, ...]
    says: str


def plan(tunnel: Tunnel, live: wg.LiveInterface) -> list[Step]:
    """Return the `wg set` steps that make live match tunnel (none when they already match)."""
    ifname = tunnel.interface
    steps: list[Step] = []
    if live.public_key != keys.public_key(tunnel.private_key_file):
        steps.append(Step(("set", ifname, "private-key", str(tunnel.private_key_file)), "set private key"))
    if tunnel.listen_port is not None and live.listen_port != tunnel.listen_port:
        steps.append(
            Step(("set", ifname, "listen-port", str(tunnel.listen_port)), f"set listen port {tunnel.listen_port}")
        )
    wanted = {p.public_key: p for p in tunnel.peers}
    # Removals first, so an allowed IP moving from a removed peer to a new one is never claimed twice.
    for key in sorted(set(live.peers) - set(wanted)):
        steps.append(Step(("set", ifname, "peer", key, "remove"), f"removed peer {key[:8]}…"))
    for peer in tunnel.peers:
        current = live.peers.get(peer.public_key)
        args, fields = _peer_args(peer, current)
        if not args:
            continue
        says = f"added peer {peer.name}" if current is None else f"updated peer {peer.name} ({', '.join(fields)})"
        steps.append(Step(("set", ifname, "peer", peer.public_key, *args), says))
    return steps


def sync(tunnel: Tunnel) -> list[str]:
    """Apply the steps that make the live interface match tunnel; return what was done."""
    done = []
    for step in plan(tunnel, wg.show(tunnel.interface)):
        wg.run(list(step.args))
        done.append(step.says)
    return done


def _peer_args(peer: Peer, live: wg.LivePeer | None) -> tuple[list[str], list[str]]:
    args: list[str] = []
    fields: list[str] = []
    if peer.preshared_key_file is not None:
        psk = keys.read_preshared_key(peer.preshared_key_file)
        if live is None or not hmac.compare_digest(psk, live.preshared_key or ""):
            args += ["preshared-key", str(peer.preshared_key_file)]
            fields.append("preshared key")
    # No endpoint in the model (a hub's appliances) means: keep whatever the peer roamed from.
    if peer.endpoint is not None and (live is None or not _same_endpoint(peer.endpoint, live.endpoint)):
        args += ["endpoint", peer.endpoint]
        fields.append("endpoint")
    allowed = {str(n) for n in peer.networks()}
    if live is None or allowed != _normalised(live.allowed_ips):
        args += ["allowed-ips", ",".join(sorted(allowed))]
        fields.append("allowed IPs")
    if live is None or live.persistent_keepalive != peer.persistent_keepalive:
        args += ["persistent-keepalive", str(peer.persistent_keepalive)]
        fields.append("keepalive")
    return args, fields


def _normalised(allowed: frozenset[str]) -> set[str]:
    return {str(ipaddress.ip_network(a, strict=False)) for a in allowed}


def _same_endpoint(wanted: str, live: str | None) -> bool:
    """Say whether the live endpoint (always an address) is one the wanted host:port resolves to."""
    if live is None:
        return False
    want, have = HOSTPORT_RE.match(wanted), HOSTPORT_RE.match(live)
    if not want or not have or want["port"] != have["port"]:
        return False
    host = want["v6"] or want["host"]
    have_ip = ipaddress.ip_address(have["v6"] or have["host"])
    try:
        return have_ip == ipaddress.ip_address(host)
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, int(want["port"]), proto=socket.IPPROTO_UDP)
    except OSError as exc:
        # DNS down must not break a working tunnel: keep the address the peer already has.
        log.warning("cannot resolve endpoint %s (%s); keeping %s", wanted, exc, live)
        return True
    return any(ipaddress.ip_address(info[4][0]) == have_ip for info in infos)
