# SPDX-License-Identifier: GPL-3.0-or-later
"""The webhooks daemon: `appliance daemon webhooks` posts signed call events to registered URLs.

It never slows a call down. FreeSWITCH does not wait for event-socket consumers; the event
handler here only writes the event to a local disk spool (atomic, fsynced) and wakes a native
thread, which moves spooled events into PostgreSQL's outbox (one delivery per interested webhook)
and sends due deliveries with retries. A receiver that is down, a restart of this daemon or of
PostgreSQL loses nothing: events wait in the spool, deliveries in the outbox.
"""

from __future__ import annotations

import argparse
import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import gevent
import gevent.event
import psycopg

from appliance import config as configuration
from appliance.callcontrol.esl import EslClient, read_password, run_forever
from appliance.callcontrol.spool import Spool
from appliance.lifecycle import configure_logging, stop_on_signals
from appliance.store.db import connect
from appliance.webhooks import sender, store
from appliance.webhooks.events import TYPES, payload_from_event

log = logging.getLogger(__name__)

DEFAULTS: dict[str, Any] = {
    "spool_dir": "/var/spool/appliance/webhooks",
    "timeout": 5.0,
    "backoff_base": 10.0,
    "backoff_max": 3600.0,
    "max_attempts": 12,
    "idle_poll": 1.0,
}


class EventSpooler:
    """The ESL side: spool each call event of an A-leg; nothing else happens on FreeSWITCH's path."""

    def __init__(self, spool: Spool, wake: Callable[[], None]):
        self.spool = spool
        self.wake = wake
        self.spooled = 0

    def on_connected(self, client: EslClient) -> None:
        """Register the handlers, then subscribe, so no event arrives unhandled."""
        for name in TYPES:
            client.on(name, self.on_event)
        client.subscribe(list(TYPES))

    def on_event(self, headers: dict[str, str]) -> None:
        """Spool one event's payload."""
        payload = payload_from_event(headers)
        if payload is None:
            return
        try:
            self.spool.put({"uuid": payload["id"], "payload": payload})
        except (OSError, TypeError, ValueError):
            log.exception("could not spool webhook event %s for call %s", payload["type"], payload["call"]["uuid"])
            return
        self.spooled += 1
        self.wake()


class Dispatcher:
    """The native-thread side: spool to outbox, then send what is due; PostgreSQL never blocks gevent."""

    def __init__(
        self,
        spool: Spool,
        dsn: str,
        policy: sender.Policy,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        post: sender.Post = sender.http_post,
        idle_poll: float = 1.0,
    ):
        self.spool, self.dsn, self.policy, self.clock, self.post = spool, dsn, policy, clock, post
        self.idle_poll = idle_poll
        self._wake = threading.Event()
        self._stop = threading.Event()
        self.totals = {"queued": 0, "delivered": 0, "retry": 0, "gave_up": 0}

    def wake(self) -> None:
        """Ask for a round now (called from the event handler)."""
        self._wake.set()

    def stop(self) -> None:
        """End run() after the current round."""
        self._stop.set()
        self._wake.set()

    def run(self) -> None:
        """Run rounds until stopped; reconnect to PostgreSQL when it goes away."""
        conn: psycopg.Connection | None = None
        while not self._stop.is_set():
            self._wake.clear()
            try:
                if conn is None or conn.closed:
                    conn = connect(self.dsn, autocommit=True)
                self.round(conn)
            except psycopg.Error as exc:
                log.warning("webhooks: PostgreSQL unavailable (%s); events wait in the spool", exc)
                if conn is not None:
                    conn.close()
                conn = None
            self._wake.wait(self.idle_poll)
        if conn is not None:
            conn.close()

    def round(self, conn: psycopg.Connection) -> None:
        """Move spooled events into the outbox, then send every due delivery."""
        now = self.clock()
        for path in self.spool.pending(500):
            try:
                record = self.spool.load(path)
                payload = record["payload"]
                self.totals["queued"] += store.enqueue(conn, payload, now)
            except (ValueError, KeyError, TypeError) as exc:
                self.spool.quarantine(path, f"not a webhook event: {exc}")
                continue
            self.spool.done(path)
        while True:
            counts = sender.send_due(conn, self.clock(), self.policy, self.post)
            for key, value in counts.items():
                self.totals[key] += value
            if sum(counts.values()) == 0 or self._stop.is_set():
                break


def settings(cfg: dict[str, Any]) -> dict[str, Any]:
    """Return the webhooks settings: DEFAULTS overlaid by the configuration's `webhooks` section."""
    return {**DEFAULTS, **(cfg.get("webhooks") or {})}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Read the command line."""
    parser = argparse.ArgumentParser(prog="appliance daemon webhooks", description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, help="configuration file (default: /etc/appliance/config.yml)")
    parser.add_argument("--log-level", default="INFO")
    return parser.parse_args(argv)


def serve(cfg: dict[str, Any], stop: gevent.event.Event, clock: Callable[[], datetime] | None = None) -> dict:
    """Run until stop is set; return the counters."""
    opts, fs = settings(cfg), cfg["freeswitch"]
    spool = Spool(opts["spool_dir"])
    spool.discard_partial()
    policy = sender.Policy(
        float(opts["timeout"]), float(opts["backoff_base"]), float(opts["backoff_max"]), int(opts["max_attempts"])
    )
    dispatcher = Dispatcher(
        spool, cfg["database"]["dsn"], policy, clock or (lambda: datetime.now(UTC)), idle_poll=float(opts["idle_poll"])
    )
    spooler = EventSpooler(spool, dispatcher.wake)
    done = gevent.get_hub().threadpool.spawn(dispatcher.run)
    password = read_password(fs["esl_password_file"])
    log.info("webhooks: call events from %s:%s, spool %s", fs["esl_host"], fs["esl_port"], spool.directory)
    try:
        run_forever(lambda: EslClient(fs["esl_host"], int(fs["esl_port"]), password), spooler.on_connected, stop)
    finally:
        dispatcher.stop()
        done.get(timeout=policy.timeout * 3 + 10)
    return {"spooled": spooler.spooled, **dispatcher.totals, "waiting": spool.depth()}


def main(argv: list[str] | None = None) -> int:
    """Entry point of `appliance daemon webhooks`."""
    args = parse_args(argv)
    configure_logging(args.log_level)
    cfg = configuration.load(args.config)
    with stop_on_signals() as stop:
        counters = serve(cfg, stop)
    log.info("stopped: %s", counters)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
