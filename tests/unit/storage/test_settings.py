# SPDX-License-Identifier: GPL-3.0-or-later
"""/etc/appliance/storage.yml: defaults, refusals that name the setting."""

from __future__ import annotations

import pytest
from pyrage import x25519

from appliance.storage import settings


def test_defaults_without_a_file(tmp_path):
    s = settings.load(tmp_path / "none.yml")
    assert s.tang_servers == () and s.escrow_public_key == ""


def test_tang_servers_and_escrow_key_are_read(tmp_path):
    pub = str(x25519.Identity.generate().to_public())
    f = tmp_path / "storage.yml"
    f.write_text(f"tang_servers: [{{url: 'http://10.0.2.2:7500', thp: abc}}]\nescrow_public_key: {pub}\n")
    s = settings.load(f)
    assert s.tang_servers[0].clevis_config() == {"url": "http://10.0.2.2:7500", "thp": "abc"}
    assert s.escrow_public_key == pub


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("tang_server: []\n", "unknown settings"),
        ("tang_servers: [{url: 10.0.2.2}]\n", r"tang_servers\[0\]: needs url"),
        ("escrow_public_key: nope\n", "escrow_public_key: not an age"),
    ],
)
def test_bad_settings_are_refused_naming_them(tmp_path, text, message):
    f = tmp_path / "storage.yml"
    f.write_text(text)
    with pytest.raises(settings.StorageSettingsError, match=message):
        settings.load(f)
