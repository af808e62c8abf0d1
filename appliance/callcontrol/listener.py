# SPDX-License-Identifier: GPL-3.0-or-later
"""The event-listener daemon: the CDRs of finished calls become PostgreSQL rows.

CDRs come from the files FreeSWITCH writes itself at hangup (mod_json_cdr), which the writer
drains straight into PostgreSQL every quarter second, deleting each file once its row is
committed: they exist even for calls that ended while this daemon was down or reconnecting,
and they cost FreeSWITCH far less than serialising every hangup event. The ESL connection
proves FreeSWITCH is alive. With --cdr-source events the hangup events are spooled too (for a
FreeSWITCH without mod_json_cdr), and FreeSWITCH's files are moved into the same spool; the
A-leg UUID makes a call seen both ways land once.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable
from typing import Any

import gevent
import gevent.event

from appliance.callcontrol.cdr import cdr_from_event
from appliance.callcontrol.cdrwriter import CdrWriter
from appliance.callcontrol.esl import EslClient, read_password, run_forever
from appliance.callcontrol.fscdr import FileImporter, FreeSwitchCdrDir, RecentCalls
from appliance.callcontrol.spool import Spool
from appliance.lifecycle import configure_logging, stop_on_signals

log = logging.getLogger(__name__)

# Only what the listener acts on: every extra subscription is work FreeSWITCH does for us.
EVENTS = ["CHANNEL_HANGUP_COMPLETE"]
# With CDRs taken from FreeSWITCH's files, the connection only proves FreeSWITCH is alive:
# a hangup event carries every channel variable (~10 kB) that FreeSWITCH must serialise and
# we must parse, which cost up to a quarter of a 2-core box's call capacity (docs/benchmarks.md).
LIVENESS_EVENTS = ["HEARTBEAT"]


class Listener:
    """Spool a CDR for every A-leg that hangs up; the spool is the durability boundary."""

    def __init__(
        self,
        spool: Spool,
        on_spooled: Callable[[], None] | None = None,
        recent: RecentCalls | None = None,
        events: bool = True,
    ):
        self.spool = spool
        self.events = events
        self.on_spooled = on_spooled
        self.recent = recent if recent is not None else RecentCalls()
        self.spooled = 0
        self.skipped = 0

    def on_connected(self, client: EslClient) -> None:
        """Register the handlers, then subscribe, so no event arrives unhandled."""
        if not self.events:
            client.subscribe(LIVENESS_EVENTS)
            return
        client.on("CHANNEL_HANGUP_COMPLETE", self.on_hangup_complete)
        client.subscribe(EVENTS)

    def on_hangup_complete(self, headers: dict[str, str]) -> None:
        """Spool the CDR of a finished A-leg before anything else touches it."""
        record = cdr_from_event(headers)
        if record is None:
            return
        if record["uuid"] in self.recent:
            self.skipped += 1  # a replay, or its FreeSWITCH file was imported first
            return
        try:
            self.spool.put(record)
        except (OSError, TypeError, ValueError):
            # The spool is where durability starts; if it fails, the log is all that is left.
            log.exception("could not spool CDR %s; the record was: %r", record["uuid"], record)
            return
        self.recent.add(record["uuid"])
        self.spooled += 1
        log.debug("spooled CDR %s (%s)", record["uuid"], record["call_type"])
        if self.on_spooled is not None:
            self.on_spooled()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Read the command line."""
    parser = argparse.ArgumentParser(prog="appliance-listener", description=__doc__)
    parser.add_argument("--esl-host", default="127.0.0.1")
    parser.add_argument("--esl-port", type=int, default=8021)
    parser.add_argument("--esl-password-file", default="/etc/appliance/secrets/esl-password")
    parser.add_argument("--dsn", default="dbname=appliance", help="PostgreSQL connection string")
    parser.add_argument("--spool-dir", default="/var/spool/appliance/cdr")
    parser.add_argument(
        "--freeswitch-cdr-dir",
        default="/var/spool/appliance/fs-cdr",
        help="where FreeSWITCH's mod_json_cdr writes CDR files ('' to not import them)",
    )
    parser.add_argument("--sweep-seconds", type=float, default=0.25)
    parser.add_argument(
        "--cdr-source",
        choices=["files", "events"],
        default="files",
        help="files: FreeSWITCH's own CDR files only (durable, cheap; the default); "
        "events: also hangup events over ESL, for a FreeSWITCH without mod_json_cdr",
    )
    parser.add_argument("--log-level", default="INFO")
    return parser.parse_args(argv)


def serve(args: argparse.Namespace, stop: gevent.event.Event) -> dict[str, Any]:
    """Run the listener and the CDR writer until stop is set; return a few counters."""
    spool = Spool(args.spool_dir)
    spool.discard_partial()
    password = read_password(args.esl_password_file)
    events = args.cdr_source == "events"
    recent = RecentCalls()  # shared, so a call seen as event and as file is spooled once
    # files: the writer drains FreeSWITCH's directory itself (and the spool, for what an earlier
    # run in events mode left there); events: files are moved into the spool beside the events.
    importer = FileImporter(args.freeswitch_cdr_dir, spool, recent) if args.freeswitch_cdr_dir and events else None
    sources = [spool]
    if args.freeswitch_cdr_dir and not events:
        sources.append(FreeSwitchCdrDir(args.freeswitch_cdr_dir))
    writer = CdrWriter(sources, args.dsn, idle_poll=args.sweep_seconds) if args.dsn else None
    sweep_now = gevent.event.Event()

    def spooled() -> None:
        sweep_now.set()
        if writer is not None:
            writer.wake()

    listener = Listener(spool, on_spooled=spooled, recent=recent, events=events)
    sweeper = gevent.spawn(_sweep_forever, importer, args.sweep_seconds, sweep_now, stop, writer) if importer else None
    # psycopg would block gevent's hub (we do not monkey-patch), so the writer runs in a
    # native thread; the on-disk spool is the only thing it shares with the ESL side.
    writer_done = gevent.get_hub().threadpool.spawn(writer.run) if writer else None
    log.info("listening for CDRs from %s:%s, spooling in %s", args.esl_host, args.esl_port, spool.directory)
    try:
        run_forever(lambda: EslClient(args.esl_host, args.esl_port, password), listener.on_connected, stop)
    finally:
        if sweeper is not None:
            sweeper.kill()
            importer.sweep()  # whatever FreeSWITCH wrote while we were stopping
        if writer is not None:
            writer.stop()
            writer_done.get(timeout=30)
    waiting = writer.depth() if writer is not None else spool.depth()
    return {"spooled": listener.spooled + (importer.imported if importer else 0), "waiting": waiting}


def _sweep_forever(
    importer: FileImporter, interval: float, now: gevent.event.Event, stop: gevent.event.Event, writer: CdrWriter | None
) -> None:
    """Import FreeSWITCH's CDR files every interval, or as soon as a hangup event says one is due."""
    while not stop.is_set():
        # File I/O here is small and local; it briefly holds the hub, which is acceptable.
        if importer.sweep() and writer is not None:
            writer.wake()
        now.wait(interval)
        now.clear()


def main(argv: list[str] | None = None) -> int:
    """Entry point of the appliance-listener daemon."""
    args = parse_args(argv)
    configure_logging(args.log_level)
    with stop_on_signals() as stop:
        counters = serve(args, stop)
    log.info("stopped; %(spooled)d CDRs spooled this run, %(waiting)d still waiting in the spool", counters)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
