# SPDX-License-Identifier: GPL-3.0-or-later
"""A fake FreeSWITCH event socket that replays recorded transcripts on 127.0.0.1.

A transcript is the raw bytes FreeSWITCH sent on one event-socket connection (see
tests/tools/record_esl.py). It is replayed in lockstep with the client's commands:
frames are sent up to the next recorded reply, which then answers the client's next
command; events are held back until the client subscribed (`event ...`/`myevents`).
Authentication, `exit` and `api` are answered the way mod_event_socket answers them.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote

import gevent
import gevent.socket
from gevent.server import StreamServer
from greenswitch.esl import ESLEvent

log = logging.getLogger(__name__)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "esl"
GOODBYE = b"Disconnected, goodbye.\nSee you at ClueCon! http://www.cluecon.com/\n"
SHUTTING_DOWN = b"The system is being shut down.\n"  # as recorded in fixtures/esl/inbound-shutdown.txt


def wait_until(predicate, timeout: float = 5.0, what: str = "condition") -> None:
    """Poll predicate() cooperatively (other greenlets run meanwhile) until it holds, or fail."""
    with gevent.Timeout(timeout, AssertionError(f"{what} not met within {timeout}s")):
        while not predicate():
            gevent.sleep(0.01)


@dataclass
class Frame:
    """One framed message as FreeSWITCH wrote it: header block plus optional body."""

    headers: dict[str, str]
    raw: bytes

    @property
    def content_type(self) -> str:
        return self.headers.get("Content-Type", "")

    @property
    def is_reply(self) -> bool:
        return self.content_type in ("command/reply", "api/response")

    @property
    def is_event(self) -> bool:
        return self.content_type.startswith("text/event-")

    @property
    def is_final_disconnect(self) -> bool:
        disposition = self.headers.get("Content-Disposition", "disconnect")
        return self.content_type == "text/disconnect-notice" and disposition != "linger"


def parse_frames(data: bytes) -> list[Frame]:
    """Split raw event-socket bytes into frames (header values URL-decoded for inspection)."""
    frames = []
    pos = 0
    while pos < len(data):
        end = data.find(b"\n\n", pos)
        if end < 0:
            raise ValueError(f"truncated header block at byte {pos}")
        headers = {}
        for line in data[pos:end].decode("utf-8").splitlines():
            name, _, value = line.partition(": ")
            headers[name] = unquote(value)
        stop = end + 2 + int(headers.get("Content-Length", 0))
        if stop > len(data):
            raise ValueError(f"truncated body at byte {pos}")
        frames.append(Frame(headers, data[pos:stop]))
        pos = stop
    return frames


def load_transcript(name: str) -> bytes:
    """Return the bytes of tests/fixtures/esl/<name>."""
    return (FIXTURES / name).read_bytes()


def events_in(transcript: bytes, name: str | None = None) -> list[dict[str, str]]:
    """Return the events of a transcript as greenswitch hands them to handlers (URL-decoded headers)."""
    events = []
    for frame in parse_frames(transcript):
        if frame.is_event:
            body = frame.raw.split(b"\n\n", 1)[1].decode("utf-8")
            headers = ESLEvent(body).headers
            if name is None or headers.get("Event-Name") == name:
                events.append(headers)
    return events


def reply_frame(text: str) -> bytes:
    """Return a command/reply exactly as mod_event_socket formats it."""
    return f"Content-Type: command/reply\nReply-Text: {text}\n\n".encode()


def api_frame(body: str) -> bytes:
    """Return an api/response exactly as mod_event_socket formats it."""
    data = body.encode("utf-8")
    return b"Content-Type: api/response\nContent-Length: %d\n\n%s" % (len(data), data)


def disconnect_frame(message: bytes = GOODBYE) -> bytes:
    """Return the notice FreeSWITCH sends before closing an event socket."""
    return b"Content-Type: text/disconnect-notice\nContent-Length: %d\n\n%s" % (len(message), message)


@dataclass
class Replay:
    """FreeSWITCH's side of one connection: answer commands in lockstep with a transcript."""

    sock: gevent.socket.socket
    frames: list[Frame]
    password: str | None = None
    api_replies: dict[str, str] = field(default_factory=dict)
    commands: list[str] = field(default_factory=list)
    mismatches: list[str] = field(default_factory=list)
    events_enabled: bool = False
    next: int = 0
    closed: bool = False

    def run(self) -> None:
        """Serve until the peer or the replay closes the connection."""
        buf = b""
        try:
            self.pump()
            while not self.closed:
                while b"\n\n" not in buf:
                    data = self.sock.recv(65536)
                    if not data:
                        return
                    buf += data
                raw, buf = buf.split(b"\n\n", 1)
                command = raw.decode("utf-8").replace("\r", "").strip()
                if command:
                    self.commands.append(command)
                    self.answer(command)
        except OSError:
            return
        finally:
            self.close()

    def close(self) -> None:
        """Close the socket the way FreeSWITCH does: shut down, then close."""
        if not self.closed:
            self.closed = True
            with contextlib.suppress(OSError):
                self.sock.shutdown(gevent.socket.SHUT_RDWR)
            self.sock.close()

    def pump(self) -> None:
        """Send recorded frames up to the next reply (events only once subscribed)."""
        while self.next < len(self.frames) and not self.closed:
            frame = self.frames[self.next]
            if frame.is_reply or (frame.is_event and not self.events_enabled):
                return
            self.next += 1
            self.sock.sendall(frame.raw)
            if frame.is_final_disconnect:
                self.close()

    def answer(self, command: str) -> None:
        """Answer one client command, then keep replaying."""
        verb = command.split(None, 1)[0].lower()
        if verb == "auth":
            self._auth(command)
        elif verb == "exit":
            if not self._send_recorded_reply(verb):
                self.sock.sendall(reply_frame("+OK bye"))
            self.pump()
            if not self.closed:
                self.sock.sendall(disconnect_frame())
                self.close()
            return
        elif verb == "api":
            name = command[4:].strip()
            if name in self.api_replies:
                self.sock.sendall(api_frame(self.api_replies[name]))
            elif not self._send_recorded_reply(verb, "api/response"):
                self.sock.sendall(api_frame(f"-ERR {name.split()[0]} Command not found\n"))
        else:
            if verb in ("event", "myevents"):
                self.events_enabled = True
            if not self._send_recorded_reply(verb):
                self.sock.sendall(reply_frame("+OK"))
        self.pump()

    def _auth(self, command: str) -> None:
        if self.password is not None and command.split(None, 1)[-1] != self.password:
            # mod_event_socket answers a wrong password, then hangs up on the client.
            self.sock.sendall(reply_frame("-ERR invalid") + disconnect_frame())
            self.close()
            return
        if not self._send_recorded_reply("auth"):
            self.sock.sendall(reply_frame("+OK accepted"))

    def _send_recorded_reply(self, verb: str, kind: str = "command/reply") -> bool:
        if self.next >= len(self.frames) or not self.frames[self.next].is_reply:
            return False
        frame = self.frames[self.next]
        if frame.content_type != kind:
            self.mismatches.append(f"{verb}: transcript has {frame.content_type} next")
            return False
        self.next += 1
        self.sock.sendall(frame.raw)
        return True


class FakeEslServer:
    """An inbound event socket on 127.0.0.1 that replays one transcript per connection."""

    def __init__(
        self, transcript: bytes, password: str = "fake-esl-password", api_replies: dict[str, str] | None = None
    ):
        frames = parse_frames(transcript)
        if not frames or frames[0].content_type != "auth/request":
            frames.insert(0, Frame({"Content-Type": "auth/request"}, b"Content-Type: auth/request\n\n"))
        self.frames = frames
        self.password = password
        self.api_replies = api_replies or {}
        self.port = 0
        self.connections = 0
        self.commands: list[str] = []
        self.mismatches: list[str] = []
        self._server: StreamServer | None = None
        self._live: list[Replay] = []

    def start(self) -> FakeEslServer:
        """Listen (again, on the same port after a stop)."""
        self._server = StreamServer(("127.0.0.1", self.port), self._handle)
        self._server.start()
        self.port = self._server.server_port
        return self

    def stop(self) -> None:
        """Go away like a FreeSWITCH that shuts down: notify and drop every client, stop listening."""
        for replay in list(self._live):
            if not replay.closed:
                with contextlib.suppress(OSError):
                    replay.sock.sendall(disconnect_frame(SHUTTING_DOWN))
                replay.close()
        if self._server is not None:
            self._server.stop(timeout=1)
            self._server = None

    def wait_for(self, predicate, timeout: float = 5.0) -> None:
        """Wait cooperatively until predicate() holds, or fail the test."""
        wait_until(predicate, timeout)

    def _handle(self, sock, address) -> None:
        self.connections += 1
        replay = Replay(sock, self.frames, password=self.password, api_replies=self.api_replies)
        replay.commands = self.commands  # one log of commands across connections
        replay.mismatches = self.mismatches
        self._live.append(replay)
        try:
            replay.run()
        finally:
            self._live.remove(replay)


class FakeOutboundCall:
    """FreeSWITCH's `socket` application: dial the app server and replay an outbound transcript."""

    def __init__(self, port: int, transcript: bytes):
        self.port = port
        self.frames = parse_frames(transcript)
        self.replay: Replay | None = None
        self._greenlet: gevent.Greenlet | None = None

    def start(self) -> FakeOutboundCall:
        """Connect and start replaying in the background."""
        sock = gevent.socket.create_connection(("127.0.0.1", self.port), timeout=5)
        sock.settimeout(None)
        self.replay = Replay(sock, self.frames)
        self._greenlet = gevent.spawn(self.replay.run)
        return self

    def wait(self, timeout: float = 5.0) -> list[str]:
        """Wait until the app server hangs up the socket; return the commands it sent."""
        assert self._greenlet is not None and self.replay is not None
        self._greenlet.join(timeout)
        if not self._greenlet.dead:
            self.replay.close()
            raise AssertionError(f"the app server kept the socket open after {timeout}s: {self.replay.commands}")
        return self.replay.commands
