# SPDX-License-Identifier: GPL-3.0-or-later
"""SSH host key fingerprints and the console admin password."""

from __future__ import annotations

import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from appliance.firstboot import identity


def test_fingerprint_lines_are_split_into_type_and_hash():
    line = "256 SHA256:uJ0Yx7nq0m3Yq1Y2Zx7nq0m3Yq1Y2Zx7nq0m3Yq1Y2Z root@appliance-abc (ED25519)"
    assert identity.parse_fingerprint(line) == ("ED25519", "SHA256:uJ0Yx7nq0m3Yq1Y2Zx7nq0m3Yq1Y2Zx7nq0m3Yq1Y2Z")


@pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="ssh-keygen not installed")
def test_fingerprints_of_real_keys(tmp_path: Path):
    key = tmp_path / "ssh_host_ed25519_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "root@box", "-f", key], check=True)
    (line,) = identity.fingerprints([key.with_suffix(".pub")])
    kind, digest = identity.parse_fingerprint(line)
    assert kind == "ED25519"
    assert digest.startswith("SHA256:")


def test_the_admin_password_is_made_once_and_root_only(tmp_path: Path):
    path = tmp_path / "root" / "appliance-admin-password"
    first = identity.ensure_admin_password(path)
    assert len(first) == 20
    assert set(first) <= set("ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert identity.ensure_admin_password(path) == first  # a resumed run keeps it


def test_passwords_differ():
    assert len({identity.new_password() for _ in range(50)}) == 50
