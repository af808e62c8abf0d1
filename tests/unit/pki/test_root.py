# SPDX-License-Identifier: GPL-3.0-or-later
"""The fleet root and the intermediates it signs."""

from __future__ import annotations

import ipaddress
import stat
from datetime import timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from appliance.pki import intermediate, keys, names
from appliance.pki.errors import PkiError
from appliance.pki.root import create_root, load_root, sign_intermediate
from appliance.pki.store import CaStore

from .conftest import T0


def _mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_root_is_a_p256_ca_with_pathlen_1_and_a_private_key(tmp_path):
    root = create_root("Test Fleet Root CA", tmp_path / "hub", now=T0)
    assert isinstance(root.key, ec.EllipticCurvePrivateKey) and root.key.curve.name == "secp256r1"
    bc = root.cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert bc.critical and bc.value.ca and bc.value.path_length == 1
    ku = root.cert.extensions.get_extension_for_class(x509.KeyUsage)
    assert ku.critical and ku.value.key_cert_sign and ku.value.crl_sign and not ku.value.digital_signature
    assert root.cert.not_valid_after_utc - root.cert.not_valid_before_utc == timedelta(days=3650)
    assert _mode(tmp_path / "hub" / "root.key") == 0o600
    assert _mode(tmp_path / "hub") == 0o700
    assert (tmp_path / "hub" / "public" / "root.pem").read_bytes() == keys.cert_pem(root.cert)


def test_a_root_is_never_overwritten(tmp_path):
    create_root("First", tmp_path / "hub", now=T0)
    before = (tmp_path / "hub" / "root.key").read_bytes()
    with pytest.raises(PkiError, match="already holds a root CA"):
        create_root("Second", tmp_path / "hub", now=T0)
    assert (tmp_path / "hub" / "root.key").read_bytes() == before


def test_a_root_key_with_a_passphrase_needs_it_to_load(tmp_path):
    create_root("Test Fleet Root CA", tmp_path / "hub", now=T0, passphrase=b"correct horse")
    assert b"ENCRYPTED" in (tmp_path / "hub" / "root.key").read_bytes()
    with pytest.raises(PkiError, match="passphrase"):
        load_root(tmp_path / "hub")
    assert load_root(tmp_path / "hub", b"correct horse").cert.subject.rfc4514_string() == "CN=Test Fleet Root CA"


def test_intermediate_is_pathlen_0_and_critically_constrained_to_the_given_names(tmp_path):
    root = create_root("Test Fleet Root CA", tmp_path / "hub", now=T0)
    csr = intermediate.create_request(CaStore.appliance(tmp_path / "a"), "pbx1 appliance CA")
    cert = sign_intermediate(root, csr, ["pbx1.example.org"], ["192.168.1.0/24", "10.8.0.2"], 730, now=T0)
    bc = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert bc.critical and bc.value.ca and bc.value.path_length == 0
    assert cert.extensions.get_extension_for_class(x509.NameConstraints).critical
    assert names.of(cert) == names.Constraints(
        dns=("pbx1.example.org",),
        ips=(ipaddress.ip_network("192.168.1.0/24"), ipaddress.ip_network("10.8.0.2/32")),
    )
    aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    ski = root.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert aki.key_identifier == ski.digest
    assert cert.issuer == root.cert.subject and cert.subject == csr.subject
    cert.verify_directly_issued_by(root.cert)


def test_intermediate_ends_no_later_than_the_root(tmp_path):
    root = create_root("Short Root", tmp_path / "hub", 100, now=T0)
    csr = intermediate.create_request(CaStore.appliance(tmp_path / "a"), "pbx1 appliance CA")
    cert = sign_intermediate(root, csr, ["pbx1.example.org"], [], 730, now=T0)
    assert cert.not_valid_after_utc == root.cert.not_valid_after_utc


def test_crl_url_becomes_the_intermediates_distribution_point(tmp_path):
    root = create_root("Test Fleet Root CA", tmp_path / "hub", now=T0)
    csr = intermediate.create_request(CaStore.appliance(tmp_path / "a"), "pbx1 appliance CA")
    cert = sign_intermediate(root, csr, ["pbx1.example.org"], [], now=T0, crl_url="http://hub.example.org/root.crl")
    cdp = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    assert cdp[0].full_name == [x509.UniformResourceIdentifier("http://hub.example.org/root.crl")]


def test_an_expired_root_signs_nothing(tmp_path):
    root = create_root("Test Fleet Root CA", tmp_path / "hub", 10, now=T0)
    csr = intermediate.create_request(CaStore.appliance(tmp_path / "a"), "pbx1 appliance CA")
    with pytest.raises(PkiError, match="the fleet root expired"):
        sign_intermediate(root, csr, ["pbx1.example.org"], [], now=T0 + timedelta(days=11))
