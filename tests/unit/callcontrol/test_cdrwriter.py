# SPDX-License-Identifier: GPL-3.0-or-later
"""The CDR writer's loop without a database: whatever fails, the records stay and it keeps trying."""

from __future__ import annotations

import logging
import threading
import time

import pytest

from appliance.callcontrol.cdr import cdr_from_event
from appliance.callcontrol.cdrwriter import INSERT_CDR, CdrWriter
from appliance.callcontrol.spool import Spool
from tests.harness.fakeesl import events_in, load_transcript

pytestmark = pytest.mark.timeout(30)


def test_insert_skips_uuids_already_written():
    assert INSERT_CDR.endswith("ON CONFLICT (uuid) DO NOTHING")


def test_a_broken_dsn_is_logged_once_and_the_records_stay(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="appliance.callcontrol.cdrwriter")
    spool = Spool(tmp_path)
    hangup = events_in(load_transcript("inbound-hangup-complete.txt"), "CHANNEL_HANGUP_COMPLETE")[4]
    spool.put(cdr_from_event(hangup))
    writer = CdrWriter(spool, "this is not a dsn", min_backoff=0.01, max_backoff=0.02)
    thread = threading.Thread(target=writer.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 5
        while writer.failures < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        writer.stop()
        thread.join(5)
    assert not thread.is_alive()
    assert writer.failures >= 3
    assert spool.depth() == 1
    errors = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(errors) == 1 and "CDR writer failed; 1 CDRs wait on disk" in errors[0].getMessage()
