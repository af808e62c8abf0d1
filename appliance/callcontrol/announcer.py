# SPDX-License-Identifier: GPL-3.0-or-later
"""The queue announcer daemon: tells callers waiting in a queue their position, every few seconds.

mod_callcenter keeps the queue (hold music, agents, overflow) on its own; this daemon only adds
speech on top, so a queue works unchanged while it is down (DESIGN principle 2). The queue's
dialplan sets `appliance_queue_announce` (seconds) on the caller's channel; mod_callcenter's
`member-queue-start` event carries it here. Positions come from `callcenter_config queue list
members`, in the order mod_callcenter serves them; the text is spoken by mod_flite through
`uuid_broadcast` (mod_dptools `speak`), and the position is kept on the channel
(`appliance_queue_position`) for the CDR.
"""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import gevent
import gevent.event

from appliance.callcontrol.esl import EslClient, EslError, read_password, run_forever
from appliance.lifecycle import configure_logging, stop_on_signals

log = logging.getLogger(__name__)

SUBCLASS = "callcenter::info"
ANNOUNCE_VARIABLE = "appliance_queue_announce"
POSITION_VARIABLE = "appliance_queue_position"
TEXT = "You are caller number {position} in the queue."
_WAITING_STATES = {"Waiting", "Trying"}  # mod_callcenter's states of a caller not yet with an agent
_JOIN = {"member-queue-start", "member-queue-resume"}
_LEAVE = {"member-queue-end", "bridge-agent-start"}


class Api(Protocol):
    """What the announcer needs of an event-socket connection."""

    def api(self, cmd: str, timeout: float | None = None) -> str: ...


@dataclass
class Waiting:
    """A caller in a queue and when it hears its position next."""

    queue: str
    every: float
    next_at: float


class QueueAnnouncer:
    """Track waiting callers from mod_callcenter's events; announce each one's position when due."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, engine: str = "flite", voice: str = "kal"):
        self.clock = clock
        self.engine = engine
        self.voice = voice
        self.waiting: dict[str, Waiting] = {}  # by the caller's channel UUID
        self.announced = 0

    # -- events ------------------------------------------------------------------------------------
    def on_event(self, headers: dict[str, str]) -> None:
        """Start or stop tracking a caller on mod_callcenter's member events."""
        action = headers.get("CC-Action", "")
        session = headers.get("CC-Member-Session-UUID", "")
        if not session:
            return
        if action in _JOIN:
            every = _seconds(headers.get(f"variable_{ANNOUNCE_VARIABLE}", ""))
            if every:
                self.waiting[session] = Waiting(headers.get("CC-Queue", ""), every, self.clock() + every)
                log.debug("caller %s waits in %s; position every %ss", session, headers.get("CC-Queue"), every)
        elif action in _LEAVE and self.waiting.pop(session, None) is not None:
            log.debug("caller %s left queue %s (%s)", session, headers.get("CC-Queue"), action)

    def resync(self, client: Api) -> None:
        """Pick up callers already waiting (the daemon started or reconnected while they queued)."""
        for row in _rows(client.api("callcenter_config queue list members")):
            session = row.get("session_uuid", "")
            if row.get("state") not in _WAITING_STATES or not session or session in self.waiting:
                continue
            every = _seconds(client.api(f"uuid_getvar {session} {ANNOUNCE_VARIABLE}"))
            if every:
                self.waiting[session] = Waiting(row.get("queue", ""), every, self.clock() + every)

    # -- announcing --------------------------------------------------------------------------------
    def tick(self, client: Api) -> int:
        """Announce to every caller whose turn has come; return how many heard their position."""
        now = self.clock()
        due: dict[str, list[str]] = {}
        for session, waiting in self.waiting.items():
            if waiting.next_at <= now:
                due.setdefault(waiting.queue, []).append(session)
        told = 0
        for queue, sessions in due.items():
            order = [
                r["session_uuid"]
                for r in _rows(client.api(f"callcenter_config queue list members {queue}"))
                if r.get("state") in _WAITING_STATES
            ]
            for session in sessions:
                if session not in order:  # gone without an event we saw (or with an agent)
                    self.waiting.pop(session, None)
                    continue
                waiting = self.waiting[session]
                waiting.next_at = now + waiting.every
                told += self._announce(client, session, order.index(session) + 1)
        self.announced += told
        return told

    def _announce(self, client: Api, session: str, position: int) -> int:
        text = TEXT.format(position=position)
        client.api(f"uuid_setvar {session} {POSITION_VARIABLE} {position}")
        # `app::args` runs mod_dptools' speak (playback has no speak: prefix); quoted, as
        # uuid_broadcast splits its arguments on spaces; aleg: the caller alone hears it.
        reply = client.api(f"uuid_broadcast {session} 'speak::{self.engine}|{self.voice}|{text}' aleg")
        if not reply.startswith("+OK"):
            log.info("could not announce to %s: %s", session, reply.strip())
            self.waiting.pop(session, None)
            return 0
        log.debug("told %s: %s", session, text)
        return 1


def _seconds(text: str) -> float:
    try:
        value = float(text.strip())
    except ValueError:
        return 0.0
    return value if value > 0 else 0.0


def _rows(reply: str) -> list[dict[str, str]]:
    """Parse mod_callcenter's `list` output: a header line, pipe-separated rows, then `+OK`."""
    lines = [ln for ln in reply.splitlines() if ln.strip() and not ln.startswith(("+OK", "-ERR"))]
    if not lines:
        return []
    names = lines[0].split("|")
    return [dict(zip(names, ln.split("|"), strict=False)) for ln in lines[1:]]


# -- daemon ----------------------------------------------------------------------------------------
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Read the command line."""
    parser = argparse.ArgumentParser(prog="appliance-announcer", description=__doc__)
    parser.add_argument("--esl-host", default="127.0.0.1")
    parser.add_argument("--esl-port", type=int, default=8021)
    parser.add_argument("--esl-password-file", default="/etc/appliance/secrets/esl-password")
    parser.add_argument("--tick-seconds", type=float, default=0.5, help="how often due announcements are looked for")
    parser.add_argument("--log-level", default="INFO")
    return parser.parse_args(argv)


def serve(args: argparse.Namespace, stop: gevent.event.Event, announcer: QueueAnnouncer) -> None:
    """Run until stop is set, reconnecting to FreeSWITCH whenever the connection drops."""
    password = read_password(args.esl_password_file)
    current: list[EslClient] = []

    def connected(client: EslClient) -> None:
        client.on(SUBCLASS, announcer.on_event)
        client.subscribe_custom([SUBCLASS])
        announcer.resync(client)
        current[:] = [client]

    def ticker() -> None:
        while not stop.wait(args.tick_seconds):
            client = current[0] if current else None
            if client is None or not client.connected:
                continue
            try:
                announcer.tick(client)
            except EslError as exc:
                log.warning("announcing failed: %s", exc)

    loop = gevent.spawn(ticker)
    try:
        run_forever(lambda: EslClient(args.esl_host, args.esl_port, password), connected, stop)
    finally:
        loop.kill()


def main(argv: list[str] | None = None) -> int:
    """Entry point of the appliance-announcer daemon."""
    args = parse_args(argv)
    configure_logging(args.log_level)
    with stop_on_signals() as stop:
        announcer = QueueAnnouncer()
        log.info("announcing queue positions from %s:%s", args.esl_host, args.esl_port)
        serve(args, stop, announcer)
    log.info("stopped; %d announcements made this run", announcer.announced)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
