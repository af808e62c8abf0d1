# SPDX-License-Identifier: GPL-3.0-or-later
"""Sign a webhook body, and check a signature the way a receiver should (replay-safe).

The signature covers the timestamp and the exact body bytes: `v1=` + hex HMAC-SHA256 of
`<timestamp>.<body>` under the webhook's secret (the scheme Stripe and Slack use). A receiver
refuses a timestamp outside its tolerance, so a captured request cannot be replayed later, and
remembers event ids it has seen, so a replay inside the window (or our own retry) is done once.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping

SIGNATURE_HEADER = "X-Appliance-Signature"
TIMESTAMP_HEADER = "X-Appliance-Timestamp"
EVENT_ID_HEADER = "X-Appliance-Event-Id"
EVENT_HEADER = "X-Appliance-Event"
VERSION = "v1"
TOLERANCE_SECONDS = 300
MIN_SECRET_LENGTH = 16


class SignatureError(ValueError):
    """A request whose signature or timestamp does not hold; the message says which."""


def new_secret() -> str:
    """Return a fresh random secret (256 bits, URL-safe text)."""
    return "whsec_" + secrets.token_urlsafe(32)


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """Return the signature header value for this body sent at this Unix time."""
    mac = hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"{VERSION}={mac.hexdigest()}"


def headers(secret: str, timestamp: int, body: bytes, event_id: str, event: str) -> dict[str, str]:
    """Return the headers that go with a signed delivery."""
    return {
        "Content-Type": "application/json",
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: signature(secret, timestamp, body),
        EVENT_ID_HEADER: event_id,
        EVENT_HEADER: event,
    }


def verify(
    secret: str, received: Mapping[str, str], body: bytes, now: float, tolerance: float = TOLERANCE_SECONDS
) -> int:
    """Return the request's timestamp if its signature is right and the timestamp recent; else raise."""
    raw_ts = received.get(TIMESTAMP_HEADER, "")
    try:
        timestamp = int(raw_ts)
    except ValueError:
        raise SignatureError(f"{TIMESTAMP_HEADER} is missing or not an integer: {raw_ts!r}") from None
    if abs(now - timestamp) > tolerance:
        raise SignatureError(f"timestamp {timestamp} is more than {tolerance:g} s from now ({now:.0f}): a replay?")
    expected = signature(secret, timestamp, body)
    # A header may carry several signatures (during a secret rotation); any one that matches will do.
    offered = [s.strip() for s in received.get(SIGNATURE_HEADER, "").split(",") if s.strip()]
    if not any(hmac.compare_digest(expected, s) for s in offered):
        raise SignatureError(f"{SIGNATURE_HEADER} does not match the body")
    return timestamp
