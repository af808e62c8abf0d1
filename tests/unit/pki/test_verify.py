# SPDX-License-Identifier: GPL-3.0-or-later
"""Independent verifiers accept our chains and refuse forged, expired and revoked certificates.

`openssl verify` enforces name constraints, validity and (with -crl_check) revocation; cryptography's
own verifier (x509.verification) checks the chain and the constraints a second time.
"""

from __future__ import annotations

import ipaddress
from datetime import datetime, timedelta

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from appliance.pki import crl, extensions, keys
from appliance.pki.issue import issue

from .conftest import T0, Hierarchy, write_pem

verification = pytest.importorskip("cryptography.x509.verification", reason="cryptography without x509.verification")


def _forge(h: Hierarchy, san: list[x509.GeneralName]) -> x509.Certificate:
    """Sign a server leaf directly with the intermediate's key, skipping the CA's name check."""
    issuer, issuer_key = h.store.ca_cert(), h.store.ca_key()
    key = keys.generate_key()
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "forged")]))
        .issuer_name(issuer.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(T0 - timedelta(minutes=5))
        .not_valid_after(T0 + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(extensions.key_usage(digital_signature=True), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName(san), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(extensions.authority_key_id(issuer), critical=False)
        .sign(issuer_key, keys.signing_hash(issuer_key))
    )


def _server_verify(h: Hierarchy, cert: x509.Certificate, subject, at: datetime = T0) -> None:
    verifier = (
        verification.PolicyBuilder().store(verification.Store([h.root.cert])).time(at).build_server_verifier(subject)
    )
    chain = verifier.verify(cert, [h.store.ca_cert()])
    assert chain[-1] == h.root.cert


def test_every_profile_chains_to_the_root_with_openssl(hierarchy, openssl):
    for profile, purpose in (
        ("console", "sslserver"),
        ("sip", "sslserver"),
        ("sip", "sslclient"),
        ("phone", "sslclient"),
    ):
        record = issue(hierarchy.store, profile, ["pbx1.example.org", "192.168.1.10"], now=T0)
        ok, out = openssl(hierarchy, hierarchy.store.issued_path(record.serial), "-purpose", purpose)
        assert ok, f"{profile} as {purpose}: {out}"


def test_a_phone_certificate_is_not_a_server_certificate(hierarchy, openssl):
    record = issue(hierarchy.store, "phone", ["phone-101.pbx1.example.org"], now=T0)
    ok, out = openssl(hierarchy, hierarchy.store.issued_path(record.serial), "-purpose", "sslserver")
    assert not ok and "unsuitable certificate purpose" in out


def test_cryptography_verifier_accepts_issued_server_and_client_certificates(hierarchy):
    sip = hierarchy.store.issued(issue(hierarchy.store, "sip", ["pbx1.example.org", "10.8.0.2"], now=T0).serial)
    _server_verify(hierarchy, sip, verification.DNSName("pbx1.example.org"))
    _server_verify(hierarchy, sip, verification.IPAddress(ipaddress.ip_address("10.8.0.2")))
    phone = hierarchy.store.issued(issue(hierarchy.store, "phone", ["phone-1.pbx1.example.org"], now=T0).serial)
    verifier = verification.PolicyBuilder().store(verification.Store([hierarchy.root.cert])).time(T0)
    verified = verifier.build_client_verifier().verify(phone, [hierarchy.store.ca_cert()])
    assert verified.chain[-1] == hierarchy.root.cert


@pytest.mark.parametrize(
    ("san", "subject"),
    [
        ([x509.DNSName("www.example.com")], lambda: verification.DNSName("www.example.com")),
        ([x509.DNSName("evilpbx1.example.org")], lambda: verification.DNSName("evilpbx1.example.org")),
        (
            [x509.IPAddress(ipaddress.ip_address("192.168.2.1"))],
            lambda: verification.IPAddress(ipaddress.ip_address("192.168.2.1")),
        ),
        (
            [x509.IPAddress(ipaddress.ip_address("fd00::1"))],
            lambda: verification.IPAddress(ipaddress.ip_address("fd00::1")),
        ),
    ],
    ids=["foreign-domain", "suffix-lookalike", "ip-outside-lan", "ipv6-never-permitted"],
)
def test_a_forged_leaf_outside_the_constraints_is_refused_by_both_verifiers(hierarchy, openssl, tmp_path, san, subject):
    forged = _forge(hierarchy, san)
    ok, out = openssl(hierarchy, write_pem(tmp_path / "forged.pem", forged))
    assert not ok
    assert "subtree violation" in out
    with pytest.raises(verification.VerificationError):
        _server_verify(hierarchy, forged, subject())


def test_a_forged_leaf_inside_the_constraints_verifies(hierarchy, openssl, tmp_path):
    # The control for the test above: the refusal comes from the names, not from how the leaf was made.
    forged = _forge(hierarchy, [x509.DNSName("pbx1.example.org")])
    ok, out = openssl(hierarchy, write_pem(tmp_path / "inside.pem", forged))
    assert ok, out
    _server_verify(hierarchy, forged, verification.DNSName("pbx1.example.org"))


def test_an_ip_address_is_refused_when_the_intermediate_permits_no_network(tmp_path, openssl):
    from .conftest import make_hierarchy

    h = make_hierarchy(tmp_path, ips=[])
    forged = _forge(h, [x509.DNSName("pbx1.example.org"), x509.IPAddress(ipaddress.ip_address("192.168.1.10"))])
    ok, out = openssl(h, write_pem(tmp_path / "ip.pem", forged))
    assert not ok and "excluded subtree violation" in out
    with pytest.raises(verification.VerificationError):
        _server_verify(h, forged, verification.DNSName("pbx1.example.org"))


def test_an_expired_certificate_is_refused(hierarchy, openssl):
    record = issue(hierarchy.store, "console", ["pbx1.example.org"], now=T0)
    path = hierarchy.store.issued_path(record.serial)
    assert openssl(hierarchy, path, at=T0 + timedelta(days=29))[0]
    ok, out = openssl(hierarchy, path, at=T0 + timedelta(days=31))
    assert not ok and "certificate has expired" in out
    cert = hierarchy.store.issued(record.serial)
    with pytest.raises(verification.VerificationError):
        _server_verify(hierarchy, cert, verification.DNSName("pbx1.example.org"), at=T0 + timedelta(days=31))


def test_a_revoked_certificate_is_refused_with_the_crl(hierarchy, openssl):
    revoked = issue(hierarchy.store, "phone", ["phone-1.pbx1.example.org"], now=T0)
    kept = issue(hierarchy.store, "phone", ["phone-2.pbx1.example.org"], now=T0)
    crl.revoke(hierarchy.store, revoked.serial, now=T0 + timedelta(hours=1), reason="keyCompromise")
    at = T0 + timedelta(hours=2)
    crl_check = ("-crl_check", "-CRLfile", str(hierarchy.store.crl_pem_path))
    ok, out = openssl(hierarchy, hierarchy.store.issued_path(revoked.serial), *crl_check, at=at)
    assert not ok and "certificate revoked" in out
    ok, out = openssl(hierarchy, hierarchy.store.issued_path(kept.serial), *crl_check, at=at)
    assert ok, out


def test_a_revoked_intermediate_is_refused_with_the_roots_crl(hierarchy, openssl):
    from appliance.pki.store import CaStore

    record = issue(hierarchy.store, "console", ["pbx1.example.org"], now=T0)
    hub = CaStore.root(hierarchy.root_dir)
    with hub.transaction() as index:
        index.records.append(hub.record(hierarchy.store.ca_cert(), "intermediate", ["pbx1.example.org"], None))
    leaf = hierarchy.store.issued_path(record.serial)
    crls = ("-crl_check_all", "-CRLfile", str(hierarchy.store.crl_pem_path), "-CRLfile", str(hub.crl_pem_path))
    crl.publish_crl(hub, now=T0)
    assert openssl(hierarchy, leaf, *crls, at=T0 + timedelta(hours=1))[0]
    crl.revoke(hub, f"{hierarchy.store.ca_cert().serial_number:X}", now=T0 + timedelta(hours=1))
    ok, out = openssl(hierarchy, leaf, *crls, at=T0 + timedelta(hours=2))
    assert not ok and "certificate revoked" in out
