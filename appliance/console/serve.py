# SPDX-License-Identifier: GPL-3.0-or-later
"""Serve the console over HTTPS with the certificate from the appliance's CA.

Werkzeug's threaded WSGI server behind a strict TLS context: enough for a handful of admins on an
office LAN. SIGHUP reloads the certificate and key (in pki mode: the newest `console` certificate),
so a renewed certificate is used for new connections without a restart.
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

from flask import Flask
from werkzeug.serving import BaseWSGIServer, make_server

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
    from appliance.pki import clock
    from appliance.pki.errors import PkiError
    from appliance.pki.store import CaStore

    store = CaStore.appliance(pki_dir)
    record = store.load().current("console", clock.utc(now))
    if record is None:
        raise PkiError(
            f"{pki_dir}: no current console certificate; "
            "run `appliance pki issue --profile console --name <host name> --name <address>`"
        )
    # Browsers trust the fleet root only, so the server must send the intermediate too.
    chain = Path(tempfile.mkdtemp(prefix="console-tls-")) / "chain.pem"
    chain.write_bytes(store.issued_path(record.serial).read_bytes() + store.cert_path.read_bytes())
    return chain, store.private_key_path(record.serial)


def server(app: Flask, host: str, port: int, files: CertFiles) -> BaseWSGIServer:
    """Return a threaded HTTPS server for app on host:port (port 0: any free port)."""
    return make_server(host, port, app, threaded=True, ssl_context=tls_context(*files()))


def serve_forever(app: Flask, hosts: str | Sequence[str], port: int, files: CertFiles) -> None:
    """Serve on every address (the LAN's and the tunnel's) until interrupted; SIGHUP reloads the certificate."""
    addresses = [hosts] if isinstance(hosts, str) else list(hosts)
    if not addresses:
        raise ValueError("no address to listen on (console.bind)")
    # One process for all addresses: one sign-in throttle, one connection pool, one certificate context.
    ctx = tls_context(*files())
    servers = [make_server(host, port, app, threaded=True, ssl_context=ctx) for host in addresses]

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
        for srv in servers[1:]:
            srv.shutdown()
        for srv in servers:
            srv.server_close()
