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
    # Whole hours from the rollup (migration 0008); the part of the first hour from the CDRs, so
    # the window starts exactly TRACKING_DAYS days ago, as it did when it was counted row by row.
    rows = conn.execute(
        "WITH edge AS (SELECT date_trunc('hour', %(since)s::timestamptz AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'"
        " + interval '1 hour' AS hour),"
        " counted AS ("
        "  SELECT did, sum(calls) AS calls, sum(calls) FILTER (WHERE answered) AS answered"
        "  FROM cdr_hourly WHERE hour >= (SELECT hour FROM edge) AND did <> '' GROUP BY did"
        "  UNION ALL"
        "  SELECT did, count(*), count(answered_at) FROM cdrs"
        "  WHERE started_at >= %(since)s AND started_at < (SELECT hour FROM edge) AND did <> '' GROUP BY did)"
        " SELECT did, sum(calls)::bigint AS calls, coalesce(sum(answered), 0)::bigint AS answered"
        " FROM counted GROUP BY did",
        {"since": since},
    ).fetchall()
    return {"tracking": {r["did"]: r for r in rows}, "tracking_days": TRACKING_DAYS}


crud.register(bp, NUMBER, "numbers/list.html", list_extra=tracking)
