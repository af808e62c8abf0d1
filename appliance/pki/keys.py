# SPDX-License-Identifier: GPL-3.0-or-later
"""Generate keys and read and write keys, certificates and requests as PEM files.

Every key the CA makes is ECDSA on NIST P-256: desk phones, ATAs, browsers and FreeSWITCH's OpenSSL all
accept it, whereas Ed25519 certificates are refused by browsers and most phone TLS stacks.
"""

from __future__ import annotations

from pathlib import Path

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from appliance import files
from appliance.pki.errors import PkiError

PrivateKey = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey
PublicKey = ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | rsa.RSAPublicKey

_CURVES = {"secp256r1": hashes.SHA256, "secp384r1": hashes.SHA384}
_MIN_RSA_BITS = 2048


def generate_key() -> ec.EllipticCurvePrivateKey:
    """Return a new P-256 private key."""
    return ec.generate_private_key(ec.SECP256R1())


def signing_hash(key: PrivateKey) -> hashes.HashAlgorithm | None:
    """Return the hash to sign with this key (None for Ed25519, which hashes internally)."""
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return None
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return _CURVES.get(key.curve.name, hashes.SHA256)()
    return hashes.SHA256()


def check_public_key(key: object, what: str) -> PublicKey:
    """Return key if it is strong enough to certify; refuse anything else naming what it belongs to."""
    if isinstance(key, ed25519.Ed25519PublicKey):
        return key
    if isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name in _CURVES:
        return key
    if isinstance(key, rsa.RSAPublicKey) and key.key_size >= _MIN_RSA_BITS:
        return key
    raise PkiError(f"{what}: key type not accepted; use EC P-256 (or P-384, Ed25519, RSA >= {_MIN_RSA_BITS} bits)")


def same_key(a: PublicKey, b: PublicKey) -> bool:
    """Tell whether two public keys are the same key."""
    fmt = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return a.public_bytes(*fmt) == b.public_bytes(*fmt)


def private_pem(key: PrivateKey, passphrase: bytes | None = None) -> bytes:
    """Return the key as PKCS#8 PEM, encrypted when a passphrase is given."""
    encryption = serialization.BestAvailableEncryption(passphrase) if passphrase else serialization.NoEncryption()
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)


def cert_pem(cert: x509.Certificate) -> bytes:
    """Return the certificate as PEM."""
    return cert.public_bytes(serialization.Encoding.PEM)


def csr_pem(csr: x509.CertificateSigningRequest) -> bytes:
    """Return the request as PEM."""
    return csr.public_bytes(serialization.Encoding.PEM)


def write_key(path: Path, key: PrivateKey, passphrase: bytes | None = None, new: bool = False) -> None:
    """Write a private key, mode 0600; with new=True refuse to replace an existing file."""
    data = private_pem(key, passphrase)
    if new:
        try:
            files.write_new(path, data, 0o600)
        except FileExistsError:
            raise PkiError(f"{path} already exists; a CA key is never overwritten (move it away first)") from None
    else:
        files.write_atomic(path, data, 0o600)


def read_key(path: Path, passphrase: bytes | None = None) -> PrivateKey:
    """Read a PEM private key."""
    data = _read(path, "private key")
    try:
        key = serialization.load_pem_private_key(data, passphrase)
    except TypeError as exc:
        raise PkiError(f"{path}: {exc} (give --passphrase-file)" if passphrase is None else f"{path}: {exc}") from None
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise PkiError(f"{path}: not a usable PEM private key ({exc})") from None
    if not isinstance(key, PrivateKey):
        raise PkiError(f"{path}: unsupported key type {type(key).__name__}")
    return key


def read_cert(path: Path) -> x509.Certificate:
    """Read the first certificate of a PEM file."""
    return read_certs(path)[0]


def read_certs(path: Path) -> list[x509.Certificate]:
    """Read every certificate of a PEM file."""
    data = _read(path, "certificate")
    try:
        certs = x509.load_pem_x509_certificates(data)
    except ValueError as exc:
        raise PkiError(f"{path}: not a PEM certificate ({exc})") from None
    return certs


def read_csr(path: Path) -> x509.CertificateSigningRequest:
    """Read a PEM certificate signing request and check its self-signature."""
    data = _read(path, "certificate request")
    try:
        csr = x509.load_pem_x509_csr(data)
    except ValueError as exc:
        raise PkiError(f"{path}: not a PEM certificate request ({exc})") from None
    if not csr.is_signature_valid:
        raise PkiError(f"{path}: the request's signature does not match its key")
    return csr


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise PkiError(f"{path}: no such {what} file") from None
