# SPDX-License-Identifier: GPL-3.0-or-later
"""Object pages: list, show, create, edit, delete; refusals next to their field; nothing half-saved."""

from __future__ import annotations

import pytest

from tests.console.conftest import post, seed_pbx
from tests.console.html import element_text, field_block

LISTS = {
    "/extensions/": ["101", "Alice", "102", "Bob", "201", "Fleet Desk"],
    "/devices/": ["desk-101", "SIP phone", "1→101", "00:11:22:aa:bb:cc"],
    "/trunks/": ["carrier", "sip.carrier.example:5060", "fleet-trunk"],
    "/numbers/": ["+4930123456", "extension 101", "spring-flyer"],
    "/routes/": ["national", "0ZXXXXXXXX.", "carrier"],
}
DETAILS = {
    "/extensions/101": "Alice",
    "/devices/desk-101": "desk-101-1",
    "/trunks/carrier": "sip.carrier.example",
    "/numbers/+4930123456": "spring-flyer",
    "/routes/national": "0ZXXXXXXXX.",
}


def count(db, table: str) -> int:
    return db.execute(f"SELECT count(*) AS n FROM {table}").fetchone()["n"]


def audit_rows(db) -> list[dict]:
    return db.execute("SELECT actor, action, object_kind, object_key, summary FROM audit_log ORDER BY id").fetchall()


@pytest.fixture
def office(db):
    seed_pbx(db)
    return db


@pytest.mark.parametrize("url", sorted(LISTS))
def test_list_pages_show_every_object(admin, office, url):
    response = admin.get(url)
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    for text in LISTS[url]:
        assert text in body, text


@pytest.mark.parametrize("url", sorted(DETAILS))
def test_detail_pages_show_the_object_without_secrets(admin, office, url):
    response = admin.get(url)
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert DETAILS[url] in body
    assert "Trunk-Pass-123" not in body
    assert "History" in body


def test_lists_mark_ansible_objects(admin, office):
    body = admin.get("/extensions/").get_data(as_text=True)
    assert 'title="Managed by Ansible: read-only here"' in body
    assert body.count("badge ansible") == 1


def test_unknown_object_is_404(admin, office):
    for url in ("/extensions/999", "/devices/nope", "/trunks/nope/edit", "/routes/nope/delete"):
        assert admin.get(url).status_code == 404, url


def test_extension_detail_shows_what_a_phone_needs_and_passwords_on_demand(admin, office):
    page = admin.get("/extensions/101").get_data(as_text=True)
    accounts = element_text(page, "accounts")
    assert "127.0.0.1" in accounts and "pbx.local" in accounts and "UDP 5060" in accounts
    assert "hidden" in accounts
    secret = office.execute("SELECT sip_password FROM extensions WHERE number = '101'").fetchone()["sip_password"]
    assert secret not in page
    shown = post(admin, "/extensions/101/credentials", form_url="/extensions/101")
    assert shown.status_code == 200
    assert secret in element_text(shown.get_data(as_text=True), "accounts")


def test_device_detail_lists_each_port_account(admin, office):
    line = office.execute("SELECT sip_username, sip_password FROM device_lines").fetchone()
    page = post(admin, "/devices/desk-101/credentials", form_url="/devices/desk-101").get_data(as_text=True)
    accounts = element_text(page, "accounts")
    assert "port 1 (extension 101)" in accounts
    assert line["sip_username"] in accounts and line["sip_password"] in accounts
    # desk-101 has a MAC address: the page says where the phone fetches its profile.
    assert "https://127.0.0.1/provision/001122aabbcc.cfg" in element_text(page, "provision-url")


def test_credentials_need_csrf_and_admin(admin, readonly, office):
    assert admin.post("/extensions/101/credentials").status_code == 400
    assert post(readonly, "/extensions/101/credentials", form_url="/extensions/101").status_code == 403


# -- create ----------------------------------------------------------------------------------------


def test_new_form_renders_every_field(admin):
    page = admin.get("/extensions/new").get_data(as_text=True)
    for name in ("number", "name", "caller_id_number", "outbound_allowed", "sip_password", "voicemail_pin"):
        assert f'id="field-{name}"' in page


def test_create_extension_saves_audits_and_says_who_applies(admin, db):
    response = post(admin, "/extensions/new", {"number": "150", "name": "Carol", "outbound_allowed": "y"})
    assert response.status_code == 302
    assert response.headers["Location"] == "/extensions/150"
    row = db.execute("SELECT name, sip_password, voicemail_pin, managed_by FROM extensions WHERE number = '150'")
    ext = row.fetchone()
    assert ext["name"] == "Carol" and ext["managed_by"] == "console"
    assert len(ext["sip_password"]) >= 16 and ext["voicemail_pin"].isdigit()  # generated
    page = admin.get("/extensions/150").get_data(as_text=True)
    assert "Extension 150 saved; the configuration will be applied by <code>" not in page  # escaped, not markup
    assert "Extension 150 saved; the configuration will be applied by `appliance config apply`" in page
    [entry] = audit_rows(db)[-1:]
    assert entry["actor"] == "user:admin" and entry["action"] == "create"
    assert entry["object_kind"] == "extension" and entry["object_key"] == "150"
    assert entry["summary"]["sip_password"] == "********" and entry["summary"]["voicemail_pin"] == "********"
    assert ext["sip_password"] not in str(entry["summary"])


def test_refused_create_shows_the_error_next_to_the_field_and_saves_nothing(admin, db):
    before = count(db, "extensions"), count(db, "audit_log")
    response = post(
        admin,
        "/extensions/new",
        {"number": "151", "name": "Dave", "sip_password": "short", "voicemail_pin": "1234"},
    )
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "must be at least 16 characters (got 5)" in field_block(page, "sip_password")
    assert "guessable" in field_block(page, "voicemail_pin")
    assert "must be" not in field_block(page, "name")
    assert 'aria-invalid="true"' in page
    assert (count(db, "extensions"), count(db, "audit_log")) == before
    # What the admin typed is kept (except the secrets).
    assert 'value="Dave"' in page


def test_type_errors_are_caught_before_the_store(admin, db, office):
    response = post(
        admin,
        "/trunks/new",
        {"name": "t2", "host": "sip.example.org", "port": "five", "max_channels": 0, "transport": "udp"},
    )
    assert response.status_code == 422
    assert "Not a valid integer value." in field_block(response.get_data(as_text=True), "port")
    response = post(
        admin,
        "/trunks/new",
        {"name": "t2", "host": "x", "port": 70000, "max_channels": 0, "transport": "carrier-pigeon"},
    )
    page = response.get_data(as_text=True)
    assert "between 1 and 65535" in field_block(page, "port")
    assert "Not a valid choice" in field_block(page, "transport")
    assert count(office, "trunks") == 2


def test_duplicate_key_is_reported_on_the_key_field(admin, office):
    response = post(admin, "/extensions/new", {"number": "101", "name": "Again"})
    assert response.status_code == 422
    assert "already exists" in field_block(response.get_data(as_text=True), "number")


def test_overlapping_route_names_the_other_route_next_to_patterns(admin, office):
    response = post(
        admin,
        "/routes/new",
        {
            "name": "intl",
            "patterns": "0ZX.",
            "trunks": "carrier",
            "presentation": "extension",
            "strip_digits": 0,
            "priority": 100,
        },
    )
    assert response.status_code == 422
    patterns = field_block(response.get_data(as_text=True), "patterns")
    assert "overlaps '0ZXXXXXXXX.' of route 'national'" in patterns
    assert count(office, "outbound_routes") == 1


def test_device_with_one_bad_port_is_not_half_saved(admin, office):
    before = count(office, "devices"), count(office, "device_lines")
    response = post(admin, "/devices/new", {"name": "ata-lobby", "kind": "fxs_gateway", "lines": "1:101, 2:999"})
    assert response.status_code == 422
    lines = field_block(response.get_data(as_text=True), "lines")
    assert "port 2: extension: extension '999' does not exist" in lines
    assert (count(office, "devices"), count(office, "device_lines")) == before


def test_device_lines_must_parse(admin, office):
    response = post(admin, "/devices/new", {"name": "ata", "kind": "fxs_gateway", "lines": "one:101"})
    assert response.status_code == 422
    assert "must look like PORT:EXTENSION" in field_block(response.get_data(as_text=True), "lines")


def test_create_every_other_kind(admin, office):
    assert (
        post(
            admin,
            "/devices/new",
            {"name": "ata-lobby", "kind": "fxs_gateway", "lines": "1:101 2:102", "mac": "00:11:22:33:44:55"},
        ).status_code
        == 302
    )
    assert (
        office.execute(
            "SELECT count(*) AS n FROM device_lines l JOIN devices d ON d.id = l.device_id WHERE d.name = 'ata-lobby'"
        ).fetchone()["n"]
        == 2
    )
    assert (
        post(
            admin,
            "/trunks/new",
            {
                "name": "backup",
                "host": "sip.backup.example",
                "port": 5061,
                "transport": "tls",
                "inbound_cidrs": "192.0.2.0/24, 198.51.100.7",
                "max_channels": 4,
            },
        ).headers["Location"]
        == "/trunks/backup"
    )
    trunk = office.execute("SELECT inbound_cidrs, transport FROM trunks WHERE name = 'backup'").fetchone()
    assert trunk == {"inbound_cidrs": ["192.0.2.0/24", "198.51.100.7"], "transport": "tls"}
    assert (
        post(
            admin,
            "/numbers/new",
            {"number": "+4930123457", "destination_kind": "extension", "destination": "102", "tracking_tag": "radio"},
        ).status_code
        == 302
    )
    assert (
        post(
            admin,
            "/routes/new",
            {
                "name": "intl",
                "patterns": "00ZX.",
                "trunks": "carrier backup",
                "presentation": "withheld",
                "strip_digits": 0,
                "priority": 50,
            },
        ).status_code
        == 302
    )
    route = admin.get("/routes/intl").get_data(as_text=True)
    assert "carrier, backup" in route


# -- edit ------------------------------------------------------------------------------------------


def test_edit_extension_changes_only_what_changed(admin, office):
    old = office.execute("SELECT sip_password FROM extensions WHERE number = '101'").fetchone()["sip_password"]
    page = admin.get("/extensions/101/edit").get_data(as_text=True)
    assert 'value="Alice"' in page and old not in page
    response = post(
        admin,
        "/extensions/101/edit",
        {"name": "Alicia", "caller_id_number": "+4930123456101", "outbound_allowed": "y", "sip_password": ""},
        form_url="/extensions/101/edit",
    )
    assert response.status_code == 302 and response.headers["Location"] == "/extensions/101"
    row = office.execute("SELECT name, sip_password FROM extensions WHERE number = '101'").fetchone()
    assert row == {"name": "Alicia", "sip_password": old}  # an empty secret keeps the current one
    entry = audit_rows(office)[-1]
    assert entry["action"] == "update" and entry["summary"] == {"name": ["Alice", "Alicia"]}


def test_refused_edit_keeps_the_old_values(admin, office):
    response = post(admin, "/extensions/101/edit", {"name": "", "caller_id_number": "not-a-number"})
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "This field is required." in field_block(page, "name")
    response = post(admin, "/extensions/101/edit", {"name": "Alice", "caller_id_number": "not-a-number"})
    assert "is not a phone number" in field_block(response.get_data(as_text=True), "caller_id_number")
    row = office.execute("SELECT name, caller_id_number FROM extensions WHERE number = '101'").fetchone()
    assert row == {"name": "Alice", "caller_id_number": "+4930123456101"}


def test_edit_device_keeps_each_kept_port_account(admin, office):
    before = office.execute("SELECT sip_username, sip_password FROM device_lines WHERE port = 1").fetchone()
    response = post(
        admin,
        "/devices/desk-101/edit",
        {"kind": "sip_phone", "lines": "1:101, 2:102", "model": "Yealink T54W", "mac": "00:11:22:aa:bb:cc"},
    )
    assert response.status_code == 302
    lines = office.execute("SELECT port, sip_username, sip_password FROM device_lines ORDER BY port").fetchall()
    assert lines[0] == {"port": 1, **before}
    assert lines[1]["port"] == 2 and lines[1]["sip_username"] == "desk-101-2"
    summary = audit_rows(office)[-1]["summary"]
    assert set(summary) == {"lines", "model"}
    assert before["sip_password"] not in str(summary)


def test_refused_route_edit_leaves_the_route_whole(admin, office):
    response = post(
        admin,
        "/routes/national/edit",
        {
            "patterns": "0ZXXXXXXXX. 1[",
            "trunks": "carrier",
            "presentation": "extension",
            "strip_digits": 0,
            "priority": 100,
        },
    )
    assert response.status_code == 422
    assert field_block(response.get_data(as_text=True), "patterns")
    row = office.execute("SELECT patterns FROM outbound_routes WHERE name = 'national'").fetchone()
    assert row["patterns"] == ["0ZXXXXXXXX."]
    assert office.execute("SELECT count(*) AS n FROM outbound_route_trunks").fetchone()["n"] == 1


def test_edit_number_and_route(admin, office):
    assert (
        post(
            admin,
            "/numbers/+4930123456/edit",
            {"destination_kind": "extension", "destination": "102", "tracking_tag": "summer", "trunk": ""},
        ).status_code
        == 302
    )
    number = office.execute("SELECT destination, tracking_tag, trunk_id FROM inbound_numbers").fetchone()
    assert number == {"destination": "102", "tracking_tag": "summer", "trunk_id": None}
    assert (
        post(
            admin,
            "/routes/national/edit",
            {
                "patterns": "0ZXXXXXXXX.",
                "trunks": "carrier",
                "presentation": "withheld",
                "strip_digits": 1,
                "prepend": "+49",
                "priority": 10,
            },
        ).status_code
        == 302
    )
    route = office.execute("SELECT presentation, strip_digits, prepend FROM outbound_routes").fetchone()
    assert route == {"presentation": "withheld", "strip_digits": 1, "prepend": "+49"}


# -- delete ----------------------------------------------------------------------------------------


def test_delete_asks_then_removes(admin, office):
    page = admin.get("/routes/national/delete")
    assert page.status_code == 200 and "Delete outbound route" in page.get_data(as_text=True)
    response = post(admin, "/routes/national/delete", form_url="/routes/national/delete")
    assert response.status_code == 302 and response.headers["Location"] == "/routes/"
    assert count(office, "outbound_routes") == 0
    entry = audit_rows(office)[-1]
    assert (entry["action"], entry["object_kind"], entry["object_key"]) == ("delete", "route", "national")


def test_delete_of_something_in_use_is_refused_with_the_reason(admin, office):
    response = post(admin, "/extensions/101/delete")
    assert response.status_code == 422
    body = response.get_data(as_text=True)
    assert "still used by device line desk-101 port 1" in body
    assert "still used by inbound number +4930123456" in body
    assert office.execute("SELECT 1 FROM extensions WHERE number = '101'").fetchone()


def test_delete_without_csrf_token_is_refused(admin, office):
    assert admin.post("/routes/national/delete").status_code == 400
    assert count(office, "outbound_routes") == 1


# -- who may change what ---------------------------------------------------------------------------


def test_ansible_objects_are_read_only_with_a_note(admin, office):
    page = admin.get("/extensions/201").get_data(as_text=True)
    assert "Managed by Ansible: read-only here. Change it in the fleet inventory." in page
    assert "/extensions/201/edit" not in page and "/extensions/201/delete" not in page
    for url in ("/extensions/201/edit", "/extensions/201/delete", "/trunks/fleet-trunk/edit"):
        refused = admin.get(url)
        assert refused.status_code == 403, url
        assert "Managed by Ansible" in refused.get_data(as_text=True)


def test_writes_to_ansible_objects_are_refused(admin, office):
    before = audit_rows(office)
    edit = post(admin, "/extensions/201/edit", {"name": "Hijacked"})
    delete = post(admin, "/trunks/fleet-trunk/delete")
    assert (edit.status_code, delete.status_code) == (403, 403)
    assert office.execute("SELECT name FROM extensions WHERE number = '201'").fetchone()["name"] == "Fleet Desk"
    assert office.execute("SELECT 1 FROM trunks WHERE name = 'fleet-trunk'").fetchone()
    assert audit_rows(office) == before


def test_readonly_user_sees_no_write_controls_and_is_refused(readonly, office):
    page = readonly.get("/extensions/101").get_data(as_text=True)
    assert "/extensions/101/edit" not in page and "Show passwords" not in page
    assert "New extension" not in readonly.get("/extensions/").get_data(as_text=True)
    for url in ("/extensions/101/edit", "/extensions/101/delete", "/trunks/new"):
        assert readonly.get(url).status_code == 403, url
    assert post(readonly, "/extensions/101/edit", {"name": "Mallory"}).status_code == 403
    assert post(readonly, "/routes/national/delete").status_code == 403
    assert office.execute("SELECT name FROM extensions WHERE number = '101'").fetchone()["name"] == "Alice"


def test_create_without_csrf_token_is_refused(admin, db):
    response = admin.post("/extensions/new", data={"number": "160", "name": "Eve"})
    assert response.status_code == 400
    assert count(db, "extensions") == 0


def test_csrf_token_from_another_session_is_refused(app, admin, db):
    from tests.console.conftest import ADMIN_PASSWORD, csrf_token, sign_in

    other = app.test_client()
    sign_in(other, "admin", ADMIN_PASSWORD)
    foreign = csrf_token(other, "/")
    assert (
        admin.post("/extensions/new", data={"csrf_token": foreign, "number": "160", "name": "Eve"}).status_code == 400
    )
    assert count(db, "extensions") == 0


def test_cross_site_referer_is_refused(admin, db):
    from tests.console.conftest import csrf_token

    token = csrf_token(admin, "/")
    response = admin.post(
        "/extensions/new",
        data={"csrf_token": token, "number": "160", "name": "Eve"},
        headers={"Referer": "https://evil.example/"},
    )
    assert response.status_code == 400
    assert "referrer does not match" in response.get_data(as_text=True)
    assert count(db, "extensions") == 0
