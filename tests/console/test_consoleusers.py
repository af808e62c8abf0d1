# SPDX-License-Identifier: GPL-3.0-or-later
"""Console users in the browser: add, change role, disable, reset the password; nobody locks themselves out."""

from __future__ import annotations

from appliance.console import users
from tests.console.conftest import READONLY_PASSWORD, make_user, post, sign_in
from tests.console.html import element_text, field_block

NEW_PASSWORD = "Front-Office-Lamp-77"


def test_admin_adds_a_user_who_must_change_the_password(admin, app, db):
    response = post(
        admin,
        "/access/users/",
        {"username": "reception", "role": "readonly", "password": NEW_PASSWORD},
        "/access/users/",
    )
    assert response.status_code == 302 and response.headers["Location"] == "/access/users/"
    user = users.by_name(db, "reception")
    assert user.role == "readonly" and user.must_change_password
    page = admin.get("/access/users/").get_data(as_text=True)
    assert "must change password" in element_text(page, "user-reception")
    fresh = app.test_client()
    sign_in(fresh, "reception", NEW_PASSWORD)
    assert fresh.get("/").headers["Location"] == "/auth/password"


def test_refused_user_errors_next_to_fields(admin, db):
    response = post(
        admin, "/access/users/", {"username": "Bad Name", "role": "admin", "password": "short"}, "/access/users/"
    )
    assert response.status_code == 422
    body = response.get_data(as_text=True)
    assert "lowercase" in field_block(body, "username") or "use 1-32" in field_block(body, "username")
    assert field_block(body, "password") != "" and "12" in field_block(body, "password")
    assert db.execute("SELECT count(*) AS n FROM console_users").fetchone()["n"] == 1


def test_role_change_and_disable_take_effect_at_once(admin, app, db):
    make_user(db, "viewer", READONLY_PASSWORD, role="readonly")
    viewer = app.test_client()
    sign_in(viewer, "viewer", READONLY_PASSWORD)
    assert post(viewer, "/webhooks/", {"name": "x"}, "/webhooks/").status_code == 403
    assert post(admin, "/access/users/viewer/role", {"role": "admin"}, "/access/users/").status_code == 302
    assert users.by_name(db, "viewer").role == "admin"
    assert 'id="webhook-form"' in viewer.get("/webhooks/").get_data(as_text=True)  # same session, now admin
    assert post(admin, "/access/users/viewer/disable", form_url="/access/users/").status_code == 302
    assert viewer.get("/").headers["Location"].startswith("/auth/signin")  # its session has ended
    fresh = app.test_client()
    assert "Wrong user name or password" in sign_in(fresh, "viewer", READONLY_PASSWORD).get_data(as_text=True)
    assert post(admin, "/access/users/viewer/enable", form_url="/access/users/").status_code == 302
    assert sign_in(app.test_client(), "viewer", READONLY_PASSWORD).status_code == 302
    summaries = [
        r["summary"] for r in db.execute("SELECT summary FROM audit_log WHERE object_key = 'viewer' ORDER BY id")
    ]
    assert summaries[1:] == [{"role": ["readonly", "admin"]}, {"disabled": [False, True]}, {"disabled": [True, False]}]


def test_nobody_demotes_or_disables_themselves(admin, db):
    assert post(admin, "/access/users/admin/role", {"role": "readonly"}, "/access/users/").status_code == 403
    assert post(admin, "/access/users/admin/disable", form_url="/access/users/").status_code == 403
    assert users.by_name(db, "admin").role == "admin" and not users.by_name(db, "admin").disabled
    assert post(admin, "/access/users/nobody/disable", form_url="/access/users/").status_code == 404
    assert post(admin, "/access/users/admin/role", {"role": "root"}, "/access/users/").status_code == 400


def test_password_reset_forces_a_change(admin, app, db):
    make_user(db, "viewer", READONLY_PASSWORD, role="readonly")
    weak = post(admin, "/access/users/viewer/password", {"password": "viewer"}, "/access/users/")
    assert weak.status_code == 302
    assert "console user viewer: password:" in admin.get(weak.headers["Location"]).get_data(as_text=True)
    assert not users.by_name(db, "viewer").must_change_password
    post(admin, "/access/users/viewer/password", {"password": NEW_PASSWORD}, "/access/users/")
    assert users.by_name(db, "viewer").must_change_password
    fresh = app.test_client()
    assert sign_in(fresh, "viewer", NEW_PASSWORD).headers["Location"] == "/auth/password"


def test_readonly_users_see_the_list_but_change_nothing(readonly, db):
    page = readonly.get("/access/users/").get_data(as_text=True)
    assert "viewer" in element_text(page, "users") and 'id="user-form"' not in page and "Disable" not in page
    assert (
        post(readonly, "/access/users/", {"username": "x", "role": "admin", "password": NEW_PASSWORD}).status_code
        == 403
    )
    assert post(readonly, "/access/users/viewer/role", {"role": "admin"}).status_code == 403
    assert users.by_name(db, "viewer").role == "readonly"


def test_user_actions_need_csrf(admin, db):
    make_user(db, "viewer", READONLY_PASSWORD, role="readonly")
    assert admin.post("/access/users/viewer/disable").status_code == 400
    assert not users.by_name(db, "viewer").disabled
