# SPDX-License-Identifier: GPL-3.0-or-later
"""Certificate expiry from a real appliance CA made in a temporary folder with appliance.pki."""

from __future__ import annotations

from datetime import timedelta

from appliance.metrics.certificates import CertificateSource
from appliance.pki import renewal
from appliance.pki.issue import issue
from appliance.pki.store import serial_text
from tests.unit.pki.conftest import T0, make_hierarchy


def _expiries(source: CertificateSource) -> dict[tuple[str, str], float]:
    [family] = list(source.collect())
    assert family.name == "appliance_certificate_expiry_seconds"
    return {(s.labels["profile"], s.labels["serial"]): s.value for s in family.samples}


def test_every_certificate_in_use_and_the_ca_itself(tmp_path):
    h = make_hierarchy(tmp_path)
    console = issue(h.store, "console", ["pbx1.example.org"], now=T0)
    phone = issue(h.store, "phone", ["phone-101.pbx1.example.org"], now=T0)
    now = T0 + timedelta(days=10)
    expiries = _expiries(CertificateSource(h.store.dir, clock=lambda: now))
    assert expiries[("console", console.serial)] == (console.not_after - now).total_seconds()
    assert 19 * 86400 < expiries[("console", console.serial)] < 20 * 86400
    assert 354 * 86400 < expiries[("phone", phone.serial)] < 356 * 86400
    intermediate = h.store.ca_cert()
    root = h.store.root_cert()
    assert expiries[("intermediate", serial_text(intermediate.serial_number))] == (
        (intermediate.not_valid_after_utc - now).total_seconds()
    )
    assert ("root", serial_text(root.serial_number)) in expiries
    assert len(expiries) == 4


def test_renewed_and_revoked_certificates_leave_and_expired_ones_go_negative(tmp_path):
    h = make_hierarchy(tmp_path)
    old = issue(h.store, "sip", ["pbx1.example.org"], now=T0)
    revoked = issue(h.store, "console", ["pbx1.example.org"], now=T0)
    with h.store.transaction() as index:
        index.find(revoked.serial).revoked_at = T0
    new = renewal.renew(h.store, old.serial, now=T0 + timedelta(days=21))
    expired = issue(h.store, "console", ["pbx1.example.org"], now=T0, days=1)
    now = T0 + timedelta(days=22)
    expiries = _expiries(CertificateSource(h.store.dir, clock=lambda: now))
    leaves = {key: v for key, v in expiries.items() if key[0] not in ("intermediate", "root")}
    assert set(leaves) == {("sip", new.serial), ("console", expired.serial)}
    assert leaves[("console", expired.serial)] < -20 * 86400


def test_a_ca_that_was_never_set_up_has_nothing_to_report(tmp_path):
    assert _expiries(CertificateSource(tmp_path / "no-pki")) == {}
    assert not (tmp_path / "no-pki").exists()
