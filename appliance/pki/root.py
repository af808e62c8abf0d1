# SPDX-License-Identifier: GPL-3.0-or-later
"""The fleet root CA: created on the hub or the integrator's machine; its key never goes to an appliance.

The root signs one intermediate per appliance, with pathLen 0 and name constraints limiting it to that
appliance's DNS names and IP networks; it signs nothing else (except its CRL).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from appliance import files
from appliance.pki import clock, extensions, keys, names
from appliance.pki.errors import PkiError
from appliance.pki.profiles import INTERMEDIATE_DAYS, ROOT_DAYS
from appliance.pki.store import CaStore, Index

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RootCA:
    """The fleet root's certificate and private key."""

    cert: x509.Certificate
    key: keys.PrivateKey


def create_root(
    common_name: str,
    out_dir: Path,
    valid_days: int = ROOT_DAYS,
    *,
    now: datetime | None = None,
    passphrase: bytes | None = None,
) -> RootCA:
    """Create the fleet root in out_dir: root.pem, root.key (0600, encrypted if a passphrase is given)."""
    if not 1 <= len(common_name.strip()) <= 64:
        raise PkiError("the root needs a common name of 1 to 64 characters, e.g. 'Example Telecom Fleet Root CA'")
    if valid_days < 1:
        raise PkiError(f"valid_days must be positive, not {valid_days}")
    store = CaStore.root(out_dir)
    if store.cert_path.exists() or store.key_path.exists():
        raise PkiError(f"{out_dir} already holds a root CA; a root is never overwritten")
    files.private_dir(store.dir)
    now = clock.utc(now)
    key = keys.generate_key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name.strip())])
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    start = now - clock.BACKDATE
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=valid_days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=1), critical=True)
        .add_extension(extensions.ca_key_usage(), critical=True)
        .add_extension(ski, critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False)
        .sign(key, keys.signing_hash(key))
    )
    keys.write_key(store.key_path, key, passphrase, new=True)
    files.write_atomic(store.cert_path, keys.cert_pem(cert), 0o644)
    files.write_atomic(store.public_dir / "root.pem", keys.cert_pem(cert), 0o644)
    store.save(Index())
    log.info("created fleet root %s, valid until %s", common_name, cert.not_valid_after_utc)
    return RootCA(cert, key)


def load_root(directory: Path, passphrase: bytes | None = None) -> RootCA:
    """Return the fleet root kept in directory."""
    store = CaStore.root(directory)
    return RootCA(store.ca_cert(), store.ca_key(passphrase))


def sign_intermediate(
    root: RootCA,
    csr: x509.CertificateSigningRequest,
    permitted_dns: Iterable[str],
    permitted_ips: Iterable[str],
    valid_days: int = INTERMEDIATE_DAYS,
    *,
    now: datetime | None = None,
    crl_url: str | None = None,
) -> x509.Certificate:
    """Return the appliance's intermediate: pathLen 0, critically constrained to the given names."""
    # The names come from the caller (the hub's inventory), never from the request: an appliance does
    # not choose what it may issue for.
    if valid_days < 1:
        raise PkiError(f"valid_days must be positive, not {valid_days}")
    if not csr.is_signature_valid:
        raise PkiError("the intermediate request's signature does not match its key")
    public_key = keys.check_public_key(csr.public_key(), "the intermediate request")
    if not csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME):
        raise PkiError("the intermediate request has no common name in its subject")
    constraints = names.build(permitted_dns, permitted_ips)
    now = clock.utc(now)
    clock.check_valid(root.cert, now, "the fleet root")
    start = now - clock.BACKDATE
    end = start + timedelta(days=valid_days)
    if end > root.cert.not_valid_after_utc:
        log.warning("intermediate shortened to end with the root on %s", root.cert.not_valid_after_utc)
        end = root.cert.not_valid_after_utc
    builder = (
        x509.CertificateBuilder()
        .subject_name(csr.subject)
        .issuer_name(root.cert.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(extensions.ca_key_usage(), critical=True)
        .add_extension(constraints, critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(extensions.authority_key_id(root.cert), critical=False)
    )
    if crl_url:
        builder = builder.add_extension(extensions.crl_distribution_point(crl_url), critical=False)
    cert = builder.sign(root.key, keys.signing_hash(root.key))
    log.info("signed intermediate %s (%s)", csr.subject.rfc4514_string(), names.of(cert).describe())
    return cert
