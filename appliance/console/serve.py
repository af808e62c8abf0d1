# SPDX-License-Identifier: GPL-3.0-or-later
"""Serve the console over HTTPS with the certificate from the appliance's CA.

Cheroot (CherryPy's WSGI server, decision 9 in docs/decisions.md) behind a strict TLS context: a
pool of worker threads, and HTTP/1.1 keep-alive over TLS, so a browser pays the TLS handshake once
per connection, not once per request as with Werkzeug's development server. SIGHUP reloads the
certificate and key (in pki mode: the newest `console` certificate) for new connections.
"""

from __future__ import annotations

import logging
import signal
import ssl
import tempfile
import threading
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path

from cheroot import wsgi
from cheroot.ssl.builtin import BuiltinSSLAdapter
from flask import Flask

log = logging.getLogger(__name__)

CertFiles = Callable[[], tuple[Path, Path]]


def tls_context(cert: Path, key: Path) -> ssl.SSLContext:
    """Return a server TLS context: TLS 1.2 or newer, forward-secret AEAD ciphers only."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers("ECDHE+AESGCM:ECDHE+CHACHA20")
    ctx.options |= ssl.OP_NO_COMPRESSION
    ctx.load_cert_chain(cert, key)
    return ctx


def pki_files(pki_dir: Path, now: datetime | None = None) -> tuple[Path, Path]:
    """Return (chain, key) of the CA's current `console` certificate; the chain is leaf + intermediate."""
    from appliance.pki.console_tls import current_chain
    from appliance.pki.store import CaStore

    store = CaStore.appliance(pki_dir)
    record, pem = current_chain(store, now)
    chain = Path(tempfile.mkdtemp(prefix="console-tls-")) / "chain.pem"
    chain.write_bytes(pem)
    return chain, store.private_key_path(record.serial)


# Worker threads per address: a request holds one only while it is being answered (idle keep-alive
# connections wait in cheroot's selector), so a few serve a handful of admins and the API.
THREADS = 8
# An idle keep-alive connection is closed after this long.
IDLE_TIMEOUT_S = 30


class ConsoleServer:
    """One HTTPS listener: cheroot with keep-alive, bound at construction (port 0: any free port)."""

    def __init__(self, app: Flask, host: str, port: int, ctx: ssl.SSLContext, cert: Path, key: Path):
        self._server = wsgi.Server((host, port), app, numthreads=THREADS, timeout=IDLE_TIMEOUT_S)
        adapter = BuiltinSSLAdapter(str(cert), str(key))
        adapter.context = ctx  # ours: TLS 1.2+, AEAD only, and the one SIGHUP reloads
        self._server.ssl_adapter = adapter
        self._server.prepare()  # binds and listens now, so the port is known and errors show at once
        self.server_address = self._server.bind_addr
        self.server_port = self.server_address[1]

    def serve_forever(self) -> None:
        """Answer requests until shutdown()."""
        self._server.serve()

    def shutdown(self) -> None:
        """Stop listening, finish the requests in hand, close the connections."""
        self._server.stop()

    def server_close(self) -> None:
        """Release the socket (shutdown() already did; kept for the callers of the old server)."""
        self._server.stop()


def server(app: Flask, host: str, port: int, files: CertFiles) -> ConsoleServer:
    """Return an HTTPS server for app on host:port (port 0: any free port)."""
    cert, key = files()
    return ConsoleServer(app, host, port, tls_context(cert, key), cert, key)


def serve_forever(app: Flask, hosts: str | Sequence[str], port: int, files: CertFiles) -> None:
    """Serve on every address (the LAN's and the tunnel's) until interrupted; SIGHUP reloads the certificate."""
    addresses = [hosts] if isinstance(hosts, str) else list(hosts)
    if not addresses:
        raise ValueError("no address to listen on (console.bind)")
    # One process for all addresses: one sign-in throttle, one connection pool, one certificate context.
    cert, key = files()
    ctx = tls_context(cert, key)
    servers = [ConsoleServer(app, host, port, ctx, cert, key) for host in addresses]

    def reload(signum: int, frame: object) -> None:
        try:
            cert, key = files()
            ctx.load_cert_chain(cert, key)
        except (OSError, ssl.SSLError, RuntimeError) as exc:
            log.error("certificate not reloaded, keeping the old one: %s", exc)
        else:
            log.info("reloaded %s", cert)

    signal.signal(signal.SIGHUP, reload)
    for srv in servers:
        host = srv.server_address[0]
        log.info("console on https://%s:%s/", host if ":" not in host else f"[{host}]", srv.server_port)
    others = [threading.Thread(target=srv.serve_forever, daemon=True) for srv in servers[1:]]
    for thread in others:
        thread.start()
    try:
        servers[0].serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        for srv in servers:
            srv.shutdown()
