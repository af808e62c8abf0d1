# SPDX-License-Identifier: GPL-3.0-or-later
"""Run the sources read at scrape time, each guarded: one that fails is reported, not fatal.

An exception inside a prometheus-client collector fails the whole scrape, so the hub would lose
every metric because, say, `wg` is missing. Each source here runs on its own; its success and
duration are exported the way node_exporter does it (`..._scrape_collector_success`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator
from typing import Protocol

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)


class Source(Protocol):
    """Something that reads metrics when scraped."""

    name: str

    def collect(self) -> Iterable[Metric]:
        """Return this source's metric families; raise if they cannot be read."""
        ...


class ScrapeCollector(Collector):
    """Collect every source, isolating failures; log a failing source once until it recovers."""

    def __init__(self, sources: Iterable[Source]):
        self.sources = list(sources)
        self._failing: set[str] = set()

    def collect(self) -> Iterator[Metric]:
        """Yield each source's families, then the success and duration of each."""
        success = GaugeMetricFamily(
            "appliance_scrape_collector_success", "1 if the collector read its values, else 0.", labels=["collector"]
        )
        duration = GaugeMetricFamily(
            "appliance_scrape_collector_duration_seconds", "Time the collector took.", labels=["collector"]
        )
        for source in self.sources:
            started = time.perf_counter()
            families, ok = self._run(source)
            duration.add_metric([source.name], time.perf_counter() - started)
            success.add_metric([source.name], int(ok))
            yield from families
        yield success
        yield duration

    def _run(self, source: Source) -> tuple[list[Metric], bool]:
        try:
            families = list(source.collect())
        except Exception as exc:
            if source.name not in self._failing:
                log.warning(
                    "metrics collector %s failed: %s", source.name, exc, exc_info=log.isEnabledFor(logging.DEBUG)
                )
            self._failing.add(source.name)
            return [], False
        if source.name in self._failing:
            log.info("metrics collector %s works again", source.name)
            self._failing.discard(source.name)
        return families, True
