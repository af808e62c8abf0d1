# SPDX-License-Identifier: GPL-3.0-or-later
"""FreeSWITCH's tls-cert-dir: agent.pem (certificate, chain, key) and cafile.pem (intermediate, root)."""

from __future__ import annotations

import stat
from datetime import timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from appliance.pki import keys
from appliance.pki.errors import PkiError
from appliance.pki.freeswitch import export_freeswitch
from appliance.pki.issue import issue

from .conftest import T0


def test_agent_pem_holds_the_sip_certificate_first_then_the_chain_and_its_key(hierarchy, tmp_path):
    record = issue(hierarchy.store, "sip", ["pbx1.example.org", "192.168.1.10"], now=T0)
    out = export_freeswitch(tmp_path / "tls", hierarchy.store, now=T0)
    agent = out["agent"].read_bytes()
    certs = x509.load_pem_x509_certificates(agent)
    assert [c.serial_number for c in certs] == [int(record.serial, 16), hierarchy.store.ca_cert().serial_number]
    key = serialization.load_pem_private_key(agent, None)
    assert keys.same_key(key.public_key(), certs[0].public_key())
    assert stat.S_IMODE(out["agent"].stat().st_mode) == 0o600
    cafile = x509.load_pem_x509_certificates(out["cafile"].read_bytes())
    assert cafile == [hierarchy.store.ca_cert(), hierarchy.root.cert]
    assert stat.S_IMODE(out["cafile"].stat().st_mode) == 0o644
    assert sorted(p.name for p in (tmp_path / "tls").iterdir()) == ["agent.pem", "cafile.pem"]


def test_the_newest_sip_certificate_wins_and_extra_ca_bundles_follow_ours(hierarchy, tmp_path):
    issue(hierarchy.store, "sip", ["pbx1.example.org"], now=T0)
    newer = issue(hierarchy.store, "sip", ["pbx1.example.org"], now=T0 + timedelta(hours=1))
    issue(hierarchy.store, "console", ["pbx1.example.org"], now=T0 + timedelta(hours=2))
    carrier_ca = tmp_path / "carrier-ca.pem"
    carrier_ca.write_bytes(keys.cert_pem(hierarchy.root.cert))
    out = export_freeswitch(tmp_path / "tls", hierarchy.store, extra_ca=[carrier_ca], now=T0 + timedelta(hours=3))
    assert x509.load_pem_x509_certificates(out["agent"].read_bytes())[0].serial_number == int(newer.serial, 16)
    assert len(x509.load_pem_x509_certificates(out["cafile"].read_bytes())) == 3


def test_without_a_valid_sip_certificate_nothing_is_written(hierarchy, tmp_path):
    console = issue(hierarchy.store, "console", ["pbx1.example.org"], now=T0)
    with pytest.raises(PkiError, match="no valid sip certificate"):
        export_freeswitch(tmp_path / "tls", hierarchy.store, now=T0)
    with pytest.raises(PkiError, match="has profile 'console'"):
        export_freeswitch(tmp_path / "tls", hierarchy.store, console.serial, now=T0)
    assert not (tmp_path / "tls").exists()
