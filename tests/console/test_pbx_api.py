# SPDX-License-Identifier: GPL-3.0-or-later
"""The PBX objects in the REST API: the same refusals as the pages, scopes, Ansible objects, OpenAPI."""

from __future__ import annotations

import pytest

from tests.console.conftest import bearer
from tests.console.test_pbx_pages import seed_features


@pytest.fixture
def office(db):
    seed_features(db)
    return db


@pytest.mark.parametrize(
    "collection, key, field, value",
    [
        ("forwards", "101-busy-1", "destination", "102"),
        ("schedules", "office", "ranges", ["mon-fri 09:00-17:00"]),
        ("mailboxes", "101", "on_busy", True),
        (
            "ivrs",
            "main",
            "options",
            [
                {"digits": "1", "destination_kind": "group", "destination": "sales"},
                {"digits": "2", "destination_kind": "queue", "destination": "support"},
            ],
        ),
        ("groups", "sales", "members", ["101", "102"]),
        ("queues", "support", "agents", ["101"]),
    ],
)
def test_list_and_get(client, office, collection, key, field, value):
    headers = bearer(office, "reader", ("read",))
    items = client.get(f"/api/v1/{collection}", headers=headers).get_json()["items"]
    assert any(item.get(field) == value for item in items)
    one = client.get(f"/api/v1/{collection}/{key}", headers=headers)
    assert one.status_code == 200
    assert one.get_json()[field] == value
    assert client.get(f"/api/v1/{collection}/nope-9", headers=headers).status_code == 404


def test_create_forward_returns_its_key_and_location(client, office):
    response = client.post(
        "/api/v1/forwards",
        json={"extension": "101", "condition": "unreachable", "destination_kind": "voicemail", "destination": "101"},
        headers=bearer(office),
    )
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["item"]["rule"] == "101-unreachable-1"
    assert response.headers["Location"].endswith("/api/v1/forwards/101-unreachable-1")
    row = office.execute("SELECT actor, object_key FROM audit_log ORDER BY id DESC LIMIT 1").fetchone()
    assert row == {"actor": "token:script", "object_key": "101-unreachable-1"}


def test_forward_loop_and_readonly_key_are_refused(client, office):
    headers = bearer(office)
    first = {"extension": "102", "condition": "always", "destination_kind": "extension", "destination": "101"}
    assert client.post("/api/v1/forwards", json=first, headers=headers).status_code == 201
    loop = {"extension": "101", "condition": "always", "destination_kind": "extension", "destination": "102"}
    refused = client.post("/api/v1/forwards", json=loop, headers=headers)
    assert refused.status_code == 422
    assert any("forwarding loop" in p["message"] for p in refused.get_json()["problems"])
    typed = client.post("/api/v1/forwards", json={**loop, "rule": "x"}, headers=headers)
    assert typed.status_code == 400
    assert typed.get_json()["problems"] == [
        {"obj": "forward rule", "field": "rule", "message": "is set by the appliance"}
    ]
    assert office.execute("SELECT count(*) AS n FROM forward_rules").fetchone()["n"] == 3


def test_patch_schedule_and_overlap_refused(client, office):
    headers = bearer(office)
    ok = client.patch("/api/v1/schedules/office", json={"holidays": ["2030-08-15 Assumption"]}, headers=headers)
    assert ok.status_code == 200 and ok.get_json()["item"]["holidays"] == ["2030-08-15 Assumption"]
    bad = client.patch(
        "/api/v1/schedules/office", json={"ranges": ["mon-fri 09:00-17:00", "fri 16:00-18:00"]}, headers=headers
    )
    assert bad.status_code == 422
    assert bad.get_json()["problems"][0]["field"] == "ranges"
    assert client.get("/api/v1/schedules/office", headers=headers).get_json()["ranges"] == ["mon-fri 09:00-17:00"]


def test_ivr_options_shape_is_checked(client, office):
    headers = bearer(office)
    bad = client.patch("/api/v1/ivrs/main", json={"options": [{"digits": 1}]}, headers=headers)
    assert bad.status_code == 400 and bad.get_json()["problems"][0]["field"] == "options"
    nowhere = client.patch(
        "/api/v1/ivrs/main",
        json={"options": [{"digits": "1", "destination_kind": "queue", "destination": "ghost"}]},
        headers=headers,
    )
    assert nowhere.status_code == 422


def test_ansible_objects_and_read_scope_are_refused(client, office):
    writer, reader = bearer(office), bearer(office, "reader", ("read",))
    assert client.delete("/api/v1/queues/support", headers=writer).status_code == 403
    assert client.patch("/api/v1/mailboxes/201", json={"on_busy": False}, headers=writer).status_code == 403
    assert client.delete("/api/v1/forwards/102-no_answer-1", headers=writer).status_code == 403
    assert client.delete("/api/v1/groups/sales", headers=reader).status_code == 403
    assert office.execute("SELECT count(*) AS n FROM queues").fetchone()["n"] == 1


def test_openapi_describes_the_pbx_routes(client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    for path in (
        "/api/v1/forwards/{rule}",
        "/api/v1/schedules/{name}",
        "/api/v1/mailboxes/{extension}",
        "/api/v1/ivrs/{name}",
        "/api/v1/groups/{name}",
        "/api/v1/queues/{name}",
        "/api/v1/recordings/{day}/{file}",
        "/api/v1/recording-key",
        "/api/v1/tracking",
    ):
        assert path in paths, path
