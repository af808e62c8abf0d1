# SPDX-License-Identifier: GPL-3.0-or-later
"""The console's copy of its certificate chain and key, in a folder its own user owns."""

from __future__ import annotations

import os
import ssl
import stat
from datetime import timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from appliance.pki import keys
from appliance.pki.console_tls import export_console
from appliance.pki.errors import PkiError
from appliance.pki.issue import issue

from .conftest import T0


def test_the_current_console_certificate_and_its_key_are_copied_for_the_console_user(hierarchy, tmp_path):
    issue(hierarchy.store, "console", ["pbx1.example.org"], now=T0)
    newer = issue(hierarchy.store, "console", ["pbx1.example.org"], now=T0 + timedelta(hours=1))
    issue(hierarchy.store, "sip", ["pbx1.example.org"], now=T0 + timedelta(hours=2))
    folder = tmp_path / "run"
    folder.mkdir()
    if os.geteuid() == 0:  # as systemd's RuntimeDirectory: the folder belongs to the console's user
        os.chown(folder, 65534, 65534)
    out = export_console(folder, hierarchy.store, now=T0 + timedelta(hours=3))
    chain = x509.load_pem_x509_certificates(out["cert"].read_bytes())
    assert [c.serial_number for c in chain] == [int(newer.serial, 16), hierarchy.store.ca_cert().serial_number]
    key = serialization.load_pem_private_key(out["key"].read_bytes(), None)
    assert keys.same_key(key.public_key(), chain[0].public_key())
    assert stat.S_IMODE(out["key"].stat().st_mode) == 0o600
    assert stat.S_IMODE(out["cert"].stat().st_mode) == 0o644
    if os.geteuid() == 0:
        assert {(p.stat().st_uid, p.stat().st_gid) for p in out.values()} == {(65534, 65534)}
    ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(out["cert"], out["key"])  # a usable pair
    assert sorted(p.name for p in folder.iterdir()) == ["chain.pem", "key.pem"]


def test_without_a_current_console_certificate_nothing_is_written(hierarchy, tmp_path):
    issue(hierarchy.store, "sip", ["pbx1.example.org"], now=T0)
    with pytest.raises(PkiError, match="no current console certificate"):
        export_console(tmp_path / "run", hierarchy.store, now=T0)
    assert not (tmp_path / "run").exists()
