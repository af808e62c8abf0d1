# SPDX-License-Identifier: GPL-3.0-or-later
"""First boot's secrets step: per-device secrets the service user's daemons and console can read."""

from __future__ import annotations

import grp
import os
import stat
from pathlib import Path

from appliance.firstboot.settings import DEFAULTS, from_dict
from appliance.firstboot.steps import FirstBoot


def test_the_event_socket_password_and_the_console_key_are_made_once_and_group_readable(tmp_path: Path):
    # The console runs as the service user and cannot create files in root's secrets folder (it crash-
    # looped on the image): first boot makes its key, readable by the group, never by others.
    group = grp.getgrgid(os.getgid()).gr_name
    folder = tmp_path / "secrets"
    cfg = {
        "freeswitch": {"esl_password_file": str(folder / "esl_password")},
        "console": {"secret_key_file": str(folder / "console_secret_key")},
    }
    boot = FirstBoot(from_dict(DEFAULTS | {"data_dir": str(tmp_path), "service_group": group}), cfg)
    boot.secrets()
    made = {p.name: p.read_text() for p in folder.iterdir()}
    assert sorted(made) == ["console_secret_key", "esl_password"]
    assert len(made["console_secret_key"].strip()) == 64 and len(made["esl_password"].strip()) == 32
    for path in folder.iterdir():
        st = path.stat()
        assert stat.S_IMODE(st.st_mode) == 0o640 and st.st_gid == os.getgid(), path
    boot.secrets()  # rerun after an interruption: the same secrets, not new ones
    assert {p.name: p.read_text() for p in folder.iterdir()} == made
