# SPDX-License-Identifier: GPL-3.0-or-later
"""The development stack starts one of each daemon: a second start would leave the first running unseen."""

from __future__ import annotations

import subprocess
import sys

import pytest

from appliance.devstack.stack import Stack


def test_a_running_daemon_is_not_started_twice(tmp_path):
    stack = Stack(tmp_path, "host=127.0.0.1 port=1 dbname=unused")
    stand_in = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    stack.daemons["announcer"] = stand_in
    try:
        with pytest.raises(RuntimeError, match="announcer daemon is already running"):
            stack.start_announcer()
        assert stack.daemons["announcer"] is stand_in
        stack.stop_daemon("announcer")
        assert stand_in.poll() is not None and "announcer" not in stack.daemons
    finally:
        stand_in.kill()
        stack.close()
