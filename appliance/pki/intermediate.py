# SPDX-License-Identifier: GPL-3.0-or-later
"""The appliance's own CA: its key is born on the device, the fleet root signs its request.

Flow: `create_request` (on the appliance) -> `root.sign_intermediate` (on the hub) -> `install`
(on the appliance). A new request can be made while the current intermediate keeps issuing; installing
the signed answer swaps the pending key in, so the intermediate can be replaced before it expires.
"""

from __future__ import annotations

import logging
import os
from datetime import datetime
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.x509.oid import NameOID

from appliance import files
from appliance.pki import clock, crl, keys, names
from appliance.pki.errors import PkiError
from appliance.pki.store import CaStore

log = logging.getLogger(__name__)


def request_paths(store: CaStore) -> tuple[Path, Path]:
    """Return the pending request's key and CSR paths."""
    return store.request_dir / "intermediate.key", store.request_dir / "intermediate.csr"


def create_request(store: CaStore, common_name: str, *, replace: bool = False) -> x509.CertificateSigningRequest:
    """Make the intermediate's key (0600) and a certificate signing request for the hub; return the request."""
    if not 1 <= len(common_name.strip()) <= 64:
        raise PkiError("the intermediate needs a common name of 1 to 64 characters, e.g. 'pbx1 appliance CA' (--cn)")
    key_path, csr_path = request_paths(store)
    if key_path.exists() and not replace:
        raise PkiError(
            f"{csr_path} is already waiting to be signed; send that one to the hub, or make a new one with --replace "
            "(the old request then can no longer be installed)"
        )
    # The CA directory stays readable (public/ is served to phones); keys are 0600, request/ is 0700.
    store.dir.mkdir(parents=True, exist_ok=True)
    files.private_dir(store.request_dir)
    key = keys.generate_key()
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name.strip())]))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(key, keys.signing_hash(key))
    )
    keys.write_key(key_path, key)
    files.write_atomic(csr_path, keys.csr_pem(csr), 0o644)
    log.info("intermediate request written to %s", csr_path)
    return csr


def install(
    store: CaStore, cert: x509.Certificate, root: x509.Certificate | None = None, *, now: datetime | None = None
) -> x509.Certificate:
    """Check the signed intermediate against the fleet root and this appliance's key; install it and its CRL."""
    now = clock.utc(now)
    root = root if root is not None else store.root_cert()
    _check_root(root, now)
    if store.root_path.exists() and keys.cert_pem(store.root_cert()) != keys.cert_pem(root):
        raise PkiError(
            f"{store.root_path} holds a different fleet root ({store.root_cert().subject.rfc4514_string()}); "
            "replacing the fleet root is not supported yet"
        )
    _check_intermediate(cert, root, now)
    key_path, csr_path = request_paths(store)
    pending = key_path.exists() and keys.same_key(keys.read_key(key_path).public_key(), cert.public_key())
    current = store.key_path.exists() and keys.same_key(store.ca_key().public_key(), cert.public_key())
    if not pending and not current:
        raise PkiError(
            "the signed intermediate does not match this appliance's key: it answers another request "
            "or another appliance"
        )
    if pending:
        os.replace(key_path, store.key_path)
        csr_path.unlink(missing_ok=True)
        files.fsync_dir(store.dir)
    files.write_atomic(store.cert_path, keys.cert_pem(cert), 0o644)
    files.write_atomic(store.root_path, keys.cert_pem(root), 0o644)
    files.write_atomic(store.public_dir / "root.pem", keys.cert_pem(root), 0o644)
    files.write_atomic(store.chain_path, keys.cert_pem(cert) + keys.cert_pem(root), 0o644)
    crl.publish_crl(store, now=now)  # signed by this intermediate's key, so phones checking CRLs work at once
    log.info("installed intermediate %s (%s)", cert.subject.rfc4514_string(), names.of(cert).describe())
    return cert


def _check_root(root: x509.Certificate, now: datetime) -> None:
    try:
        root.verify_directly_issued_by(root)
    except (ValueError, TypeError, InvalidSignature):
        raise PkiError("the fleet root given is not a self-signed certificate") from None
    if not _is_ca(root):
        raise PkiError("the fleet root given is not a CA certificate (basicConstraints CA:TRUE)")
    clock.check_valid(root, now, "the fleet root")


def _check_intermediate(cert: x509.Certificate, root: x509.Certificate, now: datetime) -> None:
    try:
        cert.verify_directly_issued_by(root)
    except (ValueError, TypeError, InvalidSignature):
        raise PkiError(
            f"the intermediate was not signed by the fleet root {root.subject.rfc4514_string()} "
            f"(its issuer is {cert.issuer.rfc4514_string()})"
        ) from None
    bc = cert.extensions.get_extension_for_class(x509.BasicConstraints).value if _is_ca(cert) else None
    if bc is None or bc.path_length != 0:
        raise PkiError("the intermediate must be a CA with pathLen 0 (it issues only leaf certificates)")
    try:
        nc = cert.extensions.get_extension_for_class(x509.NameConstraints)
    except x509.ExtensionNotFound:
        raise PkiError("the intermediate has no name constraints; the hub must sign it with --dns/--ip") from None
    if not nc.critical:
        raise PkiError("the intermediate's name constraints must be critical")
    clock.check_valid(cert, now, "the signed intermediate")


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        return False
