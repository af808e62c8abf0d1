# SPDX-License-Identifier: GPL-3.0-or-later
"""The dashboard: what is configured, who is registered, what is ringing, how busy the line was."""

from __future__ import annotations

from datetime import UTC
from typing import Any

from flask import Blueprint, render_template

from appliance.console import chart, clock, healthview, objects
from appliance.console.db import get_conn
from appliance.console.freeswitch import LiveState, live_state
from appliance.model import Snapshot

bp = Blueprint("dashboard", __name__)


@bp.route("/")
def index() -> Any:
    """Show counts, live registrations and calls, and call volume over the last day and week."""
    conn = get_conn()
    snap = objects.snapshot(conn)
    now = clock.now().astimezone(UTC)
    live = live_state()
    day, week = chart.last_day(conn, now), chart.last_week(conn, now)
    return render_template(
        "dashboard/index.html",
        counts={
            "extensions": len(snap.extensions),
            "devices": len(snap.devices),
            "trunks": len(snap.trunks),
            "numbers": len(snap.inbound_numbers),
            "routes": len(snap.outbound_routes),
        },
        live=live,
        health=healthview.tiles(snap),
        registered=_registered(snap, live),
        day_chart=chart.svg(day, "Calls per hour, last 24 hours (UTC)"),
        week_chart=chart.svg(week, "Calls per day, last 7 days (UTC)"),
        day_total=sum(b.total for b in day),
        week_total=sum(b.total for b in week),
    )


def _registered(snap: Snapshot, live: LiveState) -> list[dict[str, str]]:
    """Name each registration after the extension or device port it belongs to."""
    owners = {e.number: f"extension {e.number} ({e.name})" for e in snap.extensions}
    for dev in snap.devices:
        for line in dev.lines:
            kind = "FXS port" if dev.kind == "fxs_gateway" else "line"
            owners[line.sip_username] = f"{dev.name} {kind} {line.port} → {line.extension}"
    return [
        {
            "user": str(r.get("reg_user", "")),
            "owner": owners.get(str(r.get("reg_user", "")), "unknown account"),
            "address": f"{r.get('network_ip', '')}:{r.get('network_port', '')}",
            "transport": str(r.get("network_proto", "")),
            "agent": str(r.get("agent", r.get("url", ""))),
        }
        for r in live.registrations
    ]
