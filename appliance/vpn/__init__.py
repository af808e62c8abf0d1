# SPDX-License-Identifier: GPL-3.0-or-later
"""The WireGuard link from each appliance (spoke) to its fleet hub, and the hub's side of it.

`model` says what the tunnel should be, `keys` makes the keys on the device, `interface` (pyroute2)
and `peers` (wireguard-tools) make the live interface match, `apply` runs both, `health` reports each
peer's handshake and counters, `cli` is `appliance vpn`. See docs/vpn.md.
"""

from __future__ import annotations


class VpnError(RuntimeError):
    """The tunnel could not be read or changed; the message says what and why."""
