# SPDX-License-Identifier: GPL-3.0-or-later
"""Gather the firewall policy from where its facts live; later layers win.

1. the appliance configuration: the event-socket, outbound-socket and PostgreSQL ports (loopback only),
   the console's port, and the metrics exporter's port when it listens on the tunnel;
2. the WireGuard state: the tunnel interface and the port WireGuard listens on (a spoke: none);
3. the site in PostgreSQL: SIP ports, RTP range and the carriers' addresses (skipped with use_db=False);
4. the firewall state (Ansible's): interfaces, networks, console port, the CA's plain-HTTP port, rates,
   anything to override.

The firewall must come up before PostgreSQL (which may sit on a volume still locked): at boot the saved
ruleset is loaded as it is, and `apply` re-renders from these sources once the box is up.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from appliance.addresses import is_ip
from appliance.firewall import FirewallError
from appliance.firewall.model import Policy, parse
from appliance.model import Site, Trunk
from appliance.model.validate import Problem, ValidationFailed

log = logging.getLogger(__name__)

DEFAULT_STATE_PATH = Path("/etc/appliance/firewall.yml")
DEFAULT_VPN_PATH = Path("/etc/appliance/vpn.yml")
_LOOPBACK = {"127.0.0.1", "::1", "localhost"}


def gather(cfg: Mapping[str, Any], state: Mapping[str, Any], use_db: bool = True) -> Policy:
    """Return the validated policy for this box."""
    values: dict[str, Any] = {}
    values |= from_config(cfg)
    values |= from_vpn(vpn_state(cfg))
    if use_db:
        values |= from_site(*_read_site(cfg["database"]["dsn"]))
    values |= dict(state)
    return parse(values, source="firewall")


def read_state(path: Path | None, cfg: Mapping[str, Any]) -> tuple[dict[str, Any], str]:
    """Return the firewall state and where it came from: --state, the config's section, or the default file."""
    if path is not None:
        return _read_yaml(path), str(path)
    section = cfg.get("firewall")
    if section:
        return dict(section), "the firewall section of the configuration"
    if DEFAULT_STATE_PATH.is_file():
        return _read_yaml(DEFAULT_STATE_PATH), str(DEFAULT_STATE_PATH)
    return {}, "defaults"


def from_config(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """Return the ports this box's own configuration uses: control sockets, console, metrics."""
    fs = cfg.get("freeswitch") or {}
    ports = [int(fs.get("esl_port", 8021)), _pg_port(str((cfg.get("database") or {}).get("dsn", "")))]
    ports.append(int(fs.get("outbound_socket_port", 8084)))
    out: dict[str, Any] = {"loopback_ports": tuple(dict.fromkeys(ports))}
    console = cfg.get("console") or {}
    if console.get("port"):
        out["console_port"] = int(console["port"])
    metrics = cfg.get("metrics") or {}
    # The exporter bound beyond loopback ("tunnel") is scraped by the hub's Prometheus through the tunnel.
    if metrics.get("port") and str(metrics.get("listen_address", "127.0.0.1")) not in _LOOPBACK:
        out["tunnel_tcp_ports"] = (*Policy().tunnel_tcp_ports, int(metrics["port"]))
    return out


def vpn_state(cfg: Mapping[str, Any]) -> Mapping[str, Any]:
    """Return the raw WireGuard state (the config's vpn section, else /etc/appliance/vpn.yml), or {}."""
    if cfg.get("vpn"):
        return cfg["vpn"]
    if DEFAULT_VPN_PATH.is_file():
        try:
            return _read_yaml(DEFAULT_VPN_PATH)
        except ValidationFailed:
            log.warning("%s is unreadable; the firewall uses its own tunnel settings", DEFAULT_VPN_PATH)
    return {}


def from_vpn(vpn: Mapping[str, Any]) -> dict[str, Any]:
    """Return the tunnel interface and WireGuard's listening port from the VPN state."""
    if not vpn:
        return {}
    out: dict[str, Any] = {"tunnel_interfaces": (str(vpn.get("interface", "wg0")),)}
    port = vpn.get("listen_port")
    # A spoke without a fixed port dials out only: its replies come back as established traffic.
    out["wireguard_port"] = int(port) if str(port or "").isdigit() else 0
    return out


def from_site(site: Site, trunks: tuple[Trunk, ...]) -> dict[str, Any]:
    """Return the SIP ports, RTP range and carrier addresses of the PBX model."""
    addresses: list[str] = []
    for trunk in trunks:
        # As the trunks ACL of fsconf: the trunk's own address when it is one, and its declared networks.
        if is_ip(trunk.host):
            addresses.append(trunk.host)
        addresses.extend(trunk.inbound_cidrs)
    return {
        "sip_port": site.internal_sip_port,
        "sip_tls_port": site.internal_tls_port,
        "external_sip_port": site.external_sip_port,
        "rtp_start": site.rtp_start,
        "rtp_end": site.rtp_end,
        "trunk_addresses": tuple(dict.fromkeys(addresses)),
    }


def _read_site(dsn: str) -> tuple[Site, tuple[Trunk, ...]]:
    import psycopg

    from appliance.store.db import connect
    from appliance.store.repo import load_snapshot

    try:
        with connect(dsn, autocommit=True) as conn:
            snap = load_snapshot(conn)
    except psycopg.Error as exc:
        raise FirewallError(
            f"cannot read the site's SIP ports from PostgreSQL ({str(exc).strip().splitlines()[0]}); "
            "nothing changed (--no-db renders from the firewall state alone)"
        ) from None
    return snap.site, snap.trunks


def _pg_port(dsn: str) -> int:
    from psycopg.conninfo import conninfo_to_dict

    try:
        return int(conninfo_to_dict(dsn).get("port") or 5432)
    except Exception:  # an unparsable DSN fails where it is used; the default port is the safe guess here
        return 5432


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ValidationFailed([Problem(str(path), "file", f"cannot read: {exc}")]) from None
    if not isinstance(data, dict):
        raise ValidationFailed([Problem(str(path), "file", "the top level must be a mapping")])
    return data
