# SPDX-License-Identifier: GPL-3.0-or-later
"""What first boot writes into SQL and where it looks for the cluster."""

from __future__ import annotations

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
