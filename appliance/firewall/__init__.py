# SPDX-License-Identifier: GPL-3.0-or-later
"""The appliance's nftables firewall and the SIP guard that bans scanners.

`model` says what may come in, `sources` gathers it (firewall state, VPN state, the site in PostgreSQL),
`render` writes one `table inet appliance`, `nft` checks and loads it atomically, `cli` is
`appliance firewall`; `events` and `tracker` decide bans and trust from FreeSWITCH's registration
events and `guard` is the daemon that applies them. See docs/firewall.md.
"""

from __future__ import annotations


class FirewallError(RuntimeError):
    """nftables refused a ruleset or a set change; the message says what and why."""
