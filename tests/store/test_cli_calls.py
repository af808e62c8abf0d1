# SPDX-License-Identifier: GPL-3.0-or-later
"""`appliance forward|schedule|voicemail` against real PostgreSQL: JSON out, refusals exit 2 and write nothing."""

from __future__ import annotations

import json

import pytest

from appliance.cli import main
from appliance.store.db import connect
from appliance.store.repo import load_snapshot


def run(capsys, dsn: str, *words: str) -> tuple[int, str, str]:
    code = main(["--dsn", dsn, *words])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def office(capsys, dsn) -> str:
    for number, name in (("101", "Alice"), ("102", "Bob")):
        assert run(capsys, dsn, "extension", "add", number, name)[0] == 0
    assert run(capsys, dsn, "extension", "add", "103", "Carol", "--no-outbound")[0] == 0
    return dsn


def _snapshot(dsn: str):
    with connect(dsn, autocommit=True) as conn:
        return load_snapshot(conn)


def test_voicemail_boxes_add_list_remove(capsys, office):
    code, out, _ = run(capsys, office, "voicemail", "add", "101", "--no-busy", "--json")
    assert code == 0
    assert json.loads(out) == {"extension": "101", "on_busy": False, "on_no_answer": True, "managed_by": "console"}
    code, out, _ = run(capsys, office, "voicemail", "list", "--json")
    assert [b["extension"] for b in json.loads(out)] == ["101"]
    code, out, err = run(capsys, office, "voicemail", "add", "101", "--json")
    assert code == 2
    assert json.loads(err)["problems"] == [
        {"obj": "mailbox 101", "field": "extension", "message": "already has a mailbox"}
    ]
    assert run(capsys, office, "voicemail", "remove", "101")[0] == 0
    assert _snapshot(office).mailboxes == ()


def test_forwarding_rules_add_list_remove(capsys, office):
    assert run(capsys, office, "voicemail", "add", "102")[0] == 0
    code, out, _ = run(
        capsys, office, "forward", "add", "101", "always", "extension:102", "--caller", "+49171.", "--json"
    )
    assert code == 0
    assert json.loads(out) == {
        "extension": "101",
        "condition": "always",
        "position": 1,
        "destination": "extension:102",
        "callers": ["+49171."],
        "schedule": "",
        "ring_seconds": 0,
        "managed_by": "console",
    }
    assert run(capsys, office, "forward", "add", "101", "no_answer", "voicemail:102", "--ring", "15")[0] == 0
    code, out, _ = run(capsys, office, "forward", "list", "101")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split()[:4] == ["EXTENSION", "CONDITION", "POSITION", "DESTINATION"]
    assert {line.split()[3] for line in lines[1:]} == {"extension:102", "voicemail:102"}
    assert run(capsys, office, "forward", "remove", "101", "always", "1")[0] == 0
    assert [(r.condition, r.ring_seconds) for r in _snapshot(office).forward_rules] == [("no_answer", 15)]


def test_forwarding_refusals_name_object_and_field(capsys, office):
    assert run(capsys, office, "forward", "add", "101", "always", "extension:102")[0] == 0
    code, _, err = run(capsys, office, "forward", "add", "102", "always", "extension:101", "--json")
    assert code == 2
    assert json.loads(err)["problems"] == [
        {
            "obj": "extension 101",
            "field": "forwarding",
            "message": "forwarding loop: extension 101 -> extension 102 -> extension 101",
        }
    ]
    code, _, err = run(capsys, office, "forward", "add", "103", "busy", "outside:0301234567")
    assert code == 2
    assert "forward rule 103 busy 1: destination: extension 103 may not call out" in err
    code, _, err = run(capsys, office, "forward", "add", "101", "busy", "102")
    assert code == 2
    assert "forward rule 101 busy: destination: '102' must look like KIND:VALUE" in err
    assert len(_snapshot(office).forward_rules) == 1


def test_schedules_with_holidays(capsys, office):
    assert run(capsys, office, "voicemail", "add", "101")[0] == 0
    words = ["schedule", "add", "office", "--open", "extension:101", "--closed", "voicemail:101"]
    code, out, _ = run(
        capsys, office, *words, "--range", "mon-fri 09:00-17:00", "--timezone", "Europe/Berlin", "--json"
    )
    assert code == 0, out
    assert json.loads(out)["ranges"] == ["mon-fri 09:00-17:00"]
    code, out, _ = run(capsys, office, "schedule", "holiday-add", "office", "2025-12-24..2025-12-26", "Christmas")
    assert code == 0
    assert "2025-12-24..2025-12-26 Christmas" in out
    assert run(capsys, office, "schedule", "holiday-add", "office", "2026-01-01")[0] == 0
    assert run(capsys, office, "schedule", "holiday-remove", "office", "2025-12-24")[0] == 0
    code, out, _ = run(capsys, office, "schedule", "list", "--json")
    assert json.loads(out)[0]["holidays"] == ["2026-01-01..2026-01-01"]
    code, _, err = run(capsys, office, "schedule", "holiday-remove", "office", "2030-01-01", "--json")
    assert code == 2
    assert json.loads(err)["problems"] == [
        {"obj": "schedule office", "field": "holidays", "message": "no holiday starts on 2030-01-01"}
    ]
    # Overlapping ranges are refused and write nothing.
    code, _, err = run(
        capsys, office, *words[:2], "night", *words[3:], "--range", "mon-fri 09:00-13:00", "--range", "fri 12:00-18:00"
    )
    assert code == 2
    assert "schedule night: ranges: fri 12:00-18:00 overlaps mon-fri 09:00-13:00" in err
    assert [s.name for s in _snapshot(office).schedules] == ["office"]
    assert run(capsys, office, "schedule", "remove", "office")[0] == 0
    assert _snapshot(office).schedules == ()
