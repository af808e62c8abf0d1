# SPDX-License-Identifier: GPL-3.0-or-later
"""Renewal at two thirds of a certificate's life, on an injected clock."""

from __future__ import annotations

from datetime import timedelta

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from appliance.pki import crl, keys, renewal
from appliance.pki.errors import PkiError
from appliance.pki.issue import issue

from .conftest import T0, make_hierarchy

SECOND = timedelta(seconds=1)
EARLIER = T0 - timedelta(days=400)


@pytest.fixture
def hierarchy(tmp_path):
    """Return a root and intermediate made 400 days before T0, so certificates can be issued in the past."""
    return make_hierarchy(tmp_path, now=EARLIER)


def test_needs_renewal_turns_true_exactly_at_two_thirds(hierarchy):
    cert = hierarchy.store.issued(issue(hierarchy.store, "console", ["pbx1.example.org"], now=T0).serial)
    start = cert.not_valid_before_utc
    assert renewal.renew_after(start, cert.not_valid_after_utc) == start + timedelta(days=20)
    assert not renewal.needs_renewal(cert, start + timedelta(days=20) - SECOND)
    assert renewal.needs_renewal(cert, start + timedelta(days=20))
    assert renewal.needs_renewal(cert, cert.not_valid_after_utc + timedelta(days=1))


def test_a_phone_certificate_is_due_after_eight_months(hierarchy):
    cert = hierarchy.store.issued(issue(hierarchy.store, "phone", ["phone-1.pbx1.example.org"], now=EARLIER).serial)
    start = cert.not_valid_before_utc
    assert not renewal.needs_renewal(cert, start + timedelta(days=243))
    assert renewal.needs_renewal(cert, start + timedelta(days=244))


def test_due_picks_exactly_the_certificates_past_two_thirds(hierarchy):
    store = hierarchy.store
    ages = {
        "console-21d": ("console", 21),
        "sip-19d": ("sip", 19),
        "sip-25d": ("sip", 25),
        "console-40d": ("console", 40),
    }
    ages |= {"phone-250d": ("phone", 250), "phone-200d": ("phone", 200)}
    made = {
        label: issue(store, profile, [f"{label}.pbx1.example.org"], now=T0 - timedelta(days=age))
        for label, (profile, age) in ages.items()
    }
    revoked = issue(store, "console", ["revoked.pbx1.example.org"], now=T0 - timedelta(days=25))
    crl.revoke(store, revoked.serial, now=T0 - timedelta(days=1))
    due = {r.serial for r in renewal.due(store.load(), T0)}
    expected = {made[label].serial for label in ("console-21d", "sip-25d", "console-40d", "phone-250d")}
    assert due == expected


def test_renew_due_replaces_key_keeps_names_and_marks_the_old_one(hierarchy):
    store = hierarchy.store
    old = issue(store, "sip", ["pbx1.example.org", "10.8.0.2"], now=T0 - timedelta(days=21))
    fresh = issue(store, "console", ["pbx1.example.org"], now=T0 - timedelta(days=2))
    done = renewal.renew_due(store, now=T0)
    assert [(o.serial, n.profile) for o, n in done.renewed] == [(old.serial, "sip")]
    assert done.failed == []
    new = done.renewed[0][1]
    assert new.names == old.names and new.renewal_of == old.serial
    assert new.not_before == T0 - timedelta(minutes=5)
    index = store.load()
    assert index.find(old.serial).superseded_by == new.serial
    assert renewal.status(index.find(old.serial), T0) == "superseded"
    assert renewal.status(index.find(fresh.serial), T0) == "valid"
    old_key = store.issued_key(old.serial).public_key()
    assert not keys.same_key(old_key, store.issued(new.serial).public_key())
    assert renewal.renew_due(store, now=T0).renewed == []


def test_renewing_a_phone_request_certifies_the_same_key_again(hierarchy):
    phone_key = keys.generate_key()
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "p")]))
        .sign(phone_key, keys.signing_hash(phone_key))
    )
    old = issue(hierarchy.store, "phone", ["phone-9.pbx1.example.org"], now=T0 - timedelta(days=300), csr=csr)
    new = renewal.renew(hierarchy.store, old.serial, now=T0)
    assert keys.same_key(hierarchy.store.issued(new.serial).public_key(), phone_key.public_key())
    assert new.key_held is False


def test_revoked_or_already_renewed_certificates_are_not_renewed(hierarchy):
    store = hierarchy.store
    record = issue(store, "console", ["pbx1.example.org"], now=T0)
    new = renewal.renew(store, record.serial, now=T0)
    with pytest.raises(PkiError, match=f"already renewed as {new.serial}"):
        renewal.renew(store, record.serial, now=T0)
    crl.revoke(store, new.serial, now=T0)
    with pytest.raises(PkiError, match="is revoked; issue a new one"):
        renewal.renew(store, new.serial, now=T0)


def test_one_failed_renewal_does_not_stop_the_others(tmp_path):
    wide = make_hierarchy(tmp_path / "wide", dns=["pbx1.example.org", "old.example.org"], now=EARLIER)
    stale = issue(wide.store, "console", ["old.example.org"], now=T0 - timedelta(days=25))
    good = issue(wide.store, "console", ["pbx1.example.org"], now=T0 - timedelta(days=25))
    # The hub re-signs the same key with narrower constraints: old.example.org is no longer this box's.
    from appliance.pki import intermediate
    from appliance.pki.root import sign_intermediate

    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(wide.store.ca_cert().subject)
        .sign(wide.store.ca_key(), keys.signing_hash(wide.store.ca_key()))
    )
    intermediate.install(wide.store, sign_intermediate(wide.root, csr, ["pbx1.example.org"], [], now=T0), now=T0)
    done = renewal.renew_due(wide.store, now=T0)
    assert [o.serial for o, _n in done.renewed] == [good.serial]
    assert [s for s, _why in done.failed] == [stale.serial]
    assert "'old.example.org'" in done.failed[0][1]
    assert wide.store.load().find(stale.serial).superseded_by is None
