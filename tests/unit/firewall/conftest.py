# SPDX-License-Identifier: GPL-3.0-or-later
"""A policy like a real office's: one LAN, a WAN uplink, WireGuard to the hub, one direct carrier."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from appliance.firewall.model import Policy, parse


def office_policy(**overrides) -> Policy:
    """Return the reference policy; keyword arguments override its fields."""
    data = {
        "table": "appliance",
        "wan_interfaces": ["eth0"],
        "lan_interfaces": ["eth1"],
        "tunnel_interfaces": ["wg0"],
        "lan_networks": ["192.168.10.0/24", "fd10::/64"],
        "trunk_addresses": ["203.0.113.10", "198.51.100.0/28"],
        "wireguard_port": 51820,
        "console_port": 8443,
        "sip_port": 5070,
        "sip_tls_port": 5071,
        "external_sip_port": 5090,
        "rtp_start": 20000,
        "rtp_end": 20999,
    }
    return parse(data | overrides)


@pytest.fixture
def policy() -> Policy:
    return office_policy()


def nft_check(ruleset: str) -> subprocess.CompletedProcess:
    """Have nft dry-run the ruleset in a new, empty network namespace (never the host's)."""
    return subprocess.run(
        ["unshare", "--net", "nft", "-c", "-f", "-"], input=ruleset, capture_output=True, text=True, timeout=30
    )


def can_check() -> str | None:
    """Return why nft cannot check rulesets here, or None."""
    if os.geteuid() != 0:
        return "not root: nft cannot check rulesets in the kernel"
    for tool, package in (("nft", "nftables"), ("unshare", "util-linux")):
        if shutil.which(tool) is None:
            return f"{tool} not found (apt-get install {package})"
    return None
