# SPDX-License-Identifier: GPL-3.0-or-later
"""The console's notion of now, injected through the app's config so tests never sleep."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import current_app


def system_now() -> datetime:
    """Return the current time in UTC."""
    return datetime.now(UTC)


def now() -> datetime:
    """Return the app's current time (config CLOCK, a callable returning an aware datetime)."""
    return current_app.config["CLOCK"]()
