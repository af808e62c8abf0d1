# SPDX-License-Identifier: GPL-3.0-or-later
"""Watch FreeSWITCH over one event-socket connection: hangups as they happen, the rest by polling.

The connection runs in gevent (greenswitch needs it) in the daemon's main thread, while Prometheus
scrapes are served from native threads. The two share only what this module publishes: an
immutable `FreeSwitchState` replaced whole after each poll, the call counters (locked) and the
round-trip histogram (prometheus-client locks it). A slow scrape therefore never delays an event,
and a FreeSWITCH that stops answering never holds up a scrape.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import gevent
import gevent.event
from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from appliance.callcontrol.esl import EslClient, EslError, run_forever
from appliance.metrics import freeswitch
from appliance.metrics.calls import CallStats

log = logging.getLogger(__name__)

# Only what is counted as it happens; everything else is polled, so FreeSWITCH does little for us.
EVENTS = ["CHANNEL_HANGUP_COMPLETE"]
# Loopback ESL answers in well under a millisecond when idle; seconds mean a switch in trouble.
RTT_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


def rtt_histogram(registry: CollectorRegistry) -> Histogram:
    """Return the ESL round-trip histogram, registered in registry."""
    return Histogram(
        "appliance_esl_round_trip_seconds",
        "Time from sending `api status` on the event socket to its reply.",
        buckets=RTT_BUCKETS,
        registry=registry,
    )


@dataclass(frozen=True)
class FreeSwitchState:
    """One poll's view of FreeSWITCH; a value is None when its reply was not understood."""

    status: freeswitch.Status | None
    active_calls: int | None
    registrations: int | None
    gateways: tuple[freeswitch.Gateway, ...]


class FreeSwitchMonitor:
    """Keep one ESL connection up; count hangups through CallStats and poll the rest every interval."""

    def __init__(
        self,
        client_factory: Callable[[], EslClient],
        calls: CallStats,
        rtt: Histogram,
        interval: float = 5.0,
        api_timeout: float = 5.0,
    ):
        self.client_factory = client_factory
        self.calls = calls
        self.rtt = rtt
        self.interval = interval
        self.api_timeout = api_timeout
        self.state: FreeSwitchState | None = None
        self.polls = 0
        self._client: EslClient | None = None
        self._poll_now = gevent.event.Event()
        self._poll_failing = False

    @property
    def up(self) -> bool:
        """Tell whether the event socket is connected and the last poll was understood."""
        client = self._client
        return self.state is not None and client is not None and client.connected

    def on_connected(self, client: EslClient) -> None:
        """Register the hangup handler, subscribe, and poll at once."""
        client.on("CHANNEL_HANGUP_COMPLETE", self.calls.on_hangup_complete)
        client.subscribe(EVENTS)
        self._client = client
        self._poll_now.set()

    def run(self, stop: gevent.event.Event) -> None:
        """Connect, reconnect and poll until stop is set."""
        poller = gevent.spawn(self._poll_forever, stop)
        try:
            run_forever(self.client_factory, self.on_connected, stop)
        finally:
            poller.kill()
            self.state = None
            self._client = None

    def poll(self, client: EslClient) -> FreeSwitchState:
        """Ask FreeSWITCH for its state, timing the first command as the round-trip probe."""
        started = time.perf_counter()
        status = client.api("status", timeout=self.api_timeout)
        self.rtt.observe(time.perf_counter() - started)
        gateways = freeswitch.parse_gateways(client.api("sofia xmlstatus gateway", timeout=self.api_timeout))
        return FreeSwitchState(
            status=freeswitch.parse_status(status),
            active_calls=freeswitch.parse_count(client.api("show calls count", timeout=self.api_timeout)),
            registrations=freeswitch.parse_count(client.api("show registrations count", timeout=self.api_timeout)),
            gateways=tuple(gateways or ()),
        )

    def _poll_forever(self, stop: gevent.event.Event) -> None:
        while not stop.is_set():
            client = self._client
            if client is not None and client.connected:
                self.state = self._poll_once(client)
            else:
                self.state = None
            gevent.wait([self._poll_now, stop], timeout=self.interval, count=1)
            self._poll_now.clear()

    def _poll_once(self, client: EslClient) -> FreeSwitchState | None:
        try:
            state = self.poll(client)
        except EslError as exc:
            # The client closed the connection; run_forever logs the loss and reconnects.
            log.debug("poll failed: %s", exc)
            return None
        except Exception:
            # A bug must not end the poller (the exporter would report stale values forever).
            if not self._poll_failing:
                log.exception("polling FreeSWITCH failed")
            self._poll_failing = True
            return None
        if self._poll_failing:
            log.info("polling FreeSWITCH works again")
        self._poll_failing = False
        self.polls += 1
        return state


class FreeSwitchCollector(Collector):
    """Render the monitor's latest state at scrape time; only `appliance_freeswitch_up` while it is down."""

    def __init__(self, monitor: FreeSwitchMonitor):
        self.monitor = monitor

    def collect(self) -> Iterator[Metric]:
        """Yield FreeSWITCH's metrics."""
        state = self.monitor.state
        up = self.monitor.up
        yield GaugeMetricFamily(
            "appliance_freeswitch_up", "1 if FreeSWITCH answers on the event socket, else 0.", value=int(up)
        )
        if not up or state is None:
            return
        if state.status is not None:
            yield from _status_metrics(state.status)
        if state.active_calls is not None:
            yield GaugeMetricFamily(
                "appliance_active_calls", "Calls in progress (`show calls count`).", value=state.active_calls
            )
        if state.registrations is not None:
            yield GaugeMetricFamily(
                "appliance_sip_registrations",
                "SIP registrations of phones and FXS ports (`show registrations count`).",
                value=state.registrations,
            )
        yield from _trunk_metrics(state.gateways)


def _status_metrics(status: freeswitch.Status) -> Iterator[Metric]:
    yield GaugeMetricFamily(
        "appliance_freeswitch_uptime_seconds", "Seconds since FreeSWITCH started.", value=status.uptime_seconds
    )
    yield GaugeMetricFamily(
        "appliance_active_channels", "Channels (call legs) in progress, from `api status`.", value=status.sessions
    )
    yield CounterMetricFamily(
        "appliance_freeswitch_sessions",
        "Channels FreeSWITCH created since it started (resets when it restarts).",
        value=status.sessions_since_startup,
    )


def _trunk_metrics(gateways: tuple[freeswitch.Gateway, ...]) -> Iterator[Metric]:
    labels = ["trunk", "profile"]
    up = GaugeMetricFamily(
        "appliance_trunk_up",
        "1 if the carrier gateway is usable (registered, or not registering and UP).",
        labels=labels,
    )
    calls = CounterMetricFamily(
        "appliance_trunk_calls", "Calls through the gateway since its profile started.", labels=[*labels, "direction"]
    )
    failed = CounterMetricFamily(
        "appliance_trunk_failed_calls",
        "Failed calls through the gateway since its profile started.",
        labels=[*labels, "direction"],
    )
    for gw in gateways:
        up.add_metric([gw.name, gw.profile], int(gw.up))
        calls.add_metric([gw.name, gw.profile, "in"], gw.calls_in)
        calls.add_metric([gw.name, gw.profile, "out"], gw.calls_out)
        failed.add_metric([gw.name, gw.profile, "in"], gw.failed_calls_in)
        failed.add_metric([gw.name, gw.profile, "out"], gw.failed_calls_out)
    yield from (up, calls, failed)
