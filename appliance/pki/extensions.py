# SPDX-License-Identifier: GPL-3.0-or-later
"""Build the X.509 extensions that CA and leaf certificates share."""

from __future__ import annotations

from cryptography import x509

from appliance.pki.errors import PkiError


def ca_key_usage() -> x509.KeyUsage:
    """Return the key usage of a CA: sign certificates and CRLs, nothing else."""
    return key_usage(key_cert_sign=True, crl_sign=True)


def key_usage(**set_bits: bool) -> x509.KeyUsage:
    """Return a KeyUsage with only the named bits set."""
    bits = dict.fromkeys(
        (
            "digital_signature",
            "content_commitment",
            "key_encipherment",
            "data_encipherment",
            "key_agreement",
            "key_cert_sign",
            "crl_sign",
            "encipher_only",
            "decipher_only",
        ),
        False,
    )
    bits.update(set_bits)
    return x509.KeyUsage(**bits)


def authority_key_id(issuer: x509.Certificate) -> x509.AuthorityKeyIdentifier:
    """Return the AuthorityKeyIdentifier pointing at the issuer's key."""
    try:
        ski = issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    except x509.ExtensionNotFound:
        return x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.public_key())
    return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)


def crl_distribution_point(url: str) -> x509.CRLDistributionPoints:
    """Return a CRL distribution point extension for one URL."""
    if not url.startswith(("http://", "https://")):
        raise PkiError(f"CRL URL {url!r} must start with http:// (phones fetch CRLs over plain HTTP)")
    point = x509.DistributionPoint([x509.UniformResourceIdentifier(url)], None, None, None)
    return x509.CRLDistributionPoints([point])
