# SPDX-License-Identifier: GPL-3.0-or-later
"""What the firewall lets in: one frozen record, read from a mapping (YAML, JSON) and validated whole.

Inbound is dropped unless a rule here accepts it. Zones are interfaces: `lan` (phones, FXS gateways,
admins), `tunnel` (WireGuard to the hub: carriers, Ansible, metrics) and `wan` (the uplink: WireGuard
only). A zone may be narrowed to source networks. Every problem names the field it is about.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, fields
from typing import Any

from appliance.addresses import is_network
from appliance.model.validate import Problem, ValidationFailed

# nft identifiers for the table: letters, digits, '_' (tests use a unique name per run).
TABLE_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,31}$")
# Linux interface names are at most 15 characters; nothing that could end a quoted nft string. A
# trailing '*' makes a prefix pattern ("en*"), as nft's iifname and systemd-networkd's Name= read it:
# an image does not know the names its box's kernel will give.
IFNAME_RE = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,14}\*?$")

_TUPLE_FIELDS = {
    "wan_interfaces": "interfaces",
    "lan_interfaces": "interfaces",
    "tunnel_interfaces": "interfaces",
    "lan_networks": "networks",
    "tunnel_networks": "networks",
    "trunk_addresses": "networks",
    "tunnel_tcp_ports": "ports",
    "lan_tcp_ports": "ports",
    "loopback_ports": "ports",
}


@dataclass(frozen=True)
class Policy:
    """Everything the ruleset is rendered from; docs/firewall.md has the policy table."""

    table: str = "appliance"
    wan_interfaces: tuple[str, ...] = ()
    lan_interfaces: tuple[str, ...] = ()
    tunnel_interfaces: tuple[str, ...] = ("wg0",)
    # Empty: the whole zone is its interfaces. Otherwise only these sources count as the zone.
    lan_networks: tuple[str, ...] = ()
    tunnel_networks: tuple[str, ...] = ()
    # Carriers reached without the tunnel: their signalling and media addresses, on any interface.
    trunk_addresses: tuple[str, ...] = ()
    sip_port: int = 5060  # internal profile, UDP and TCP
    sip_tls_port: int = 5061
    external_sip_port: int = 5080  # external profile, UDP and TCP; TLS on the next port up
    console_port: int = 443
    # The CA's public files over plain HTTP (`appliance pki serve-http`): phones fetch the CRL there.
    pki_http_port: int = 80  # 0: not opened
    rtp_start: int = 16384
    rtp_end: int = 32768
    wireguard_port: int = 0  # 0: nothing listens (a spoke only dials out)
    tunnel_tcp_ports: tuple[int, ...] = (22,)  # SSH for Ansible from the fleet controller
    # Admin TCP ports opened to the LAN too (none by default: SSH comes through the tunnel). A box
    # managed without a tunnel, or the image tests reaching the guest through QEMU, list 22 here.
    lan_tcp_ports: tuple[int, ...] = ()
    # The event socket, PostgreSQL and the outbound-socket server: never from the network.
    loopback_ports: tuple[int, ...] = (8021, 5432, 8084)
    # Per source address, on the SIP ports; trusted = registered phones and trunks.
    sip_rate: int = 25
    sip_burst: int = 100
    trusted_rate: int = 250
    trusted_burst: int = 1000
    ban_seconds: int = 3600
    trust_seconds: int = 86400

    @property
    def sip_ports(self) -> tuple[int, ...]:
        """Return every port a SIP profile listens on (UDP, TCP and TLS)."""
        return tuple(dict.fromkeys(self.internal_ports + self.external_ports))

    @property
    def internal_ports(self) -> tuple[int, ...]:
        """Return the phones' profile ports."""
        return (self.sip_port, self.sip_tls_port)

    @property
    def external_ports(self) -> tuple[int, ...]:
        """Return the carriers' profile ports (TLS is the next port up, as fsconf renders it)."""
        return (self.external_sip_port, self.external_sip_port + 1)


KEYS = tuple(f.name for f in fields(Policy))


def parse(data: Mapping[str, Any], source: str = "firewall") -> Policy:
    """Return the validated policy a mapping describes; unknown keys and bad values are refused."""
    problems: list[Problem] = []
    unknown = sorted(set(data) - set(KEYS))
    if unknown:
        problems.append(Problem(source, ", ".join(unknown), f"unknown keys; known: {', '.join(KEYS)}"))
    values: dict[str, Any] = {}
    defaults = Policy()
    for f in fields(Policy):
        if f.name not in data:
            continue
        raw = data[f.name]
        if f.name in _TUPLE_FIELDS:
            value = _tuple(raw, _TUPLE_FIELDS[f.name], source, f.name, problems)
        elif isinstance(getattr(defaults, f.name), int):
            value = _int(raw, source, f.name, problems)
        else:
            value = str(raw)
        # A value of the wrong type keeps its default, so the rest is still validated and reported with it.
        if value is not None:
            values[f.name] = value
    policy = Policy(**values)
    problems.extend(validate(policy, source))
    if problems:
        raise ValidationFailed(problems)
    return policy


def validate(policy: Policy, source: str = "firewall") -> list[Problem]:
    """Return every problem in the policy (an empty list means valid)."""
    return list(_problems(policy, source))


def _problems(p: Policy, obj: str) -> Iterator[Problem]:
    if not TABLE_RE.match(p.table):
        yield Problem(obj, "table", f"{p.table!r}: use a letter, then letters, digits or '_' (at most 32)")
    if not p.lan_interfaces:
        yield Problem(obj, "lan_interfaces", "name the LAN interface(s): phones and the console are reached there")
    zones: dict[str, str] = {}
    for name in ("wan_interfaces", "lan_interfaces", "tunnel_interfaces"):
        for ifname in getattr(p, name):
            if not IFNAME_RE.match(ifname):
                yield Problem(obj, name, f"{ifname!r} is not an interface name")
                continue
            clash = next((z for other, z in zones.items() if _clash(ifname, other, z)), None)
            if clash:
                yield Problem(obj, name, f"{ifname!r} is already in {clash}")
            zones.setdefault(ifname, name)
    for name in ("lan_networks", "tunnel_networks", "trunk_addresses"):
        for net in getattr(p, name):
            if not is_network(net):
                yield Problem(obj, name, f"{net!r} is not an address or network")
    singles = ("sip_port", "sip_tls_port", "external_sip_port", "console_port", "rtp_start", "rtp_end")
    for name in singles:
        if not 1 <= getattr(p, name) <= 65535:
            yield Problem(obj, name, f"{getattr(p, name)} is not a port number")
    if not 1 <= p.external_sip_port < 65535:
        yield Problem(obj, "external_sip_port", "its TLS port (one up) must be a port number too")
    for name in ("wireguard_port", "pki_http_port"):
        if not 0 <= getattr(p, name) <= 65535:
            yield Problem(obj, name, f"{getattr(p, name)} is not a port number (0: none)")
    for name in ("tunnel_tcp_ports", "lan_tcp_ports", "loopback_ports"):
        for port in getattr(p, name):
            if not 1 <= port <= 65535:
                yield Problem(obj, name, f"{port} is not a port number")
    if p.rtp_start >= p.rtp_end:
        yield Problem(obj, "rtp_start", f"RTP range {p.rtp_start}-{p.rtp_end} is empty")
    yield from _overlaps(p, obj)
    for name in ("sip_rate", "sip_burst", "trusted_rate", "trusted_burst", "ban_seconds", "trust_seconds"):
        if getattr(p, name) < 1:
            yield Problem(obj, name, "must be 1 or more")
    if p.trusted_rate < p.sip_rate or p.trusted_burst < p.sip_burst:
        yield Problem(obj, "trusted_rate", "trusted sources must get at least the untrusted rate and burst")


def _clash(ifname: str, other: str, other_zone: str) -> bool:
    # The WAN is decided first and keeps the names it lists: a pattern ("en*") may cover the uplink's name.
    carved_out = other_zone == "wan_interfaces" and not other.endswith("*") and ifname.endswith("*")
    return _same_interfaces(ifname, other) and not carved_out


def _same_interfaces(a: str, b: str) -> bool:
    """Whether two names or prefix patterns ("en*") can match one interface."""
    stem_a, stem_b = a.removesuffix("*"), b.removesuffix("*")
    return a == b or (a.endswith("*") and stem_b.startswith(stem_a)) or (b.endswith("*") and stem_a.startswith(stem_b))


def _overlaps(p: Policy, obj: str) -> Iterator[Problem]:
    """Refuse a loopback-only port that another rule would open: the explicit drop would hide it silently."""
    opened = {*p.sip_ports, p.console_port, p.pki_http_port, *p.tunnel_tcp_ports, *p.lan_tcp_ports, p.wireguard_port}
    for port in p.loopback_ports:
        if port in opened or p.rtp_start <= port <= p.rtp_end:
            yield Problem(obj, "loopback_ports", f"{port} is also opened to the network by another setting")


def _tuple(raw: Any, kind: str, obj: str, name: str, problems: list[Problem]) -> tuple | None:
    items = [raw] if isinstance(raw, str | int) and not isinstance(raw, bool) else raw
    if items is None:
        return ()
    if not isinstance(items, list | tuple):
        problems.append(Problem(obj, name, f"must be a list of {kind}"))
        return None
    if kind == "ports":
        ports = [_int(v, obj, name, problems) for v in items]
        return None if None in ports else tuple(ports)
    return tuple(str(v) for v in items)


def _int(raw: Any, obj: str, name: str, problems: list[Problem]) -> int | None:
    if isinstance(raw, bool) or not isinstance(raw, int | str) or not str(raw).strip().isdigit():
        problems.append(Problem(obj, name, f"{raw!r} is not a whole number"))
        return None
    return int(raw)


def split_families(networks: tuple[str, ...]) -> tuple[list[str], list[str]]:
    """Return (IPv4, IPv6) networks in their canonical text form, each once."""
    v4: list[str] = []
    v6: list[str] = []
    for text in networks:
        net = ipaddress.ip_network(text, strict=False)
        target = v4 if net.version == 4 else v6
        if str(net) not in target:
            target.append(str(net))
    return v4, v6
