# SPDX-License-Identifier: GPL-3.0-or-later
"""Apply the roles to the unpacked root filesystem: ansible/image.yml over Ansible's chroot connection."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

from images import REPO
from images.preflight import FreeSwitchSource
from images.progress import output, run
from images.target import Target

# what the builder echoes of Ansible's output; the whole of it goes to the log
SHOW = r"^(PLAY |TASK \[|fatal:|failed:|ERROR!|PLAY RECAP|\S+\s+: ok=)"


def build_wheel(dest: Path, log: Path) -> Path:
    """Build the appliance wheel from this checkout into `dest` and return its path."""
    if dest.exists():
        shutil.rmtree(dest)
    # Build from a copy of just the package: setuptools would otherwise walk the whole checkout, root
    # filesystems under build/ included, and leave its own build/ directory behind.
    src = dest / "src"
    shutil.copytree(REPO / "appliance", src / "appliance", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        if (REPO / name).exists():
            shutil.copy2(REPO / name, src / name)
    run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", dest, src],
        log,
        what="pip wheel",
    )
    shutil.rmtree(src)
    wheels = sorted(dest.glob("*.whl"))
    if len(wheels) != 1:
        raise RuntimeError(f"expected one wheel in {dest}, found {[w.name for w in wheels]}")
    return wheels[0]


def extra_vars(target: Target, wheel: Path, source: FreeSwitchSource, ssh_keys: list[str]) -> dict:
    """Return the extra vars the contract promises ansible/image.yml."""
    return {
        "appliance_image_build": True,
        "appliance_target": target.name,
        "appliance_wheel": str(wheel),
        "freeswitch_source": source.kind,
        **source.extra_vars,
        "appliance_ssh_authorized_keys": ssh_keys,
        "ansible_python_interpreter": "/usr/bin/python3",
    }


def apply(rootdir: Path, playbook: Path, ansible_playbook: Path, variables: dict, workdir: Path, log: Path) -> None:
    """Run the playbook against the root filesystem through community.general.chroot."""
    vars_file = workdir / "extra-vars.json"
    # 0600: it may hold the SignalWire token
    vars_file.touch(mode=0o600, exist_ok=True)
    vars_file.chmod(0o600)
    vars_file.write_text(json.dumps(variables, indent=2))
    env = {
        **os.environ,
        "ANSIBLE_FORCE_COLOR": "0",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_RETRY_FILES_ENABLED": "0",
        "ANSIBLE_LOCALHOST_WARNING": "0",
        "PYTHONUNBUFFERED": "1",
    }
    # Each module runs as one `python3 -` fed on stdin instead of mkdir, chmod, run and rm of a temp
    # file: four processes fewer per task, which under qemu-user (the Pi) is most of a task's cost.
    # ANSIBLE_PIPELINING=0 in the environment turns it off (to measure it).
    env.setdefault("ANSIBLE_PIPELINING", "1")
    # the playbook's own ansible.cfg (if any) sits beside it; without one, find the repository's roles
    env.setdefault("ANSIBLE_ROLES_PATH", str(REPO / "roles"))
    run(
        [
            ansible_playbook,
            "-i",
            f"{rootdir.resolve()},",
            "-c",
            "community.general.chroot",
            "-e",
            f"@{vars_file}",
            playbook.resolve(),
        ],
        log,
        show=SHOW,
        cwd=playbook.resolve().parent,
        env=env,
        what="ansible-playbook",
    )


def ansible_version(ansible_playbook: Path) -> str:
    """Return ansible-playbook's first version line."""
    return output([ansible_playbook, "--version"]).splitlines()[0]
