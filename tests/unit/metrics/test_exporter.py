# SPDX-License-Identifier: GPL-3.0-or-later
"""The daemon: options from configuration and command line, and /metrics served over HTTP on 127.0.0.1."""

from __future__ import annotations

import os
import signal
import urllib.request
from pathlib import Path

import gevent
import gevent.event
import gevent.socket
import pytest
import yaml

from appliance import cli
from appliance import config as configuration
from appliance.devstack.net import free_port
from appliance.metrics import exporter, settings
from tests.harness.fakeesl import FakeEslServer, load_transcript, wait_until
from tests.unit.metrics import replies
from tests.unit.metrics.conftest import parse, value

pytestmark = pytest.mark.timeout(60)

PASSWORD = "Zq8vN3xLp0"


def _config(tmp_path: Path, esl_port: int) -> Path:
    """Write a configuration like /etc/appliance/config.yml, every path inside tmp_path."""
    (tmp_path / "esl_password").write_text(PASSWORD + "\n")
    cfg = {
        "freeswitch": {"esl_port": esl_port, "esl_password_file": str(tmp_path / "esl_password")},
        "cdr": {"spool_dir": str(tmp_path / "spool"), "freeswitch_dir": str(tmp_path / "fs-cdr")},
        "pki": {"dir": str(tmp_path / "pki")},
    }
    path = tmp_path / "config.yml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _argv(tmp_path: Path, esl_port: int, http_port: int) -> list[str]:
    config = _config(tmp_path, esl_port)
    return [
        *("--config", str(config), "--port", str(http_port), "--poll-seconds", "0.2"),
        *("--data-mount", str(tmp_path), "--storage-marker", str(tmp_path / ".storage-mode")),
    ]


def _scrape(port: int) -> dict:
    # Blocking on purpose: the HTTP server runs in its own native thread, not in gevent.
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        assert response.headers["Content-Type"].startswith("text/plain")
        return parse(response.read().decode())


def _wait_scrape(port: int, predicate, what: str, timeout: float = 15):
    found = {}

    def ready():
        nonlocal found
        try:
            found = _scrape(port)
        except OSError:
            return False
        return predicate(found)

    wait_until(ready, timeout=timeout, what=what)
    return found


def test_options_come_from_the_command_line_then_the_configuration(tmp_path):
    cfg = configuration.load(_config(tmp_path, 8123))
    opts = exporter.options(exporter.parse_args(["--port", "9999", "--freeswitch-cdr-dir", ""]), cfg)
    assert (opts.listen_address, opts.port, opts.poll_seconds) == ("127.0.0.1", 9999, 5.0)
    assert (opts.esl_port, opts.esl_password_file) == (8123, tmp_path / "esl_password")
    assert (opts.spool_dir, opts.freeswitch_cdr_dir, opts.pki_dir) == (tmp_path / "spool", None, tmp_path / "pki")
    assert opts.data_mount == "/var/lib/appliance"


def test_the_metrics_section_and_the_tunnel_address():
    cfg = {"metrics": {"listen_address": "tunnel", "port": 9100}, "vpn": {"addresses": ["10.200.0.7/16"]}}
    section = settings.section(cfg)
    assert (section["port"], section["poll_seconds"]) == (9100, settings.DEFAULTS["poll_seconds"])
    assert settings.listen_address(section["listen_address"], cfg) == "10.200.0.7"
    assert settings.listen_address("192.0.2.1", cfg) == "192.0.2.1"
    with pytest.raises(ValueError, match="vpn section has no addresses"):
        settings.listen_address("tunnel", {"vpn": {}})


def test_tunnel_without_a_tunnel_exits_2(tmp_path, caplog):
    argv = ["--config", str(_config(tmp_path, free_port())), "--listen", "tunnel"]
    assert exporter.main(argv) == 2
    assert "vpn section has no addresses" in caplog.text


def test_serves_while_freeswitch_is_down_then_reconnects_and_stops_on_sigterm(tmp_path):
    esl_port, http_port = free_port(), free_port()
    daemon = gevent.spawn(cli.main, ["daemon", "metrics", *_argv(tmp_path, esl_port, http_port)])
    fake = None
    try:
        down = _wait_scrape(http_port, lambda s: "appliance_freeswitch_up" in s, "a first scrape")
        assert value(down, "appliance_freeswitch_up") == 0
        # Everything that does not come from FreeSWITCH is there all the same.
        assert value(down, "appliance_storage_mounted", mountpoint=str(tmp_path)) == 0
        assert value(down, "appliance_scrape_collector_success", collector="certificates") == 1
        assert value(down, "appliance_calls_per_second") == 0
        fake = FakeEslServer(
            load_transcript("inbound-bridged-calls.txt"), password=PASSWORD, api_replies=dict(replies.OFFICE_REPLIES)
        )
        fake.port = esl_port
        fake.start()
        up = _wait_scrape(
            http_port,
            lambda s: s["appliance_freeswitch_up"][()] == 1 and sum(s["appliance_calls_total"].values()) == 3,
            "FreeSWITCH up and three calls counted",
        )
        assert value(up, "appliance_active_calls") == 1
        assert value(up, "appliance_trunk_up", trunk="carrier", profile="external") == 1
        assert value(up, "appliance_esl_round_trip_seconds_count") >= 1
        os.kill(os.getpid(), signal.SIGTERM)
        daemon.join(10)
    finally:
        daemon.kill()
        if fake is not None:
            fake.stop()
    assert daemon.dead and daemon.value == 0
    with pytest.raises(OSError):
        _scrape(http_port)  # the port is closed again


def test_waits_for_its_address_instead_of_dying(tmp_path, caplog):
    http_port = free_port()
    blocker = gevent.socket.socket()
    blocker.bind(("127.0.0.1", http_port))
    blocker.listen(1)
    daemon = gevent.spawn(exporter.main, _argv(tmp_path, free_port(), http_port))
    try:
        wait_until(lambda: "cannot listen on 127.0.0.1" in caplog.text, timeout=10, what="the bind warning")
        assert not daemon.dead
        blocker.close()
        found = _wait_scrape(http_port, lambda s: "appliance_freeswitch_up" in s, "serving once the port is free")
        assert value(found, "appliance_freeswitch_up") == 0
        os.kill(os.getpid(), signal.SIGTERM)
        daemon.join(10)
    finally:
        daemon.kill()
        blocker.close()
    assert daemon.value == 0


def test_a_missing_password_file_is_retried_until_it_appears(tmp_path, caplog):
    fake = FakeEslServer(
        load_transcript("inbound-bridged-calls.txt"), password=PASSWORD, api_replies=dict(replies.OFFICE_REPLIES)
    ).start()
    config = _config(tmp_path, fake.port)
    (tmp_path / "esl_password").unlink()  # first boot has not written it yet
    opts = exporter.options(exporter.parse_args(["--poll-seconds", "0.1"]), configuration.load(config))
    _, monitor = exporter.build(opts)
    stop = gevent.event.Event()
    loop = gevent.spawn(monitor.run, stop)
    try:
        wait_until(lambda: "cannot read the event-socket password" in caplog.text, what="the password warning")
        assert not monitor.up and fake.connections == 0
        (tmp_path / "esl_password").write_text(PASSWORD + "\n")
        wait_until(lambda: monitor.up, timeout=10, what="connected once the password file exists")
    finally:
        stop.set()
        loop.join(5)
        fake.stop()
    assert fake.commands[0] == f"auth {PASSWORD}"
