# SPDX-License-Identifier: GPL-3.0-or-later
"""Issue leaf certificates from the appliance's intermediate: console HTTPS, SIP-TLS, phones."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from appliance.pki import clock, extensions, keys, names
from appliance.pki.errors import PkiError
from appliance.pki.profiles import Profile, profile
from appliance.pki.store import CaStore, CertRecord, Index

log = logging.getLogger(__name__)

_USAGES = {"serverAuth": ExtendedKeyUsageOID.SERVER_AUTH, "clientAuth": ExtendedKeyUsageOID.CLIENT_AUTH}


def build_leaf(
    issuer: x509.Certificate,
    issuer_key: keys.PrivateKey,
    public_key: keys.PublicKey,
    prof: Profile,
    cert_names: Iterable[str],
    *,
    now: datetime,
    days: int | None = None,
    crl_url: str | None = None,
) -> x509.Certificate:
    """Return a leaf certificate for public_key, refusing names outside the issuer's constraints."""
    days = prof.days if days is None else days
    if not 1 <= days <= prof.max_days:
        raise PkiError(f"{days} days: the {prof.name} profile allows 1 to {prof.max_days} days")
    dns, ips = names.split_names(cert_names)
    # The first DNS name short enough for X.509 (64 characters) is also the common name. With only
    # addresses OpenSSL would check a common name like "192.0.2.1" against the DNS constraints and refuse.
    common_name = next((d for d in dns if len(d) <= 64), None)
    if common_name is None:
        raise PkiError("a certificate needs a DNS name of at most 64 characters (its common name) besides addresses")
    constraints = names.of(issuer)
    if constraints is None:
        raise PkiError(f"the issuing CA {issuer.subject.rfc4514_string()} has no name constraints; refusing to issue")
    names.check(dns, ips, constraints)
    clock.check_valid(issuer, now, "the intermediate")
    start = now - clock.BACKDATE
    end = start + timedelta(days=days)
    if end > issuer.not_valid_after_utc:
        log.warning("certificate shortened to end with the intermediate on %s", issuer.not_valid_after_utc)
        end = issuer.not_valid_after_utc
    usage = {"digital_signature": True, "key_encipherment": isinstance(public_key, rsa.RSAPublicKey)}
    san: list[x509.GeneralName] = [x509.DNSName(d) for d in dns] + [x509.IPAddress(i) for i in ips]
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .issuer_name(issuer.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(extensions.key_usage(**usage), critical=True)
        .add_extension(x509.ExtendedKeyUsage([_USAGES[u] for u in prof.usages]), critical=False)
        .add_extension(x509.SubjectAlternativeName(san), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(extensions.authority_key_id(issuer), critical=False)
    )
    if crl_url:
        builder = builder.add_extension(extensions.crl_distribution_point(crl_url), critical=False)
    return builder.sign(issuer_key, keys.signing_hash(issuer_key))


def issue(
    store: CaStore,
    profile_name: str,
    cert_names: Iterable[str],
    *,
    now: datetime | None = None,
    days: int | None = None,
    csr: x509.CertificateSigningRequest | None = None,
    crl_url: str | None = None,
) -> CertRecord:
    """Issue a certificate: the CA makes its key (0600), or certifies the key of a request (a phone's CSR)."""
    prof = profile(profile_name)
    public_key = None
    if csr is not None:
        if not csr.is_signature_valid:
            raise PkiError("the request's signature does not match its key")
        public_key = keys.check_public_key(csr.public_key(), "the request")
    with store.transaction() as index:
        return sign_into(
            store, index, prof, list(cert_names), public_key, now=clock.utc(now), days=days, crl_url=crl_url
        )


def sign_into(
    store: CaStore,
    index: Index,
    prof: Profile,
    cert_names: list[str],
    public_key: keys.PublicKey | None,
    *,
    now: datetime,
    days: int | None = None,
    crl_url: str | None = None,
) -> CertRecord:
    """Sign a leaf with the store's CA (a new key unless public_key is given), store it and add it to index."""
    issuer, issuer_key = store.ca_cert(), store.ca_key()
    if not keys.same_key(issuer.public_key(), issuer_key.public_key()):
        raise PkiError(f"{store.key_path} does not belong to {store.cert_path}; reinstall the intermediate")
    key = keys.generate_key() if public_key is None else None
    cert = build_leaf(
        issuer,
        issuer_key,
        public_key or key.public_key(),
        prof,
        cert_names,
        now=now,
        days=days,
        crl_url=crl_url,
    )
    dns, ips = names.split_names(cert_names)
    record = store.record(cert, prof.name, dns + [str(i) for i in ips], key)
    index.records.append(record)
    log.info("issued %s certificate %s for %s until %s", prof.name, record.serial, record.names, record.not_after)
    return record
