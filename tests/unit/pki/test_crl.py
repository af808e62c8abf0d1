# SPDX-License-Identifier: GPL-3.0-or-later
"""Revocation by serial and the CRLs the intermediate and the root publish."""

from __future__ import annotations

from datetime import timedelta

import pytest
from cryptography import x509

from appliance.pki import crl
from appliance.pki.errors import PkiError
from appliance.pki.issue import issue

from .conftest import T0


def _published(store) -> x509.CertificateRevocationList:
    der = x509.load_der_x509_crl(store.crl_path.read_bytes())
    assert x509.load_pem_x509_crl(store.crl_pem_path.read_bytes()) == der
    return der


def test_installing_the_intermediate_publishes_an_empty_signed_crl(hierarchy):
    published = _published(hierarchy.store)
    assert len(published) == 0
    assert published.issuer == hierarchy.store.ca_cert().subject
    assert published.is_signature_valid(hierarchy.store.ca_cert().public_key())
    assert published.next_update_utc == T0 + timedelta(days=7)


def test_revoke_lists_the_serial_with_its_date_and_reason(hierarchy):
    record = issue(hierarchy.store, "phone", ["phone-1.pbx1.example.org"], now=T0)
    kept = issue(hierarchy.store, "phone", ["phone-2.pbx1.example.org"], now=T0)
    at = T0 + timedelta(hours=3)
    revoked = crl.revoke(hierarchy.store, record.serial.lower(), now=at, reason="keyCompromise")
    assert revoked.revoked_at == at and revoked.reason == "keyCompromise"
    published = _published(hierarchy.store)
    entry = published.get_revoked_certificate_by_serial_number(int(record.serial, 16))
    assert entry is not None and entry.revocation_date_utc == at
    assert entry.extensions.get_extension_for_class(x509.CRLReason).value.reason == x509.ReasonFlags.key_compromise
    assert published.get_revoked_certificate_by_serial_number(int(kept.serial, 16)) is None
    assert hierarchy.store.load().find(record.serial).revoked_at == at


def test_crl_numbers_increase_with_each_publication(hierarchy):
    first = _published(hierarchy.store).extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    crl.publish_crl(hierarchy.store, now=T0 + timedelta(days=1))
    second = _published(hierarchy.store).extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    assert second == first + 1


def test_revoking_twice_or_an_unknown_serial_is_refused(hierarchy):
    record = issue(hierarchy.store, "console", ["pbx1.example.org"], now=T0)
    crl.revoke(hierarchy.store, record.serial, now=T0)
    with pytest.raises(PkiError, match="already revoked"):
        crl.revoke(hierarchy.store, record.serial, now=T0)
    with pytest.raises(PkiError, match="no certificate with serial ABC"):
        crl.revoke(hierarchy.store, "abc", now=T0)
    with pytest.raises(PkiError, match="reason 'because'"):
        crl.revoke(hierarchy.store, record.serial, now=T0, reason="because")


def test_expired_certificates_leave_the_crl(hierarchy):
    record = issue(hierarchy.store, "console", ["pbx1.example.org"], now=T0, days=5)
    crl.revoke(hierarchy.store, record.serial, now=T0)
    assert len(_published(hierarchy.store)) == 1
    crl.publish_crl(hierarchy.store, now=T0 + timedelta(days=6))
    assert len(_published(hierarchy.store)) == 0


def test_crl_is_due_for_refresh_after_half_its_validity(hierarchy):
    assert not crl.crl_due(hierarchy.store, T0 + timedelta(days=3, hours=11))
    assert crl.crl_due(hierarchy.store, T0 + timedelta(days=3, hours=12))
    hierarchy.store.crl_path.unlink()
    assert crl.crl_due(hierarchy.store, T0)


def test_the_root_publishes_a_crl_of_intermediates(hierarchy):
    from appliance.pki.store import CaStore

    hub = CaStore.root(hierarchy.root_dir)
    inter = hierarchy.store.ca_cert()
    with hub.transaction() as index:
        index.records.append(hub.record(inter, "intermediate", ["pbx1.example.org"], None))
    crl.revoke(hub, f"{inter.serial_number:x}", now=T0, reason="cessationOfOperation")
    published = x509.load_der_x509_crl((hierarchy.root_dir / "public" / "root.crl").read_bytes())
    assert published.is_signature_valid(hierarchy.root.cert.public_key())
    assert published.get_revoked_certificate_by_serial_number(inter.serial_number) is not None
    assert published.next_update_utc == T0 + timedelta(days=30)
