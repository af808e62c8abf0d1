# SPDX-License-Identifier: GPL-3.0-or-later
"""The spool's durability rules: whole records or nothing, one record per uuid, oldest first."""

from __future__ import annotations

import os
from datetime import UTC, datetime

import pytest

from appliance.callcontrol.spool import Spool

UUID_A = "6f1c2a3e-0d1b-4b8e-9a51-3c7e2f0a9b11"
UUID_B = "c3d4e5f6-a7b8-4c9d-8e0f-112233445566"


def _record(uuid: str, **extra) -> dict:
    return {
        "uuid": uuid,
        "call_type": "internal",
        "started_at": datetime(2025, 11, 22, 10, 20, tzinfo=UTC),
        **extra,
    }


def test_put_pending_load_done(tmp_path):
    spool = Spool(tmp_path)
    path = spool.put(_record(UUID_A))
    assert path == tmp_path / "new" / f"{UUID_A}.json"
    assert spool.pending() == [path]
    assert spool.load(path) == {
        "uuid": UUID_A,
        "call_type": "internal",
        "started_at": "2025-11-22T10:20:00+00:00",
    }
    assert list(spool.tmp.iterdir()) == []
    spool.done(path)
    assert (spool.pending(), spool.depth()) == ([], 0)
    spool.done(path)  # settling twice is harmless


def test_same_uuid_twice_is_one_record_holding_the_latest(tmp_path):
    spool = Spool(tmp_path)
    spool.put(_record(UUID_A, billsec=1))
    spool.put(_record(UUID_A, billsec=2))
    assert spool.depth() == 1
    assert spool.load(spool.pending()[0])["billsec"] == 2


def test_pending_is_oldest_first_when_all_fit_and_any_limit_of_a_backlog(tmp_path):
    spool = Spool(tmp_path)
    newer, older = spool.put(_record(UUID_A)), spool.put(_record(UUID_B))
    os.utime(older, ns=(1_000_000_000, 1_000_000_000))
    os.utime(newer, ns=(2_000_000_000, 2_000_000_000))
    assert spool.pending() == [older, newer]
    assert spool.pending(limit=2) == [older, newer]
    # A backlog larger than the limit: any `limit` of the records (directory order, no stat per file).
    (only,) = spool.pending(limit=1)
    assert only in (older, newer)


def test_pending_with_a_limit_reads_the_directory_only_that_far(tmp_path, monkeypatch):
    spool = Spool(tmp_path)
    for i in range(50):
        spool.put(_record(f"00000000-0000-4000-8000-{i:012d}"))
    stats = []
    real_stat = os.stat
    monkeypatch.setattr(os, "stat", lambda *a, **k: stats.append(a) or real_stat(*a, **k))
    batch = spool.pending(limit=10)
    assert len(batch) == 10 and len(set(batch)) == 10
    assert stats == []  # no stat per file for a backlog
    drained = set()
    while batch := spool.pending(limit=10):
        drained.update(batch)
        spool.done_many(batch)
    assert len(drained) == 50 and spool.depth() == 0


def test_leftover_tmp_file_is_never_pending_and_is_discarded_at_start(tmp_path):
    spool = Spool(tmp_path)
    (spool.tmp / f"{UUID_A}.4242.json").write_text('{"uuid": "6f1c2a3e-0d1b-4b8e-9a5')  # a crash mid-write
    assert (spool.pending(), spool.depth()) == ([], 0)
    assert spool.discard_partial() == 1
    assert list(spool.tmp.iterdir()) == []


def test_a_crash_before_the_rename_leaves_no_visible_record(tmp_path, monkeypatch):
    spool = Spool(tmp_path)

    def crash(src, dst):
        raise OSError("power cut")

    monkeypatch.setattr(os, "rename", crash)
    with pytest.raises(OSError, match="power cut"):
        spool.put(_record(UUID_A))
    assert spool.pending() == []


def test_record_needs_a_real_uuid(tmp_path):
    spool = Spool(tmp_path)
    with pytest.raises(ValueError):
        spool.put(_record("../../etc/passwd"))
    with pytest.raises(KeyError):
        spool.put({"call_type": "internal"})
    assert spool.depth() == 0


def test_quarantine_moves_a_record_aside_without_losing_it(tmp_path):
    spool = Spool(tmp_path)
    path = spool.put(_record(UUID_A))
    spool.quarantine(path, "test")
    assert spool.depth() == 0
    assert (spool.bad / path.name).exists()


def test_a_second_spool_on_the_same_directory_sees_the_records(tmp_path):
    Spool(tmp_path).put(_record(UUID_A))
    assert [p.name for p in Spool(tmp_path).pending()] == [f"{UUID_A}.json"]
