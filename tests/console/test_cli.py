# SPDX-License-Identifier: GPL-3.0-or-later
"""`appliance console ...`: the first admin from the first-boot password, users, tokens."""

from __future__ import annotations

import json

import pytest

from appliance.cli import main
from appliance.console import tokens, users
from appliance.console.serve import pki_files
from appliance.pki.errors import PkiError
from tests.console.conftest import sign_in

FIRST_BOOT = "FirstBoot-Generated-7Qx2"


def run(dsn: str, *args: str) -> int:
    return main(["--dsn", dsn, "--json", "console", *args])


def test_create_admin_then_first_sign_in_forces_a_change(app, dsn, db, tmp_path, capsys, monkeypatch):
    # The command hashes with argon2's production parameters; cheap ones keep the test quick.
    from appliance.console import cli as console_cli
    from appliance.console import passwords
    from tests.console.conftest import ARGON2_FAST

    monkeypatch.setattr(console_cli, "_hasher", lambda: passwords.hasher(ARGON2_FAST))
    secret = tmp_path / "admin-password"
    secret.write_text(FIRST_BOOT + "\n")
    assert run(dsn, "create-admin", "--password-file", str(secret)) == 0
    assert json.loads(capsys.readouterr().out) == {"created": "admin", "role": "admin", "must_change_password": True}
    user = users.by_name(db, "admin")
    assert user is not None and user.must_change_password and user.password_hash.startswith("$argon2id$")
    assert FIRST_BOOT not in user.password_hash

    client = app.test_client()
    response = sign_in(client, "admin", FIRST_BOOT)
    assert response.headers["Location"] == "/auth/password"

    assert run(dsn, "create-admin", "--password-file", str(secret)) == 2
    assert "already exists" in capsys.readouterr().err
    assert run(dsn, "create-admin", "--password-file", str(secret), "--reset") == 0
    assert users.by_name(db, "admin").session_epoch == 1


def test_create_admin_refuses_a_weak_password(dsn, db, tmp_path, capsys):
    weak = tmp_path / "weak"
    weak.write_text("admin\n")
    assert run(dsn, "create-admin", "--password-file", str(weak)) == 2
    problems = json.loads(capsys.readouterr().err)["problems"]
    assert problems == [
        {"obj": "console user admin", "field": "password", "message": "must be at least 12 characters (got 5)"}
    ]
    assert users.by_name(db, "admin") is None


def test_create_readonly_user(dsn, db, tmp_path, capsys, monkeypatch):
    from appliance.console import cli as console_cli
    from appliance.console import passwords
    from tests.console.conftest import ARGON2_FAST

    monkeypatch.setattr(console_cli, "_hasher", lambda: passwords.hasher(ARGON2_FAST))
    secret = tmp_path / "pw"
    secret.write_text("Viewer-Initial-Pass-31\n")
    assert run(dsn, "create-user", "reception", "--role", "readonly", "--password-file", str(secret)) == 0
    user = users.by_name(db, "reception")
    assert user is not None and user.role == "readonly" and user.must_change_password
    audit = db.execute("SELECT actor, action FROM audit_log WHERE object_key = 'reception'").fetchone()
    assert audit == {"actor": "cli", "action": "create"}


def test_create_and_revoke_token(client, dsn, db, capsys):
    assert run(dsn, "create-token", "crm", "--scope", "read", "--scope", "write") == 0
    out = json.loads(capsys.readouterr().out)
    assert out["scopes"] == ["read", "write"] and out["token"].startswith("fsca_")
    headers = {"Authorization": f"Bearer {out['token']}"}
    assert client.get("/api/v1/extensions", headers=headers).status_code == 200
    assert run(dsn, "revoke-token", "crm") == 0
    assert client.get("/api/v1/extensions", headers=headers).status_code == 401
    assert tokens.verify(db, out["token"]) is None


def test_serve_needs_both_cert_and_key(dsn, tmp_path, capsys):
    assert run(dsn, "serve", "--cert", str(tmp_path / "chain.pem")) == 2
    assert "give both --cert and --key, or neither" in capsys.readouterr().err


def test_serve_from_the_ca_says_how_to_issue_a_certificate(tmp_path):
    with pytest.raises(PkiError, match="appliance pki issue --profile console"):
        pki_files(tmp_path / "empty-ca")
