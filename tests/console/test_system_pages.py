# SPDX-License-Identifier: GPL-3.0-or-later
"""System pages and dashboard health: settings, network and WireGuard, certificates, storage."""

from __future__ import annotations

import json
import os

import pytest

from appliance.console import create_app
from appliance.store.repo import Store
from tests.console.conftest import ADMIN_PASSWORD, HttpsClient, make_user, post, seed_pbx, sign_in
from tests.console.fakefs import PASSWORD, ThreadedFakeEsl
from tests.console.html import element_text, field_block
from tests.unit.metrics.replies import GATEWAYS

PUBKEY = "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg="
HUB_KEY = "TrMvSoP4jYQlY6RIzBgbssQqY3vxI2Pi+y71lOWWXX0="


def tile_state(page: str, key: str) -> str:
    marker = f'id="health-{key}" data-state="'
    start = page.index(marker) + len(marker)
    return page[start : page.index('"', start)]


# -- settings ---------------------------------------------------------------------------------------
def test_settings_form_saves_audits_and_says_how_it_is_applied(admin, db):
    page = admin.get("/system/")
    assert page.status_code == 200 and 'id="settings-form"' in page.get_data(as_text=True)
    data = {
        "domain": "office.example",
        "company_name": "Acme",
        "company_number": "+4930555000",
        "codecs": "PCMU,PCMA",
        "ring_seconds": "25",
        "max_outside_calls": "2",
        "outside_routes": "*",
        "lan_ip": "127.0.0.1",
        "trunk_ip": "127.0.0.1",
        "internal_sip_port": "5060",
        "internal_tls_port": "5061",
        "external_sip_port": "5080",
        "rtp_start": "16384",
        "rtp_end": "32768",
    }
    response = post(admin, "/system/", data, form_url="/system/")
    assert response.status_code == 302 and response.headers["Location"] == "/system/"
    site = db.execute("SELECT domain, ring_seconds, tls_enabled FROM site").fetchone()
    assert site == {"domain": "office.example", "ring_seconds": 25, "tls_enabled": False}
    flash = admin.get("/system/").get_data(as_text=True)
    assert "Settings saved; the configuration will be applied by `appliance config apply`" in flash
    audit = db.execute("SELECT actor, object_kind, summary FROM audit_log WHERE object_kind = 'site'").fetchone()
    assert audit["actor"] == "user:admin" and audit["summary"]["domain"] == ["pbx.local", "office.example"]


def test_refused_settings_show_errors_by_field_and_save_nothing(admin, db):
    data = {
        "domain": "not a domain!",
        "codecs": "PCMU",
        "ring_seconds": "2",
        "max_outside_calls": "2",
        "outside_routes": "*",
        "lan_ip": "10.0.0.300",
        "trunk_ip": "127.0.0.1",
        "internal_sip_port": "5060",
        "internal_tls_port": "5061",
        "external_sip_port": "5080",
        "rtp_start": "16384",
        "rtp_end": "32768",
    }
    response = post(admin, "/system/", data, form_url="/system/")
    assert response.status_code == 422
    body = response.get_data(as_text=True)
    assert "is not a valid domain name" in field_block(body, "domain")
    assert "is not an IP address" in field_block(body, "lan_ip")
    assert "between 5 and 300" in field_block(body, "ring_seconds")
    assert db.execute("SELECT domain FROM site").fetchone()["domain"] == "pbx.local"
    assert db.execute("SELECT count(*) AS n FROM audit_log WHERE object_kind = 'site'").fetchone()["n"] == 0


def test_ansible_site_is_read_only(admin, db):
    Store(db, actor="ansible").update_site(managed_by="ansible")
    page = admin.get("/system/").get_data(as_text=True)
    assert "Managed by Ansible: read-only here" in page and 'id="settings-form"' not in page
    assert "pbx.local" in element_text(page, "settings")
    assert post(admin, "/system/", {"domain": "x.example"}, form_url="/system/network").status_code == 403


def test_readonly_users_see_settings_but_cannot_save(readonly, db):
    page = readonly.get("/system/").get_data(as_text=True)
    assert "pbx.local" in element_text(page, "settings")
    assert post(readonly, "/system/", {"domain": "x.example"}).status_code == 403
    assert db.execute("SELECT domain FROM site").fetchone()["domain"] == "pbx.local"


def test_settings_post_needs_csrf(admin, db):
    assert admin.post("/system/", data={"domain": "x.example"}).status_code == 400


# -- network and WireGuard --------------------------------------------------------------------------
def test_network_without_a_tunnel(admin):
    page = admin.get("/system/network").get_data(as_text=True)
    assert "5060" in element_text(page, "addresses")
    assert "not enrolled" in element_text(page, "no-tunnel")
    assert tile_state(page, "tunnel") == "unknown"


@pytest.fixture
def tunnel_app(app_config, tmp_path):
    key = tmp_path / "wg.key"
    key.write_text("aGlkZGVuLWtleS1ub3QtdXNlZC1ieS10aGlzLXRlc3Q9\n")
    psk = tmp_path / "hub.psk"
    psk.write_text("cHNrLW5vdC11c2VkLWJ5LXRoaXMtdGVzdC1hdC1hbGw9\n")
    app_config["APPLIANCE_CONFIG"]["vpn"] = {
        "role": "spoke",
        "interface": "wgtest0",
        "addresses": ["10.200.0.7/16"],
        "private_key_file": str(key),
        "peers": [
            {
                "name": "hub",
                "public_key": HUB_KEY,
                "allowed_ips": ["10.200.0.0/16"],
                "endpoint": "hub.example.net:51820",
                "persistent_keepalive": 25,
                "preshared_key_file": str(psk),
            }
        ],
    }
    (tmp_path / "net" / "wgtest0").mkdir(parents=True)
    ages = {"age": 42.0}

    def status(ifname, names):
        age = ages["age"]
        state = "never" if age is None else "up" if age <= 180 else "stale"
        return {HUB_KEY: {"name": names.get(HUB_KEY, ""), "handshake_age": age, "state": state}}

    app = create_app({**app_config, "HEALTH_WG_STATUS": status, "HEALTH_SYS_CLASS_NET": str(tmp_path / "net")})
    app.test_client_class = HttpsClient
    return app, ages


def _signed_in(app, db):
    make_user(db, "admin", ADMIN_PASSWORD)
    client = app.test_client()
    assert sign_in(client, "admin", ADMIN_PASSWORD).status_code == 302
    return client


def test_network_shows_the_tunnel_its_peers_and_the_hubs_peer_block(tunnel_app, db, monkeypatch):
    app, ages = tunnel_app
    from appliance.vpn import keys

    monkeypatch.setattr(keys, "public_key", lambda path: PUBKEY)
    client = _signed_in(app, db)
    page = client.get("/system/network").get_data(as_text=True)
    assert "wgtest0" in element_text(page, "tunnel") and PUBKEY in element_text(page, "tunnel")
    peers = element_text(page, "peers")
    assert "hub" in peers and "hub.example.net:51820" in peers and "10.200.0.0/16" in peers
    block = element_text(page, "peer-config")
    assert f"PublicKey = {PUBKEY}" in block and "AllowedIPs = 10.200.0.7/32" in block
    assert "PrivateKey" not in page and "aGlkZGVu" not in page and "cHNr" not in page
    assert tile_state(page, "tunnel") == "ok" and "handshake 42 s ago" in element_text(page, "health-tunnel")
    ages["age"] = 600.0
    assert tile_state(client.get("/").get_data(as_text=True), "tunnel") == "warn"
    ages["age"] = None
    page = client.get("/").get_data(as_text=True)
    assert tile_state(page, "tunnel") == "bad" and "never completed a handshake" in page


# -- certificates -----------------------------------------------------------------------------------
def test_certificates_list_renew_and_revoke(ca_app, db):
    app, store, leaf = ca_app
    client = _signed_in(app, db)
    page = client.get("/system/certificates").get_data(as_text=True)
    assert leaf.serial in element_text(page, "certificates") and "valid" in element_text(page, f"cert-{leaf.serial}")
    renewed = post(client, f"/system/certificates/{leaf.serial}/renew", form_url="/system/certificates")
    assert renewed.status_code == 303
    index = store.load()
    successor = index.find(leaf.serial).superseded_by
    assert successor and index.find(successor).profile == "console"
    page = client.get("/system/certificates").get_data(as_text=True)
    assert f"renewed as {successor}" in page and "superseded" in element_text(page, f"cert-{leaf.serial}")
    revoked = post(
        client, f"/system/certificates/{successor}/revoke", {"reason": "keyCompromise"}, "/system/certificates"
    )
    assert revoked.status_code == 303 and store.load().find(successor).revoked_at is not None
    assert store.crl_path.is_file()
    again = post(
        client, f"/system/certificates/{successor}/revoke", {"reason": "keyCompromise"}, "/system/certificates"
    )
    assert "not revoked: certificate" in client.get(again.headers["Location"]).get_data(as_text=True)
    rows = db.execute(
        "SELECT action, object_key FROM audit_log WHERE object_kind = 'certificate' ORDER BY id"
    ).fetchall()
    assert [(r["action"], r["object_key"]) for r in rows] == [("update", leaf.serial), ("delete", successor)]
    bad = post(client, f"/system/certificates/{leaf.serial}/revoke", {"reason": "because"}, "/system/certificates")
    assert bad.status_code == 400


def test_certificate_actions_refused_to_readonly_and_without_csrf(ca_app, db):
    app, store, leaf = ca_app
    make_user(db, "viewer", "Readonly-Staple-Lamp-42", role="readonly")
    viewer = app.test_client()
    sign_in(viewer, "viewer", "Readonly-Staple-Lamp-42")
    page = viewer.get("/system/certificates").get_data(as_text=True)
    assert leaf.serial in page and "Renew</button>" not in page
    assert post(viewer, f"/system/certificates/{leaf.serial}/renew").status_code == 403
    admin = _signed_in(app, db)
    assert admin.post(f"/system/certificates/{leaf.serial}/revoke").status_code == 400
    assert store.load().find(leaf.serial).revoked_at is None and not store.load().find(leaf.serial).superseded_by


def test_certificates_without_a_ca(admin):
    page = admin.get("/system/certificates").get_data(as_text=True)
    assert "issued no certificates" in element_text(page, "no-certificates")
    assert tile_state(page, "certificates") == "unknown"


# -- storage ----------------------------------------------------------------------------------------
def _disk(free_share: float):
    """A statvfs of a 10 GB volume with this share free: the tile must not depend on the test host's disk."""
    blocks = 10 * 1024**3 // 4096
    return lambda path: os.statvfs_result(
        (4096, 4096, blocks, int(blocks * free_share), int(blocks * free_share), 0, 0, 0, 0, 255)
    )


def _storage_app(app_config, tmp_path, encrypted: bool, marker: str | None = "tpm2+tang", free_share: float = 0.5):
    data = tmp_path / "data"
    data.mkdir()
    if marker:
        (data / ".storage-mode").write_text(marker + "\n")
    mounts = tmp_path / "mounts"
    mounts.write_text(f"/dev/mapper/data {data} ext4 rw 0 0\n")
    sys_root = tmp_path / "sys"
    dm = sys_root / "dev" / "block" / "253:0" / "dm"
    dm.mkdir(parents=True)
    (dm / "uuid").write_text("CRYPT-LUKS2-abc-data\n" if encrypted else "LVM-abc\n")
    app_config["APPLIANCE_CONFIG"]["metrics"].update(data_mount=str(data), storage_marker=str(data / ".storage-mode"))
    app = create_app(
        {
            **app_config,
            "HEALTH_PROC_MOUNTS": str(mounts),
            "HEALTH_SYS_ROOT": str(sys_root),
            "HEALTH_DEVICE_NUMBER": lambda device: (253, 0),
            "HEALTH_STATVFS": _disk(free_share),
        }
    )
    app.test_client_class = HttpsClient
    return app


def test_storage_encrypted_and_mounted(app_config, db, tmp_path):
    client = _signed_in(_storage_app(app_config, tmp_path, encrypted=True), db)
    page = client.get("/system/storage").get_data(as_text=True)
    tile = element_text(page, "health-storage")
    assert tile_state(page, "storage") == "ok" and "encrypted and mounted" in tile and "tpm2+tang" in tile
    assert "5.0 GB of 10.0 GB" in tile


@pytest.mark.parametrize(("share", "state"), [(0.10, "warn"), (0.02, "bad")])
def test_storage_nearly_full_is_a_warning_then_a_problem(app_config, db, tmp_path, share, state):
    client = _signed_in(_storage_app(app_config, tmp_path, encrypted=True, free_share=share), db)
    page = client.get("/system/storage").get_data(as_text=True)
    assert tile_state(page, "storage") == state, element_text(page, "health-storage")


def test_storage_not_encrypted_is_a_problem(app_config, db, tmp_path):
    client = _signed_in(_storage_app(app_config, tmp_path, encrypted=False, marker=None), db)
    page = client.get("/").get_data(as_text=True)
    tile = element_text(page, "health-storage")
    assert tile_state(page, "storage") == "bad" and "not encrypted" in tile and "no storage marker" in tile


def test_storage_not_mounted(admin):
    page = admin.get("/system/storage").get_data(as_text=True)
    assert tile_state(page, "storage") == "bad" and "not mounted" in element_text(page, "health-storage")


# -- dashboard: trunks from the live FreeSWITCH -----------------------------------------------------
def test_dashboard_trunk_health_from_sofia_xmlstatus(app_config, db, tmp_path):
    replies = {
        "show registrations as json": json.dumps({"row_count": 0}),
        "show calls as json": '{"row_count": 0}',
        "sofia xmlstatus gateway": GATEWAYS,
    }
    fake = ThreadedFakeEsl(replies).start()
    try:
        password_file = tmp_path / "esl_password"
        password_file.write_text(PASSWORD + "\n")
        app_config["APPLIANCE_CONFIG"]["freeswitch"].update(esl_port=fake.port, esl_password_file=str(password_file))
        app = create_app({**app_config, "FREESWITCH_LIVE": True, "ESL_TIMEOUT": 3.0})
        app.test_client_class = HttpsClient
        seed_pbx(db)  # trunks: carrier (FreeSWITCH has it, up) and fleet-trunk (not loaded)
        page = _signed_in(app, db).get("/").get_data(as_text=True)
        tile = element_text(page, "health-trunks")
        assert "1 of 2 up" in tile and "carrier : noreg, up" in tile and "fleet-trunk : not loaded" in tile
        assert tile_state(page, "trunks") == "bad"
        assert "api sofia xmlstatus gateway" in fake.commands
        app.extensions["console_freeswitch"].shutdown()
    finally:
        fake.stop()


def test_dashboard_health_without_freeswitch_says_why(admin, db):
    seed_pbx(db)
    page = admin.get("/").get_data(as_text=True)
    assert tile_state(page, "trunks") == "unknown" and "not connected" in element_text(page, "health-trunks")
    assert '<meta http-equiv="refresh" content="30">' in page
    for key in ("trunks", "tunnel", "storage", "certificates"):
        assert f'id="health-{key}"' in page
