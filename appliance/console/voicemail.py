# SPDX-License-Identifier: GPL-3.0-or-later
"""Voicemail boxes: which extensions take messages, and how many each holds (the PIN is never shown)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
from flask import Blueprint, current_app

from appliance.console import objects, pbxpages, vmcount
from appliance.console.pbxschema import MAILBOX

bp = Blueprint("voicemail", __name__)


def message_counts(conn: psycopg.Connection) -> dict[str, Any]:
    """Add each box's new, saved and total messages to the list."""
    snap = objects.snapshot(conn)
    root = Path(current_app.config["APPLIANCE_CONFIG"]["freeswitch"]["voicemail_dir"])
    found = vmcount.counts(root, snap.site.domain, [m.extension for m in snap.mailboxes])

    def cells(row: dict[str, Any]) -> list[str]:
        c = found.get(row["extension"], vmcount.UNKNOWN)
        return ["?" if v is None else str(v) for v in (c.new, c.saved, c.total)]

    return {"extra_columns": ("New", "Saved", "Messages"), "extra_cells": cells}


pbxpages.register(
    bp,
    MAILBOX,
    "Voicemail",
    ("extension", "on_busy", "on_no_answer"),
    "Each box's PIN is its extension's voicemail PIN (shown only on the extension's page, on demand). "
    "'?' means the message store is not readable by the console.",
    extra=message_counts,
)
