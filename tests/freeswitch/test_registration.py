# SPDX-License-Identifier: GPL-3.0-or-later
"""Phones and FXS ports register with their generated credentials; a wrong password is refused."""

from __future__ import annotations

from pathlib import Path


def test_every_account_registers_with_its_generated_credentials(office):
    for account in ("101", "desk101-1", "ata1-1", "ata1-2"):
        result = office.register(account)
        assert result.ok, result.explain()
        assert result.received("SIP/2.0 200"), result.explain()
    accounts = {"101", "desk101-1", "ata1-1", "ata1-2"}
    assert accounts <= office.registered_users(accounts)


def test_a_wrong_password_is_refused(office):
    result = office.register("103", password="WrongPassword-0123456789")
    assert result.ok, result.explain()
    assert result.received("SIP/2.0 403") and not result.received("SIP/2.0 200")
    assert "103" not in office.registered_users(set(), timeout=0.5)


def test_registrations_are_kept_in_the_volatile_database_directory(office):
    # On the box that is tmpfs (/run): SQLite's journals, made and deleted on every write, stay off the
    # data volume and the Pi's SD card (docs/freeswitch-conf.md).
    assert office.register("101").received("SIP/2.0 200")
    volatile = Path(office.cfg["freeswitch"]["volatile_db_dir"])
    assert {"core.db", "sofia_reg_internal.db", "sofia_reg_external.db"} <= {p.name for p in volatile.iterdir()}
    assert not list((office.workdir / "fs" / "db").glob("sofia_reg_*.db"))
    assert not (office.workdir / "fs" / "db" / "core.db").exists()
