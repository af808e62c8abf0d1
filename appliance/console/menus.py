# SPDX-License-Identifier: GPL-3.0-or-later
"""IVR menus (with their options), ring groups and call queues."""

from __future__ import annotations

from flask import Blueprint

from appliance.console import pbxpages
from appliance.console.pbxschema import GROUP, IVR, QUEUE

bp = Blueprint("menus", __name__)
pbxpages.register(
    bp,
    IVR,
    "IVR menus",
    ("name", "number", "greeting", "options", "fallback_kind", "fallback"),
    "Menus FreeSWITCH plays itself: keys by RFC 2833 or SIP INFO, then the fallback after the attempts.",
)
pbxpages.register(
    bp, GROUP, "Ring groups", ("name", "number", "members", "strategy", "ring_seconds", "fallback_kind", "fallback")
)
pbxpages.register(
    bp,
    QUEUE,
    "Call queues",
    ("name", "number", "agents", "strategy", "max_wait_seconds", "overflow_kind", "overflow"),
    "Agents log in and out by feature code; waiting callers hear hold music and their position.",
)
