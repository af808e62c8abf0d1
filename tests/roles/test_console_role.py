# SPDX-License-Identifier: GPL-3.0-or-later
"""roles/console applied to a chroot through Ansible's chroot connection, as the image build does.

The chroot is this machine's own /usr (read-only) under a copy of /etc, so it costs seconds, not a
debootstrap. Checked: files and modes, the unit enabled and never started, idempotence (the second
run changes nothing), `systemd-analyze verify` of the unit, and a wildcard address refused before
anything is written.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
import yaml

from appliance.console.settings import settings

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = REPO / ".venv" / "bin"
PLAYBOOK = """\
- name: Apply the console role to an image root
  hosts: all
  gather_facts: true
  vars:
    appliance_image_build: true
  roles:
    - role: console
"""

if os.geteuid() != 0:
    pytest.skip("the chroot needs root (mount, chroot): console role test skipped", allow_module_level=True)
if not (VENV_BIN / "ansible-playbook").exists():
    pytest.skip("ansible not installed in .venv: console role test skipped", allow_module_level=True)


def _run(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(list(args), capture_output=True, text=True, timeout=300, **kwargs)


@pytest.fixture
def chroot(tmp_path):
    """Return a chroot with the host's /usr read-only, its own /etc, an appliance account and command."""
    root = tmp_path / "root"
    mounts: list[Path] = []
    try:
        for name in ("usr", "proc", "dev", "var/lib", "var/tmp", "tmp", "run", "root"):
            (root / name).mkdir(parents=True, exist_ok=True)
        for link in ("bin", "sbin", "lib", "lib64"):
            (root / link).symlink_to(f"usr/{link}")
        os.chmod(root / "tmp", 0o1777)
        shutil.copytree("/etc", root / "etc", symlinks=True)
        local = tmp_path / "usr-local"
        (local / "bin").mkdir(parents=True)
        command = local / "bin" / "appliance"
        command.write_text("#!/bin/sh\n# stands in for the appliance role's command\nexit 0\n")
        command.chmod(0o755)
        for args, target in (
            (["--bind", "/usr"], root / "usr"),
            (["-o", "remount,bind,ro"], root / "usr"),
            (["--bind", str(local)], root / "usr" / "local"),
            (["--bind", "/dev"], root / "dev"),
            (["-t", "proc", "proc"], root / "proc"),
        ):
            done = _run("mount", *args, str(target))
            assert done.returncode == 0, done.stderr
            if target not in mounts:
                mounts.append(target)
        for cmd in (
            ["groupadd", "--root", str(root), "--system", "appliance"],
            ["useradd", "--root", str(root), "--system", "-g", "appliance", "-s", "/usr/sbin/nologin", "appliance"],
        ):
            done = _run(*cmd)
            assert done.returncode in (0, 9), done.stderr  # 9: exists already (copied from this host)
        yield root
    finally:
        for target in reversed(mounts):
            _run("umount", "-l", str(target))


def play(root: Path, tmp_path: Path, **extra: object) -> subprocess.CompletedProcess:
    """Run the role against the chroot; return the finished ansible-playbook."""
    book = tmp_path / "console.yml"
    book.write_text(PLAYBOOK)
    env = {
        **os.environ,
        "ANSIBLE_ROLES_PATH": str(REPO / "roles"),
        "ANSIBLE_PYTHON_INTERPRETER": "/usr/bin/python3",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_RETRY_FILES_ENABLED": "0",
        "ANSIBLE_LOCAL_TEMP": str(tmp_path / "ansible-local"),
    }
    args = [str(VENV_BIN / "ansible-playbook"), "-i", f"{root},", "-c", "community.general.chroot", str(book)]
    if extra:
        args += ["-e", json.dumps(extra)]
    return _run(*args, env=env, cwd=tmp_path)


def recap(output: str) -> dict[str, int]:
    match = re.search(r"ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", output)
    assert match, output[-2000:]
    return dict(zip(("ok", "changed", "unreachable", "failed"), map(int, match.groups()), strict=True))


def test_console_role_in_a_chroot(chroot, tmp_path):
    addresses = ["192.168.1.10", "10.77.0.2"]
    first = play(chroot, tmp_path, console_bind_addresses=addresses)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-2000:]
    assert recap(first.stdout)["changed"] >= 3

    unit = chroot / "etc/systemd/system/appliance-console.service"
    dropin = chroot / "etc/appliance/conf.d/60-console.yml"
    assert stat.S_IMODE(unit.stat().st_mode) == 0o644
    assert stat.S_IMODE(dropin.stat().st_mode) == 0o640
    text = unit.read_text()
    for line in ("User=appliance", "NoNewPrivileges=true", "ProtectSystem=strict", "AmbientCapabilities="):
        assert line in text, line
    console = settings(yaml.safe_load(dropin.read_text()))
    assert console["bind"] == ["192.168.1.10", "10.77.0.2"] and console["port"] == 443
    # The CA's keys are root's: the unit copies the console's pair into its runtime folder as root ('+'),
    # and the console reads that copy (it crash-looped on the image reading the CA's private folder).
    export = "+/usr/local/bin/appliance pki export-console --dir /run/appliance-console"
    assert f"ExecStartPre={export}" in text and f"ExecReload={export}" in text
    assert "RuntimeDirectory=appliance-console" in text
    assert (console["cert"], console["key"]) == ("/run/appliance-console/chain.pem", "/run/appliance-console/key.pem")
    wants = chroot / "etc/systemd/system/multi-user.target.wants/appliance-console.service"
    assert wants.is_symlink()
    # Enabled, never started: nothing runs the chroot's console.
    assert _run("pgrep", "-f", "appliance console serve").returncode == 1

    again = play(chroot, tmp_path, console_bind_addresses=addresses)
    assert again.returncode == 0, again.stdout[-3000:]
    assert recap(again.stdout)["changed"] == 0, again.stdout[-3000:]

    if shutil.which("systemd-analyze"):
        verify = _run("systemd-analyze", "verify", f"--root={chroot}", "/etc/systemd/system/appliance-console.service")
        assert verify.returncode == 0, verify.stdout + verify.stderr
        assert "appliance-console" not in verify.stderr, verify.stderr


def test_a_wildcard_address_is_refused_before_anything_is_written(chroot, tmp_path):
    refused = play(chroot, tmp_path, console_bind_addresses=["0.0.0.0"])
    assert refused.returncode != 0
    assert "console_bind_addresses must list the box's LAN and tunnel IP addresses" in refused.stdout
    assert not (chroot / "etc/systemd/system/appliance-console.service").exists()
    assert not (chroot / "etc/appliance/conf.d/60-console.yml").exists()


def test_a_wildcard_is_accepted_when_the_image_asks_for_it(chroot, tmp_path):
    done = play(chroot, tmp_path, console_bind_addresses=["0.0.0.0"], console_listen_on_all=True)
    assert done.returncode == 0, done.stdout[-3000:]
    dropin = chroot / "etc/appliance/conf.d/60-console.yml"
    assert settings(yaml.safe_load(dropin.read_text()))["bind"] == ["0.0.0.0"]
