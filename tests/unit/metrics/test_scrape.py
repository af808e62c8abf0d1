# SPDX-License-Identifier: GPL-3.0-or-later
"""A failing scrape-time source is reported and logged once; the others still arrive."""

from __future__ import annotations

import logging

from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily

from appliance.metrics.scrape import ScrapeCollector
from tests.unit.metrics.conftest import scrape, value


class Fine:
    name = "fine"

    def collect(self):
        yield GaugeMetricFamily("appliance_fine", "A value.", value=7)


class Flaky:
    name = "flaky"
    broken = True

    def collect(self):
        yield GaugeMetricFamily("appliance_partial", "Yielded before the failure.", value=1)
        if self.broken:
            raise PermissionError("wg: Operation not permitted")
        yield GaugeMetricFamily("appliance_flaky", "A value.", value=3)


def test_a_failing_source_is_marked_and_logged_once_until_it_recovers(caplog):
    flaky = Flaky()
    registry = CollectorRegistry()
    registry.register(ScrapeCollector([flaky, Fine()]))
    caplog.set_level(logging.INFO, logger="appliance.metrics.scrape")
    for _ in range(3):
        samples = scrape(registry)
    assert value(samples, "appliance_fine") == 7
    # Nothing of a failed source is exported, not even what it yielded before failing.
    assert "appliance_partial" not in samples and "appliance_flaky" not in samples
    assert value(samples, "appliance_scrape_collector_success", collector="flaky") == 0
    assert value(samples, "appliance_scrape_collector_success", collector="fine") == 1
    assert value(samples, "appliance_scrape_collector_duration_seconds", collector="fine") >= 0
    assert caplog.text.count("metrics collector flaky failed: wg: Operation not permitted") == 1
    flaky.broken = False
    samples = scrape(registry)
    assert value(samples, "appliance_flaky") == 3
    assert value(samples, "appliance_scrape_collector_success", collector="flaky") == 1
    assert "metrics collector flaky works again" in caplog.text
