# SPDX-License-Identifier: GPL-3.0-or-later
"""Talk to the live FreeSWITCH from the console: one worker thread, and the dashboard's live state.

The event-socket client is gevent-based. Request threads come and go, and each would grow a gevent
hub of its own; one long-lived worker thread runs every ESL conversation instead, one at a time,
which also means two admins saving at once never deploy concurrently.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from flask import Flask, current_app

from appliance.callcontrol.esl import EslClient, EslError, read_password

log = logging.getLogger(__name__)
T = TypeVar("T")


class FreeswitchWorker:
    """Run FreeSWITCH conversations on one dedicated thread."""

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="console-freeswitch")

    def run(self, fn: Callable[[], T], timeout: float) -> T:
        """Run fn on the worker thread and return its result, or raise its error or TimeoutError."""
        return self._pool.submit(fn).result(timeout)

    def shutdown(self) -> None:
        """Stop the thread once queued work is done."""
        self._pool.shutdown(wait=False)


def worker() -> FreeswitchWorker:
    """Return the app's FreeSWITCH worker."""
    return current_app.extensions["console_freeswitch"]


@dataclass(frozen=True)
class LiveState:
    """What FreeSWITCH says right now: registered SIP accounts and calls in progress."""

    available: bool
    error: str = ""
    registrations: list[dict[str, Any]] = field(default_factory=list)
    calls: list[dict[str, Any]] = field(default_factory=list)


def live_state() -> LiveState:
    """Ask FreeSWITCH (when this console runs beside one) for registrations and calls."""
    if not current_app.config["FREESWITCH_LIVE"]:
        return LiveState(False, "not connected to a live FreeSWITCH (console setting freeswitch_live is off)")
    cfg = current_app.config["APPLIANCE_CONFIG"]
    timeout = float(current_app.config["ESL_TIMEOUT"])
    try:
        return worker().run(lambda: _query(cfg, timeout), timeout * 3)
    except (EslError, OSError, ValueError, TimeoutError) as exc:
        log.warning("live state unavailable: %s", exc)
        return LiveState(False, f"FreeSWITCH did not answer: {exc}")


def _query(cfg: dict[str, Any], timeout: float) -> LiveState:
    fs = cfg["freeswitch"]
    client = EslClient(fs["esl_host"], int(fs["esl_port"]), read_password(fs["esl_password_file"]), timeout)
    client.connect()
    try:
        registrations = _rows(client.api("show registrations as json"))
        calls = _rows(client.api("show calls as json"))
    finally:
        client.close()
    return LiveState(True, registrations=registrations, calls=calls)


def _rows(reply: str) -> list[dict[str, Any]]:
    # `show ... as json` answers {"row_count": 0} when empty and {"row_count": n, "rows": [...]} otherwise.
    try:
        data = json.loads(reply)
    except json.JSONDecodeError:
        raise EslError(f"unexpected reply: {reply.strip()[:120]!r}") from None
    rows = data.get("rows", []) if isinstance(data, dict) else []
    return [r for r in rows if isinstance(r, dict)]


def init_app(app: Flask) -> None:
    """Give the app its worker."""
    app.extensions["console_freeswitch"] = FreeswitchWorker()
