# SPDX-License-Identifier: GPL-3.0-or-later
"""Configuration backups with the real pg_dump, pg_restore and psql against the test PostgreSQL."""

from __future__ import annotations

import json
import shutil
import stat
import uuid
from datetime import UTC, datetime

import pytest

from appliance import cli
from appliance.backup import pgbackup
from appliance.store.repo import Store, load_snapshot
from tests.console.conftest import seed_pbx

T0 = datetime(2030, 6, 3, 12, 30, tzinfo=UTC)

if not all(shutil.which(tool) for tool in ("pg_dump", "pg_restore", "psql")):
    pytest.skip("pg_dump, pg_restore or psql missing (apt-get install postgresql-client)", allow_module_level=True)


def add_cdr(conn) -> None:
    conn.execute(
        "INSERT INTO cdrs (uuid, call_type, caller_number, destination, started_at, ended_at)"
        " VALUES (%s, 'internal', '101', '102', now(), now())",
        (str(uuid.uuid4()),),
    )


def test_backup_then_restore_brings_the_configuration_back_and_keeps_cdrs(dsn, tmp_path):
    from appliance.store.db import connect

    with connect(dsn, autocommit=True) as conn:
        seed_pbx(conn)
        add_cdr(conn)
        before = load_snapshot(conn)
        backup = pgbackup.create(dsn, tmp_path / "backups", now=T0)
        assert backup.name == "config-20300603T123000Z"
        assert stat.S_IMODE(backup.path.stat().st_mode) == 0o600
        assert stat.S_IMODE((tmp_path / "backups" / f"{backup.name}.json").stat().st_mode) == 0o600
        assert {"extensions", "trunks", "site", "console_users", "schema_migrations"} <= set(backup.tables)
        assert "cdrs" not in backup.tables and "audit_log" not in backup.tables
        # The office changes after the backup: one extension more, one gone, the site renamed, a new call.
        store = Store(conn, actor="console")
        store.add_extension("150", "Carol")
        store.remove_number("+4930123456")
        store.remove_extension("102")
        store.update_site(company_name="Changed")
        add_cdr(conn)
        assert load_snapshot(conn) != before

        pgbackup.restore(dsn, pgbackup.find(tmp_path / "backups", backup.name), actor="user:admin")
        after = load_snapshot(conn)
        assert after == before
        assert conn.execute("SELECT count(*) AS n FROM cdrs").fetchone()["n"] == 2  # calls are not configuration
        row = conn.execute("SELECT actor, object_kind, object_key FROM audit_log ORDER BY id DESC LIMIT 1").fetchone()
        assert row == {"actor": "user:admin", "object_kind": "backup", "object_key": backup.name}
        # Ids continue after the restored ones: a new extension does not collide.
        Store(conn, actor="console").add_extension("151", "Dave")


def test_two_backups_in_one_second_get_distinct_names_and_list_newest_first(dsn, tmp_path):
    first = pgbackup.create(dsn, tmp_path, now=T0)
    second = pgbackup.create(dsn, tmp_path, now=T0)
    assert second.name == f"{first.name}-2"
    later = pgbackup.create(dsn, tmp_path, now=T0.replace(hour=13))
    assert [b.name for b in pgbackup.list_backups(tmp_path)] == [later.name, second.name, first.name]


def test_damaged_backup_and_other_schema_versions_are_refused_and_change_nothing(dsn, tmp_path):
    from appliance.store.db import connect

    backup = pgbackup.create(dsn, tmp_path, now=T0)
    with connect(dsn, autocommit=True) as conn:
        Store(conn, actor="console").add_extension("150", "Carol")
    meta = tmp_path / f"{backup.name}.json"
    data = json.loads(meta.read_text())
    meta.write_text(json.dumps({**data, "migrations": [*data["migrations"], 99]}))
    with pytest.raises(pgbackup.BackupError, match="schema versions"):
        pgbackup.restore(dsn, pgbackup.find(tmp_path, backup.name))
    meta.write_text(json.dumps(data))
    with open(backup.path, "ab") as f:
        f.write(b"tampered")
    with pytest.raises(pgbackup.BackupError, match="SHA-256"):
        pgbackup.restore(dsn, pgbackup.find(tmp_path, backup.name))
    with connect(dsn, autocommit=True) as conn:
        assert [e.number for e in load_snapshot(conn).extensions] == ["150"]
    with pytest.raises(pgbackup.BackupError, match="not a backup name"):
        pgbackup.find(tmp_path, "../etc/passwd")


def test_a_restore_that_fails_midway_leaves_everything_as_it_was(dsn, tmp_path):
    from appliance.store.db import connect

    with connect(dsn, autocommit=True) as conn:
        seed_pbx(conn)
        backup = pgbackup.create(dsn, tmp_path, now=T0)
        Store(conn, actor="console").add_extension("150", "Carol")
        before = load_snapshot(conn)
        # A table the backup fills now refuses its rows: the load fails after the TRUNCATE.
        conn.execute("ALTER TABLE trunks ADD CONSTRAINT no_carrier CHECK (name <> 'carrier') NOT VALID")
        with pytest.raises(pgbackup.BackupError, match="psql failed"):
            pgbackup.restore(dsn, backup)
        assert load_snapshot(conn) == before


def test_cli_create_list_restore(dsn, tmp_path, capsys):
    from appliance.store.db import connect

    with connect(dsn, autocommit=True) as conn:
        seed_pbx(conn)
    assert cli.main(["backup", "create", "--dsn", dsn, "--dir", str(tmp_path), "--json"]) == 0
    created = json.loads(capsys.readouterr().out)
    assert cli.main(["backup", "list", "--dsn", dsn, "--dir", str(tmp_path), "--json"]) == 0
    assert [b["name"] for b in json.loads(capsys.readouterr().out)] == [created["name"]]
    with connect(dsn, autocommit=True) as conn:
        Store(conn, actor="console").remove_extension("102")
    assert cli.main(["backup", "restore", created["name"], "--dsn", dsn, "--dir", str(tmp_path)]) != 0
    assert "--yes" in capsys.readouterr().err
    assert cli.main(["backup", "restore", created["name"], "--yes", "--dsn", dsn, "--dir", str(tmp_path)]) == 0
    with connect(dsn, autocommit=True) as conn:
        assert "102" in [e.number for e in load_snapshot(conn).extensions]
