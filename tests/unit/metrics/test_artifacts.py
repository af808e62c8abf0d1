# SPDX-License-Identifier: GPL-3.0-or-later
"""The Grafana dashboard and the alert rules use only metrics the exporter really exports."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest
import yaml
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from appliance.callcontrol.spool import Spool
from appliance.metrics import freeswitch
from appliance.metrics.backlog import BacklogSource
from appliance.metrics.calls import CallStats
from appliance.metrics.certificates import CertificateSource
from appliance.metrics.monitor import FreeSwitchCollector, FreeSwitchState, rtt_histogram
from appliance.metrics.scrape import ScrapeCollector
from appliance.metrics.storage import StorageSource
from appliance.metrics.wireguard import WireGuardSource
from appliance.pki.issue import issue
from tests.unit.metrics import replies
from tests.unit.pki.conftest import T0, make_hierarchy

PACKAGE = Path(__file__).resolve().parents[3] / "appliance" / "metrics"
DASHBOARD = PACKAGE / "grafana" / "appliance-dashboard.json"
ALERTS = PACKAGE / "prometheus" / "alerts.yml"
ALERT_TESTS = Path(__file__).with_name("alerts_test.yml")
METRIC = re.compile(r"\b(appliance_[a-z0-9_]+)\b")
# What the issue asks the dashboard and the rules to show, by the metric each needs.
DASHBOARD_NEEDS = {
    "appliance_active_calls",
    "appliance_calls_total",
    "appliance_calls_per_second",
    "appliance_sip_registrations",
    "appliance_trunk_up",
    "appliance_esl_round_trip_seconds_bucket",
    "appliance_cdr_spool_depth",
    "appliance_wireguard_handshake_age_seconds",
    "appliance_certificate_expiry_seconds",
}
ALERTS_NEED = {
    "FreeSwitchDown": "appliance_freeswitch_up",
    "TrunkDown": "appliance_trunk_up",
    "CdrSpoolDeep": "appliance_cdr_spool_depth",
    "CdrSpoolGrowing": "appliance_cdr_spool_depth",
    "WireGuardHandshakeStale": "appliance_wireguard_handshake_age_seconds",
    "CertificateExpiringSoon": "appliance_certificate_expiry_seconds",
    "DataVolumeNotMounted": "appliance_storage_mounted",
    "DataVolumeNotEncrypted": "appliance_storage_encrypted",
    "EslLatencyHigh": "appliance_esl_round_trip_seconds_bucket",
}


class _Up:
    """A monitor stand-in that is connected and has polled the recorded office replies."""

    up = True
    state = FreeSwitchState(
        status=freeswitch.parse_status(replies.STATUS_IN_CALL),
        active_calls=1,
        registrations=1,
        gateways=tuple(freeswitch.parse_gateways(replies.GATEWAYS)),
    )


def _wg_status(ifname, names):
    return {"K": {"name": "hub", "handshake_age": 5.0, "state": "up", "rx_bytes": 1, "tx_bytes": 2}}


@pytest.fixture(scope="module")
def exposition(tmp_path_factory) -> str:
    """Return what the exporter serves when every source has something to say."""
    tmp = tmp_path_factory.mktemp("exported")
    spool = Spool(tmp / "spool")
    spool.put({"uuid": str(uuid.uuid4())})
    (tmp / "fs-cdr").mkdir()
    h = make_hierarchy(tmp / "pki")
    issue(h.store, "console", ["pbx1.example.org"], now=T0)
    (tmp / "mounts").write_text(f"/dev/mapper/data {tmp} ext4 rw 0 0\n")
    (tmp / "net" / "wg0").mkdir(parents=True)
    registry = CollectorRegistry()
    calls = CallStats()
    registry.register(calls)
    rtt_histogram(registry).observe(0.001)
    registry.register(FreeSwitchCollector(_Up()))
    registry.register(
        ScrapeCollector(
            [
                BacklogSource(spool.directory, tmp / "fs-cdr"),
                StorageSource(tmp, tmp / ".storage-mode", proc_mounts=tmp / "mounts", device_number=lambda d: None),
                CertificateSource(h.store.dir),
                WireGuardSource("wg0", {}, status=_wg_status, sys_class_net=tmp / "net"),
            ]
        )
    )
    return generate_latest(registry).decode()


@pytest.fixture(scope="module")
def exported(exposition) -> set[str]:
    """Return every family and sample name in the exposition."""
    names = set()
    for family in text_string_to_metric_families(exposition):
        names.add(family.name)
        names.update(sample.name for sample in family.samples)
    return names


def _dashboard_exprs(dashboard: dict) -> list[tuple[str, str]]:
    exprs = []
    for panel in dashboard["panels"]:
        exprs += [(panel["title"], t["expr"]) for t in panel.get("targets", [])]
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            exprs.append((variable["name"], variable["definition"]))
    return exprs


def test_every_dashboard_query_uses_exported_metrics(exported):
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = _dashboard_exprs(dashboard)
    used = {name for _, expr in exprs for name in METRIC.findall(expr)}
    assert used - exported == set(), [(title, expr) for title, expr in exprs if set(METRIC.findall(expr)) - exported]
    assert used >= DASHBOARD_NEEDS, DASHBOARD_NEEDS - used
    quantiles = {expr.split(",")[0] for _, expr in exprs if "appliance_esl_round_trip_seconds_bucket" in expr}
    assert quantiles == {"histogram_quantile(0.5", "histogram_quantile(0.99"}


def test_the_dashboard_is_a_grafana_dashboard():
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] and dashboard["title"] and dashboard["schemaVersion"] >= 36
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        pos = panel["gridPos"]
        assert pos["x"] + pos["w"] <= 24 and pos["h"] > 0, panel["title"]
        for t in panel.get("targets", []):
            # Every query goes to the data source the user picks; every target has a distinct refId.
            assert t["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
            assert 'instance=~"$instance"' in t["expr"], panel["title"]
        assert len({t["refId"] for t in panel.get("targets", [])}) == len(panel.get("targets", []))
    assert {v["name"] for v in dashboard["templating"]["list"]} == {"datasource", "instance"}


def test_every_alert_uses_exported_metrics_and_the_asked_for_alerts_exist(exported):
    rules = [rule for group in yaml.safe_load(ALERTS.read_text())["groups"] for rule in group["rules"]]
    by_name = {rule["alert"]: rule for rule in rules}
    assert len(by_name) == len(rules)
    for rule in rules:
        missing = set(METRIC.findall(rule["expr"])) - exported
        assert not missing, (rule["alert"], missing)
        assert rule["labels"]["severity"] in ("warning", "critical")
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]
    for alert, metric in ALERTS_NEED.items():
        assert metric in by_name[alert]["expr"], alert
    assert by_name["TrunkDown"]["for"] == "5m"
    assert "> 100" in by_name["CdrSpoolDeep"]["expr"]
    assert "> 300" in by_name["WireGuardHandshakeStale"]["expr"]
    assert "7 * 86400" in by_name["CertificateExpiringSoon"]["expr"]


def _promtool() -> str:
    found = os.environ.get("PROMTOOL") or shutil.which("promtool")
    if not found:
        pytest.skip("promtool not found (apt-get install prometheus, or set PROMTOOL): rule checks skipped")
    return found


def test_promtool_accepts_the_rules_and_their_unit_tests_pass():
    promtool = _promtool()
    check = subprocess.run([promtool, "check", "rules", str(ALERTS)], capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr
    tested = subprocess.run(
        [promtool, "test", "rules", ALERT_TESTS.name],
        cwd=ALERT_TESTS.parent,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_promtool_lints_the_exposition(exposition):
    lint = subprocess.run(
        [_promtool(), "check", "metrics"], input=exposition, capture_output=True, text=True, timeout=60
    )
    assert lint.returncode == 0, lint.stdout + lint.stderr
