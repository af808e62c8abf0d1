# SPDX-License-Identifier: GPL-3.0-or-later
"""Run first boot's steps in order; a marker per finished step lets an interrupted run resume.

Each step must also be safe to run again when its marker is missing (the power may fail after the
step's work and before its marker): steps look at the real state (is there a LUKS header, a key, a
cluster) before they make anything, and never destroy what they find.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Step:
    """One named step of first boot."""

    name: str
    run: Callable[[], None]
    description: str = ""


class StepFailed(RuntimeError):
    """A step raised; later steps were not run. The message names the step and the cause."""


def marker(state_dir: Path, name: str) -> Path:
    """Return the path of the marker saying step `name` is done."""
    return state_dir / "steps" / f"{name}.done"


def is_done(state_dir: Path, name: str) -> bool:
    """Return whether step `name` has finished before."""
    return marker(state_dir, name).exists()


def mark_done(path: Path) -> None:
    """Create a marker file durably (the file and its directory entry reach the disk)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, time.strftime("%Y-%m-%dT%H:%M:%SZ\n", time.gmtime()).encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    dir_fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def run_steps(steps: Iterable[Step], state_dir: Path, clock: Callable[[], float] = time.monotonic) -> list[str]:
    """Run every step not marked done, in order; return the names of the steps run this time."""
    ran: list[str] = []
    for step in steps:
        if is_done(state_dir, step.name):
            log.info("step %s: done before, skipped", step.name)
            continue
        log.info("step %s: starting%s", step.name, f" ({step.description})" if step.description else "")
        started = clock()
        try:
            step.run()
        except Exception as exc:
            log.exception("step %s: failed", step.name)
            raise StepFailed(
                f"first boot step {step.name} failed: {exc}; fix the cause and run `appliance firstboot` again "
                f"(finished steps are skipped)"
            ) from exc
        mark_done(marker(state_dir, step.name))
        log.info("step %s: done in %.1fs", step.name, clock() - started)
        ran.append(step.name)
    return ran
