# SPDX-License-Identifier: GPL-3.0-or-later
"""The CA directory: index, serial numbers, atomic files and the modes of everything secret."""

from __future__ import annotations

import json
import os
import stat
from datetime import timedelta

import pytest

from appliance import files
from appliance.pki.errors import PkiError
from appliance.pki.issue import issue
from appliance.pki.store import CaStore, parse_serial, serial_text

from .conftest import T0


def _mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_serials_read_the_way_openssl_prints_them():
    assert serial_text(0x4F2A) == "4F2A"
    assert parse_serial("4f:2a") == parse_serial("0x4F2A") == parse_serial(" 4F2A ") == 0x4F2A
    with pytest.raises(PkiError, match="is not a serial number"):
        parse_serial("xyz")


def test_index_records_serial_profile_subject_dates_and_revocation(hierarchy):
    record = issue(hierarchy.store, "sip", ["pbx1.example.org", "192.168.1.10"], now=T0)
    data = json.loads((hierarchy.store.dir / "index.json").read_text())
    assert data["version"] == 1
    [entry] = data["certificates"]
    assert entry["serial"] == record.serial
    assert entry["profile"] == "sip"
    assert entry["subject"] == "CN=pbx1.example.org"
    assert entry["names"] == ["pbx1.example.org", "192.168.1.10"]
    assert entry["not_after"] == (T0 - timedelta(minutes=5) + timedelta(days=30)).isoformat()
    assert entry["revoked_at"] is None
    assert hierarchy.store.load().records == [record]


def test_a_damaged_index_is_reported_not_overwritten(hierarchy):
    (hierarchy.store.dir / "index.json").write_text("{not json")
    with pytest.raises(PkiError, match="damaged index"):
        issue(hierarchy.store, "console", ["pbx1.example.org"], now=T0)
    assert (hierarchy.store.dir / "index.json").read_text() == "{not json"


def test_every_private_key_is_0600_and_its_directory_0700(hierarchy):
    issue(hierarchy.store, "console", ["pbx1.example.org"], now=T0)
    issue(hierarchy.store, "phone", ["phone-1.pbx1.example.org"], now=T0)
    secret = [hierarchy.store.key_path, hierarchy.root_dir / "root.key", *hierarchy.store.dir.glob("private/*.key")]
    assert len(secret) == 4
    assert {p.name: _mode(p) for p in secret} == {p.name: 0o600 for p in secret}
    assert _mode(hierarchy.store.dir / "private") == 0o700
    assert _mode(hierarchy.root_dir) == 0o700
    public = [*hierarchy.store.public_dir.iterdir()]
    assert {p.name for p in public} == {"root.pem", "chain.pem", "intermediate.crl", "intermediate.crl.pem"}
    assert all(_mode(p) == 0o644 for p in public)


def test_atomic_write_replaces_whole_files_and_leaves_no_temporary_file(tmp_path):
    target = tmp_path / "agent.pem"
    target.write_bytes(b"old")
    os.chmod(target, 0o644)
    files.write_atomic(target, b"new", 0o600)
    assert target.read_bytes() == b"new"
    assert _mode(target) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["agent.pem"]


def test_a_failed_atomic_write_keeps_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "cafile.pem"
    target.write_bytes(b"old")

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        files.write_atomic(target, b"new")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["cafile.pem"]


def test_current_is_the_newest_live_certificate_of_a_profile(hierarchy):
    first = issue(hierarchy.store, "sip", ["pbx1.example.org"], now=T0)
    second = issue(hierarchy.store, "sip", ["pbx1.example.org"], now=T0 + timedelta(hours=1))
    index = hierarchy.store.load()
    assert index.current("sip", T0 + timedelta(hours=2)).serial == second.serial
    assert index.current("console", T0) is None
    index.find(second.serial).revoked_at = T0
    assert index.current("sip", T0 + timedelta(hours=2)).serial == first.serial
    assert index.current("sip", T0 + timedelta(days=31)) is None


def test_a_store_without_a_ca_says_how_to_set_one_up(tmp_path):
    with pytest.raises(PkiError, match="appliance pki init-root"):
        CaStore.root(tmp_path).ca_cert()
    with pytest.raises(PkiError, match="sign-intermediate"):
        CaStore.appliance(tmp_path).ca_key()
