# SPDX-License-Identifier: GPL-3.0-or-later
"""After a saved change: the configuration is applied to a live FreeSWITCH, or the admin is told who will."""

from __future__ import annotations

import pytest

from appliance.console import create_app
from tests.console.conftest import ADMIN_PASSWORD, HttpsClient, bearer, make_user, post, sign_in
from tests.console.fakefs import PASSWORD, ThreadedFakeEsl

RELOADS = {
    "reloadxml": "+OK [Success]",
    "sofia profile internal restart": "restarting: internal",
    "sofia profile external restart": "restarting: external",
    "sofia profile internal rescan": "+OK scan complete",
    "sofia profile external rescan": "+OK scan complete",
}


def live_console(app_config, tmp_path, esl_port: int) -> HttpsClient:
    password_file = tmp_path / "esl_password"
    password_file.write_text(PASSWORD + "\n")
    fs = app_config["APPLIANCE_CONFIG"]["freeswitch"]
    fs.update(
        esl_port=esl_port,
        esl_password_file=str(password_file),
        conf_root=str(tmp_path / "fsconf"),
        cert_dir=str(tmp_path / "tls"),
        recordings_dir=str(tmp_path / "recordings"),
    )
    app_config["APPLIANCE_CONFIG"]["cdr"]["freeswitch_dir"] = str(tmp_path / "fs-cdr")
    app = create_app({**app_config, "FREESWITCH_LIVE": True, "ESL_TIMEOUT": 3.0})
    app.test_client_class = HttpsClient
    return app


@pytest.fixture
def fake_freeswitch():
    fake = ThreadedFakeEsl(RELOADS).start()
    yield fake
    fake.stop()


def test_a_saved_change_is_applied_to_a_live_freeswitch(app_config, db, tmp_path, fake_freeswitch):
    app = live_console(app_config, tmp_path, fake_freeswitch.port)
    make_user(db, "admin", ADMIN_PASSWORD)
    client = app.test_client()
    sign_in(client, "admin", ADMIN_PASSWORD)
    response = post(client, "/extensions/new", {"number": "150", "name": "Carol", "outbound_allowed": "y"})
    assert response.status_code == 302
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Extension 150 saved; configuration applied (release " in page
    current = tmp_path / "fsconf" / "current"
    assert current.is_symlink()
    assert any("150" in p.name for p in (current / "directory" / "default").iterdir())
    assert "api reloadxml" in fake_freeswitch.commands
    app.extensions["console_freeswitch"].shutdown()


def test_api_reports_the_applied_release(app_config, db, tmp_path, fake_freeswitch):
    app = live_console(app_config, tmp_path, fake_freeswitch.port)
    response = app.test_client().post("/api/v1/extensions", json={"number": "150", "name": "Carol"}, headers=bearer(db))
    assert response.status_code == 201
    configuration = response.json["configuration"]
    assert configuration["applied"] is True and configuration["live"] is True
    assert configuration["message"].startswith("configuration applied (release ")
    app.extensions["console_freeswitch"].shutdown()


def test_freeswitch_down_keeps_the_change_and_says_so(app_config, db, tmp_path):
    app = live_console(app_config, tmp_path, esl_port=1)
    make_user(db, "admin", ADMIN_PASSWORD)
    client = app.test_client()
    sign_in(client, "admin", ADMIN_PASSWORD)
    response = post(client, "/extensions/new", {"number": "150", "name": "Carol", "outbound_allowed": "y"})
    assert response.status_code == 302
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Extension 150 saved; the configuration was NOT applied, the previous one stays" in page
    assert 'class="flash warn"' in page
    assert db.execute("SELECT 1 FROM extensions WHERE number = '150'").fetchone()
    app.extensions["console_freeswitch"].shutdown()
