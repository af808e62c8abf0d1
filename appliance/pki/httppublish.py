# SPDX-License-Identifier: GPL-3.0-or-later
"""Publish a CA's public files over plain HTTP: GET and HEAD of `/pki/<name>`, nothing else.

Phones fetch the CRL from the URL in their certificates' CRL distribution point, and that URL is
http://: a CRL is signed, so it needs no TLS, and a phone that does not trust the root yet could not
check TLS anyway. The hub publishes the root's CRL the same way. The console serves these files over
HTTPS too, but behind its whole sign-in stack; port 80 gets this small server that can do nothing else.

Only the names in `appliance.pki.published` map to files, each inside one folder: no request can name a
path. A plain WSGI callable under cheroot (the console's server), one listener per address (LAN,
tunnel), never a wildcard. `appliance pki serve-http` runs it until SIGTERM.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import signal
import stat
import threading
from collections.abc import Callable, Iterable
from email.utils import formatdate
from pathlib import Path
from typing import Any

from cheroot import wsgi

from appliance.pki.errors import PkiError
from appliance.pki.published import MAX_AGE_S, PUBLISHED, listing

log = logging.getLogger(__name__)

PREFIX = "/pki/"
# A few phones fetch a file of some kilobytes now and then: a handful of workers per address is plenty.
THREADS = 4
# An idle keep-alive connection is closed after this long.
IDLE_TIMEOUT_S = 10

Address = tuple[str, int]
Answer = tuple[str, list[tuple[str, str]], bytes]


def parse_listen(text: str, allow_wildcard: bool = False) -> Address:
    """Return (host, port) of `HOST:PORT` or `[IPV6]:PORT`; refuse host names, and wildcards unless allowed."""
    host, _, port = text.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise PkiError(f"--listen {text}: give an IP address and port, e.g. 192.168.1.10:80 or [fd10::1]:80") from None
    if address.is_unspecified and not allow_wildcard:
        # As the console role: a wildcard would listen on the WAN too, and nothing listens there.
        raise PkiError(
            f"--listen {text}: {host} is a wildcard address; name the box's LAN and tunnel IP addresses "
            "instead (one --listen each): nothing listens on a WAN address"
        )
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise PkiError(f"--listen {text}: {port!r} is not a port number (0-65535)")
    return str(address), int(port)


class PublicFiles:
    """The WSGI application: GET/HEAD /pki/<name> from one folder, fixed names only."""

    def __init__(self, directory: Path):
        self.directory = Path(directory)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        method, path = environ.get("REQUEST_METHOD", ""), environ.get("PATH_INFO", "")
        status, headers, body = self.answer(method, path)
        # %r: a request path is the client's text, kept on one log line whatever it holds.
        log.info("%s %s %r %s %d", environ.get("REMOTE_ADDR", "-"), method, path, status[:3], len(body))
        headers += [("Content-Length", str(len(body))), ("X-Content-Type-Options", "nosniff")]
        start_response(status, headers)
        return [b"" if method == "HEAD" else body]

    def answer(self, method: str, path: str) -> Answer:
        """Return the status, headers and body for one request."""
        if method not in ("GET", "HEAD"):
            return _text("405 Method Not Allowed", "Only GET and HEAD: these files are read-only.", Allow="GET, HEAD")
        name = path[len(PREFIX) :] if path.startswith(PREFIX) else ""
        if name not in PUBLISHED:
            return _text("404 Not Found", f"/pki/ serves only {listing()}.")
        try:
            data, mtime = _read(self.directory / name)
        except FileNotFoundError:
            return _text("404 Not Found", f"{name} is not published yet (the CA has not made it).")
        except OSError as exc:
            log.error("cannot read %s: %s", self.directory / name, exc)
            return _text("500 Internal Server Error", f"{name} cannot be read; the server's log says why.")
        headers = [
            ("Content-Type", PUBLISHED[name]),
            ("Cache-Control", f"public, max-age={MAX_AGE_S}"),
            ("Last-Modified", formatdate(mtime, usegmt=True)),
        ]
        return "200 OK", headers, data


def _read(path: Path) -> tuple[bytes, float]:
    """Return a regular file's bytes and modification time, from one open (the CA replaces files by rename)."""
    with path.open("rb") as fh:
        st = os.fstat(fh.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise FileNotFoundError(path)
        return fh.read(), st.st_mtime


def _text(status: str, message: str, **extra: str) -> Answer:
    return status, [("Content-Type", "text/plain; charset=utf-8"), *extra.items()], f"{message}\n".encode()


class Publisher:
    """One cheroot listener per address for one folder: bound at construction, served until stop()."""

    def __init__(self, directory: Path, addresses: Iterable[Address]):
        app = PublicFiles(directory)
        self.directory = app.directory
        self._servers: list[wsgi.Server] = []
        self._threads: list[threading.Thread] = []
        self.failure: Exception | None = None  # why a listener stopped by itself, if one did
        try:
            for host, port in addresses:
                server = wsgi.Server((host, port), app, numthreads=THREADS, timeout=IDLE_TIMEOUT_S)
                server.prepare()  # binds and listens now: a port in use or not allowed fails at once
                self._servers.append(server)
        except BaseException:
            self.stop()
            raise
        if not self._servers:
            raise PkiError("no address to publish on: give --listen HOST:PORT (the LAN's, the tunnel's)")

    @property
    def addresses(self) -> list[Address]:
        """Return the (host, port) each listener is bound to (port 0 became a real one)."""
        return [(server.bind_addr[0], server.bind_addr[1]) for server in self._servers]

    def urls(self) -> list[str]:
        """Return the base URL of each listener, e.g. http://[fd10::1]:80/pki/."""
        return [f"http://{host if ':' not in host else f'[{host}]'}:{port}{PREFIX}" for host, port in self.addresses]

    def start(self, stopped: threading.Event | None = None) -> None:
        """Serve every listener in its own thread; set stopped if one of them ends."""

        def run(server: wsgi.Server) -> None:
            try:
                server.serve()
            except Exception as exc:
                log.exception("the listener on %s failed", server.bind_addr)
                self.failure = exc
            finally:
                if stopped is not None:
                    stopped.set()

        for server in self._servers:
            thread = threading.Thread(target=run, args=(server,), name=f"pki-http {server.bind_addr}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop listening, finish the requests in hand, close the connections."""
        for server in self._servers:
            server.stop()
        for thread in self._threads:
            thread.join(timeout)


def serve(directory: Path, addresses: Iterable[Address]) -> None:
    """Publish directory's files on every address until SIGTERM or Ctrl-C."""
    publisher = Publisher(directory, addresses)
    stopped = threading.Event()
    # Only the main thread waits; the handler just wakes it, and the listeners are stopped below.
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: stopped.set())
    try:
        publisher.start(stopped)
        for url in publisher.urls():
            log.info("publishing %s on %s", publisher.directory, url)
        stopped.wait()
    except KeyboardInterrupt:
        pass
    finally:
        publisher.stop()
        signal.signal(signal.SIGTERM, previous)
    if publisher.failure is not None:
        # Exit non-zero so systemd restarts the whole server rather than leave one address unserved.
        raise PkiError(f"a listener failed ({publisher.failure}); stopped publishing")
    log.info("stopped publishing %s", publisher.directory)
