# SPDX-License-Identifier: GPL-3.0-or-later
"""The bench's CPU accounting counts a process tree's own work, including children that have exited."""

from __future__ import annotations

import subprocess
import sys

from tests.bench.cpu import cpu_seconds

BURN = "import time\nend = time.process_time() + 0.4\nwhile time.process_time() < end: pass\n"


def test_cpu_of_a_tree_counts_a_reaped_grandchild_and_not_an_idle_sibling():
    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import subprocess, sys, time; subprocess.run([sys.executable, '-c', {BURN!r}]); time.sleep(30)",
        ]
    )
    idle = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        deadline = 50
        while cpu_seconds([parent.pid]) < 0.4 and deadline:
            subprocess.run(["sleep", "0.1"])
            deadline -= 1
        assert cpu_seconds([parent.pid]) >= 0.4, "the grandchild's 0.4 s of CPU were not counted"
        assert cpu_seconds([idle.pid]) < 0.3
        assert cpu_seconds([]) == 0.0
    finally:
        parent.kill()
        idle.kill()
