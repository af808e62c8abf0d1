# SPDX-License-Identifier: GPL-3.0-or-later
"""The outbound-socket server: FreeSWITCH's `socket` application connects here; a named flow runs the call."""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import logging
from collections.abc import Callable
from typing import TypeVar

import gevent
import gevent.event
from gevent.server import StreamServer
from greenswitch.esl import NotConnectedError, OutboundSessionHasGoneAway

from appliance.callcontrol.esl import EslError, RobustOutboundSession
from appliance.lifecycle import configure_logging, stop_on_signals

log = logging.getLogger(__name__)

FLOW_VARIABLE = "appliance_flow"
UNKNOWN_FLOW_CAUSE = "SERVICE_NOT_IMPLEMENTED"
FAILED_FLOW_CAUSE = "NORMAL_TEMPORARY_FAILURE"


class Flow:
    """One interactive call flow; subclasses implement run() as a sequence of named states."""

    name = ""

    def __init__(self, session: RobustOutboundSession):
        self.session = session
        self.state = "new"

    @property
    def uuid(self) -> str:
        return self.session.uuid or "?"

    def run(self) -> None:
        """Drive the call; return when the flow is over."""
        raise NotImplementedError

    def enter(self, state: str) -> None:
        """Move to a named state, logging the transition."""
        log.info("flow %s on %s: %s -> %s", self.name, self.uuid, self.state, state)
        self.state = state

    def set_variable(self, name: str, value: str) -> None:
        """Set a channel variable (it shows up in the CDR's variables)."""
        self.session.call_command("set", f"{name}={value}")

    def hangup(self, cause: str = "NORMAL_CLEARING") -> None:
        """Hang the call up with a Q.850 cause name."""
        self.session.hangup(cause)


F = TypeVar("F", bound=type[Flow])
FLOWS: dict[str, type[Flow]] = {}


def flow(name: str) -> Callable[[F], F]:
    """Register a Flow subclass under name, the value the dialplan puts in appliance_flow."""

    def register(cls: F) -> F:
        if FLOWS.get(name, cls) is not cls:
            raise ValueError(f"flow {name!r} is already registered by {FLOWS[name].__qualname__}")
        cls.name = name
        FLOWS[name] = cls
        return cls

    return register


class Dispatcher:
    """greenswitch Application: run the flow the channel variable appliance_flow names."""

    def __init__(self, session: RobustOutboundSession, flows: dict[str, type[Flow]] | None = None):
        self.session = session
        self.flows = FLOWS if flows is None else flows

    def run(self) -> None:
        """Subscribe to the channel's events, pick the flow and run it; never raise."""
        name = self.session.session_data.get(f"variable_{FLOW_VARIABLE}", "")
        try:
            self.session.myevents()
            # Lingering keeps the socket open after the hangup, so the flow still
            # receives the final events instead of losing its pending commands.
            self.session.linger(10)
            flow_class = self.flows.get(name)
            if flow_class is None:
                self._refuse(name)
                return
            log.info("call %s from %s runs flow %s", self.session.uuid, self.session.caller_id_number, name)
            flow_class(self.session).run()
        except (OutboundSessionHasGoneAway, NotConnectedError):
            log.info("call %s went away during flow %r", self.session.uuid, name)
        except Exception:
            log.exception("flow %r failed on call %s", name, self.session.uuid)
            with contextlib.suppress(OutboundSessionHasGoneAway, NotConnectedError, OSError):
                self.session.hangup(FAILED_FLOW_CAUSE)

    def _refuse(self, name: str) -> None:
        log.warning(
            "call %s asks for unknown flow %r (known: %s); hanging up",
            self.session.uuid,
            name,
            ", ".join(sorted(self.flows)) or "none",
        )
        self.session.call_command("set", f"appliance_flow_error=unknown flow {name or '(none)'}")
        self.session.hangup(UNKNOWN_FLOW_CAUSE)


class OutboundServer:
    """Accept FreeSWITCH's outbound-socket connections, one greenlet per call."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 8084,
        flows: dict[str, type[Flow]] | None = None,
        *,
        max_calls: int = 200,
        connect_timeout: float = 5.0,
    ):
        self.host = host
        self.port = port
        self.flows = flows
        self.max_calls = max_calls
        self.connect_timeout = connect_timeout
        self.active = 0
        self.handled = 0
        self._server: StreamServer | None = None

    def start(self) -> None:
        """Listen; with port 0 the kernel picks one and self.port says which."""
        self._server = StreamServer((self.host, self.port), self._handle)
        self._server.start()
        self.port = self._server.server_port
        log.info("outbound-socket server listening on %s:%s", self.host, self.port)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop accepting and give running calls timeout seconds to finish."""
        if self._server is not None:
            self._server.stop(timeout=timeout)
            self._server = None

    def _handle(self, sock, address) -> None:
        if self.active >= self.max_calls:
            # Closing makes the socket application fail, so the dialplan goes on to its fallback.
            log.warning("refusing outbound-socket call: %d calls already running", self.active)
            sock.close()
            return
        session = RobustOutboundSession(address, sock)
        self.active += 1
        try:
            with gevent.Timeout(self.connect_timeout, EslError("no reply to connect")):
                session.connect()
            Dispatcher(session, self.flows).run()
        except (EslError, OutboundSessionHasGoneAway, NotConnectedError, OSError) as exc:
            log.warning("outbound-socket connection from %s:%s failed: %r", address[0], address[1], exc)
        finally:
            self.active -= 1
            self.handled += 1
            session.shutdown(timeout=2.0)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Read the command line."""
    parser = argparse.ArgumentParser(prog="appliance-outbound", description=__doc__)
    parser.add_argument("--listen", default="127.0.0.1", help="address to listen on (keep it loopback)")
    parser.add_argument("--port", type=int, default=8084)
    parser.add_argument("--max-calls", type=int, default=200)
    parser.add_argument("--log-level", default="INFO")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the appliance-outbound daemon."""
    from appliance.callcontrol import apps

    args = parse_args(argv)
    configure_logging(args.log_level)
    if not ipaddress.ip_address(args.listen).is_loopback:
        log.warning("listening on %s, not loopback: call flows are reachable from the network", args.listen)
    apps.load_all()
    server = OutboundServer(args.listen, args.port, max_calls=args.max_calls)
    with stop_on_signals() as stop:
        server.start()
        log.info("flows: %s", ", ".join(sorted(FLOWS)))
        stop.wait()
        log.info("stopping; %d calls still running", server.active)
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
