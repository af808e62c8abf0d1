# SPDX-License-Identifier: GPL-3.0-or-later
"""Cheap chroots for role tests: this machine's /usr (read-only) under a copy of /etc.

A chroot costs seconds, not a debootstrap. Ansible reaches it through the chroot connection, as the
image build does. `appliance` inside is either a stand-in that does nothing or this checkout's real
command (the repository is bound in read-only at its own path, so the virtualenv works unchanged).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = REPO / ".venv" / "bin"
STAND_IN = "#!/bin/sh\n# stands in for the appliance role's command\nexit 0\n"


def missing() -> str | None:
    """Return why chroot role tests cannot run here, or None."""
    if os.geteuid() != 0:
        return "the chroot needs root (mount, chroot)"
    if not (VENV_BIN / "ansible-playbook").exists():
        return "ansible not installed in .venv"
    return None


def run(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(list(args), capture_output=True, text=True, timeout=300, **kwargs)


@contextlib.contextmanager
def chroot(root: Path, real_command: bool = False) -> Iterator[Path]:
    """Make a chroot at root with an appliance account and command; unmount everything on the way out."""
    mounts: list[Path] = []
    local = root.parent / f"{root.name}-usr-local"
    try:
        for name in ("usr", "proc", "dev", "var/lib", "var/tmp", "tmp", "run", "root"):
            (root / name).mkdir(parents=True, exist_ok=True)
        for link in ("bin", "sbin", "lib", "lib64"):
            (root / link).symlink_to(f"usr/{link}")
        (root / "var" / "run").symlink_to("../run")
        os.chmod(root / "tmp", 0o1777)
        shutil.copytree("/etc", root / "etc", symlinks=True)
        shutil.rmtree(root / "etc" / "appliance", ignore_errors=True)  # nothing of this host's set-up
        (local / "bin").mkdir(parents=True)
        command = local / "bin" / "appliance"
        command.write_text(f'#!/bin/sh\nexec {VENV_BIN}/python -m appliance "$@"\n' if real_command else STAND_IN)
        command.chmod(0o755)
        binds = [
            (["--bind", "/usr"], root / "usr"),
            (["-o", "remount,bind,ro"], root / "usr"),
            (["--bind", str(local)], root / "usr" / "local"),
            (["--bind", "/dev"], root / "dev"),
            (["-t", "proc", "proc"], root / "proc"),
        ]
        if real_command:
            # The checkout, and the interpreter its virtualenv was made from when that is not under /usr.
            for path in {REPO, Path(sys.base_prefix).resolve()}:
                if not path.is_relative_to("/usr"):
                    (root / path.relative_to("/")).mkdir(parents=True, exist_ok=True)
                    binds += [(["--bind", str(path)], root / path.relative_to("/")),
                              (["-o", "remount,bind,ro"], root / path.relative_to("/"))]  # fmt: skip
        for args, target in binds:
            done = run("mount", *args, str(target))
            assert done.returncode == 0, done.stderr
            if target not in mounts:
                mounts.append(target)
        for cmd in (
            ["groupadd", "--root", str(root), "--system", "appliance"],
            ["useradd", "--root", str(root), "--system", "-g", "appliance", "-s", "/usr/sbin/nologin", "appliance"],
        ):
            done = run(*cmd)
            assert done.returncode in (0, 9), done.stderr  # 9: exists already (copied from this host)
        yield root
    finally:
        for target in reversed(mounts):
            run("umount", "-l", str(target))


def playbook(
    inventory: Path | str, book: Path, workdir: Path, extra: dict | None = None, env: dict | None = None
) -> subprocess.CompletedProcess:
    """Run ansible-playbook with the repository's roles (env added to this process's); return the finished process."""
    env = {
        **os.environ,
        **(env or {}),
        "ANSIBLE_ROLES_PATH": str(REPO / "roles"),
        "ANSIBLE_PYTHON_INTERPRETER": "/usr/bin/python3",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_RETRY_FILES_ENABLED": "0",
        "ANSIBLE_LOCAL_TEMP": str(workdir / "ansible-local"),
    }
    args = [str(VENV_BIN / "ansible-playbook"), "-i", str(inventory), "-c", "community.general.chroot", str(book)]
    if extra:
        args += ["-e", json.dumps(extra)]
    return run(*args, env=env, cwd=workdir)


def recap(output: str) -> dict[str, dict[str, int]]:
    """Return each host's ok/changed/unreachable/failed counts from the play recap."""
    hosts = {}
    for host, *counts in re.findall(
        r"^(\S+)\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", output, re.MULTILINE
    ):
        hosts[host] = dict(zip(("ok", "changed", "unreachable", "failed"), map(int, counts), strict=True))
    assert hosts, output[-2000:]
    return hosts


def apply_role(role: str, root: Path, workdir: Path, **extra: object) -> subprocess.CompletedProcess:
    """Apply one role to the chroot as an image build does (nothing starts); return the finished run."""
    book = workdir / f"{role}.yml"
    book.write_text(
        f"- name: Apply the {role} role to an image root\n  hosts: all\n  gather_facts: true\n"
        f"  vars:\n    appliance_image_build: true\n  roles:\n    - role: {role}\n"
    )
    return playbook(f"{root},", book, workdir, dict(extra))


def changed(done: subprocess.CompletedProcess) -> int:
    """Return how many tasks a single-host run changed."""
    return next(iter(recap(done.stdout).values()))["changed"]
