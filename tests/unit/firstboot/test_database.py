# SPDX-License-Identifier: GPL-3.0-or-later
"""What first boot writes into SQL and where it looks for the cluster."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from appliance.firstboot import database


@pytest.mark.parametrize("name", ["appliance", "pbx_1", "_x"])
def test_plain_identifiers_pass(name):
    assert database.identifier(name) == name


@pytest.mark.parametrize("name", ["Appliance", "a;DROP DATABASE x", "a'b", "", "1abc", "x" * 64])
def test_anything_else_is_refused(name):
    with pytest.raises(ValueError, match="identifier"):
        database.identifier(name)


def test_cluster_config_path():
    assert database.cluster_config("15", "main", Path("/etc/postgresql")) == Path(
        "/etc/postgresql/15/main/postgresql.conf"
    )


def test_the_new_cluster_is_queued_to_start_when_first_boot_ends(monkeypatch):
    calls = []

    def run(args, **kw):
        calls.append((list(args), kw))
        return subprocess.CompletedProcess(args, 0, "", "")

    monkeypatch.setattr(database.system, "run", run)
    database.start_when_first_boot_ends("15", "main")
    assert calls == [(["systemctl", "start", "--no-block", "postgresql@15-main.service"], {"check": False})]
