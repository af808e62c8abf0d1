# SPDX-License-Identifier: GPL-3.0-or-later
"""Run the system tools first boot needs, logging each command and failing with its output."""

from __future__ import annotations

import logging
import shlex
import subprocess
from collections.abc import Mapping, Sequence

log = logging.getLogger(__name__)


class CommandFailed(RuntimeError):
    """A command exited non-zero; the message holds the command and what it printed."""


def run(
    args: Sequence[str],
    *,
    input_text: str | None = None,
    check: bool = True,
    env: Mapping[str, str] | None = None,
    timeout: float = 1800,
) -> subprocess.CompletedProcess[str]:
    """Run args (never through a shell) and return the result; raise CommandFailed unless check is false."""
    log.info("running %s", shlex.join(args))
    result = subprocess.run(
        list(args), input=input_text, capture_output=True, text=True, check=False, env=env, timeout=timeout
    )
    if check and result.returncode != 0:
        output = (result.stderr.strip() or result.stdout.strip())[-2000:]
        raise CommandFailed(f"{shlex.join(args)} exited {result.returncode}: {output}")
    return result


def output(args: Sequence[str]) -> str:
    """Run args and return what they printed on standard output, stripped."""
    return run(args).stdout.strip()


def output_env(args: Sequence[str], env: Mapping[str, str]) -> str:
    """Run args with env and return standard output, stripped; the output is not logged."""
    return run(args, env=env).stdout.strip()
