# SPDX-License-Identifier: GPL-3.0-or-later
"""The `appliance vpn` commands; `appliance.cli` parses the words and calls these with (args, cfg).

The desired state comes from `--state FILE` (YAML or JSON), else the `vpn` section of the layered
configuration when it has one, else /etc/appliance/vpn.yml.
"""

from __future__ import annotations

import argparse
import ipaddress
from pathlib import Path
from typing import Any

from appliance.vpn import VpnError, apply, health, interface, keys, model


def keygen(args: argparse.Namespace, cfg: dict[str, Any]) -> dict[str, Any]:
    """Create the private key unless it exists; return the public key to enrol."""
    path = _key_path(args, cfg)
    created = keys.ensure_private_key(path)
    return {"private_key_file": str(path), "created": created, "public_key": keys.public_key(path)}


def pskgen(args: argparse.Namespace, cfg: dict[str, Any]) -> dict[str, Any]:
    """Create a preshared key file unless it exists (never print the key)."""
    return {"preshared_key_file": str(args.key), "created": keys.ensure_preshared_key(args.key)}


def pubkey(args: argparse.Namespace, cfg: dict[str, Any]) -> Any:
    """Return the public key (the only key that leaves the box)."""
    key = keys.public_key(_key_path(args, cfg))
    return {"public_key": key} if args.json else key


def up(args: argparse.Namespace, cfg: dict[str, Any]) -> dict[str, Any]:
    """Apply the desired state."""
    tunnel = _tunnel(args, cfg)
    return {"interface": tunnel.interface, "changes": apply.up(tunnel)}


def check(args: argparse.Namespace, cfg: dict[str, Any]) -> dict[str, Any]:
    """Validate the desired state (every problem at once, exit 2) and summarise it; nothing is applied."""
    tunnel = _tunnel(args, cfg)
    return {"interface": tunnel.interface, "role": tunnel.role, "peers": [p.name for p in tunnel.peers]}


def down(args: argparse.Namespace, cfg: dict[str, Any]) -> dict[str, Any]:
    """Remove the interface."""
    data, _, _ = _state(args, cfg, required=False)
    ifname = args.interface or str(data.get("interface", "wg0"))
    return {"interface": ifname, "changes": apply.down(ifname)}


def status(args: argparse.Namespace, cfg: dict[str, Any]) -> Any:
    """Return the interface's and each peer's health."""
    data, base, source = _state(args, cfg, required=False)
    ifname = args.interface or str(data.get("interface", "wg0"))
    kind = interface.implementation(ifname)
    if kind is None:
        raise VpnError(f"{ifname} is not up (appliance vpn up)")
    try:
        names = model.names(model.parse(data, base, source).peers) if data else {}
    except ValueError:
        names = {}  # a broken state file must not hide the live tunnel's health
    peers = list(health.status(ifname, names).values())
    if args.json:
        return {**health.interface_status(ifname), "implementation": kind, "peers": peers}
    return [
        {
            "name": p["name"] or p["public_key"][:8] + "…",
            "endpoint": p["endpoint"] or "",
            "allowed_ips": p["allowed_ips"],
            "handshake": "never" if p["handshake_age"] is None else f"{p['handshake_age']:.0f}s ago",
            "rx": p["rx_bytes"],
            "tx": p["tx_bytes"],
            "state": p["state"],
        }
        for p in peers
    ]


def add_peer(args: argparse.Namespace, cfg: dict[str, Any]) -> dict[str, Any]:
    """Enrol an appliance on the hub: write it to the peers file and apply when the tunnel is up."""
    tunnel = _tunnel(args, cfg)
    if tunnel.role != "hub":
        raise VpnError(f"add-peer is for the hub; {tunnel.source} is a {tunnel.role}")
    psk = args.psk_file or tunnel.psk_dir / f"{args.name}.psk"
    if args.psk_file is None:
        keys.ensure_preshared_key(psk)
    peer = model.Peer(
        name=args.name,
        public_key=args.public_key,
        allowed_ips=tuple(_host_networks(args.allowed_ip)),
        preshared_key_file=psk,
        endpoint=args.endpoint,
        persistent_keepalive=args.keepalive,
    )
    updated = model.with_peer(tunnel, peer)
    model.save_peers_file(updated)
    changes = _apply_if_up(updated, args)
    return {"peer": peer.name, "preshared_key_file": str(psk), "changes": changes}


def remove_peer(args: argparse.Namespace, cfg: dict[str, Any]) -> dict[str, Any]:
    """Remove an enrolled appliance from the hub, and its generated preshared key."""
    tunnel = _tunnel(args, cfg)
    peer = tunnel.peer(args.name)
    updated = model.without_peer(tunnel, args.name)
    model.save_peers_file(updated)
    changes = _apply_if_up(updated, args)
    generated = tunnel.psk_dir / f"{args.name}.psk"
    if peer is not None and peer.preshared_key_file == generated:
        generated.unlink(missing_ok=True)
    return {"removed": args.name, "changes": changes}


# -- helpers --------------------------------------------------------------------------------------


def _apply_if_up(tunnel: model.Tunnel, args: argparse.Namespace) -> list[str]:
    if args.no_apply or interface.index(tunnel.interface) is None:
        return []
    return apply.up(tunnel)


def _host_networks(values: list[str]) -> list[str]:
    """Accept 10.200.0.7 or 10.200.0.7/32 for an appliance's tunnel address."""
    out = []
    for value in values:
        try:
            out.append(str(ipaddress.ip_network(value)))
        except ValueError:
            out.append(value)  # model validation names the bad value
    return out


def _tunnel(args: argparse.Namespace, cfg: dict[str, Any]) -> model.Tunnel:
    data, base, source = _state(args, cfg, required=True)
    return model.parse(data, base, source)


def _key_path(args: argparse.Namespace, cfg: dict[str, Any]) -> Path:
    if args.key:
        return args.key
    data, base, _ = _state(args, cfg, required=False)
    return model.private_key_path(data, base)


def _state(args: argparse.Namespace, cfg: dict[str, Any], required: bool) -> tuple[dict[str, Any], Path, str]:
    """Return the raw desired state, the folder its relative paths start from, and where it came from."""
    if args.state is not None:
        return model.read_file(args.state), args.state.parent, str(args.state)
    section = cfg.get("vpn")
    if section:
        base = (args.config or model.DEFAULT_STATE_PATH).parent
        return dict(section), base, "the vpn section of the configuration"
    if model.DEFAULT_STATE_PATH.is_file():
        return model.read_file(model.DEFAULT_STATE_PATH), model.DEFAULT_STATE_PATH.parent, str(model.DEFAULT_STATE_PATH)
    if required:
        raise VpnError(f"no desired state: give --state FILE or write {model.DEFAULT_STATE_PATH}")
    return {}, model.DEFAULT_STATE_PATH.parent, "defaults"
