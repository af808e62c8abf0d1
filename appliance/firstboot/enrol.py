# SPDX-License-Identifier: GPL-3.0-or-later
"""Enrolment with the fleet hub: what first boot logs when a hub is configured.

Enrolment is the fleet's Ansible run `ansible/enrol.yml` (docs/fleet.md): it carries this box's
WireGuard public key and its intermediate CA's request to the hub, and brings back the hub's public
key, this box's preshared key and the signed intermediate. First boot makes the key and the request
and logs them, so the person on site sees what the hub will receive; it does not wait for the hub.
"""

from __future__ import annotations

import logging
from pathlib import Path

log = logging.getLogger(__name__)


def enrol(hub_url: str, wireguard_public_key: str | None, intermediate_request: Path | None) -> bool:
    """Log what waits for enrolment with the hub at hub_url; return whether anything waits."""
    if not hub_url:
        log.info("enrolment: skipped (standalone: no hub configured)")
        return False
    log.info(
        "enrolment with %s waits for the fleet's ansible/enrol.yml: WireGuard public key %s, intermediate request %s",
        hub_url,
        wireguard_public_key or "(none)",
        intermediate_request or "(none)",
    )
    return True
