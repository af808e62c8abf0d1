# SPDX-License-Identifier: GPL-3.0-or-later
"""Bring a tunnel to its desired state, or take it down; both are safe to repeat."""

from __future__ import annotations

import logging

from appliance.vpn import interface, keys, peers
from appliance.vpn.model import Tunnel

log = logging.getLogger(__name__)


def up(tunnel: Tunnel) -> list[str]:
    """Create or update the interface, its WireGuard settings, addresses and routes; return the changes."""
    # Check every key file before touching anything, so a missing key leaves no half-made link behind.
    keys.public_key(tunnel.private_key_file)
    for peer in tunnel.peers:
        if peer.preshared_key_file is not None:
            keys.read_preshared_key(peer.preshared_key_file)
    changes = interface.ensure_link(tunnel)
    # Keys and peers before the link goes up, so it never carries traffic with a half-set configuration.
    changes += peers.sync(tunnel)
    changes += interface.sync(tunnel)
    for change in changes:
        log.info("%s: %s", tunnel.interface, change)
    return changes


def down(ifname: str) -> list[str]:
    """Remove the interface, with its peers, addresses and routes; return what was done."""
    return interface.delete(ifname)
