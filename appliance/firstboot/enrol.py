# SPDX-License-Identifier: GPL-3.0-or-later
"""Enrolment with the fleet hub: the hook first boot calls when a hub is configured.

What enrolment will carry (the security stack and the hub role build it): the WireGuard public
key (`appliance vpn pubkey`) and the intermediate's request go to the hub over an authenticated
channel; the hub answers with the tunnel's address, its own public key and the preshared key, and
the signed intermediate with the fleet root. Until then first boot logs what waits and goes on.
"""

from __future__ import annotations

import logging
from pathlib import Path

log = logging.getLogger(__name__)


def enrol(hub_url: str, wireguard_public_key: str | None, intermediate_request: Path | None) -> bool:
    """Enrol this box with the hub at hub_url; return whether it is enrolled."""
    if not hub_url:
        log.info("enrolment: skipped (standalone: no hub configured)")
        return False
    log.warning(
        "enrolment with %s is not implemented yet: WireGuard public key %s and intermediate request %s wait "
        "for the hub (enrol by hand: docs/firstboot.md)",
        hub_url,
        wireguard_public_key or "(none)",
        intermediate_request or "(none)",
    )
    return False
