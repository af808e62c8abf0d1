# SPDX-License-Identifier: GPL-3.0-or-later
"""`appliance firstboot --list`: the steps in order and which are done, changing nothing."""

from __future__ import annotations

import json
from pathlib import Path

from appliance import cli
from appliance.firstboot import runner


def test_list_shows_the_steps_in_order_and_their_state(tmp_path: Path, capsys):
    state = tmp_path / "state"
    conf = tmp_path / "firstboot.yml"
    conf.write_text(f"state_dir: {state}\ndata_dir: {tmp_path / 'data'}\n")
    runner.mark_done(runner.marker(state, "disk"))
    assert (
        cli.main(["--json", "firstboot", "--settings", str(conf), "--list", "--config", str(tmp_path / "c.yml")]) == 0
    )
    rows = json.loads(capsys.readouterr().out)
    assert [r["step"] for r in rows] == [
        "disk",
        "hostname",
        "ssh-host-keys",
        "admin-password",
        "data-volume",
        "secrets",
        "ca",
        "wireguard",
        "database",
        "enrol",
    ]
    assert [r["done"] for r in rows][:2] == [True, False]
    assert not (tmp_path / "data").exists()


def test_bad_settings_exit_2_naming_the_file(tmp_path: Path, capsys):
    conf = tmp_path / "firstboot.yml"
    conf.write_text("storage_mode: floppy\n")
    assert cli.main(["firstboot", "--settings", str(conf), "--list"]) == 2
    assert "storage_mode" in capsys.readouterr().err
