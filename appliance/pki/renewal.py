# SPDX-License-Identifier: GPL-3.0-or-later
"""Renew certificates once two thirds of their life has passed (day 20 of a 30-day certificate)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

from cryptography import x509

from appliance.pki import clock
from appliance.pki.errors import PkiError
from appliance.pki.issue import sign_into
from appliance.pki.profiles import profile
from appliance.pki.store import CaStore, CertRecord, Index

log = logging.getLogger(__name__)

RENEW_NUMERATOR, RENEW_DENOMINATOR = 2, 3


def renew_after(not_before: datetime, not_after: datetime) -> datetime:
    """Return the moment a certificate with this validity becomes due for renewal."""
    return not_before + (not_after - not_before) * RENEW_NUMERATOR / RENEW_DENOMINATOR


def needs_renewal(cert: x509.Certificate, now: datetime) -> bool:
    """Tell whether two thirds of the certificate's life have passed (or it has expired)."""
    return clock.utc(now) >= renew_after(cert.not_valid_before_utc, cert.not_valid_after_utc)


def status(record: CertRecord, now: datetime) -> str:
    """Return revoked, expired, superseded, due (for renewal) or valid."""
    if record.revoked_at is not None:
        return "revoked"
    if now >= record.not_after:
        return "expired"
    if record.superseded_by:
        return "superseded"
    if now >= renew_after(record.not_before, record.not_after):
        return "due"
    return "valid"


def current(index: Index) -> list[CertRecord]:
    """Return the leaf certificates in use: neither revoked nor renewed already (expired ones included)."""
    return [r for r in index.records if r.revoked_at is None and not r.superseded_by and r.profile != "intermediate"]


def due(index: Index, now: datetime) -> list[CertRecord]:
    """Return the current certificates that need renewal now."""
    now = clock.utc(now)
    return [r for r in current(index) if now >= renew_after(r.not_before, r.not_after)]


def renew(store: CaStore, serial: str, *, now: datetime | None = None, crl_url: str | None = None) -> CertRecord:
    """Issue the successor of one certificate (same profile and names; a new key if the CA holds the key)."""
    with store.transaction() as index:
        return _renew(store, index, index.find(serial), clock.utc(now), crl_url)


@dataclass
class Renewals:
    """What `renew_due` did: (old, new) pairs, and the serials it could not renew with the reason."""

    renewed: list[tuple[CertRecord, CertRecord]] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)


def renew_due(
    store: CaStore, *, now: datetime | None = None, crl_url: str | None = None, everything: bool = False
) -> Renewals:
    """Renew every due certificate (with everything, every unexpired one); one failure does not stop the rest."""
    now = clock.utc(now)
    result = Renewals()
    with store.transaction() as index:
        todo = [r for r in current(index) if r.not_after > now] if everything else due(index, now)
        for record in todo:
            try:
                result.renewed.append((record, _renew(store, index, record, now, crl_url)))
            except PkiError as exc:
                log.error("cannot renew %s certificate %s: %s", record.profile, record.serial, exc)
                result.failed.append((record.serial, str(exc)))
    return result


def _renew(store: CaStore, index: Index, old: CertRecord, now: datetime, crl_url: str | None) -> CertRecord:
    if old.revoked_at is not None:
        raise PkiError(f"certificate {old.serial} is revoked; issue a new one instead of renewing it")
    if old.superseded_by:
        raise PkiError(f"certificate {old.serial} was already renewed as {old.superseded_by}")
    # A key the CA made is replaced; a key it never held (a phone's request) is certified again.
    public_key = None if old.key_held else store.issued(old.serial).public_key()
    new = sign_into(store, index, profile(old.profile), old.names, public_key, now=now, crl_url=crl_url)
    new.renewal_of = old.serial
    old.superseded_by = new.serial
    log.info("renewed %s certificate %s as %s", old.profile, old.serial, new.serial)
    return new
