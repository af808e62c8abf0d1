# SPDX-License-Identifier: GPL-3.0-or-later
"""The CDR backlog source on a real spool in a temporary folder."""

from __future__ import annotations

import os
import uuid

from appliance.callcontrol.spool import Spool
from appliance.metrics.backlog import BacklogSource


def _values(source: BacklogSource) -> dict[str, float]:
    return {family.name: family.samples[0].value for family in source.collect()}


def _record() -> dict:
    return {"uuid": str(uuid.uuid4()), "call_type": "internal"}


def test_depth_oldest_age_quarantine_and_freeswitch_backlog(tmp_path):
    spool = Spool(tmp_path / "spool")
    paths = [spool.put(_record()) for _ in range(3)]
    os.utime(paths[0], (1000.0, 1000.0))  # the oldest record, written at t=1000
    os.utime(paths[1], (1500.0, 1500.0))
    os.utime(paths[2], (1600.0, 1600.0))
    spool.quarantine(spool.put(_record()), "test")
    fs_dir = tmp_path / "fs-cdr"
    fs_dir.mkdir()
    (fs_dir / f"{uuid.uuid4()}.cdr.json").write_text("{}\n")
    (fs_dir / "README").write_text("not a CDR")
    values = _values(BacklogSource(spool.directory, fs_dir, clock=lambda: 1060.0 + 1000))
    assert values == {
        "appliance_cdr_spool_depth": 3,
        "appliance_cdr_spool_oldest_age_seconds": 1060.0,
        "appliance_cdr_spool_quarantined": 1,
        "appliance_cdr_freeswitch_backlog": 1,
    }


def test_an_empty_spool_is_zero_deep_and_has_no_age(tmp_path):
    spool = Spool(tmp_path / "spool")
    values = _values(BacklogSource(spool.directory, None))
    assert values == {
        "appliance_cdr_spool_depth": 0,
        "appliance_cdr_spool_oldest_age_seconds": 0,
        "appliance_cdr_spool_quarantined": 0,
    }


def test_a_spool_that_does_not_exist_is_not_created(tmp_path):
    missing = tmp_path / "never-started"
    assert list(BacklogSource(missing, tmp_path / "no-fs-dir").collect()) == []
    assert not missing.exists()
