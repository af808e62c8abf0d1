# SPDX-License-Identifier: GPL-3.0-or-later
"""The console's settings: defaults, overlaid by the `console` section of the appliance configuration.

Plain data, no Flask import: the `appliance` command reads these on every run.
"""

from __future__ import annotations

import copy
from typing import Any

DEFAULTS: dict[str, Any] = {
    # Development default: loopback only. On the box Ansible sets the LAN and tunnel addresses.
    "bind": "127.0.0.1",
    "port": 8443,
    # The console's certificate and key (pki profile `console`); empty means "give --cert/--key".
    "cert": "",
    "key": "",
    # Signs session cookies; made on first start, 0600, never leaves the box.
    "secret_key_file": "/var/lib/appliance/secrets/console_secret_key",
    # True when this box runs FreeSWITCH: changes are applied at once and the dashboard asks ESL.
    "freeswitch_live": False,
    "signin_max_failures": 5,
    "signin_lock_seconds": 60,
    "session_hours": 8,
    "esl_timeout": 2.0,
    # Idle PostgreSQL connections kept between requests (0: a new connection per request).
    "db_pool_size": 4,
}


def settings(cfg: dict[str, Any]) -> dict[str, Any]:
    """Return the console settings: DEFAULTS overlaid by cfg['console'] when the configuration has one."""
    merged = copy.deepcopy(DEFAULTS)
    merged.update(cfg.get("console") or {})
    return merged
