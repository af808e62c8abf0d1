# SPDX-License-Identifier: GPL-3.0-or-later
"""The console's main navigation: one entry per area, in order.

An area added by another blueprint (forwarding, IVR, queues, voicemail, ...) adds one line here,
(endpoint, label, path prefix), and registers its blueprint in create_app; an entry whose endpoint
is not registered is left out, so a half-merged area never breaks every page.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, current_app, request

NAV: list[tuple[str, str, str]] = [
    ("dashboard.index", "Dashboard", "/"),
    ("extensions.extension_list", "Extensions", "/extensions"),
    ("extensions.device_list", "Devices", "/devices"),
    ("trunks.trunk_list", "Trunks", "/trunks"),
    ("numbers.number_list", "Numbers", "/numbers"),
    ("routes.route_list", "Routes", "/routes"),
    ("tracking.index", "Tracking", "/tracking"),
    ("forwarding.forward_list", "Forwarding", "/forwards"),
    ("forwarding.schedule_list", "Schedules", "/schedules"),
    ("menus.ivr_list", "IVR", "/ivrs"),
    ("menus.group_list", "Groups", "/groups"),
    ("menus.queue_list", "Queues", "/queues"),
    ("voicemail.mailbox_list", "Voicemail", "/mailboxes"),
    ("recordings.index", "Recordings", "/recordings"),
    ("cdrs.search", "Calls", "/cdrs"),
    ("webhooks.index", "Webhooks", "/webhooks"),
    ("system.settings", "System", "/system"),
    ("access.index", "Access", "/access"),
]


def entries() -> list[dict[str, Any]]:
    """Return the navigation entries whose endpoints exist, marking the current area."""
    known = current_app.view_functions
    out = []
    for endpoint, label, prefix in NAV:
        if endpoint not in known:
            continue
        current = request.path == "/" if prefix == "/" else request.path.startswith(prefix)
        out.append({"endpoint": endpoint, "label": label, "current": current})
    return out


def init_app(app: Flask) -> None:
    """Offer `nav_entries()` to every template."""
    app.context_processor(lambda: {"nav_entries": entries})
