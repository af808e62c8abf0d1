# SPDX-License-Identifier: GPL-3.0-or-later
"""A thin, robust wrapper over greenswitch's event-socket client, and a reconnect loop."""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Callable
from pathlib import Path

import gevent
import gevent.event
import gevent.socket as socket
from greenswitch.esl import InboundESL, NotConnectedError, OutboundSession, OutboundSessionHasGoneAway

log = logging.getLogger(__name__)

EventHandler = Callable[[dict[str, str]], None]

_EVENT_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")
_SUBCLASS = re.compile(r"^[a-z][a-z0-9_]*::[a-z][a-z0-9_:-]*$")
_STOP = object()


class EslError(Exception):
    """The event socket refused, timed out or went away."""


class EslAuthError(EslError):
    """FreeSWITCH rejected the event-socket password."""


def read_password(path: str | Path) -> str:
    """Return the event-socket password stored in the file at path."""
    password = Path(path).read_text(encoding="utf-8").strip()
    if not password or any(c.isspace() for c in password):
        raise ValueError(f"{path}: expected one password on one line")
    return password


class _RobustProtocol:
    """Fixes to greenswitch's ESLProtocol that a long-running daemon needs.

    greenswitch drops events still queued when the socket closes, leaves commands
    waiting forever when the peer vanishes without a disconnect notice, and spins
    on a short read if the peer dies mid-frame. This mixin drains the queue, fails
    pending commands and treats a short read as a lost connection.
    """

    def __init__(self, *args, **kwargs):
        self.disconnected = gevent.event.Event()
        super().__init__(*args, **kwargs)

    def receive_events(self) -> None:
        try:
            super().receive_events()
        except Exception:
            log.debug("event socket receive loop ended", exc_info=True)
        finally:
            self.connected = False
            self._run = False
            gone = self._gone_error()
            while self._commands_sent:
                self._commands_sent.pop(0).set_exception(gone)
            self._esl_event_queue.put(_STOP)
            self.disconnected.set()

    def _gone_error(self) -> Exception:
        return NotConnectedError("event socket closed")

    @staticmethod
    def _read_socket(sock, length: int) -> str:
        data = b""
        while len(data) < length:
            chunk = sock.read(length - len(data))
            if not chunk:
                raise ConnectionError("event socket closed in the middle of a frame")
            data += chunk
        return data.decode("utf-8")

    def process_events(self) -> None:
        # Unlike greenswitch, keep dispatching until the receive loop says it is
        # done, so events read just before FreeSWITCH closed the socket still run.
        while True:
            event = self._esl_event_queue.get()
            if event is _STOP:
                return
            for handler in self._handlers_for(event):
                self._safe_exec_handler(handler, event)

    def _handlers_for(self, event) -> list:
        headers = event.headers
        handlers = self.event_handlers
        if headers.get("Content-Type") == "text/disconnect-notice":
            found = handlers.get("DISCONNECT")
        elif headers.get("Event-Name") == "CUSTOM":
            found = handlers.get(headers.get("Event-Subclass"))
        else:
            found = handlers.get(headers.get("Event-Name"))
        if not found and headers.get("Content-Type") == "log/data":
            found = handlers.get("log")
        if not found:
            found = handlers.get("*")
        return list(found or ())

    def shutdown(self, timeout: float, polite: bool = True) -> None:
        """Say goodbye if asked to, close the socket and let queued events finish."""
        if polite and self.connected and not self.disconnected.is_set():
            try:
                with gevent.Timeout(timeout, EslError("no reply to exit")):
                    self.send("exit")
            except (EslError, NotConnectedError, OutboundSessionHasGoneAway, OSError):
                pass
        self._run = False
        sock = getattr(self, "sock", None)
        if sock is not None:
            # shutdown() wakes the greenlet blocked in readline with an EOF; closing the
            # buffered file under it instead would raise "reentrant call" in that greenlet.
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        current = gevent.getcurrent()
        for greenlet in (self._receive_events_greenlet, self._process_events_greenlet):
            if greenlet is not None and greenlet is not current:
                greenlet.join(timeout)
                greenlet.kill(block=False)
        for closable in (getattr(self, "sock_file", None), sock):
            if closable is not None:
                with contextlib.suppress(OSError):
                    closable.close()


class _InboundESL(_RobustProtocol, InboundESL):
    """greenswitch's inbound client with the robustness fixes."""


class RobustOutboundSession(_RobustProtocol, OutboundSession):
    """greenswitch's outbound session with the robustness fixes."""

    def _gone_error(self) -> Exception:
        return OutboundSessionHasGoneAway()


class EslClient:
    """One inbound connection to FreeSWITCH's event socket."""

    def __init__(self, host: str = "127.0.0.1", port: int = 8021, password: str = "", timeout: float = 5.0):
        self.host = host
        self.port = port
        self.timeout = timeout
        self._esl = _InboundESL(host, port, password, timeout)

    def __repr__(self) -> str:
        return f"EslClient({self.host}:{self.port})"

    @property
    def connected(self) -> bool:
        return bool(self._esl.connected) and not self._esl.disconnected.is_set()

    @property
    def disconnected(self) -> gevent.event.Event:
        """Return an event that is set once the connection is gone."""
        return self._esl.disconnected

    def connect(self) -> None:
        """Connect and authenticate, or raise EslError."""
        try:
            with gevent.Timeout(self.timeout, EslError(f"no auth/request from {self.host}:{self.port}")):
                self._esl.connect()
        except ValueError as exc:
            self._esl.shutdown(timeout=0, polite=False)
            raise EslAuthError(f"{self.host}:{self.port} rejected the event-socket password") from exc
        except (OSError, NotConnectedError, EslError) as exc:
            self._esl.shutdown(timeout=0, polite=False)
            raise EslError(f"cannot connect to {self.host}:{self.port}: {exc}") from exc

    def api(self, cmd: str, timeout: float | None = None) -> str:
        """Run an API command and return its reply body."""
        return self._send(f"api {cmd}", timeout).data

    def subscribe(self, events: list[str]) -> None:
        """Ask FreeSWITCH for these events, in plain format."""
        bad = [name for name in events if not _EVENT_NAME.match(name)]
        if bad or not events:
            raise ValueError(f"not plain event names: {bad or events}")
        reply = self._send("event plain " + " ".join(events), None).headers.get("Reply-Text", "")
        if not reply.startswith("+OK"):
            raise EslError(f"subscribing to {events} failed: {reply}")

    def subscribe_custom(self, subclasses: list[str]) -> None:
        """Ask FreeSWITCH for CUSTOM events of these subclasses (e.g. `callcenter::info`)."""
        bad = [name for name in subclasses if not _SUBCLASS.fullmatch(name)]
        if bad or not subclasses:
            raise ValueError(f"not event subclasses: {bad or subclasses}")
        reply = self._send("event plain CUSTOM " + " ".join(subclasses), None).headers.get("Reply-Text", "")
        if not reply.startswith("+OK"):
            raise EslError(f"subscribing to {subclasses} failed: {reply}")

    def on(self, event_name: str, handler: EventHandler) -> None:
        """Call handler with the URL-decoded headers of every event_name event."""

        def _dispatch(event) -> None:
            handler(event.headers)

        _dispatch.__name__ = getattr(handler, "__name__", "handler")
        self._esl.register_handle(event_name, _dispatch)

    def close(self) -> None:
        """Close the connection; safe to call more than once."""
        self._esl.shutdown(timeout=min(self.timeout, 1.0))

    def _send(self, command: str, timeout: float | None):
        if not self.connected:
            raise EslError(f"not connected to {self.host}:{self.port}")
        try:
            with gevent.Timeout(timeout or self.timeout, EslError(f"no reply to {command.split()[0]!r}")):
                return self._esl.send(command)
        except EslError:
            # A late reply would be matched to the next command; the stream cannot be trusted now.
            self.close()
            raise
        except (NotConnectedError, OSError) as exc:
            raise EslError(f"lost {self.host}:{self.port}: {exc}") from exc


def run_forever(
    client_factory: Callable[[], EslClient],
    on_connected: Callable[[EslClient], None],
    stop: gevent.event.Event,
    *,
    min_backoff: float = 0.2,
    max_backoff: float = 2.0,
) -> None:
    """Keep one connection up until stop is set, reconnecting with a short backoff."""
    delay = min_backoff
    down_since_logged = False
    while not stop.is_set():
        client = client_factory()
        try:
            client.connect()
            on_connected(client)
        except (EslError, OSError) as exc:
            client.close()
            if not down_since_logged:
                log.warning("FreeSWITCH event socket unavailable (%s); retrying", exc)
                down_since_logged = True
            else:
                log.debug("still cannot reach FreeSWITCH: %s", exc)
            stop.wait(delay)
            delay = min(delay * 2, max_backoff)
            continue
        log.info("%s %s", "reconnected to" if down_since_logged else "connected to", client)
        down_since_logged = False
        delay = min_backoff
        gevent.wait([client.disconnected, stop], count=1)
        client.close()
        if not stop.is_set():
            log.warning("lost %s; reconnecting", client)
            down_since_logged = True
