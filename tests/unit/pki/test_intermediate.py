# SPDX-License-Identifier: GPL-3.0-or-later
"""The appliance's intermediate: key and request on the device, checks before it is installed."""

from __future__ import annotations

import stat
from datetime import timedelta

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from appliance.pki import extensions, intermediate, keys
from appliance.pki.errors import PkiError
from appliance.pki.root import create_root, sign_intermediate
from appliance.pki.store import CaStore

from .conftest import DNS, IPS, T0


def test_request_key_is_private_and_a_pending_request_is_not_replaced_silently(tmp_path):
    store = CaStore.appliance(tmp_path / "a")
    csr = intermediate.create_request(store, "pbx1 appliance CA")
    key_path, csr_path = intermediate.request_paths(store)
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(store.request_dir.stat().st_mode) == 0o700
    assert keys.read_csr(csr_path).public_key() == csr.public_key()
    with pytest.raises(PkiError, match="already waiting to be signed"):
        intermediate.create_request(store, "pbx1 appliance CA")
    replaced = intermediate.create_request(store, "pbx1 appliance CA", replace=True)
    assert not keys.same_key(replaced.public_key(), csr.public_key())


def test_install_moves_the_pending_key_in_and_publishes_chain_and_root(tmp_path):
    root = create_root("Test Fleet Root CA", tmp_path / "hub", now=T0)
    store = CaStore.appliance(tmp_path / "a")
    csr = intermediate.create_request(store, "pbx1 appliance CA")
    cert = sign_intermediate(root, csr, DNS, IPS, now=T0)
    intermediate.install(store, cert, root.cert, now=T0)
    assert keys.same_key(store.ca_key().public_key(), cert.public_key())
    assert stat.S_IMODE(store.key_path.stat().st_mode) == 0o600
    assert not intermediate.request_paths(store)[0].exists()
    assert store.chain_path.read_bytes() == keys.cert_pem(cert) + keys.cert_pem(root.cert)
    assert store.root_cert() == root.cert


def test_an_intermediate_for_another_appliance_is_refused(tmp_path):
    root = create_root("Test Fleet Root CA", tmp_path / "hub", now=T0)
    mine, other = CaStore.appliance(tmp_path / "mine"), CaStore.appliance(tmp_path / "other")
    intermediate.create_request(mine, "pbx1 appliance CA")
    foreign = sign_intermediate(root, intermediate.create_request(other, "pbx2 appliance CA"), DNS, [], now=T0)
    with pytest.raises(PkiError, match="does not match this appliance's key"):
        intermediate.install(mine, foreign, root.cert, now=T0)
    assert not mine.cert_path.exists()


def test_an_intermediate_from_another_root_is_refused(tmp_path):
    ours = create_root("Our Root", tmp_path / "ours", now=T0)
    theirs = create_root("Their Root", tmp_path / "theirs", now=T0)
    store = CaStore.appliance(tmp_path / "a")
    cert = sign_intermediate(theirs, intermediate.create_request(store, "pbx1 appliance CA"), DNS, [], now=T0)
    with pytest.raises(PkiError, match="not signed by the fleet root CN=Our Root"):
        intermediate.install(store, cert, ours.cert, now=T0)


def test_an_unconstrained_intermediate_is_refused(tmp_path):
    root = create_root("Test Fleet Root CA", tmp_path / "hub", now=T0)
    store = CaStore.appliance(tmp_path / "a")
    csr = intermediate.create_request(store, "pbx1 appliance CA")
    cert = (
        x509.CertificateBuilder()
        .subject_name(csr.subject)
        .issuer_name(root.cert.subject)
        .public_key(csr.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(T0)
        .not_valid_after(T0 + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(extensions.ca_key_usage(), critical=True)
        .sign(root.key, keys.signing_hash(root.key))
    )
    with pytest.raises(PkiError, match="no name constraints"):
        intermediate.install(store, cert, root.cert, now=T0)


def test_a_different_fleet_root_is_not_swapped_in(hierarchy, tmp_path):
    other = create_root("Other Root", tmp_path / "other", now=T0)
    csr = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "x")])
    )
    cert = sign_intermediate(
        other, csr.sign(hierarchy.store.ca_key(), keys.signing_hash(hierarchy.store.ca_key())), DNS, [], now=T0
    )
    with pytest.raises(PkiError, match="holds a different fleet root"):
        intermediate.install(hierarchy.store, cert, other.cert, now=T0)
    assert hierarchy.store.root_cert() == hierarchy.root.cert
