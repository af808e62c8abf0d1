# SPDX-License-Identifier: GPL-3.0-or-later
"""Revoke certificates by serial and publish the CA's certificate revocation list.

The intermediate's CRL lists revoked leaf certificates (for phones and the console's clients); the
root's CRL lists revoked intermediates (for the hub and anyone checking the whole chain). Each is
written to the CA's public/ directory as DER (`<ca>.crl`, what phones fetch) and PEM (`<ca>.crl.pem`).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from appliance import files
from appliance.pki import clock, extensions, keys
from appliance.pki.errors import PkiError
from appliance.pki.store import CaStore, CertRecord, Index

log = logging.getLogger(__name__)

# An intermediate's CRL is refreshed by the daily renewal run; the root's by the hub.
CRL_DAYS = {"intermediate": 7, "root": 30}
REASONS = tuple(
    r.value for r in x509.ReasonFlags if r not in (x509.ReasonFlags.remove_from_crl, x509.ReasonFlags.unspecified)
)


def build_crl(
    issuer: x509.Certificate,
    issuer_key: keys.PrivateKey,
    revoked: list[CertRecord],
    number: int,
    *,
    now: datetime,
    days: int,
) -> x509.CertificateRevocationList:
    """Return a CRL signed by the issuer listing the revoked records."""
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(issuer.subject)
        .last_update(now - clock.BACKDATE)
        .next_update(now + timedelta(days=days))
        .add_extension(x509.CRLNumber(number), critical=False)
        .add_extension(extensions.authority_key_id(issuer), critical=False)
    )
    for record in revoked:
        entry = x509.RevokedCertificateBuilder().serial_number(int(record.serial, 16))
        entry = entry.revocation_date(record.revoked_at)
        if record.reason:
            entry = entry.add_extension(x509.CRLReason(x509.ReasonFlags(record.reason)), critical=False)
        builder = builder.add_revoked_certificate(entry.build())
    return builder.sign(issuer_key, keys.signing_hash(issuer_key))


def publish_crl(
    store: CaStore, *, now: datetime | None = None, days: int | None = None, passphrase: bytes | None = None
) -> x509.CertificateRevocationList:
    """Sign a fresh CRL with the store's CA and write it to public/ (DER and PEM)."""
    with store.transaction() as index:
        return _publish(store, index, clock.utc(now), days, passphrase)


def _publish(
    store: CaStore, index: Index, now: datetime, days: int | None, passphrase: bytes | None
) -> x509.CertificateRevocationList:
    days = CRL_DAYS[store.kind] if days is None else days
    if days < 1:
        raise PkiError(f"a CRL must be valid for at least one day, not {days}")
    issuer, issuer_key = store.ca_cert(), store.ca_key(passphrase)
    # Entries stay until the certificate has expired; after that no verifier would accept it anyway.
    revoked = [r for r in index.records if r.revoked_at is not None and r.not_after > now]
    index.crl_number += 1
    crl = build_crl(issuer, issuer_key, revoked, index.crl_number, now=now, days=days)
    files.write_atomic(store.crl_path, crl.public_bytes(serialization.Encoding.DER), 0o644)
    files.write_atomic(store.crl_pem_path, crl.public_bytes(serialization.Encoding.PEM), 0o644)
    log.info("published CRL %d of the %s CA listing %d certificates", index.crl_number, store.kind, len(revoked))
    return crl


def revoke(
    store: CaStore,
    serial: str,
    *,
    now: datetime | None = None,
    reason: str | None = None,
    crl_days: int | None = None,
    passphrase: bytes | None = None,
) -> CertRecord:
    """Mark a certificate revoked in the index and publish the CRL that lists it."""
    now = clock.utc(now)
    if reason is not None and reason not in REASONS:
        raise PkiError(f"revocation reason {reason!r} unknown; use one of: {', '.join(REASONS)}")
    with store.transaction() as index:
        record = index.find(serial)
        if record.revoked_at is not None:
            raise PkiError(f"certificate {record.serial} was already revoked on {record.revoked_at}")
        record.revoked_at = now
        record.reason = reason
        _publish(store, index, now, crl_days, passphrase)
    log.warning("revoked %s certificate %s (%s)", record.profile, record.serial, reason or "no reason given")
    return record


def crl_due(store: CaStore, now: datetime | None = None) -> bool:
    """Tell whether the published CRL is missing or past half of its validity."""
    now = clock.utc(now)
    try:
        crl = x509.load_der_x509_crl(store.crl_path.read_bytes())
    except (FileNotFoundError, ValueError):
        return True
    update, nxt = crl.last_update_utc, crl.next_update_utc
    return nxt is None or now >= update + (nxt - update) / 2
