# SPDX-License-Identifier: GPL-3.0-or-later
"""`appliance ivr|group|queue` and `number add` to the new destination kinds, through cli.main on PostgreSQL."""

from __future__ import annotations

import json

from appliance.cli import main


def run(capsys, dsn: str, *words: str) -> tuple[int, str, str]:
    code = main(["--dsn", dsn, *words])
    out, err = capsys.readouterr()
    return code, out, err


def _office(capsys, dsn: str) -> None:
    for number, name in (("101", "Alice"), ("102", "Bob"), ("103", "Carol")):
        assert run(capsys, dsn, "extension", "add", number, name)[0] == 0
    assert run(capsys, dsn, "trunk", "add", "carrier", "127.0.0.2")[0] == 0
    for box in ("101", "102"):  # a voicemail destination needs a box
        assert run(capsys, dsn, "voicemail", "add", box)[0] == 0


def test_groups_queues_and_menus_round_trip_as_json(capsys, dsn):
    _office(capsys, dsn)
    code, out, err = run(
        capsys, dsn, "group", "add", "sales", "--member", "101", "--member", "102", "--strategy", "sequential",
        "--ring-seconds", "12", "--fallback", "voicemail:101", "--json",
    )  # fmt: skip
    assert code == 0, err
    group = json.loads(out)
    assert group["members"] == ["101", "102"] and group["strategy"] == "sequential" and group["ring_seconds"] == 12
    assert (group["fallback_kind"], group["fallback"]) == ("voicemail", "101")
    code, out, err = run(
        capsys, dsn, "queue", "add", "support", "--agent", "102", "--max-wait", "90", "--announce-seconds", "20",
        "--agent-ring-seconds", "8", "--overflow", "group:sales", "--number", "650", "--json",
    )  # fmt: skip
    assert code == 0, err
    queue = json.loads(out)
    assert queue["agents"] == ["102"] and queue["announce_seconds"] == 20 and queue["agent_ring_seconds"] == 8
    assert (queue["overflow_kind"], queue["overflow"], queue["number"]) == ("group", "sales", "650")
    code, out, err = run(
        capsys, dsn, "ivr", "add", "main", "--greeting", "say:Welcome", "--option", "1=group:sales",
        "--option", "2=queue:support", "--option", "9=outside:+4930555999", "--fallback", "extension:103",
        "--timeout-ms", "4000", "--json",
    )  # fmt: skip
    assert code == 0, err
    ivr = json.loads(out)
    assert [(o["digits"], o["destination_kind"], o["destination"]) for o in ivr["options"]] == [
        ("1", "group", "sales"),
        ("2", "queue", "support"),
        ("9", "outside", "+4930555999"),
    ]
    assert ivr["timeout_ms"] == 4000 and ivr["fallback"] == "103"

    for did, to in (("+4930555001", "ivr:main"), ("+4930555002", "queue:support"), ("+4930555003", "group:sales")):
        code, _, err = run(capsys, dsn, "number", "add", did, "--to", to, "--trunk", "carrier")
        assert code == 0, err
    assert run(capsys, dsn, "number", "add", "+4930555004", "--kind", "voicemail", "--to", "102")[0] == 0
    numbers = {n["number"]: (n["destination_kind"], n["destination"]) for n in _json(capsys, dsn, "number", "list")}
    assert numbers["+4930555001"] == ("ivr", "main") and numbers["+4930555004"] == ("voicemail", "102")

    assert [g["name"] for g in _json(capsys, dsn, "group", "list")] == ["sales"]
    assert _json(capsys, dsn, "queue", "show", "support")["max_wait_seconds"] == 90
    code, out, _ = run(capsys, dsn, "ivr", "list")
    assert code == 0 and "main" in out and "MAX_ATTEMPTS" in out  # the people's table


def test_refusals_name_object_and_field_and_write_nothing(capsys, dsn):
    _office(capsys, dsn)
    code, _, err = run(capsys, dsn, "group", "add", "ghosts", "--member", "999", "--json")
    assert code == 2
    problems = json.loads(err)["problems"]
    assert any(p["obj"] == "ring group ghosts" and p["field"] == "members" for p in problems), problems
    code, _, err = run(capsys, dsn, "ivr", "add", "main", "--option", "1=nowhere:x", "--json")
    assert code == 2 and json.loads(err)["problems"][0]["field"] == "options"
    code, _, err = run(capsys, dsn, "ivr", "add", "main", "--option", "1", "--json")
    assert code == 2 and "DIGITS=KIND:VALUE" in json.loads(err)["problems"][0]["message"]
    code, _, err = run(capsys, dsn, "queue", "add", "q", "--overflow", "ivr:missing", "--json")
    assert code == 2 and json.loads(err)["problems"][0]["obj"] == "queue q"
    code, _, err = run(capsys, dsn, "number", "add", "+4930555001", "--to", "queue:missing")
    assert code == 2 and "error: refused" in err
    assert _json(capsys, dsn, "group", "list") == [] and _json(capsys, dsn, "ivr", "list") == []
    assert _json(capsys, dsn, "queue", "list") == [] and _json(capsys, dsn, "number", "list") == []


def test_remove_refuses_while_a_number_points_at_it(capsys, dsn):
    _office(capsys, dsn)
    assert run(capsys, dsn, "group", "add", "sales", "--member", "101")[0] == 0
    assert run(capsys, dsn, "number", "add", "+4930555001", "--to", "group:sales")[0] == 0
    code, _, err = run(capsys, dsn, "group", "remove", "sales", "--json")
    assert code == 2 and "+4930555001" in json.loads(err)["problems"][0]["message"]
    assert run(capsys, dsn, "number", "remove", "+4930555001")[0] == 0
    assert json.loads(run(capsys, dsn, "group", "remove", "sales", "--json")[1]) == {"removed": "sales"}
    code, _, err = run(capsys, dsn, "group", "show", "sales")
    assert code == 2 and "ring group sales: name: does not exist" in err


def _json(capsys, dsn: str, *words: str):
    code, out, err = run(capsys, dsn, *words, "--json")
    assert code == 0, err
    return json.loads(out)
