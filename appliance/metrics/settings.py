# SPDX-License-Identifier: GPL-3.0-or-later
"""The `metrics` section of the layered configuration, and where the exporter listens."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any

# The same values belong in appliance.config.DEFAULTS["metrics"]; kept here too so the exporter
# works with a configuration that predates the section.
DEFAULTS: dict[str, Any] = {
    # An address, or "tunnel" for the first address of the vpn section (the appliance's WireGuard address).
    "listen_address": "127.0.0.1",
    "port": 9478,
    # How often FreeSWITCH is polled over ESL (active calls, registrations, trunks, round-trip time).
    "poll_seconds": 5.0,
    # The encrypted data volume's mount point and the marker the storage package writes on it.
    "data_mount": "/var/lib/appliance",
    "storage_marker": "/var/lib/appliance/.storage-mode",
}


def section(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """Return the metrics settings: the defaults overlaid with the configuration's section."""
    return {**DEFAULTS, **(cfg.get("metrics") or {})}


def listen_address(value: str, cfg: Mapping[str, Any]) -> str:
    """Return the address to bind: the value itself, or the tunnel's own address for "tunnel"."""
    if value != "tunnel":
        return value
    addresses = (cfg.get("vpn") or {}).get("addresses") or []
    if not addresses:
        raise ValueError("metrics.listen_address is 'tunnel' but the vpn section has no addresses")
    # The spoke's address is written with its network (10.200.0.7/16); bind the address alone.
    return str(ipaddress.ip_interface(addresses[0]).ip)
