# SPDX-License-Identifier: GPL-3.0-or-later
"""/pki/<file>: the CA's published root, chain and CRL for phones and the hub, without signing in."""

from __future__ import annotations

from cryptography import x509

from appliance.pki import crl
from appliance.pki.store import CaStore


def test_the_root_chain_and_crl_are_served_without_signing_in(ca_app, db):
    app, store, leaf = ca_app
    crl.revoke(store, leaf.serial, now=leaf.not_before, reason="keyCompromise")
    client = app.test_client()  # a phone: no session, no token
    root = client.get("/pki/root.pem")
    assert root.status_code == 200 and root.mimetype == "application/x-pem-file"
    assert x509.load_pem_x509_certificate(root.data).subject.rfc4514_string() == "CN=System Test Root"
    chain = x509.load_pem_x509_certificates(client.get("/pki/chain.pem").data)
    assert chain[0] == store.ca_cert()
    der = client.get(f"/pki/{store.crl_path.name}")
    assert der.status_code == 200 and der.mimetype == "application/pkix-crl"
    revoked = x509.load_der_x509_crl(der.data)
    assert revoked.get_revoked_certificate_by_serial_number(int(leaf.serial, 16)) is not None
    assert x509.load_pem_x509_crl(client.get(f"/pki/{store.crl_pem_path.name}").data) == revoked
    assert "max-age=300" in der.headers["Cache-Control"]


def test_nothing_but_the_published_files_is_served(ca_app, db):
    app, store, _leaf = ca_app
    client = app.test_client()
    for name in ("intermediate.key", "index.json", "..%2Fintermediate.key", "x.pem"):
        assert client.get(f"/pki/{name}").status_code == 404, name
    # A key under a published name's folder is still unreachable: only fixed names map to files.
    assert client.get("/pki/private/" + next(iter(store.load().records)).serial + ".key").status_code == 404
    assert client.get("/pki/root.pem", headers={"Cookie": ""}).status_code == 200


def test_a_file_not_made_yet_is_a_clear_404(app_config, db, tmp_path):
    from appliance.console import create_app

    app_config["APPLIANCE_CONFIG"]["pki"]["dir"] = str(CaStore.appliance(tmp_path / "none").dir)
    response = create_app(app_config).test_client().get("/pki/root.pem")
    assert response.status_code == 404 and b"not published yet" in response.data
