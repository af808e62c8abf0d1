# SPDX-License-Identifier: GPL-3.0-or-later
"""After a saved change: apply FreeSWITCH's configuration now, or say who will.

Kept apart from the views on purpose: the change is committed before this runs, so a FreeSWITCH
that refuses or is down never undoes a valid change; it only changes what the admin is told.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import psycopg
from flask import current_app

from appliance.console.freeswitch import worker
from appliance.store.repo import load_snapshot

log = logging.getLogger(__name__)

DEFERRED = (
    "the configuration will be applied by `appliance config apply` (this console is not connected to a live FreeSWITCH)"
)


# A profile restart during reload can take this long; the admin waits for the answer.
APPLY_TIMEOUT = 120.0


@dataclass(frozen=True)
class Applied:
    """What became of the configuration after a change."""

    ok: bool
    live: bool
    message: str
    release: str = ""


def apply_configuration(conn: psycopg.Connection) -> Applied:
    """Render, check, swap and reload when the console runs beside FreeSWITCH; otherwise defer."""
    if not current_app.config["FREESWITCH_LIVE"]:
        return Applied(True, False, DEFERRED)
    from appliance.fsconf import service  # the renderer loads only on boxes that use it

    cfg, snapshot = current_app.config["APPLIANCE_CONFIG"], load_snapshot(conn)
    try:
        result = worker().run(lambda: service.apply(cfg, snapshot), APPLY_TIMEOUT)
    except Exception as exc:
        # Whatever FreeSWITCH or the renderer said, the change is saved and the last good
        # configuration keeps running; the admin must see why, in words.
        log.warning("configuration not applied: %s", exc)
        return Applied(False, True, f"the configuration was NOT applied, the previous one stays: {exc}")
    log.info("configuration release %s applied", result["release"])
    return Applied(True, True, f"configuration applied (release {result['release']})", result["release"])
