# SPDX-License-Identifier: GPL-3.0-or-later
"""Record the raw bytes a running FreeSWITCH sends on its event socket, as a test transcript.

Inbound (what the CDR listener sees): connect, authenticate, subscribe, optionally start
calls over a second connection (so their replies stay out of the recording), and write
every byte received until enough events arrived:

    .venv/bin/python tests/tools/record_esl.py inbound --password-file /etc/freeswitch/esl.pw \\
        --events CHANNEL_HANGUP_COMPLETE --count 2 \\
        --bgapi "originate {appliance_call_type=test}loopback/9196 &echo" \\
        --out tests/fixtures/esl/inbound-hangup-complete.txt

Outbound (what a flow sees): serve the real flows on a port with a recording socket,
and have FreeSWITCH run `socket` into it (here started with --bgapi as well):

    .venv/bin/python tests/tools/record_esl.py outbound --listen-port 8085 --password-file ... \\
        --bgapi "originate {appliance_flow=echo,execute_on_answer='sched_hangup +3'}null/1000 \\
                 &socket('127.0.0.1:8085 async full')" \\
        --out tests/fixtures/esl/outbound-echo.txt
"""

from __future__ import annotations

import argparse
import select
import socket
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


class _Frames:
    """Split what the socket delivers into frames (header block plus Content-Length body)."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.buf = b""

    def next(self, timeout: float | None = 10.0) -> bytes | None:
        """Return the next raw frame, or None if none completed within timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            end = self.buf.find(b"\n\n")
            if end >= 0:
                length = 0
                for line in self.buf[:end].split(b"\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                if len(self.buf) >= end + 2 + length:
                    frame, self.buf = self.buf[: end + 2 + length], self.buf[end + 2 + length :]
                    return frame
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return None
            if not select.select([self.sock], [], [], remaining)[0]:
                return None
            data = self.sock.recv(65536)
            if not data:
                raise EOFError("FreeSWITCH closed the event socket")
            self.buf += data


def _command(sock: socket.socket, frames: _Frames, text: str) -> bytes:
    sock.sendall(text.encode() + b"\n\n")
    frame = frames.next()
    if frame is None:
        raise SystemExit(f"no reply to {text.split()[0]!r}")
    return frame


def _login(host: str, port: int, password: str) -> tuple[socket.socket, _Frames, bytes]:
    sock = socket.create_connection((host, port), timeout=10)
    frames = _Frames(sock)
    greeting = frames.next() or b""
    reply = _command(sock, frames, f"auth {password}")
    if b"+OK" not in reply:
        raise SystemExit(f"authentication failed: {reply!r}")
    return sock, frames, greeting + reply


def _run_bgapi(args: argparse.Namespace, password: str) -> None:
    """Start calls on a separate connection, so the recorded one holds only what a listener sees."""
    if not args.bgapi:
        return
    sock, frames, _ = _login(args.host, args.port, password)
    for command in args.bgapi:
        print(_command(sock, frames, f"bgapi {command}").decode().strip(), file=sys.stderr)
    sock.sendall(b"exit\n\n")
    sock.close()


def record_inbound(args: argparse.Namespace, password: str) -> bytes:
    """Record one subscribed inbound session until --count matching events or --seconds pass."""
    sock, frames, transcript = _login(args.host, args.port, password)
    transcript += _command(sock, frames, "event plain " + " ".join(args.events))
    _run_bgapi(args, password)
    wanted = [f"Event-Name: {name}\n".encode() for name in args.events]
    seen = 0
    deadline = time.monotonic() + args.seconds
    try:
        while seen < args.count and time.monotonic() < deadline:
            frame = frames.next(timeout=max(deadline - time.monotonic(), 0))
            if frame is not None:
                transcript += frame
                seen += any(marker in frame for marker in wanted)
        if args.until_close:
            while (frame := frames.next(timeout=max(deadline - time.monotonic(), 0.1))) is not None:
                transcript += frame
    except EOFError:
        print("FreeSWITCH closed the connection", file=sys.stderr)
    sock.close()
    print(f"recorded {seen} matching events", file=sys.stderr)
    return transcript


def record_outbound(args: argparse.Namespace, password: str) -> bytes:
    """Serve the real flows through a socket that keeps a copy of every byte FreeSWITCH sends."""
    import gevent

    from appliance.callcontrol import apps
    from appliance.callcontrol.outbound import OutboundServer

    apps.load_all()
    captured = bytearray()

    class _TeeFile:
        def __init__(self, inner):
            self.inner = inner

        def readline(self):
            data = self.inner.readline()
            captured.extend(data)
            return data

        def read(self, n):
            data = self.inner.read(n)
            captured.extend(data)
            return data

        def close(self):
            self.inner.close()

    class _TeeSocket:
        def __init__(self, inner):
            self._inner = inner

        def makefile(self, mode):
            return _TeeFile(self._inner.makefile(mode))

        def __getattr__(self, name):
            return getattr(self._inner, name)

    class _RecordingServer(OutboundServer):
        def _handle(self, sock, address):
            super()._handle(_TeeSocket(sock), address)

    server = _RecordingServer("127.0.0.1", args.listen_port)
    server.start()
    gevent.get_hub().threadpool.apply(_run_bgapi, (args, password))
    # Wait for a call that FreeSWITCH really placed (bytes arrived) to finish.
    deadline = time.monotonic() + args.seconds
    while not (captured and server.active == 0) and time.monotonic() < deadline:
        gevent.sleep(0.1)
    server.stop(timeout=5)
    return bytes(captured)


def main(argv: list[str] | None = None) -> int:
    """Record one transcript to --out."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=["inbound", "outbound"])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8021, help="FreeSWITCH event-socket port")
    parser.add_argument("--password", help="event-socket password (prefer --password-file)")
    parser.add_argument("--password-file")
    parser.add_argument("--events", nargs="+", default=["CHANNEL_HANGUP_COMPLETE"])
    parser.add_argument("--count", type=int, default=1, help="stop after this many subscribed events")
    parser.add_argument("--until-close", action="store_true", help="then keep recording until FreeSWITCH hangs up")
    parser.add_argument("--seconds", type=float, default=30.0, help="give up after this long")
    parser.add_argument("--bgapi", action="append", default=[], help="API command that makes the calls")
    parser.add_argument("--listen-port", type=int, default=8085, help="outbound mode: port for `socket`")
    parser.add_argument("--out", required=True, type=Path)
    args = parser.parse_args(argv)
    if args.password_file:
        from appliance.callcontrol.esl import read_password

        password = read_password(args.password_file)
    elif args.password:
        password = args.password
    else:
        parser.error("give --password-file (or --password)")
    data = record_inbound(args, password) if args.mode == "inbound" else record_outbound(args, password)
    args.out.write_bytes(data)
    print(f"wrote {len(data)} bytes to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
