# SPDX-License-Identifier: GPL-3.0-or-later
"""/provision/<mac>.cfg and .json: a phone fetches its profile, with the fleet root, using its own account."""

from __future__ import annotations

import base64
import subprocess

from appliance.pki import issue
from appliance.provisioning import profile
from appliance.store.repo import Store, load_snapshot
from tests.console.conftest import seed_pbx

MAC = "00:11:22:aa:bb:cc"  # desk-101's, as seed_pbx adds it


def basic(username: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()}


def desk_line(db) -> tuple[str, str]:
    line = next(d for d in load_snapshot(db).devices if d.name == "desk-101").lines[0]
    return line.sip_username, line.sip_password


def test_a_phone_gets_its_tls_and_srtp_profile_with_the_fleet_root(ca_app, db, tmp_path):
    app, store, _leaf = ca_app
    seed_pbx(db)
    Store(db).update_site(tls_enabled=True, lan_ip="127.0.0.1", internal_tls_port=5061)
    db.execute("UPDATE devices SET tls = true WHERE name = 'desk-101'")
    username, password = desk_line(db)
    client = app.test_client()

    cfg = client.get("/provision/001122aabbcc.cfg", headers=basic(username, password))
    assert cfg.status_code == 200 and cfg.mimetype == "text/plain"
    assert cfg.headers["Cache-Control"] == "no-store"
    text = cfg.get_data(as_text=True)
    for line in (
        "static.trusted_certificates.url = http://127.0.0.1/pki/root.pem",
        f"account.1.user_name = {username}",
        f"account.1.password = {password}",
        "account.1.display_name = Alice",
        "account.1.sip_server.1.address = 127.0.0.1",
        "account.1.sip_server.1.port = 5061",
        "account.1.sip_server.1.transport_type = 2",
        "account.1.srtp_encryption = 2",
    ):
        assert line in text.splitlines(), line

    data = client.get(f"/provision/{MAC}.json", headers=basic(username, password)).get_json()
    assert (data["transport"], data["port"], data["srtp"]) == ("tls", 5061, "mandatory")
    assert data["root_pem"] == (store.public_dir / "root.pem").read_text()
    # The root a phone receives is the one FreeSWITCH's SIP certificate chains to.
    sip = issue.issue(store, "sip", ["localhost", "127.0.0.1"], now=_leaf.not_before)
    (tmp_path / "root.pem").write_text(data["root_pem"])
    verify = subprocess.run(
        ["openssl", "verify", "-CAfile", str(tmp_path / "root.pem"), "-untrusted", str(store.cert_path),
         "-purpose", "sslserver", str(store.dir / "issued" / f"{sip.serial}.pem")],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert verify.returncode == 0, verify.stdout + verify.stderr


def test_a_device_not_marked_tls_is_told_udp_with_srtp_offered(ca_app, db):
    app, _store, _leaf = ca_app
    seed_pbx(db)
    Store(db).update_site(tls_enabled=True)  # the site offers TLS; this phone is not set up for it
    username, password = desk_line(db)
    text = app.test_client().get(f"/provision/{MAC}.cfg", headers=basic(username, password)).get_data(as_text=True)
    assert "account.1.sip_server.1.transport_type = 0" in text and "account.1.srtp_encryption = 1" in text


def test_strangers_and_wrong_passwords_get_the_same_401_and_are_throttled(ca_app, db):
    app, _store, _leaf = ca_app
    seed_pbx(db)
    username, password = desk_line(db)
    client = app.test_client()
    anonymous = client.get(f"/provision/{MAC}.cfg")
    assert anonymous.status_code == 401 and anonymous.headers["WWW-Authenticate"].startswith("Basic")
    unknown = client.get("/provision/0011229999ff.cfg", headers=basic(username, password))
    wrong = client.get(f"/provision/{MAC}.cfg", headers=basic(username, "not-it"))
    assert unknown.status_code == wrong.status_code == 401 and unknown.data == wrong.data
    # Another phone's account does not open this one's profile.
    Store(db).add_device("desk-102", "sip_phone", [{"port": 1, "extension": "102"}], mac="00:11:22:aa:bb:dd")
    other = next(d for d in load_snapshot(db).devices if d.name == "desk-102").lines[0]
    assert client.get(f"/provision/{MAC}.cfg", headers=basic(other.sip_username, other.sip_password)).status_code == 401
    for _ in range(5):
        client.get(f"/provision/{MAC}.cfg", headers=basic(username, "guess"))
    locked = client.get(f"/provision/{MAC}.cfg", headers=basic(username, password))
    assert locked.status_code == 429 and "Retry-After" in locked.headers


def test_a_name_with_a_line_break_cannot_add_settings(ca_app, db):
    app, _store, _leaf = ca_app
    seed_pbx(db)
    db.execute("UPDATE extensions SET name = %s WHERE number = '101'", ("Alice\nstatic.security.user_password = x",))
    username, password = desk_line(db)
    text = app.test_client().get(f"/provision/{MAC}.cfg", headers=basic(username, password)).get_data(as_text=True)
    assert not any(line.startswith("static.security.user_password") for line in text.splitlines())


def test_mac_addresses_are_matched_in_any_notation():
    assert profile.mac_key("00:11:22:AA:BB:CC") == profile.mac_key("0011.22aa.bbcc") == "001122aabbcc"
    assert profile.mac_key("00:11:22:aa:bb") is None and profile.mac_key("zz1122aabbcc") is None
