# SPDX-License-Identifier: GPL-3.0-or-later
"""Inbound numbers (DIDs): where each one rings and how many calls its campaign brought."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import psycopg
from flask import Blueprint

from appliance.console import clock, crud
from appliance.console.schema import NUMBER

bp = Blueprint("numbers", __name__)

TRACKING_DAYS = 30


def tracking(conn: psycopg.Connection) -> dict[str, Any]:
    """Return calls and answered calls per inbound number over the last TRACKING_DAYS days."""
    since = clock.now() - timedelta(days=TRACKING_DAYS)
    rows = conn.execute(
        "SELECT did, count(*) AS calls, count(answered_at) AS answered FROM cdrs"
        " WHERE started_at >= %s AND did <> '' GROUP BY did",
        (since,),
    ).fetchall()
    return {"tracking": {r["did"]: r for r in rows}, "tracking_days": TRACKING_DAYS}


crud.register(bp, NUMBER, "numbers/list.html", list_extra=tracking)
