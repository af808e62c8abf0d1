# SPDX-License-Identifier: GPL-3.0-or-later
"""Webhook pages and API routes: list, create (secret shown once), show, delete; roles, CSRF, Ansible."""

from __future__ import annotations

from appliance.webhooks import store
from tests.console.conftest import bearer, csrf_token, post
from tests.console.html import element_text, field_block

SECRET = "whsec_console-test-secret-1"


def _form(**extra):
    return {
        "name": "crm",
        "url": "https://crm.example/hooks",
        "secret": "",
        "events": ["call.start", "call.hangup"],
    } | extra


def test_list_is_empty_then_shows_the_webhook_with_counts(admin, db):
    page = admin.get("/webhooks/")
    assert page.status_code == 200 and "No webhooks yet" in page.get_data(as_text=True)
    store.create(db, "crm", "https://crm.example/hooks", ["call.hangup"], SECRET, actor="test")
    body = admin.get("/webhooks/").get_data(as_text=True)
    row = element_text(body, "webhooks")
    assert "crm" in row and "https://crm.example/hooks" in row and "call.hangup" in row
    assert SECRET not in body


def test_admin_creates_a_webhook_and_sees_the_generated_secret_once(admin, db):
    response = post(admin, "/webhooks/", _form(), form_url="/webhooks/")
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    stored = db.execute("SELECT secret, events, url FROM webhooks WHERE name = 'crm'").fetchone()
    assert element_text(body, "secret") == stored["secret"] and stored["secret"].startswith("whsec_")
    assert stored["events"] == ["call.start", "call.hangup"]
    assert stored["secret"] not in admin.get("/webhooks/crm").get_data(as_text=True)
    audit = db.execute("SELECT actor, object_kind, summary FROM audit_log WHERE object_kind = 'webhook'").fetchone()
    assert audit["actor"] == "user:admin" and audit["summary"]["secret"] == "********"


def test_refused_webhook_shows_errors_next_to_fields_and_saves_nothing(admin, db):
    response = post(admin, "/webhooks/", _form(url="ftp://x", secret="short", events=[]), form_url="/webhooks/")
    assert response.status_code == 422
    body = response.get_data(as_text=True)
    assert "http:// or https://" in field_block(body, "url")
    assert "at least 16 characters" in field_block(body, "secret")
    assert "choose one or more" in field_block(body, "events")
    assert db.execute("SELECT count(*) AS n FROM webhooks").fetchone()["n"] == 0
    post(admin, "/webhooks/", _form(secret=SECRET), form_url="/webhooks/")
    again = post(admin, "/webhooks/", _form(secret=SECRET), form_url="/webhooks/")
    assert again.status_code == 422 and "already exists" in field_block(again.get_data(as_text=True), "name")


def test_detail_shows_deliveries_and_how_to_verify(admin, db):
    store.create(db, "crm", "https://crm.example/hooks", ["call.start"], SECRET, actor="test")
    from datetime import UTC, datetime

    store.enqueue(
        db, {"id": "7f1d6a0e-0000-4000-8000-000000000001", "type": "call.start", "call": {}}, datetime.now(UTC)
    )
    body = admin.get("/webhooks/crm").get_data(as_text=True)
    assert "X-Appliance-Signature" in body and "HMAC-SHA256" in body
    assert "7f1d6a0e-0000-4000-8000-000000000001" in element_text(body, "deliveries")
    assert admin.get("/webhooks/nope").status_code == 404


def test_delete_needs_csrf_and_removes(admin, db):
    store.create(db, "crm", "https://crm.example/hooks", ["call.start"], SECRET, actor="test")
    assert admin.post("/webhooks/crm/delete").status_code == 400  # no CSRF token
    response = post(admin, "/webhooks/crm/delete", form_url="/webhooks/crm")
    assert response.status_code == 302 and response.headers["Location"] == "/webhooks/"
    assert store.get(db, "crm") is None


def test_ansible_webhook_is_read_only(admin, db):
    store.create(db, "fleet", "https://hub.example/hooks", ["call.hangup"], SECRET, actor="ansible")
    db.execute("UPDATE webhooks SET managed_by = 'ansible'")
    page = admin.get("/webhooks/fleet").get_data(as_text=True)
    assert "Managed by Ansible: read-only here" in page and "Remove</button>" not in page
    assert post(admin, "/webhooks/fleet/delete", form_url="/webhooks/fleet").status_code == 403
    assert store.get(db, "fleet") is not None


def test_readonly_user_sees_but_cannot_change(readonly, db):
    store.create(db, "crm", "https://crm.example/hooks", ["call.start"], SECRET, actor="test")
    page = readonly.get("/webhooks/")
    assert page.status_code == 200 and "webhook-form" not in page.get_data(as_text=True)
    token = csrf_token(readonly, "/webhooks/")
    assert readonly.post("/webhooks/", data={"csrf_token": token, **_form(name="x")}).status_code == 403
    assert readonly.post("/webhooks/crm/delete", data={"csrf_token": token}).status_code == 403
    assert db.execute("SELECT count(*) AS n FROM webhooks").fetchone()["n"] == 1


def test_strangers_are_sent_to_sign_in(client):
    response = client.get("/webhooks/")
    assert response.status_code == 302 and response.headers["Location"].startswith("/auth/signin")


# -- API --------------------------------------------------------------------------------------------
def test_api_create_list_show_delete(client, db):
    headers = bearer(db)
    created = client.post("/api/v1/webhooks", json={"name": "crm", "url": "https://crm.example/h"}, headers=headers)
    assert created.status_code == 201 and created.headers["Location"] == "/api/v1/webhooks/crm"
    assert created.json["secret"].startswith("whsec_")
    assert created.json["item"]["events"] == ["call.start", "call.answer", "call.hangup"]
    listed = client.get("/api/v1/webhooks", headers=headers).json["items"]
    assert [w["name"] for w in listed] == ["crm"] and "secret" not in listed[0]
    shown = client.get("/api/v1/webhooks/crm", headers=headers)
    assert shown.status_code == 200 and shown.json["deliveries"] == []
    assert client.delete("/api/v1/webhooks/crm", headers=headers).json == {"deleted": "crm"}
    assert client.get("/api/v1/webhooks/crm", headers=headers).status_code == 404
    actors = [r["actor"] for r in db.execute("SELECT actor FROM audit_log WHERE object_kind = 'webhook'")]
    assert actors == ["token:script", "token:script"]


def test_api_refusals(client, db):
    headers = bearer(db)
    bad = client.post("/api/v1/webhooks", json={"name": "crm", "url": 5, "colour": "red"}, headers=headers)
    assert bad.status_code == 400
    assert {p["field"] for p in bad.json["problems"]} == {"url", "colour"}
    refused = client.post(
        "/api/v1/webhooks", json={"name": "crm", "url": "gopher://x", "events": ["call.ring"]}, headers=headers
    )
    assert refused.status_code == 422 and {p["field"] for p in refused.json["problems"]} == {"url", "events"}
    assert client.post("/api/v1/webhooks", data="x", headers=headers).status_code == 415
    read_only = bearer(db, "reader", ("read",))
    denied = client.post("/api/v1/webhooks", json={"name": "crm", "url": "https://a.example/"}, headers=read_only)
    assert denied.status_code == 403
    assert client.get("/api/v1/webhooks").status_code == 401
    store.create(db, "fleet", "https://hub.example/hooks", ["call.hangup"], SECRET, actor="ansible")
    db.execute("UPDATE webhooks SET managed_by = 'ansible'")
    assert client.delete("/api/v1/webhooks/fleet", headers=headers).status_code == 403
    assert db.execute("SELECT count(*) AS n FROM webhooks").fetchone()["n"] == 1
