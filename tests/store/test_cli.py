# SPDX-License-Identifier: GPL-3.0-or-later
"""The `appliance` command against real PostgreSQL: JSON for scripts, clear refusals, exit codes."""

from __future__ import annotations

import json

from appliance.cli import main


def run(capsys, dsn: str, *words: str) -> tuple[int, str, str]:
    code = main(["--dsn", dsn, *words])
    out, err = capsys.readouterr()
    return code, out, err


def test_scripted_office_setup_round_trips_as_json(capsys, dsn):
    assert run(capsys, dsn, "extension", "add", "101", "Alice", "--caller-id", "+4930123456101")[0] == 0
    assert run(capsys, dsn, "extension", "add", "102", "Bob")[0] == 0
    assert (
        run(
            capsys,
            dsn,
            "device",
            "add",
            "ata1",
            "--kind",
            "fxs_gateway",
            "--line",
            "1:101",
            "--line",
            "2:102",
            "--mac",
            "00:11:22:AA:BB:CC",
        )[0]
        == 0
    )
    assert run(capsys, dsn, "trunk", "add", "carrier", "127.0.0.2", "--inbound-cidr", "127.0.0.0/24")[0] == 0
    assert run(capsys, dsn, "number", "add", "+4930123456", "--to", "101", "--tag", "flyer")[0] == 0
    assert (
        run(
            capsys,
            dsn,
            "route",
            "add",
            "national",
            "--pattern",
            "0ZXXXXXXXX.",
            "--trunk",
            "carrier",
            "--presentation",
            "withheld",
            "--strip",
            "1",
            "--prepend",
            "+49",
        )[0]
        == 0
    )

    code, out, _ = run(capsys, dsn, "extension", "list", "--json")
    exts = json.loads(out)
    assert code == 0 and [e["number"] for e in exts] == ["101", "102"]
    assert exts[0]["sip_password"] == "********"

    _, out, _ = run(capsys, dsn, "--json", "extension", "show", "101", "--secrets")
    assert len(json.loads(out)["sip_password"]) >= 16

    _, out, _ = run(capsys, dsn, "--json", "device", "list")
    assert [line["sip_username"] for line in json.loads(out)[0]["lines"]] == ["ata1-1", "ata1-2"]
    _, out, _ = run(capsys, dsn, "--json", "route", "list")
    assert json.loads(out)[0]["patterns"] == ["0ZXXXXXXXX."]


def test_refusal_exits_2_and_names_object_and_field(capsys, dsn):
    run(capsys, dsn, "extension", "add", "101", "Alice")
    code, _, err = run(capsys, dsn, "extension", "add", "101", "Mallory")
    assert code == 2
    assert "extension 101: number: already exists" in err
    code, _, err = run(capsys, dsn, "--json", "number", "add", "+4930123456", "--to", "999")
    assert code == 2
    assert json.loads(err)["problems"] == [
        {"obj": "inbound number +4930123456", "field": "destination", "message": "extension '999' does not exist"}
    ]


def test_ansible_flag_marks_objects_read_only_for_the_console(capsys, dsn):
    assert run(capsys, dsn, "--managed-by", "ansible", "extension", "add", "201", "Reception")[0] == 0
    code, _, err = run(capsys, dsn, "extension", "set", "201", "name=Other")
    assert code == 2 and "managed by Ansible" in err
    code, out, _ = run(
        capsys, dsn, "extension", "set", "201", "outbound_allowed=false", "--managed-by", "ansible", "--json"
    )
    assert code == 0 and json.loads(out)["outbound_allowed"] is False


def test_site_set_converts_types_and_refuses_bad_values(capsys, dsn):
    code, out, _ = run(capsys, dsn, "--json", "site", "set", "ring_seconds=45", "tls_enabled=true")
    assert code == 0 and json.loads(out)["ring_seconds"] == 45 and json.loads(out)["tls_enabled"] is True
    code, _, err = run(capsys, dsn, "site", "set", "ring_seconds=soon")
    assert code == 2 and "ring_seconds: 'soon' is not a valid int" in err
