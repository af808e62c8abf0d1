# SPDX-License-Identifier: GPL-3.0-or-later
"""FreeSWITCH's own CDR files (real mod_json_cdr output) become the same CDR rows as hangup events."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest

from appliance.callcontrol.cdr import cdr_from_event
from appliance.callcontrol.fscdr import FileImporter, FreeSwitchCdrDir, NotReady, RecentCalls, headers_from_json
from appliance.callcontrol.spool import Spool

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "fscdr"


def _record(name: str) -> dict:
    return cdr_from_event(headers_from_json(json.loads((FIXTURES / name).read_text())))


def test_inbound_did_file_maps_to_the_did_tag_and_extension():
    row = _record("inbound-did.cdr.json")
    assert (row["call_type"], row["did"], row["tracking_tag"], row["extension"]) == (
        "inbound",
        "+4930555100",
        "spring-flyer",
        "101",
    )
    assert row["caller_number"] == "+4917612345678"
    assert row["context"] == "default" and row["destination"] == "101"  # after the transfer from public
    assert row["answered_at"] is not None and row["hangup_cause"] == "NORMAL_CLEARING"


def test_outbound_withheld_file_keeps_route_trunk_and_presented_identity():
    row = _record("outbound-withheld.cdr.json")
    assert (row["call_type"], row["route"], row["trunk"]) == ("outbound", "private", "carrier")
    assert row["outbound_caller_id"] == "anonymous"
    assert row["variables"]["sip_call_id"]


def _importer(tmp_path: Path) -> tuple[FileImporter, Spool, Path]:
    fsdir = tmp_path / "fs-cdr"
    spool = Spool(tmp_path / "spool")
    return FileImporter(fsdir, spool), spool, fsdir


def test_sweep_spools_complete_files_and_removes_them(tmp_path):
    importer, spool, fsdir = _importer(tmp_path)
    for name in ("inbound-did.cdr.json", "outbound-withheld.cdr.json"):
        shutil.copy(FIXTURES / name, fsdir / name)
    assert importer.sweep() == 2
    assert spool.depth() == 2 and not list(fsdir.glob("*.json"))
    assert importer.sweep() == 0


def test_a_file_still_being_written_is_left_alone_then_quarantined_when_abandoned(tmp_path):
    importer, spool, fsdir = _importer(tmp_path)
    partial = fsdir / "half.cdr.json"
    partial.write_text((FIXTURES / "inbound-did.cdr.json").read_text()[:500])
    assert importer.sweep() == 0 and partial.exists()
    old = partial.stat().st_mtime - 120
    os.utime(partial, (old, old))
    assert importer.sweep() == 0
    assert not partial.exists() and (fsdir / "bad" / "half.cdr.json").exists()
    assert spool.depth() == 0


def test_the_same_call_seen_as_event_and_file_is_one_spooled_record(tmp_path):
    importer, spool, fsdir = _importer(tmp_path)
    spool.put(_record("inbound-did.cdr.json"))
    shutil.copy(FIXTURES / "inbound-did.cdr.json", fsdir / "x.cdr.json")
    importer.sweep()
    assert spool.depth() == 1


def test_a_call_already_spooled_from_its_event_is_not_written_again_from_its_file(tmp_path):
    fsdir = tmp_path / "fs-cdr"
    spool = Spool(tmp_path / "spool")
    recent = RecentCalls()
    importer = FileImporter(fsdir, spool, recent)
    record = _record("inbound-did.cdr.json")
    spool.put(record)
    recent.add(record["uuid"])
    spool.done_many(spool.pending())  # the writer already stored it
    shutil.copy(FIXTURES / "inbound-did.cdr.json", fsdir / f"{record['uuid']}.cdr.json")
    assert importer.sweep() == 0
    assert spool.depth() == 0 and not list(fsdir.glob("*.json"))


def test_recent_calls_forget_the_oldest_beyond_their_size():
    recent = RecentCalls(size=2)
    for name in ("a", "b", "c"):
        recent.add(name)
    assert "a" not in recent and "b" in recent and "c" in recent


def _queue(tmp_path: Path, now: float = 1e10) -> tuple[FreeSwitchCdrDir, Path]:
    fsdir = tmp_path / "fs-cdr"
    return FreeSwitchCdrDir(fsdir, clock=lambda: now), fsdir


def test_freeswitch_dir_as_a_queue_lists_oldest_first_when_all_fit_and_loads_records(tmp_path):
    queue, fsdir = _queue(tmp_path)
    for age, name in ((20, "outbound-withheld.cdr.json"), (10, "inbound-did.cdr.json")):
        shutil.copy(FIXTURES / name, fsdir / name)
        os.utime(fsdir / name, (1e9 - age, 1e9 - age))
    (fsdir / "notes.txt").write_text("not a CDR file\n")
    assert [p.name for p in queue.pending()] == ["outbound-withheld.cdr.json", "inbound-did.cdr.json"]
    assert [p.name for p in queue.pending(limit=2)] == ["outbound-withheld.cdr.json", "inbound-did.cdr.json"]
    # More waiting than the limit: any one of them (a backlog is not sorted, docs/callcontrol.md).
    (one,) = queue.pending(limit=1)
    assert one.name in {"outbound-withheld.cdr.json", "inbound-did.cdr.json"}
    assert queue.depth() == 2
    record = queue.load(fsdir / "inbound-did.cdr.json")
    assert record == _record("inbound-did.cdr.json")
    queue.done_many(queue.pending())
    assert queue.depth() == 0 and (fsdir / "notes.txt").exists()


def test_freeswitch_dir_file_being_written_is_not_ready_then_unreadable_once_abandoned(tmp_path):
    fresh, fsdir = _queue(tmp_path, now=time.time())
    partial = fsdir / "half.cdr.json"
    partial.write_text((FIXTURES / "inbound-did.cdr.json").read_text()[:500])
    with pytest.raises(NotReady):
        fresh.load(partial)
    abandoned = FreeSwitchCdrDir(fsdir, clock=lambda: time.time() + 3600)
    with pytest.raises(ValueError, match="not a complete JSON document"):
        abandoned.load(partial)
    abandoned.quarantine(partial, "test")
    assert not partial.exists() and (fsdir / "bad" / "half.cdr.json").exists()
    assert abandoned.depth() == 0
