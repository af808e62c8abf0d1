# SPDX-License-Identifier: GPL-3.0-or-later
"""The desired state of a WireGuard tunnel: frozen records, read from YAML or JSON, validated whole.

A spoke (an appliance) has exactly one peer, its hub, reached at an endpoint and trusted for the fleet
networks. A hub has many peers, each an appliance trusted for its own tunnel address only (/32 or /128),
so one enrolled box can never claim another's traffic. Peers written in the state file are the
fleet's (Ansible's); peers enrolled with `appliance vpn add-peer` live in a separate peers file so the
command never rewrites a file Ansible owns.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from appliance.files import write_atomic
from appliance.model.validate import Problem, ValidationFailed

DEFAULT_STATE_PATH = Path("/etc/appliance/vpn.yml")
# On the root filesystem, not the encrypted data volume: the tunnel must come up before the volume
# unlocks, because Tang may be reached through it (docs/decisions.md, 22).
SECRETS_DIR = Path("/etc/appliance/wireguard")
DEFAULT_PSK_DIR = SECRETS_DIR / "psk"
DEFAULT_PEERS_FILE = Path("/var/lib/appliance/vpn/peers.json")
ROLES = ("spoke", "hub")
IMPLEMENTATIONS = ("auto", "kernel", "userspace")
ORIGINS = ("config", "peers_file")
# A spoke usually sits behind NAT and must keep its mapping open so the hub can reach it.
SPOKE_KEEPALIVE = 25
DEFAULT_MTU = 1420

IFNAME_RE = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,14}$")
PEER_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
HOSTPORT_RE = re.compile(r"^(?:\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<host>[A-Za-z0-9.-]+)):(?P<port>\d{1,5})$")

_STATE_KEYS = {
    "role",
    "interface",
    "addresses",
    "listen_port",
    "mtu",
    "private_key_file",
    "implementation",
    "routes",
    "peers",
    "peers_file",
    "psk_dir",
}
_PEER_KEYS = {"name", "public_key", "allowed_ips", "endpoint", "preshared_key_file", "persistent_keepalive"}


@dataclass(frozen=True)
class Peer:
    """One WireGuard peer: who it is, what it may send us, where to find it."""

    name: str
    public_key: str
    allowed_ips: tuple[str, ...]
    preshared_key_file: Path | None = None
    endpoint: str | None = None
    persistent_keepalive: int = 0
    origin: str = "config"

    def networks(self) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
        """Return the allowed IPs as networks."""
        return [ipaddress.ip_network(a, strict=False) for a in self.allowed_ips]

    def to_mapping(self) -> dict[str, Any]:
        """Return the peer as written in a state or peers file."""
        data = asdict(self)
        del data["origin"]
        data["allowed_ips"] = list(self.allowed_ips)
        data["preshared_key_file"] = str(self.preshared_key_file) if self.preshared_key_file else None
        return data


@dataclass(frozen=True)
class Tunnel:
    """The whole desired state of one WireGuard interface."""

    role: str
    interface: str
    addresses: tuple[str, ...]
    private_key_file: Path
    listen_port: int | None = None
    mtu: int = DEFAULT_MTU
    implementation: str = "auto"
    routes: tuple[str, ...] | None = None
    peers: tuple[Peer, ...] = ()
    peers_file: Path | None = None
    psk_dir: Path = DEFAULT_PSK_DIR
    source: str = field(default="", compare=False)

    def interface_networks(self) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
        """Return the networks the interface's own addresses put on-link."""
        return [ipaddress.ip_interface(a).network for a in self.addresses]

    def route_networks(self) -> list[str]:
        """Return the networks to route into the tunnel, beyond those on-link by the addresses."""
        if self.routes is not None:
            return list(self.routes)
        on_link = self.interface_networks()
        out: list[str] = []
        for peer in self.peers:
            for net in peer.networks():
                # The interface address already makes its own network on-link; a hub's /32 peers sit in it.
                if any(net.version == n.version and net.subnet_of(n) for n in on_link):
                    continue
                if str(net) not in out:
                    out.append(str(net))
        return out

    def peer(self, name: str) -> Peer | None:
        """Return the peer called name, or None."""
        return next((p for p in self.peers if p.name == name), None)


# -- reading --------------------------------------------------------------------------------------


def read_file(path: Path) -> dict[str, Any]:
    """Return the mapping in a YAML or JSON state file (JSON is YAML, so one parser reads both)."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ValidationFailed([Problem(str(path), "file", f"not valid YAML or JSON: {exc}")]) from None
    if not isinstance(data, dict):
        raise ValidationFailed([Problem(str(path), "file", "the top level must be a mapping")])
    return data


def load(path: Path) -> Tunnel:
    """Return the validated tunnel described by a state file, with its peers file merged in."""
    return parse(read_file(path), base=path.parent, source=str(path))


def parse(data: Mapping[str, Any], base: Path | None = None, source: str = "vpn") -> Tunnel:
    """Return the validated tunnel described by a mapping; relative paths are taken from base."""
    problems: list[Problem] = []
    obj = f"vpn {data.get('interface', 'wg0')}"
    unknown = set(data) - _STATE_KEYS
    if unknown:
        problems.append(
            Problem(obj, ", ".join(sorted(unknown)), f"unknown keys; known: {', '.join(sorted(_STATE_KEYS))}")
        )
    role = str(data.get("role", "spoke"))
    ifname = str(data.get("interface", "wg0"))
    base = base or Path.cwd()
    peers_file = _path(data["peers_file"], base) if data.get("peers_file") else None
    if role == "hub" and peers_file is None:
        peers_file = DEFAULT_PEERS_FILE
    psk_dir = _path(data.get("psk_dir") or DEFAULT_PSK_DIR, base)
    peers = [_peer(p, role, base, "config", problems) for p in _list(data.get("peers"), obj, "peers", problems)]
    if peers_file is not None and peers_file.is_file():
        for raw in _list(_read_json_list(peers_file, problems), str(peers_file), "peers", problems):
            peers.append(_peer(raw, role, base, "peers_file", problems))
    routes = data.get("routes")
    tunnel = Tunnel(
        role=role,
        interface=ifname,
        addresses=tuple(str(a) for a in _strings(data.get("addresses"))),
        private_key_file=_path(data.get("private_key_file") or SECRETS_DIR / f"{ifname}.key", base),
        listen_port=_int_or_none(data.get("listen_port"), obj, "listen_port", problems),
        mtu=_int_or_none(data.get("mtu", DEFAULT_MTU), obj, "mtu", problems) or DEFAULT_MTU,
        implementation=str(data.get("implementation", "auto")),
        routes=None if routes is None else tuple(str(r) for r in _strings(routes)),
        peers=tuple(p for p in peers if p is not None),
        peers_file=peers_file,
        psk_dir=psk_dir,
        source=source,
    )
    problems.extend(validate(tunnel))
    if problems:
        raise ValidationFailed(problems)
    return tunnel


def private_key_path(data: Mapping[str, Any], base: Path | None = None) -> Path:
    """Return where the private key of a (possibly unfinished) state file lives, before any peer is known."""
    ifname = str(data.get("interface", "wg0"))
    return _path(data.get("private_key_file") or SECRETS_DIR / f"{ifname}.key", base or Path.cwd())


def _peer(raw: Any, role: str, base: Path, origin: str, problems: list[Problem]) -> Peer | None:
    if not isinstance(raw, dict):
        problems.append(Problem("vpn peer", "peers", f"each peer must be a mapping, not {raw!r}"))
        return None
    name = str(raw.get("name", ""))
    obj = f"vpn peer {name or '?'}"
    unknown = set(raw) - _PEER_KEYS
    if unknown:
        problems.append(
            Problem(obj, ", ".join(sorted(unknown)), f"unknown keys; known: {', '.join(sorted(_PEER_KEYS))}")
        )
    keepalive = raw.get("persistent_keepalive")
    if keepalive is None:
        keepalive = SPOKE_KEEPALIVE if role == "spoke" else 0
    psk = raw.get("preshared_key_file")
    return Peer(
        name=name,
        public_key=str(raw.get("public_key", "")),
        allowed_ips=tuple(str(a) for a in _strings(raw.get("allowed_ips"))),
        preshared_key_file=_path(psk, base) if psk else None,
        endpoint=str(raw["endpoint"]) if raw.get("endpoint") else None,
        persistent_keepalive=_int_or_none(keepalive, obj, "persistent_keepalive", problems) or 0,
        origin=origin,
    )


def _read_json_list(path: Path, problems: list[Problem]) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        problems.append(Problem(str(path), "file", f"cannot read the peers file: {exc}"))
        return []


def _list(value: Any, obj: str, field_name: str, problems: list[Problem]) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        problems.append(Problem(obj, field_name, "must be a list"))
        return []
    return value


def _strings(value: Any) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else [str(v) for v in value]


def _int_or_none(value: Any, obj: str, field_name: str, problems: list[Problem]) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).isdigit():
        problems.append(Problem(obj, field_name, f"{value!r} is not a whole number"))
        return None
    return int(value)


def _path(value: Any, base: Path) -> Path:
    path = Path(str(value))
    return path if path.is_absolute() else base / path


# -- validation -----------------------------------------------------------------------------------


def validate(tunnel: Tunnel) -> list[Problem]:
    """Return every problem in the tunnel (an empty list means valid)."""
    obj = f"vpn {tunnel.interface}"
    problems: list[Problem] = []
    if tunnel.role not in ROLES:
        problems.append(Problem(obj, "role", f"{tunnel.role!r} is not one of {', '.join(ROLES)}"))
    if not IFNAME_RE.match(tunnel.interface) or tunnel.interface in {".", ".."}:
        problems.append(Problem(obj, "interface", "1-15 letters, digits, '_', '-' or '.'"))
    if tunnel.implementation not in IMPLEMENTATIONS:
        problems.append(Problem(obj, "implementation", f"not one of {', '.join(IMPLEMENTATIONS)}"))
    if not tunnel.addresses:
        problems.append(Problem(obj, "addresses", "at least one address with its prefix, e.g. 10.200.0.17/16"))
    for address in tunnel.addresses:
        try:
            ipaddress.ip_interface(address)
        except ValueError:
            problems.append(Problem(obj, "addresses", f"{address!r} is not an address with a prefix"))
    if tunnel.listen_port is not None and not 1 <= tunnel.listen_port <= 65535:
        problems.append(Problem(obj, "listen_port", "must be 1-65535"))
    if tunnel.role == "hub" and tunnel.listen_port is None:
        problems.append(Problem(obj, "listen_port", "a hub needs a fixed port its appliances dial"))
    if not 1280 <= tunnel.mtu <= 9000:
        problems.append(Problem(obj, "mtu", "must be 1280-9000"))
    for route in tunnel.routes or ():
        problems.extend(_network_problems(obj, "routes", route))
    problems.extend(_peers_problems(tunnel))
    return problems


def _peers_problems(tunnel: Tunnel) -> list[Problem]:
    problems: list[Problem] = []
    if tunnel.role == "spoke" and len(tunnel.peers) != 1:
        problems.append(Problem(f"vpn {tunnel.interface}", "peers", "a spoke has exactly one peer: its hub"))
    seen_names: set[str] = set()
    seen_keys: set[str] = set()
    claimed: list[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, str]] = []
    for peer in tunnel.peers:
        obj = f"vpn peer {peer.name or '?'}"
        if not PEER_NAME_RE.match(peer.name):
            problems.append(Problem(obj, "name", "1-63 letters, digits, '_', '-' or '.'"))
        elif peer.name in seen_names:
            problems.append(Problem(obj, "name", "used by another peer"))
        seen_names.add(peer.name)
        if not is_key(peer.public_key):
            problems.append(Problem(obj, "public_key", "not a WireGuard key (44 characters of base64)"))
        elif peer.public_key in seen_keys:
            problems.append(Problem(obj, "public_key", "used by another peer"))
        seen_keys.add(peer.public_key)
        if peer.preshared_key_file is None:
            problems.append(Problem(obj, "preshared_key_file", "every peer needs its own preshared key"))
        if not 0 <= peer.persistent_keepalive <= 65535:
            problems.append(Problem(obj, "persistent_keepalive", "must be 0-65535 seconds"))
        if peer.endpoint is not None and not _endpoint_ok(peer.endpoint):
            problems.append(Problem(obj, "endpoint", f"{peer.endpoint!r} is not host:port or [v6]:port"))
        if tunnel.role == "spoke" and peer.endpoint is None:
            problems.append(Problem(obj, "endpoint", "the hub's host:port is needed to dial home"))
        if not peer.allowed_ips:
            problems.append(Problem(obj, "allowed_ips", "at least one network"))
        for allowed in peer.allowed_ips:
            found = _network_problems(obj, "allowed_ips", allowed)
            problems.extend(found)
            if found:
                continue
            net = ipaddress.ip_network(allowed)
            if tunnel.role == "hub" and net.prefixlen != net.max_prefixlen:
                problems.append(Problem(obj, "allowed_ips", f"{allowed}: a hub trusts each appliance for one address"))
            # WireGuard silently moves an allowed IP to the last peer given it; refuse instead of guessing.
            for other, owner in claimed:
                if other.version == net.version and (net.overlaps(other)):
                    problems.append(Problem(obj, "allowed_ips", f"{allowed} overlaps {other} of peer {owner}"))
            claimed.append((net, peer.name))
    return problems


def _network_problems(obj: str, field_name: str, value: str) -> list[Problem]:
    try:
        net = ipaddress.ip_network(value)
    except ValueError as exc:
        return [Problem(obj, field_name, f"{value!r} is not a network: {exc}")]
    if net.prefixlen == 0:
        # The hub's own endpoint would then route into the tunnel; the box keeps its uplink to itself.
        return [Problem(obj, field_name, f"{value}: a default route through the tunnel is not supported")]
    return []


def _endpoint_ok(endpoint: str) -> bool:
    match = HOSTPORT_RE.match(endpoint)
    if not match or not 1 <= int(match["port"]) <= 65535:
        return False
    if match["v6"]:
        try:
            ipaddress.IPv6Address(match["v6"])
        except ValueError:
            return False
    return True


def is_key(text: str) -> bool:
    """Return whether text is a WireGuard key: 32 bytes in base64."""
    if len(text) != 44:
        return False
    try:
        return len(base64.b64decode(text, validate=True)) == 32
    except (binascii.Error, ValueError):
        return False


# -- the hub's peers file -------------------------------------------------------------------------


def with_peer(tunnel: Tunnel, peer: Peer) -> Tunnel:
    """Return the tunnel with peer added, or replacing the enrolled peer of the same name; validated."""
    existing = tunnel.peer(peer.name)
    if existing is not None and existing.origin == "config":
        raise ValidationFailed([Problem(f"vpn peer {peer.name}", "name", f"managed in {tunnel.source}; edit it there")])
    peers = [p for p in tunnel.peers if p.name != peer.name] + [replace(peer, origin="peers_file")]
    return _revalidated(replace(tunnel, peers=tuple(peers)))


def without_peer(tunnel: Tunnel, name: str) -> Tunnel:
    """Return the tunnel without the enrolled peer called name."""
    existing = tunnel.peer(name)
    if existing is None:
        raise ValidationFailed([Problem(f"vpn peer {name}", "name", "no such peer")])
    if existing.origin == "config":
        raise ValidationFailed([Problem(f"vpn peer {name}", "name", f"managed in {tunnel.source}; edit it there")])
    return replace(tunnel, peers=tuple(p for p in tunnel.peers if p.name != name))


def _revalidated(tunnel: Tunnel) -> Tunnel:
    problems = validate(tunnel)
    if problems:
        raise ValidationFailed(problems)
    return tunnel


def save_peers_file(tunnel: Tunnel) -> Path:
    """Write the enrolled peers of a hub to its peers file atomically (temp, fsync, rename)."""
    if tunnel.peers_file is None:
        raise ValidationFailed([Problem(f"vpn {tunnel.interface}", "peers_file", "only a hub has a peers file")])
    enrolled = [p.to_mapping() for p in tunnel.peers if p.origin == "peers_file"]
    write_atomic(tunnel.peers_file, (json.dumps(enrolled, indent=2) + "\n").encode())
    return tunnel.peers_file


def names(peers: Iterable[Peer]) -> dict[str, str]:
    """Return the peers' names by public key."""
    return {p.public_key: p.name for p in peers}
