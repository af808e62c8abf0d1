# SPDX-License-Identifier: GPL-3.0-or-later
"""Clevis against a real Tang server: what the boot-time unlock relies on, without LUKS (no device-mapper here)."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.unit.storage.tangd import Tang, missing

pytestmark = pytest.mark.skipif(missing() is not None, reason=f"Tang tests skipped: {missing()}")


@pytest.fixture
def tang(tmp_path):
    server = Tang(tmp_path).start()
    yield server
    server.stop()


def _encrypt(config: dict, secret: bytes) -> subprocess.CompletedProcess:
    return subprocess.run(["clevis", "encrypt", "tang", json.dumps(config)], input=secret, capture_output=True)


def test_a_secret_bound_to_tang_opens_only_while_the_server_answers(tang):
    config = {"url": f"http://127.0.0.1:{tang.port}", "thp": tang.thumbprint}
    sealed = _encrypt(config, b"volume-key")
    assert sealed.returncode == 0, sealed.stderr
    opened = subprocess.run(["clevis", "decrypt"], input=sealed.stdout, capture_output=True)
    assert opened.stdout == b"volume-key"
    tang.stop()
    refused = subprocess.run(["clevis", "decrypt"], input=sealed.stdout, capture_output=True, timeout=60)
    assert refused.returncode != 0 and refused.stdout == b""


def test_a_wrong_thumbprint_is_refused_at_binding(tang):
    sealed = _encrypt({"url": f"http://127.0.0.1:{tang.port}", "thp": "A" * 43}, b"volume-key")
    assert sealed.returncode != 0
    assert sealed.stdout == b""
