# SPDX-License-Identifier: GPL-3.0-or-later
"""A daemon's stop event is set by SIGTERM."""

from __future__ import annotations

import os
import signal

from appliance.lifecycle import stop_on_signals


def test_sigterm_sets_the_stop_event():
    with stop_on_signals() as stop:
        assert not stop.is_set()
        os.kill(os.getpid(), signal.SIGTERM)
        assert stop.wait(timeout=5), "SIGTERM did not set the stop event"
