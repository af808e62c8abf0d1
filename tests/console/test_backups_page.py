# SPDX-License-Identifier: GPL-3.0-or-later
"""The backups page: make a backup, restore it (typed confirmation), read-only users and CSRF refused."""

from __future__ import annotations

import shutil

import pytest

from appliance.store.repo import Store
from tests.console.conftest import post, seed_pbx
from tests.console.html import element_text

if not all(shutil.which(tool) for tool in ("pg_dump", "pg_restore", "psql")):
    pytest.skip("pg_dump, pg_restore or psql missing (apt-get install postgresql-client)", allow_module_level=True)


@pytest.fixture
def backup_dir(app, tmp_path):
    app.config["APPLIANCE_CONFIG"]["backup"] = {"dir": str(tmp_path / "backups")}
    return tmp_path / "backups"


def numbers(db) -> list[str]:
    return [r["number"] for r in db.execute("SELECT number FROM extensions ORDER BY number")]


def test_make_a_backup_then_restore_it(admin, db, backup_dir):
    seed_pbx(db)
    assert "No backups yet" in admin.get("/system/backups/").get_data(as_text=True)
    made = post(admin, "/system/backups/", form_url="/system/backups/")
    assert made.status_code == 303 and made.headers["Location"] == "/system/backups/"
    page = admin.get("/system/backups/").get_data(as_text=True)
    name = "config-20300603T123000Z"  # the injected clock
    assert f"Backup {name} made" in page and name in element_text(page, "backups")
    assert (backup_dir / f"{name}.dump").is_file()

    Store(db, actor="console").add_extension("150", "Carol")
    refused = post(admin, f"/system/backups/{name}/restore", {"confirm": "yes"}, "/system/backups/")
    assert "to confirm" in admin.get(refused.headers["Location"]).get_data(as_text=True)
    assert "150" in numbers(db)
    done = post(admin, f"/system/backups/{name}/restore", {"confirm": name}, "/system/backups/")
    assert done.status_code == 303
    assert f"Configuration restored from {name}; the configuration will be applied" in admin.get(
        done.headers["Location"]
    ).get_data(as_text=True)
    assert numbers(db) == ["101", "102", "201"]
    kinds = [r["action"] for r in db.execute("SELECT action FROM audit_log WHERE object_kind = 'backup' ORDER BY id")]
    assert kinds == ["create", "update"]  # made, then restored: the log survives the restore


def test_unknown_backup_is_said(admin, backup_dir):
    response = post(admin, "/system/backups/config-20300101T000000Z/restore", {"confirm": "config-20300101T000000Z"})
    assert "no backup config-20300101T000000Z" in admin.get(response.headers["Location"]).get_data(as_text=True)


def test_readonly_and_csrf(readonly, admin, db, backup_dir):
    page = readonly.get("/system/backups/").get_data(as_text=True)
    assert "Back up now" not in page
    assert post(readonly, "/system/backups/").status_code == 403
    assert admin.post("/system/backups/").status_code == 400
    assert not backup_dir.exists()
