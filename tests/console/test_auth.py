# SPDX-License-Identifier: GPL-3.0-or-later
"""Sign-in, the forced first password change, sessions, roles and sign-in throttling."""

from __future__ import annotations

from appliance.console import users
from appliance.console.passwords import hasher
from tests.console.conftest import (
    ADMIN_PASSWORD,
    ARGON2_FAST,
    READONLY_PASSWORD,
    csrf_token,
    make_user,
    post,
    sign_in,
)

FIRST_BOOT = "FirstBoot-Generated-7Qx2"


def test_strangers_are_sent_to_sign_in(client):
    response = client.get("/extensions/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/auth/signin?next=/extensions/")


def test_sign_in_page_has_a_form_with_a_csrf_token(client):
    response = client.get("/auth/signin")
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert 'name="username"' in body and 'type="password"' in body
    assert csrf_token(client)


def test_wrong_password_is_refused_without_saying_which_part(client, db):
    make_user(db, "admin", ADMIN_PASSWORD)
    response = sign_in(client, "admin", "not-the-password")
    assert response.status_code == 200
    assert "Wrong user name or password." in response.get_data(as_text=True)
    assert client.get("/").status_code == 302  # still not signed in
    unknown = sign_in(client, "nobody", "whatever-password")
    assert "Wrong user name or password." in unknown.get_data(as_text=True)


def test_sign_in_without_csrf_token_is_refused(client, db):
    make_user(db, "admin", ADMIN_PASSWORD)
    client.get("/auth/signin")
    response = client.post("/auth/signin", data={"username": "admin", "password": ADMIN_PASSWORD})
    assert response.status_code == 400
    assert "CSRF token is missing" in response.get_data(as_text=True)
    assert client.get("/").status_code == 302


def test_sign_in_goes_to_next_page_on_this_console_only(client, db):
    make_user(db, "admin", ADMIN_PASSWORD)
    token = csrf_token(client)
    data = {"csrf_token": token, "username": "admin", "password": ADMIN_PASSWORD}
    assert client.post("/auth/signin?next=/trunks/", data=data).headers["Location"] == "/trunks/"
    client.post("/auth/signout", data={"csrf_token": csrf_token(client, "/")})
    data["csrf_token"] = csrf_token(client)
    assert client.post("/auth/signin?next=//evil.example/", data=data).headers["Location"] == "/"


def test_first_sign_in_forces_a_password_change(client, db):
    make_user(db, "admin", FIRST_BOOT, must_change=True)
    response = sign_in(client, "admin", FIRST_BOOT)
    assert response.status_code == 302
    assert response.headers["Location"] == "/auth/password"
    # Every other page sends the admin back until the password is changed.
    for url in ("/", "/extensions/", "/cdrs/", "/access/"):
        blocked = client.get(url)
        assert blocked.status_code == 302, url
        assert blocked.headers["Location"] == "/auth/password"
    page = client.get("/auth/password").get_data(as_text=True)
    assert "first-boot password must not stay in use" in page


def test_password_change_checks_current_policy_and_confirmation(client, db):
    make_user(db, "admin", FIRST_BOOT, must_change=True)
    sign_in(client, "admin", FIRST_BOOT)
    token = csrf_token(client, "/auth/password")

    def change(current: str, new: str, confirm: str):
        data = {"csrf_token": token, "current": current, "new": new, "confirm": confirm}
        return client.post("/auth/password", data=data)

    wrong = change("not-it", ADMIN_PASSWORD, ADMIN_PASSWORD)
    assert wrong.status_code == 422
    assert "is not your current password" in _field(wrong, "current")
    same = change(FIRST_BOOT, FIRST_BOOT, FIRST_BOOT)
    assert "must differ from the current password" in _field(same, "new")
    short = change(FIRST_BOOT, "short1", "short1")
    assert "at least 12 characters" in _field(short, "new")
    weak = change(FIRST_BOOT, "admin-admin-admin", "admin-admin-admin")
    assert "well-known default or contains the user name" in _field(weak, "new")
    mismatch = change(FIRST_BOOT, ADMIN_PASSWORD, ADMIN_PASSWORD + "x")
    assert "does not match" in _field(mismatch, "confirm")

    done = change(FIRST_BOOT, ADMIN_PASSWORD, ADMIN_PASSWORD)
    assert done.status_code == 302 and done.headers["Location"] == "/"
    assert client.get("/").status_code == 200
    user = users.by_name(db, "admin")
    assert user is not None and not user.must_change_password
    assert user.password_hash.startswith("$argon2id$")
    audit = db.execute(
        "SELECT actor, action, object_kind, summary FROM audit_log WHERE object_key = 'admin'"
    ).fetchall()
    assert {
        "actor": "user:admin",
        "action": "update",
        "object_kind": "console_user",
        "summary": {"password": "changed", "must_change": False},
    } in audit


def test_password_change_ends_other_sessions(app, db):
    make_user(db, "admin", ADMIN_PASSWORD)
    first, second = app.test_client(), app.test_client()
    sign_in(first, "admin", ADMIN_PASSWORD)
    sign_in(second, "admin", ADMIN_PASSWORD)
    token = csrf_token(first, "/auth/password")
    new = "Another-Good-Passphrase-5"
    first.post("/auth/password", data={"csrf_token": token, "current": ADMIN_PASSWORD, "new": new, "confirm": new})
    assert first.get("/").status_code == 200
    stale = second.get("/")
    assert stale.status_code == 302 and stale.headers["Location"].startswith("/auth/signin")


def test_sign_out_ends_the_session(admin):
    response = post(admin, "/auth/signout")
    assert response.status_code == 302 and response.headers["Location"] == "/auth/signin"
    assert admin.get("/").status_code == 302


def test_sign_out_without_csrf_token_is_refused(admin):
    assert admin.post("/auth/signout").status_code == 400
    assert admin.get("/").status_code == 200


def test_session_cookie_is_secure_httponly_strict(client, db):
    make_user(db, "admin", ADMIN_PASSWORD)
    response = sign_in(client, "admin", ADMIN_PASSWORD)
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("__Host-console=")
    for attribute in ("Secure", "HttpOnly", "SameSite=Strict", "Path=/"):
        assert attribute in cookie
    assert "Domain=" not in cookie


def test_disabled_user_loses_the_session(admin, db):
    db.execute("UPDATE console_users SET disabled = true WHERE username = 'admin'")
    assert admin.get("/").status_code == 302


# -- throttling ---------------------------------------------------------------------------------


def test_five_failures_lock_the_user_for_a_minute(app, client, db, clock):
    make_user(db, "admin", ADMIN_PASSWORD)
    for _ in range(5):
        assert "Wrong user name" in sign_in(client, "admin", "bad-guess").get_data(as_text=True)
    locked = sign_in(client, "admin", ADMIN_PASSWORD)
    assert locked.status_code == 429
    assert locked.headers["Retry-After"] == "60"
    assert "Too many failed sign-ins" in locked.get_data(as_text=True)
    # Another address does not help: the user name itself is locked.
    other = app.test_client()
    token = csrf_token(other)
    from_elsewhere = other.post(
        "/auth/signin",
        data={"csrf_token": token, "username": "admin", "password": ADMIN_PASSWORD},
        environ_base={"REMOTE_ADDR": "192.0.2.7"},
    )
    assert from_elsewhere.status_code == 429
    clock.advance(59)
    assert sign_in(client, "admin", ADMIN_PASSWORD).status_code == 429
    clock.advance(2)
    assert sign_in(client, "admin", ADMIN_PASSWORD).status_code == 302


def test_five_failures_from_one_address_lock_that_address(client, db, clock):
    make_user(db, "admin", ADMIN_PASSWORD)
    for name in ("root", "user1", "user2", "test", "guest"):
        sign_in(client, name, "guess-guess")
    # A different, valid user from the same address is refused too: the address is locked.
    assert sign_in(client, "admin", ADMIN_PASSWORD).status_code == 429
    clock.advance(61)
    assert sign_in(client, "admin", ADMIN_PASSWORD).status_code == 302


def test_failures_spread_over_time_do_not_lock(client, db, clock):
    make_user(db, "admin", ADMIN_PASSWORD)
    for _ in range(8):
        sign_in(client, "admin", "typo-typo")
        clock.advance(61)
    assert sign_in(client, "admin", ADMIN_PASSWORD).status_code == 302


def test_readonly_user_may_look_but_not_touch(readonly):
    assert readonly.get("/extensions/").status_code == 200
    assert readonly.get("/extensions/new").status_code == 403
    refused = post(readonly, "/extensions/new", {"number": "150", "name": "Sneaky"})
    assert refused.status_code == 403
    assert "Read-only users cannot change anything." in refused.get_data(as_text=True)


def test_readonly_user_may_change_own_password(readonly, db):
    token = csrf_token(readonly, "/auth/password")
    new = "Readonly-New-Passphrase-8"
    response = readonly.post(
        "/auth/password", data={"csrf_token": token, "current": READONLY_PASSWORD, "new": new, "confirm": new}
    )
    assert response.status_code == 302
    user = users.by_name(db, "viewer")
    assert user is not None and hasher(ARGON2_FAST).verify(user.password_hash, new)


def _field(response, name: str) -> str:
    """Return the HTML of one form field's block (label, input, help, errors)."""
    from tests.console.html import field_block

    return field_block(response.get_data(as_text=True), name)
