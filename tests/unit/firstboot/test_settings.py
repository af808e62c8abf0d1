# SPDX-License-Identifier: GPL-3.0-or-later
"""First boot's settings: sizes, defaults, the file the role writes."""

from __future__ import annotations

from pathlib import Path

import pytest

from appliance.firstboot import settings


@pytest.mark.parametrize(
    ("text", "size"),
    [("4GiB", 4 * 2**30), ("512MiB", 512 * 2**20), ("1G", 10**9), ("1.5GiB", 3 * 2**29), ("2048", 2048), (10, 10)],
)
def test_sizes_in_binary_and_decimal_units(text, size):
    assert settings.parse_size(text) == size


def test_a_size_without_a_number_is_refused():
    with pytest.raises(settings.SettingsError, match="not a size"):
        settings.parse_size("big")


def test_defaults_without_a_file(tmp_path: Path):
    conf = settings.load(tmp_path / "missing.yml")
    assert conf.data_dir == Path("/var/lib/appliance")
    assert conf.state_dir == Path("/var/lib/appliance-firstboot")
    assert conf.root_size == 4 * 2**30
    assert conf.standalone


def test_the_file_overrides_and_merges_postgresql(tmp_path: Path):
    path = tmp_path / "firstboot.yml"
    path.write_text(
        "hub_url: https://hub.example\nroot_size: 6GiB\npostgresql: {version: 16}\nsite: {domain: x.example}\n"
    )
    conf = settings.load(path)
    assert not conf.standalone
    assert conf.root_size == 6 * 2**30
    assert conf.postgresql == {"version": "16", "cluster": "main", "database": "appliance", "owner": "appliance"}
    assert conf.site == {"domain": "x.example"}


def test_unknown_settings_and_modes_are_refused(tmp_path: Path):
    path = tmp_path / "firstboot.yml"
    path.write_text("root_sise: 4GiB\n")
    with pytest.raises(settings.SettingsError, match="unknown settings"):
        settings.load(path)
    path.write_text("storage_mode: clevis\n")
    with pytest.raises(settings.SettingsError, match="storage_mode"):
        settings.load(path)
