# SPDX-License-Identifier: GPL-3.0-or-later
"""The `appliance firstboot` command: run the steps not yet done, then print the result to the console."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

from appliance.firstboot import runner, settings

log = logging.getLogger(__name__)


def add_options(p: argparse.ArgumentParser) -> None:
    """Add the command's options."""
    default = settings.DEFAULT_PATH
    p.add_argument("--settings", type=Path, default=default, help=f"first boot's settings (default {default})")
    p.add_argument("--list", action="store_true", help="list the steps and whether each is done; change nothing")


def run(args: argparse.Namespace, cfg: dict[str, Any]) -> Any:
    """Run first boot (or list its steps)."""
    from appliance.firstboot.steps import FirstBoot

    # Every step is logged at INFO to the journal, whatever the command line's verbosity.
    logging.getLogger("appliance").setLevel(logging.INFO)
    conf = settings.load(args.settings)
    boot = FirstBoot(conf, cfg)
    if args.list:
        done = {s.name: runner.is_done(conf.state_dir, s.name) for s in boot.steps()}
        return [{"step": s.name, "done": done[s.name], "what": s.description} for s in boot.steps()]
    ran = runner.run_steps(boot.steps(), conf.state_dir)
    log.info("first boot: ran %s", ", ".join(ran) or "nothing (every step was done)")
    lines = boot.finish()
    for line in lines:
        # The unit sends standard output to the console (HDMI or serial) as well as the journal.
        print(line, flush=True)
    return None
