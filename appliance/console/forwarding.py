# SPDX-License-Identifier: GPL-3.0-or-later
"""Forwarding rules and business-hours schedules (with holidays): where calls go, and when."""

from __future__ import annotations

from flask import Blueprint

from appliance.console import pbxpages
from appliance.console.pbxschema import FORWARD, SCHEDULE

bp = Blueprint("forwarding", __name__)
pbxpages.register(
    bp,
    FORWARD,
    "Forwarding rules",
    ("rule", "extension", "condition", "destination_kind", "destination", "callers", "schedule", "during"),
    "Per extension and condition the first matching rule wins (by caller, by schedule); loops are refused.",
)
pbxpages.register(
    bp,
    SCHEDULE,
    "Schedules",
    ("name", "ranges", "holidays", "open_kind", "open_destination", "closed_kind", "closed_destination", "timezone"),
    "Open hours per weekday and holidays (closed all day); inbound numbers and forwarding rules use them.",
)
