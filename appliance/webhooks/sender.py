# SPDX-License-Identifier: GPL-3.0-or-later
"""Send due deliveries, signed; retry failures with exponential backoff, give up after a limit."""

from __future__ import annotations

import http.client
import json
import logging
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import psycopg

from appliance.webhooks import signing, store

log = logging.getLogger(__name__)

# post(url, body, headers, timeout) -> HTTP status; raises OSError (or http.client's errors) on failure.
Post = Callable[[str, bytes, Mapping[str, str], float], int]


@dataclass(frozen=True)
class Policy:
    """How hard to try: per-request timeout, backoff and the attempt limit."""

    timeout: float = 5.0
    backoff_base: float = 10.0  # seconds before the 2nd attempt; doubles each time
    backoff_max: float = 3600.0
    max_attempts: int = 12  # about 5.5 hours of trying with the defaults

    def retry_delay(self, attempts: int) -> float:
        """Return the wait after the attempts-th failed attempt."""
        return min(self.backoff_base * 2 ** (attempts - 1), self.backoff_max)


def body_of(payload: Mapping) -> bytes:
    """Return the exact bytes that are signed and sent."""
    return json.dumps(payload, separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode("utf-8")


def http_post(url: str, body: bytes, headers: Mapping[str, str], timeout: float) -> int:
    """POST body to url and return the status; redirects are not followed (the signature is for this URL)."""
    parts = urlsplit(url)
    if parts.scheme == "https":
        conn: http.client.HTTPConnection = http.client.HTTPSConnection(
            parts.hostname, parts.port, timeout=timeout, context=ssl.create_default_context()
        )
    else:
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        conn.request("POST", path, body=body, headers={**headers, "User-Agent": "appliance-webhooks/1"})
        response = conn.getresponse()
        response.read(65536)  # drain a little so the connection closes cleanly; the body is not used
        return response.status
    finally:
        conn.close()


def send_due(
    conn: psycopg.Connection, now: datetime, policy: Policy = Policy(), post: Post = http_post, limit: int = 20
) -> dict[str, int]:
    """Send every delivery due at now (up to limit); return counts of delivered, retried and given up."""
    counts = {"delivered": 0, "retry": 0, "gave_up": 0}
    lease = timedelta(seconds=policy.timeout * 2 + 5)
    for due in store.claim_due(conn, now, lease, limit):
        body = body_of(due.payload)
        headers = signing.headers(due.secret, int(now.timestamp()), body, due.event_id, due.event_type)
        status: int | None = None
        try:
            status = post(due.url, body, headers, policy.timeout)
            error = "" if 200 <= status < 300 else f"HTTP {status}"
        except (OSError, http.client.HTTPException, ValueError) as exc:
            error = f"{type(exc).__name__}: {exc}"
        if not error:
            store.delivered(conn, due.id, now, status or 0)
            counts["delivered"] += 1
            continue
        attempts = due.attempts + 1
        if attempts >= policy.max_attempts:
            log.warning(
                "webhook %s: giving up on %s after %d attempts (%s)", due.webhook, due.event_id, attempts, error
            )
            store.failed(conn, due.id, status, error, None, now)
            counts["gave_up"] += 1
        else:
            delay = policy.retry_delay(attempts)
            log.info("webhook %s: %s failed (%s); retry in %.0f s", due.webhook, due.event_id, error, delay)
            store.failed(conn, due.id, status, error, now + timedelta(seconds=delay), now)
            counts["retry"] += 1
    return counts
