# SPDX-License-Identifier: GPL-3.0-or-later
"""The FreeSWITCH monitor against a fake event socket replaying recorded hangups and API replies."""

from __future__ import annotations

import gevent
import gevent.event
import pytest
from gevent.server import StreamServer
from prometheus_client import CollectorRegistry

from appliance.callcontrol.esl import EslClient
from appliance.devstack.net import free_port
from appliance.metrics.calls import CallStats
from appliance.metrics.monitor import FreeSwitchCollector, FreeSwitchMonitor, rtt_histogram
from tests.harness.fakeesl import FakeEslServer, load_transcript, reply_frame, wait_until
from tests.unit.metrics import replies
from tests.unit.metrics.conftest import scrape, value

pytestmark = pytest.mark.timeout(60)

PASSWORD = "Zq8vN3xLp0"
TRANSCRIPT = "inbound-bridged-calls.txt"  # three answered calls, recorded from FreeSWITCH 1.10.12


class Running:
    """A monitor running in a greenlet, with its registry."""

    def __init__(self, port: int, interval: float = 0.1):
        self.registry = CollectorRegistry()
        self.calls = CallStats()
        self.registry.register(self.calls)
        self.monitor = FreeSwitchMonitor(
            lambda: EslClient("127.0.0.1", port, PASSWORD, timeout=2),
            self.calls,
            rtt_histogram(self.registry),
            interval=interval,
            api_timeout=2,
        )
        self.registry.register(FreeSwitchCollector(self.monitor))
        self.stop = gevent.event.Event()
        self.greenlet = gevent.spawn(self.monitor.run, self.stop)

    def close(self) -> None:
        self.stop.set()
        self.greenlet.join(5)
        assert self.greenlet.dead


@pytest.fixture
def server():
    fake = FakeEslServer(load_transcript(TRANSCRIPT), password=PASSWORD, api_replies=dict(replies.OFFICE_REPLIES))
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture
def running():
    made = []

    def start(port: int, interval: float = 0.1) -> Running:
        made.append(Running(port, interval))
        return made[-1]

    yield start
    for r in made:
        r.close()


def test_hangups_are_counted_and_the_state_is_polled(server, running):
    r = running(server.port)
    wait_until(lambda: r.calls.total() == 3 and r.monitor.polls >= 3, what="three calls and three polls")
    samples = scrape(r.registry)
    assert value(samples, "appliance_freeswitch_up") == 1
    for kind in ("internal", "inbound", "outbound"):
        assert value(samples, "appliance_calls_total", call_type=kind, result="answered") == 1
    assert value(samples, "appliance_active_calls") == 1
    assert value(samples, "appliance_active_channels") == 2
    assert value(samples, "appliance_sip_registrations") == 1
    assert value(samples, "appliance_freeswitch_uptime_seconds") == pytest.approx(27.378026)
    assert {labels: v for labels, v in samples["appliance_trunk_up"].items()} == {
        (("profile", "external"), ("trunk", "carrier")): 1,
        (("profile", "external"), ("trunk", "backup")): 1,
        (("profile", "external"), ("trunk", "dead")): 0,
    }
    # The round trip of every poll's `api status` was observed, and it is a loopback's round trip.
    count = value(samples, "appliance_esl_round_trip_seconds_count")
    assert count >= 3
    assert 0 < value(samples, "appliance_esl_round_trip_seconds_sum") < count * 2
    assert server.commands[:2] == [f"auth {PASSWORD}", "event plain CHANNEL_HANGUP_COMPLETE"]
    assert {"api status", "api show calls count", "api show registrations count", "api sofia xmlstatus gateway"} <= set(
        server.commands
    )
    assert server.mismatches == []


def test_nothing_listening_reports_down_and_then_reconnects(running):
    port = free_port()
    r = running(port)
    gevent.sleep(0.5)  # several connection attempts fail
    samples = scrape(r.registry)
    assert value(samples, "appliance_freeswitch_up") == 0
    # Only the up gauge: no stale or invented FreeSWITCH values while it is away.
    assert "appliance_active_calls" not in samples and "appliance_trunk_up" not in samples
    assert value(samples, "appliance_calls_total", call_type="internal", result="answered") == 0
    fake = FakeEslServer(load_transcript(TRANSCRIPT), password=PASSWORD, api_replies=dict(replies.OFFICE_REPLIES))
    fake.port = port
    fake.start()
    try:
        wait_until(lambda: r.monitor.up, timeout=10, what="reconnected after FreeSWITCH came up")
        assert value(scrape(r.registry), "appliance_freeswitch_up") == 1
    finally:
        fake.stop()


def test_freeswitch_going_away_sets_up_to_zero_at_once(server, running):
    r = running(server.port, interval=30)  # no poll would notice: the connection itself tells
    wait_until(lambda: r.monitor.up, what="connected")
    server.stop()
    wait_until(lambda: not r.monitor.up, timeout=5, what="down after FreeSWITCH went away")
    assert value(scrape(r.registry), "appliance_freeswitch_up") == 0
    server.start()
    wait_until(lambda: r.monitor.up, timeout=10, what="up again after FreeSWITCH came back")
    assert server.connections == 2


def test_replies_it_does_not_understand_leave_those_metrics_out(running):
    odd = {"status": replies.STATUS_IDLE, "sofia xmlstatus gateway": replies.ERR_NO_REPLY}
    fake = FakeEslServer(load_transcript(TRANSCRIPT), password=PASSWORD, api_replies=odd).start()
    try:
        r = running(fake.port)
        wait_until(lambda: r.monitor.polls >= 1, what="a poll")
        samples = scrape(r.registry)
    finally:
        fake.stop()
    assert value(samples, "appliance_freeswitch_up") == 1
    assert value(samples, "appliance_active_channels") == 0
    # `show calls count` got "-ERR ... Command not found" from the fake: no value rather than a wrong one.
    assert "appliance_active_calls" not in samples
    assert "appliance_trunk_up" not in samples


def test_a_freeswitch_that_stops_answering_is_down_and_dropped(running):
    # Accepts, authenticates and subscribes like FreeSWITCH, then never answers an API command.
    connections = []

    def mute(sock, address):
        connections.append(address)
        sock.sendall(b"Content-Type: auth/request\n\n")
        buf = b""
        while True:
            data = sock.recv(4096)
            if not data:
                return
            buf += data
            while b"\n\n" in buf:
                command, buf = buf.split(b"\n\n", 1)
                if not command.startswith(b"api "):
                    sock.sendall(reply_frame("+OK"))

    server = StreamServer(("127.0.0.1", 0), mute)
    server.start()
    try:
        r = running(server.server_port)
        r.monitor.api_timeout = 0.3
        wait_until(lambda: len(connections) >= 2, timeout=10, what="a reconnect after the API timed out")
        assert not r.monitor.up
        assert value(scrape(r.registry), "appliance_freeswitch_up") == 0
        assert value(scrape(r.registry), "appliance_esl_round_trip_seconds_count") == 0
    finally:
        server.stop(timeout=1)
