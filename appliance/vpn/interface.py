# SPDX-License-Identifier: GPL-3.0-or-later
"""Make the WireGuard network interface match the model with pyroute2: link, MTU, addresses, up, routes.

The link is the kernel's `wireguard` kind where the module exists (the booted image) and otherwise a
TUN device run by wireguard-go (containers, CI machines without the module). Every step compares
first and changes only what differs, so a second run with the same model changes nothing. The
interface belongs to this package: any address or non-kernel route on it that the model does not
name is removed.
"""

from __future__ import annotations

import errno
import ipaddress
import logging
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pyroute2 import IPRoute, NetlinkError

from appliance.vpn import VpnError
from appliance.vpn.model import Tunnel

log = logging.getLogger(__name__)

# wireguard-go's control sockets; the directory is not per network namespace, so names must be unique.
SOCKET_DIR = Path("/var/run/wireguard")
USERSPACE = "wireguard-go"
# wireguard-go refuses (or nags) when the kernel claims WireGuard support it cannot load here.
USERSPACE_ENV = {"WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD": "1"}
READY_TIMEOUT = 10.0
MAIN_TABLE = 254
RTPROT_KERNEL = 2
IFF_UP = 0x1


@contextmanager
def _netlink() -> Iterator[IPRoute]:
    try:
        with IPRoute() as ipr:
            yield ipr
    except NetlinkError as exc:
        raise VpnError(f"netlink: {os.strerror(exc.code) if exc.code else exc}") from None


def index(ifname: str) -> int | None:
    """Return the interface index of ifname, or None when there is no such link."""
    with _netlink() as ipr:
        return _index(ipr, ifname)


def implementation(ifname: str) -> str | None:
    """Return "kernel" or "userspace" for a live WireGuard link, None when absent; refuse other kinds."""
    with _netlink() as ipr:
        idx = _index(ipr, ifname)
        return None if idx is None else _implementation(ipr, idx, ifname)


def ensure_link(tunnel: Tunnel) -> list[str]:
    """Create the WireGuard link unless it exists; return what was done."""
    with _netlink() as ipr:
        idx = _index(ipr, tunnel.interface)
        if idx is not None:
            _implementation(ipr, idx, tunnel.interface)
            return []
        if tunnel.implementation in ("auto", "kernel"):
            try:
                ipr.link("add", ifname=tunnel.interface, kind="wireguard")
                return [f"created {tunnel.interface} (kernel)"]
            except NetlinkError as exc:
                if tunnel.implementation == "kernel" or exc.code != errno.EOPNOTSUPP:
                    raise VpnError(f"cannot create {tunnel.interface}: {os.strerror(exc.code)}") from None
                log.info("no WireGuard kernel module; starting %s for %s", USERSPACE, tunnel.interface)
    _start_userspace(tunnel.interface)
    return [f"created {tunnel.interface} ({USERSPACE})"]


def sync(tunnel: Tunnel) -> list[str]:
    """Make MTU, addresses, link state and routes of the existing link match the model; return the changes."""
    with _netlink() as ipr:
        idx = _index(ipr, tunnel.interface)
        if idx is None:
            raise VpnError(f"{tunnel.interface} does not exist")
        changes = _sync_mtu(ipr, idx, tunnel)
        changes += _sync_addresses(ipr, idx, tunnel)
        link = ipr.get_links(idx)[0]
        if not link["flags"] & IFF_UP:
            ipr.link("set", index=idx, state="up")
            changes.append(f"set {tunnel.interface} up")
        # Routes last: the kernel accepts routes only through a link that is up.
        changes += _sync_routes(ipr, idx, tunnel)
    return changes


def delete(ifname: str) -> list[str]:
    """Remove the link (wireguard-go exits when its TUN device goes); return what was done."""
    with _netlink() as ipr:
        idx = _index(ipr, ifname)
        if idx is None:
            return []
        kind = _implementation(ipr, idx, ifname)
        ipr.link("del", index=idx)
    if kind == "userspace":
        _wait(lambda: not _socket(ifname).exists(), f"{USERSPACE} for {ifname} to exit")
    return [f"removed {ifname}"]


def addresses(ifname: str) -> list[str]:
    """Return the addresses on ifname, with prefixes, IPv6 link-local ones left out."""
    with _netlink() as ipr:
        idx = _index(ipr, ifname)
        return [] if idx is None else [str(a) for a in _addresses(ipr, idx)]


def routes(ifname: str) -> list[str]:
    """Return the networks the main table routes through ifname, the on-link ones left out."""
    with _netlink() as ipr:
        idx = _index(ipr, ifname)
        return [] if idx is None else [str(n) for n in _routes(ipr, idx)]


# -- helpers --------------------------------------------------------------------------------------


def _index(ipr: IPRoute, ifname: str) -> int | None:
    found = ipr.link_lookup(ifname=ifname)
    return found[0] if found else None


def _implementation(ipr: IPRoute, idx: int, ifname: str) -> str:
    link = ipr.get_links(idx)[0]
    info = link.get("IFLA_LINKINFO")
    kind = info.get("IFLA_INFO_KIND") if info else None
    if kind == "wireguard":
        return "kernel"
    if kind == "tun" and _socket(ifname).exists():
        return "userspace"
    raise VpnError(f"{ifname} exists but is not a WireGuard interface (kind {kind or 'unknown'}); remove or rename it")


def _socket(ifname: str) -> Path:
    return SOCKET_DIR / f"{ifname}.sock"


def _start_userspace(ifname: str) -> None:
    binary = shutil.which(USERSPACE)
    if binary is None:
        raise VpnError(f"no WireGuard kernel module and no {USERSPACE}: install wireguard-go")
    # wireguard-go creates the TUN device, forks its daemon and returns; the daemon holds none of our pipes.
    try:
        proc = subprocess.run(
            [binary, ifname],
            env={**os.environ, **USERSPACE_ENV},
            capture_output=True,
            text=True,
            timeout=READY_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise VpnError(f"{USERSPACE} {ifname} did not return within {READY_TIMEOUT:.0f}s") from None
    if proc.returncode != 0:
        raise VpnError(f"{USERSPACE} {ifname} failed: {proc.stderr.strip() or proc.returncode}")
    _wait(lambda: _socket(ifname).exists() and index(ifname) is not None, f"{USERSPACE} to create {ifname}")


def _wait(ready, what: str) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while not ready():
        if time.monotonic() > deadline:
            raise VpnError(f"timed out after {READY_TIMEOUT:.0f}s waiting for {what}")
        time.sleep(0.05)


def _sync_mtu(ipr: IPRoute, idx: int, tunnel: Tunnel) -> list[str]:
    if ipr.get_links(idx)[0].get("IFLA_MTU") == tunnel.mtu:
        return []
    ipr.link("set", index=idx, mtu=tunnel.mtu)
    return [f"set mtu {tunnel.mtu}"]


def _addresses(ipr: IPRoute, idx: int) -> set[ipaddress.IPv4Interface | ipaddress.IPv6Interface]:
    found = set()
    for msg in ipr.get_addr(index=idx):
        # On point-to-point links IFA_ADDRESS may be the far end; IFA_LOCAL is ours when present.
        addr = msg.get("IFA_LOCAL") or msg.get("IFA_ADDRESS")
        iface = ipaddress.ip_interface(f"{addr}/{msg['prefixlen']}")
        if iface.version == 6 and iface.ip.is_link_local:
            continue
        found.add(iface)
    return found


def _sync_addresses(ipr: IPRoute, idx: int, tunnel: Tunnel) -> list[str]:
    want = {ipaddress.ip_interface(a) for a in tunnel.addresses}
    have = _addresses(ipr, idx)
    changes = []
    for iface in sorted(have - want, key=str):
        ipr.addr("del", index=idx, address=str(iface.ip), prefixlen=iface.network.prefixlen)
        changes.append(f"removed address {iface}")
    for iface in sorted(want - have, key=str):
        ipr.addr("add", index=idx, address=str(iface.ip), prefixlen=iface.network.prefixlen)
        changes.append(f"added address {iface}")
    return changes


def _routes(ipr: IPRoute, idx: int) -> set[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    found = set()
    for family, zero in ((socket.AF_INET, "0.0.0.0"), (socket.AF_INET6, "::")):
        for msg in ipr.get_routes(family=family, table=MAIN_TABLE, oif=idx):
            if msg["proto"] == RTPROT_KERNEL:
                continue
            found.add(ipaddress.ip_network(f"{msg.get('RTA_DST') or zero}/{msg['dst_len']}"))
    return found


def _sync_routes(ipr: IPRoute, idx: int, tunnel: Tunnel) -> list[str]:
    want = {ipaddress.ip_network(r) for r in tunnel.route_networks()}
    have = _routes(ipr, idx)
    changes = []
    for net in sorted(have - want, key=str):
        ipr.route("del", dst=str(net.network_address), dst_len=net.prefixlen, oif=idx, family=_family(net))
        changes.append(f"removed route {net}")
    for net in sorted(want - have, key=str):
        ipr.route("replace", dst=str(net.network_address), dst_len=net.prefixlen, oif=idx, family=_family(net))
        changes.append(f"added route {net} via {tunnel.interface}")
    return changes


def _family(net: ipaddress.IPv4Network | ipaddress.IPv6Network) -> int:
    return socket.AF_INET if net.version == 4 else socket.AF_INET6
