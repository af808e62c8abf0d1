# SPDX-License-Identifier: GPL-3.0-or-later
"""Leaf certificates: profiles, lifetimes, extensions, and names refused outside the constraints."""

from __future__ import annotations

import ipaddress
import stat
from datetime import timedelta

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from appliance.pki import keys
from appliance.pki.errors import NameNotPermitted, PkiError
from appliance.pki.issue import issue

from .conftest import T0, make_hierarchy


def _ext(cert: x509.Certificate, kind):
    return cert.extensions.get_extension_for_class(kind)


@pytest.mark.parametrize(
    ("profile", "days", "usages"),
    [
        ("console", 30, [ExtendedKeyUsageOID.SERVER_AUTH]),
        ("sip", 30, [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
        ("phone", 365, [ExtendedKeyUsageOID.CLIENT_AUTH]),
    ],
)
def test_each_profile_has_its_lifetime_and_extended_key_usage(hierarchy, profile, days, usages):
    record = issue(hierarchy.store, profile, ["pbx1.example.org"], now=T0)
    cert = hierarchy.store.issued(record.serial)
    assert cert.not_valid_after_utc - cert.not_valid_before_utc == timedelta(days=days)
    assert cert.not_valid_before_utc <= T0 < cert.not_valid_after_utc
    assert list(_ext(cert, x509.ExtendedKeyUsage).value) == usages
    ku = _ext(cert, x509.KeyUsage)
    assert ku.critical and ku.value.digital_signature and not ku.value.key_cert_sign
    bc = _ext(cert, x509.BasicConstraints)
    assert bc.critical and not bc.value.ca


def test_leaf_carries_sans_subject_and_key_identifiers(hierarchy):
    record = issue(hierarchy.store, "sip", ["pbx1.example.org", "192.168.1.10", "10.8.0.2"], now=T0)
    cert = hierarchy.store.issued(record.serial)
    san = _ext(cert, x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["pbx1.example.org"]
    assert san.get_values_for_type(x509.IPAddress) == [
        ipaddress.ip_address("192.168.1.10"),
        ipaddress.ip_address("10.8.0.2"),
    ]
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "pbx1.example.org"
    ski = _ext(hierarchy.store.ca_cert(), x509.SubjectKeyIdentifier).value
    assert _ext(cert, x509.AuthorityKeyIdentifier).value.key_identifier == ski.digest
    assert _ext(cert, x509.SubjectKeyIdentifier).value == x509.SubjectKeyIdentifier.from_public_key(cert.public_key())
    assert record.names == ["pbx1.example.org", "192.168.1.10", "10.8.0.2"]
    cert.verify_directly_issued_by(hierarchy.store.ca_cert())


def test_the_key_is_made_on_the_appliance_and_kept_0600(hierarchy):
    record = issue(hierarchy.store, "console", ["pbx1.example.org"], now=T0)
    key_path = hierarchy.store.private_key_path(record.serial)
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(key_path.parent.stat().st_mode) == 0o700
    cert = hierarchy.store.issued(record.serial)
    assert keys.same_key(keys.read_key(key_path).public_key(), cert.public_key())


def test_a_phone_request_is_certified_without_its_key_coming_here(hierarchy):
    phone_key = keys.generate_key()
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "whatever the phone says")]))
        .sign(phone_key, keys.signing_hash(phone_key))
    )
    record = issue(hierarchy.store, "phone", ["phone-101.pbx1.example.org"], now=T0, csr=csr)
    assert record.key_held is False
    assert not hierarchy.store.private_key_path(record.serial).exists()
    cert = hierarchy.store.issued(record.serial)
    assert keys.same_key(cert.public_key(), phone_key.public_key())
    assert cert.subject.rfc4514_string() == "CN=phone-101.pbx1.example.org"


def test_service_certificates_live_at_most_30_days(hierarchy):
    with pytest.raises(PkiError, match="the console profile allows 1 to 30 days"):
        issue(hierarchy.store, "console", ["pbx1.example.org"], now=T0, days=31)
    record = issue(hierarchy.store, "console", ["pbx1.example.org"], now=T0, days=7)
    assert record.not_after - record.not_before == timedelta(days=7)


def test_a_name_outside_the_constraints_is_refused_and_nothing_is_issued(hierarchy):
    with pytest.raises(NameNotPermitted) as exc:
        issue(hierarchy.store, "console", ["pbx1.example.org", "www.example.com", "192.168.2.1"], now=T0)
    assert exc.value.names == ["www.example.com", "192.168.2.1"]
    assert "DNS: pbx1.example.org; IP: 192.168.1.0/24, 10.8.0.2/32" in str(exc.value)
    assert hierarchy.store.load().records == []
    assert not (hierarchy.store.dir / "issued").exists() or not any((hierarchy.store.dir / "issued").iterdir())


def test_unknown_profile_is_refused_listing_the_known_ones(hierarchy):
    with pytest.raises(PkiError, match="known: console, sip, phone"):
        issue(hierarchy.store, "vpn", ["pbx1.example.org"], now=T0)


def test_a_leaf_never_outlives_its_intermediate(tmp_path):
    h = make_hierarchy(tmp_path, days=10)
    record = issue(h.store, "console", ["pbx1.example.org"], now=T0)
    assert record.not_after == h.store.ca_cert().not_valid_after_utc


def test_nothing_is_issued_without_an_intermediate(tmp_path):
    from appliance.pki.store import CaStore

    with pytest.raises(PkiError, match="create-intermediate-request"):
        issue(CaStore.appliance(tmp_path / "empty"), "console", ["pbx1.example.org"], now=T0)


def test_crl_url_becomes_the_distribution_point(hierarchy):
    url = "http://pbx1.example.org/pki/intermediate.crl"
    record = issue(hierarchy.store, "phone", ["phone-7.pbx1.example.org"], now=T0, crl_url=url)
    cdp = _ext(hierarchy.store.issued(record.serial), x509.CRLDistributionPoints).value
    assert cdp[0].full_name == [x509.UniformResourceIdentifier(url)]
    with pytest.raises(PkiError, match="must start with http"):
        issue(hierarchy.store, "phone", ["phone-7.pbx1.example.org"], now=T0, crl_url="ldap://x")


def test_addresses_alone_are_refused_because_the_common_name_must_be_a_dns_name(hierarchy):
    with pytest.raises(PkiError, match="needs a DNS name"):
        issue(hierarchy.store, "console", ["192.168.1.10"], now=T0)
    long_name = "a" * 60 + ".pbx1.example.org"
    record = issue(hierarchy.store, "console", [long_name, "pbx1.example.org"], now=T0)
    assert record.subject == "CN=pbx1.example.org" and record.names[0] == long_name
