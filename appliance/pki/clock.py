# SPDX-License-Identifier: GPL-3.0-or-later
"""Tell the time: every CA function takes `now`, so tests inject a clock and never sleep."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cryptography import x509

from appliance.pki.errors import PkiError

# Certificates start a few minutes before they are made, so a device whose clock is a little behind
# does not refuse a certificate that is seconds old. Their lifetime counts from this start.
BACKDATE = timedelta(minutes=5)


def utc(now: datetime | None = None) -> datetime:
    """Return now (or the given time) as an aware UTC time in whole seconds, as certificates hold it."""
    if now is None:
        now = datetime.now(UTC)
    elif now.tzinfo is None:
        raise ValueError("give an aware datetime (tzinfo=UTC), not a naive one")
    return now.astimezone(UTC).replace(microsecond=0)


def check_valid(cert: x509.Certificate, now: datetime, what: str) -> None:
    """Refuse to use a CA certificate outside its validity, saying which and when."""
    if now < cert.not_valid_before_utc - BACKDATE:
        raise PkiError(f"{what} is not valid before {cert.not_valid_before_utc} (is this machine's clock right?)")
    if now >= cert.not_valid_after_utc:
        raise PkiError(f"{what} expired on {cert.not_valid_after_utc}")
