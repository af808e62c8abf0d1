# SPDX-License-Identifier: GPL-3.0-or-later
"""The metrics exporter against the live office: real FreeSWITCH, real calls from sipp, /metrics over HTTP.

The exporter runs as its own process (`appliance daemon metrics`) on the office's configuration, the
way the appliance starts it, and is scraped and parsed like the hub's Prometheus would.
"""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from appliance.devstack.net import free_port
from appliance.pki.issue import issue
from tests.harness.office import DID
from tests.unit.pki.conftest import make_hierarchy

pytestmark = pytest.mark.timeout(300)

Samples = dict[str, dict[tuple, float]]


class Exporter:
    """The metrics daemon as a subprocess, scraped over HTTP on 127.0.0.1."""

    def __init__(self, office, workdir: Path):
        self.port = free_port()
        self.log = workdir / "metrics.log"
        self.pki = make_hierarchy(workdir / "pki", now=datetime.now(UTC)).store
        self.console = issue(self.pki, "console", ["pbx1.example.org"])
        argv = [
            *("--config", str(office.config_file()), "--listen", "127.0.0.1", "--port", str(self.port)),
            *("--poll-seconds", "0.5", "--pki-dir", str(self.pki.dir)),
            *("--data-mount", str(workdir), "--storage-marker", str(workdir / ".storage-mode")),
            *("--log-level", "DEBUG"),
        ]
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "appliance", "daemon", "metrics", *argv],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )

    def scrape(self) -> Samples:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=10) as response:
            text = response.read().decode()
        samples: Samples = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                samples.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
        return samples

    def wait(self, predicate: Callable[[Samples], bool], what: str, timeout: float = 60) -> Samples:
        """Scrape until predicate holds, or fail with the exporter's log."""
        deadline = time.monotonic() + timeout
        samples: Samples = {}
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"the exporter exited:\n{self.tail()}"
            try:
                samples = self.scrape()
                if predicate(samples):
                    return samples
            except (OSError, KeyError):
                pass
            time.sleep(0.25)
        raise AssertionError(f"{what}: not within {timeout}s; last scrape had {sorted(samples)}\n{self.tail()}")

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]

    def stop(self) -> int:
        self.proc.terminate()
        try:
            return self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise


@pytest.fixture(scope="module")
def exporter(office, tmp_path_factory):
    running = Exporter(office, tmp_path_factory.mktemp("metrics"))
    try:
        running.wait(lambda s: s["appliance_freeswitch_up"][()] == 1, "FreeSWITCH up in the exporter")
        yield running
    finally:
        if running.proc.poll() is None:
            assert running.stop() == 0, running.tail()


def _one(samples: Samples, name: str, **labels: str) -> float:
    return samples[name][tuple(sorted(labels.items()))]


def _calls(samples: Samples, call_type: str | None = None, result: str | None = None) -> float:
    return sum(
        v
        for labels, v in samples["appliance_calls_total"].items()
        if call_type in (None, dict(labels)["call_type"]) and result in (None, dict(labels)["result"])
    )


def _answered(call, callee) -> None:
    assert call.ok, call.explain()
    answered = callee.wait(timeout=60)
    assert answered.ok, answered.explain()


def test_calls_registrations_trunks_and_backlog_after_real_calls(office, exporter):
    before = exporter.scrape()
    assert office.register("ata1-1").ok
    desk = office.phone("desk101-1")
    internal = office.call("102", "101")
    _answered(internal, desk)
    carrier = office.carrier()
    outbound = office.call("desk101-1", "0301234567")
    _answered(outbound, carrier)
    desk = office.phone("desk101-1")
    inbound = office.inbound(DID)
    _answered(inbound, desk)
    for call in (internal, outbound, inbound):
        office.cdr_of(call, timeout=60)  # landed in PostgreSQL through the listener

    after = exporter.wait(lambda s: _calls(s) >= _calls(before) + 3, "three more calls counted")
    assert _calls(after) == _calls(before) + 3
    for kind in ("internal", "outbound", "inbound"):
        assert _calls(after, kind, "answered") == _calls(before, kind, "answered") + 1, kind
    assert _one(after, "appliance_calls_per_second") > 0

    registered = office.registered_users({"desk101-1", "ata1-1"})
    assert {"desk101-1", "ata1-1"} <= registered
    after = exporter.wait(lambda s: _one(s, "appliance_sip_registrations") >= 2, "two registrations")
    assert _one(after, "appliance_sip_registrations") == pytest.approx(len(registered), abs=1)
    assert _one(after, "appliance_trunk_up", trunk="carrier", profile="external") == 1
    assert _one(after, "appliance_trunk_calls_total", trunk="carrier", profile="external", direction="out") >= 1

    # Each poll timed `api status`; on loopback the round trip is well under a second.
    rtt_count = _one(after, "appliance_esl_round_trip_seconds_count")
    assert rtt_count > 0
    assert _one(after, "appliance_esl_round_trip_seconds_sum") / rtt_count < 1
    assert _one(after, "appliance_freeswitch_uptime_seconds") > 0
    assert _one(after, "appliance_freeswitch_sessions_total") >= 6  # three calls, two legs each

    # Every CDR reached PostgreSQL, so nothing waits in the spool or in FreeSWITCH's own folder.
    drained = exporter.wait(
        lambda s: _one(s, "appliance_cdr_spool_depth") == 0 and _one(s, "appliance_cdr_freeswitch_backlog") == 0,
        "an empty CDR backlog",
    )
    assert _one(drained, "appliance_cdr_spool_quarantined") == 0
    assert _one(drained, "appliance_cdr_spool_oldest_age_seconds") == 0


def test_a_call_in_progress_is_an_active_call(office, exporter):
    desk = office.phone("desk101-1")
    user, password = office.account("102")
    call = office.sipp(
        "call.xml",
        office.ports["sip"],
        service="101",
        auth=(user, password),
        duration_ms=6000,
        keys={"from_user": user, "from_name": user},
        name=f"metrics-long-call-{time.monotonic_ns()}",
    ).start()
    during = exporter.wait(lambda s: _one(s, "appliance_active_calls") >= 1, "an active call", timeout=30)
    assert _one(during, "appliance_active_channels") >= 2  # the caller's leg and the phone's
    _answered(call.wait(timeout=60), desk)
    exporter.wait(lambda s: _one(s, "appliance_active_calls") == 0, "no active call after hangup", timeout=30)


def test_the_box_health_metrics_are_present(exporter):
    samples = exporter.scrape()
    for collector in ("cdr_backlog", "storage", "certificates"):
        assert _one(samples, "appliance_scrape_collector_success", collector=collector) == 1, exporter.tail()
    expiry = _one(samples, "appliance_certificate_expiry_seconds", profile="console", serial=exporter.console.serial)
    assert 29 * 86400 < expiry <= 30 * 86400
    [mounted] = samples["appliance_storage_mounted"].values()
    assert mounted in (0, 1)
    [free] = samples["appliance_storage_free_bytes"].values()
    assert free > 0
    assert samples["appliance_storage_mode_info"] == {(("mode", "none"),): 1}
