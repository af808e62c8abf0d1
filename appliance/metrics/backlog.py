# SPDX-License-Identifier: GPL-3.0-or-later
"""The CDR backlog: records waiting in the listener's spool, and FreeSWITCH's own files not yet imported."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from prometheus_client.core import GaugeMetricFamily, Metric

from appliance.callcontrol.spool import Spool


class BacklogSource:
    """Count what waits between a hangup and its PostgreSQL row."""

    name = "cdr_backlog"

    def __init__(
        self, spool_dir: str | Path, freeswitch_dir: str | Path | None, clock: Callable[[], float] = time.time
    ):
        self.spool_dir = Path(spool_dir)
        self.freeswitch_dir = Path(freeswitch_dir) if freeswitch_dir else None
        self.clock = clock

    def collect(self) -> Iterator[Metric]:
        """Yield spool depth, quarantined records, the oldest record's age and FreeSWITCH's backlog."""
        # Spool() creates its folders; the exporter must not, so it only looks at a spool that exists.
        if (self.spool_dir / "new").is_dir():
            spool = Spool(self.spool_dir)
            yield GaugeMetricFamily(
                "appliance_cdr_spool_depth",
                "CDRs spooled by the listener and not yet written to PostgreSQL.",
                value=spool.depth(),
            )
            yield GaugeMetricFamily(
                "appliance_cdr_spool_oldest_age_seconds",
                "Age of the oldest CDR waiting in the spool (0 when empty).",
                value=self._oldest_age(spool.new),
            )
            yield GaugeMetricFamily(
                "appliance_cdr_spool_quarantined",
                "CDRs PostgreSQL refused, set aside in the spool's bad/ folder for a human.",
                value=_count(spool.bad, ".json"),
            )
        if self.freeswitch_dir is not None and self.freeswitch_dir.is_dir():
            yield GaugeMetricFamily(
                "appliance_cdr_freeswitch_backlog",
                "CDR files FreeSWITCH wrote (mod_json_cdr) not yet written to PostgreSQL.",
                value=_count(self.freeswitch_dir, ".cdr.json"),
            )

    def _oldest_age(self, directory: Path) -> float:
        oldest = None
        with os.scandir(directory) as it:
            for entry in it:
                if not entry.name.endswith(".json"):
                    continue
                try:
                    mtime = entry.stat().st_mtime
                except FileNotFoundError:
                    continue  # written to PostgreSQL while we looked
                oldest = mtime if oldest is None else min(oldest, mtime)
        return 0.0 if oldest is None else max(0.0, self.clock() - oldest)


def _count(directory: Path, suffix: str) -> int:
    try:
        with os.scandir(directory) as it:
            return sum(1 for entry in it if entry.name.endswith(suffix))
    except FileNotFoundError:
        return 0
