# SPDX-License-Identifier: GPL-3.0-or-later
"""The REST API: bearer tokens and scopes, the same refusals as the pages, as JSON; every route described."""

from __future__ import annotations

import re

import pytest

from appliance.console import tokens
from tests.console.conftest import bearer, seed_pbx


@pytest.fixture
def office(db):
    seed_pbx(db)
    return db


@pytest.fixture
def rw(db):
    return bearer(db, "crm", ("read", "write"))


@pytest.fixture
def ro(db):
    return bearer(db, "wallboard", ("read",))


def test_no_token_is_401_with_a_challenge(client):
    response = client.get("/api/v1/extensions")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert response.json == {"error": "send a token: Authorization: Bearer <token>", "problems": []}


@pytest.mark.parametrize("header", ["Bearer fsca_not-a-token", "Basic YWRtaW46YWRtaW4=", "Bearer ", "fsca_x"])
def test_bad_tokens_are_401(client, db, header):
    response = client.get("/api/v1/extensions", headers={"Authorization": header})
    assert response.status_code == 401


def test_session_cookie_does_not_open_the_api(admin):
    assert admin.get("/api/v1/extensions").status_code == 401


def test_revoked_token_is_refused_at_once(client, db):
    headers = bearer(db, "old")
    assert client.get("/api/v1/trunks", headers=headers).status_code == 200
    tokens.revoke(db, "old", actor="test")
    response = client.get("/api/v1/trunks", headers=headers)
    assert response.status_code == 401 and response.json["error"] == "unknown or revoked token"


def test_tokens_are_stored_as_digests_only(db):
    token = tokens.create(db, "digest-check", ["read"], actor="test")
    row = db.execute("SELECT token_hash FROM api_tokens WHERE name = 'digest-check'").fetchone()
    assert row["token_hash"] == tokens.digest(token) and token not in str(row)
    assert token.startswith("fsca_") and len(token) > 40


def test_read_scope_reads_but_does_not_write(client, office, ro):
    assert client.get("/api/v1/extensions", headers=ro).status_code == 200
    refused = client.post("/api/v1/extensions", json={"number": "150", "name": "Carol"}, headers=ro)
    assert refused.status_code == 403
    assert refused.headers["WWW-Authenticate"].startswith('Bearer error="insufficient_scope"')
    assert client.get("/api/v1/extensions/101?secrets=true", headers=ro).status_code == 403
    assert office.execute("SELECT count(*) AS n FROM extensions").fetchone()["n"] == 3


def test_list_has_no_secrets(client, office, ro):
    response = client.get("/api/v1/extensions", headers=ro)
    items = {e["number"]: e for e in response.json["items"]}
    assert set(items) == {"101", "102", "201"}
    assert items["201"]["managed_by"] == "ansible"
    assert "sip_password" not in items["101"] and "voicemail_pin" not in items["101"]
    trunks = client.get("/api/v1/trunks", headers=ro).json["items"]
    assert all("password" not in t for t in trunks)
    devices = client.get("/api/v1/devices", headers=ro).json["items"]
    assert devices[0]["lines"] == [{"port": 1, "extension": "101", "sip_username": "desk-101-1"}]


def test_create_returns_generated_credentials_once_and_audits(client, db, rw):
    response = client.post("/api/v1/extensions", json={"number": "150", "name": "Carol"}, headers=rw)
    assert response.status_code == 201
    assert response.headers["Location"] == "/api/v1/extensions/150"
    item = response.json["item"]
    assert item["number"] == "150" and len(item["sip_password"]) >= 16 and item["managed_by"] == "console"
    assert response.json["configuration"] == {
        "applied": False,
        "live": False,
        "message": "the configuration will be applied by `appliance config apply` "
        "(this console is not connected to a live FreeSWITCH)",
    }
    entry = db.execute("SELECT actor, action, object_key FROM audit_log WHERE object_kind = 'extension'").fetchone()
    assert entry == {"actor": "token:crm", "action": "create", "object_key": "150"}
    again = client.get("/api/v1/extensions/150", headers=rw).json
    assert "sip_password" not in again
    shown = client.get("/api/v1/extensions/150?secrets=true", headers=rw).json
    assert shown["sip_password"] == item["sip_password"]


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"number": 150, "name": "Carol"}, "number", "must be a string"),
        ({"number": "150"}, "name", "is required"),
        ({"number": "150", "name": "C", "colour": "red"}, "colour", "no such field"),
        ({"number": "150", "name": "C", "outbound_allowed": "yes"}, "outbound_allowed", "must be true or false"),
        ({"number": "150", "name": "C\x00"}, "name", "must not contain NUL characters"),
        ({"number": "150", "name": "C" * 81}, "name", "must be at most 80 characters"),
    ],
)
def test_schema_violations_are_400_naming_the_field(client, db, rw, body, field, message):
    response = client.post("/api/v1/extensions", json=body, headers=rw)
    assert response.status_code == 400
    assert {"obj": "extension 150", "field": field, "message": message} in response.json["problems"]
    assert db.execute("SELECT count(*) AS n FROM extensions").fetchone()["n"] == 0


def test_body_must_be_a_json_object(client, rw):
    assert client.post("/api/v1/extensions", data="number=150", headers=rw).status_code == 415
    bad = client.post("/api/v1/extensions", data="{", headers={**rw, "Content-Type": "application/json"})
    assert bad.status_code == 400 and bad.json["error"] == "the body is not valid JSON"
    listed = client.post("/api/v1/extensions", json=["150"], headers=rw)
    assert listed.status_code == 400 and listed.json["problems"][0]["message"] == "must be a JSON object"


def test_refusals_are_422_with_every_problem_and_nothing_saved(client, office, rw):
    response = client.post(
        "/api/v1/devices",
        json={
            "name": "ata",
            "kind": "fxs_gateway",
            "lines": [{"port": 1, "extension": "101"}, {"port": 2, "extension": "999"}],
        },
        headers=rw,
    )
    assert response.status_code == 422
    assert response.json["error"] == "refused; nothing was saved"
    assert {"obj": "device ata port 2", "field": "extension", "message": "extension '999' does not exist"} in (
        response.json["problems"]
    )
    assert office.execute("SELECT count(*) AS n FROM devices").fetchone()["n"] == 1
    overlap = client.post(
        "/api/v1/routes", json={"name": "intl", "patterns": ["0ZX."], "trunks": ["carrier"]}, headers=rw
    )
    assert overlap.status_code == 422
    messages = [p["message"] for p in overlap.json["problems"] if p["field"] == "patterns"]
    assert any("overlaps '0ZXXXXXXXX.'" in m for m in messages)


def test_patch_changes_fields_and_refuses_the_key(client, office, rw):
    response = client.patch("/api/v1/extensions/101", json={"name": "Alicia"}, headers=rw)
    assert response.status_code == 200 and response.json["item"]["name"] == "Alicia"
    key = client.patch("/api/v1/extensions/101", json={"number": "109"}, headers=rw)
    assert key.status_code == 400 and key.json["problems"][0]["field"] == "number"
    bad = client.patch("/api/v1/extensions/101", json={"voicemail_pin": "1111"}, headers=rw)
    assert bad.status_code == 422 and bad.json["problems"][0]["field"] == "voicemail_pin"
    row = office.execute("SELECT name, voicemail_pin FROM extensions WHERE number = '101'").fetchone()
    assert row["name"] == "Alicia" and row["voicemail_pin"] != "1111"
    summary = office.execute("SELECT summary FROM audit_log WHERE object_key = '101' AND action = 'update'").fetchone()[
        "summary"
    ]
    assert summary == {"name": ["Alice", "Alicia"]}


def test_patch_device_lines_keeps_port_accounts(client, office, rw):
    before = office.execute("SELECT sip_password FROM device_lines WHERE port = 1").fetchone()["sip_password"]
    response = client.patch(
        "/api/v1/devices/desk-101",
        json={"lines": [{"port": 1, "extension": "101"}, {"port": 2, "extension": "102"}]},
        headers=rw,
    )
    assert response.status_code == 200
    assert [line["port"] for line in response.json["item"]["lines"]] == [1, 2]
    assert office.execute("SELECT sip_password FROM device_lines WHERE port = 1").fetchone()["sip_password"] == before


def test_ansible_objects_are_403_on_every_write(client, office, rw):
    assert client.get("/api/v1/extensions/201", headers=rw).status_code == 200
    patch = client.patch("/api/v1/extensions/201", json={"name": "Hijacked"}, headers=rw)
    assert patch.status_code == 403 and "Ansible" in patch.json["error"]
    delete = client.delete("/api/v1/trunks/fleet-trunk", headers=rw)
    assert delete.status_code == 403
    assert delete.json["problems"] == [
        {
            "obj": "trunk fleet-trunk",
            "field": "managed_by",
            "message": "is managed by Ansible; change it in the inventory",
        }
    ]
    assert office.execute("SELECT name FROM extensions WHERE number = '201'").fetchone()["name"] == "Fleet Desk"


def test_delete(client, office, rw):
    response = client.delete("/api/v1/routes/national", headers=rw)
    assert response.status_code == 200 and response.json["deleted"] == "national"
    assert client.get("/api/v1/routes/national", headers=rw).status_code == 404
    in_use = client.delete("/api/v1/trunks/carrier", headers=rw)
    assert in_use.status_code == 422
    assert in_use.json["problems"] == [
        {"obj": "trunk carrier", "field": "references", "message": "still used by inbound number +4930123456"}
    ]


def test_every_kind_round_trips(client, office, rw):
    created = {
        "trunks": {
            "name": "backup",
            "host": "sip.backup.example",
            "transport": "tls",
            "port": 5061,
            "inbound_cidrs": ["192.0.2.0/24"],
        },
        "numbers": {"number": "+4930123457", "destination": "102", "tracking_tag": "radio"},
        "routes": {"name": "intl", "patterns": ["00ZX."], "trunks": ["carrier", "backup"], "presentation": "withheld"},
    }
    for plural, body in created.items():
        response = client.post(f"/api/v1/{plural}", json=body, headers=rw)
        assert response.status_code == 201, response.json
        for name, value in body.items():
            assert response.json["item"][name] == value
    assert (
        client.patch("/api/v1/numbers/+4930123457", json={"tracking_tag": "tv"}, headers=rw).json["item"][
            "tracking_tag"
        ]
        == "tv"
    )
    assert client.patch("/api/v1/trunks/backup", json={"max_channels": 3}, headers=rw).json["item"]["max_channels"] == 3
    route = client.patch("/api/v1/routes/intl", json={"trunks": ["backup"]}, headers=rw).json["item"]
    assert route["trunks"] == ["backup"] and route["presentation"] == "withheld"


def test_unknown_routes_and_methods_answer_json(client, rw):
    missing = client.get("/api/v1/nothing-here", headers=rw)
    assert missing.status_code == 404 and missing.is_json
    wrong = client.put("/api/v1/extensions/101", json={}, headers=rw)
    assert wrong.status_code == 405 and wrong.is_json
    assert set(wrong.headers["Allow"].split(", ")) >= {"GET", "PATCH", "DELETE"}


def test_secrets_flag_must_be_a_boolean(client, office, rw):
    assert client.get("/api/v1/extensions/101?secrets=maybe", headers=rw).status_code == 400


def test_unknown_query_parameters_are_refused(client, office, rw):
    response = client.get("/api/v1/cdrs?tags=spring-flyer", headers=rw)
    assert response.status_code == 400
    assert response.json["problems"] == [{"obj": "request", "field": "tags", "message": "no such parameter"}]
    assert client.get("/api/v1/extensions?limit=5", headers=rw).status_code == 400


def test_an_empty_call_type_is_refused_as_the_document_says(client, office, rw):
    # the console's search form sends an empty select as "any type"; the API's parameter is an enum
    response = client.get("/api/v1/cdrs?call_type=", headers=rw)
    assert response.status_code == 400
    assert [p["field"] for p in response.json["problems"]] == ["call_type"]
    assert client.get("/api/v1/cdrs?call_type=inbound", headers=rw).status_code == 200


def test_openapi_document_is_public_and_describes_every_route(app, client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    doc = response.json
    assert doc["openapi"].startswith("3.")
    documented = {
        (re.sub(r"\{[^}]+\}", "<key>", path), method.upper())
        for path, ops in doc["paths"].items()
        for method in ops
        if method != "parameters"
    }
    served = {
        (re.sub(r"<[^>]+>", "<key>", rule.rule), method)
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/api/")
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    assert documented == served
