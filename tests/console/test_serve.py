# SPDX-License-Identifier: GPL-3.0-or-later
"""The console's HTTPS server (cheroot): keep-alive over TLS, strict TLS, a clean stop."""

from __future__ import annotations

import http.client
import ssl
import threading

import pytest

from appliance.console import create_app
from appliance.console.clock import system_now
from appliance.console.serve import pki_files, server
from appliance.pki import intermediate
from appliance.pki.issue import issue
from appliance.pki.root import create_root, sign_intermediate
from appliance.pki.store import CaStore
from tests.console.conftest import console_config

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def served(tmp_path, dsn):
    """Serve the console on 127.0.0.1 (a free port); yield (port, client TLS context trusting the fleet root)."""
    root = create_root("Serve Test Fleet Root", tmp_path / "hub")
    store = CaStore.appliance(tmp_path / "appliance-ca")
    csr = intermediate.create_request(store, "serve test appliance CA")
    intermediate.install(store, sign_intermediate(root, csr, ["localhost"], ["127.0.0.1"], 30), root.cert)
    issue(store, "console", ["localhost", "127.0.0.1"])
    app = create_app({**console_config(dsn, system_now), "TESTING": False})
    srv = server(app, "127.0.0.1", 0, lambda: pki_files(store.dir))
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv.server_port, ssl.create_default_context(cafile=str(tmp_path / "hub" / "root.pem"))
    srv.shutdown()
    thread.join(10)
    assert not thread.is_alive(), "shutdown() must end serve_forever()"


def test_one_tls_connection_serves_many_requests(served):
    port, ctx = served
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=10)
    first_socket = None
    for path in ("/auth/signin", "/auth/signin", "/static/console.css", "/auth/signin"):
        conn.request("GET", path)
        response = conn.getresponse()
        response.read()
        assert response.status == 200, path
        assert (response.getheader("Connection") or "").lower() != "close"
        first_socket = first_socket or conn.sock
        # http.client opens a new socket (a new TLS handshake) whenever the server closed the last one.
        assert conn.sock is first_socket, f"{path}: the server closed the connection"
    assert first_socket.version() in ("TLSv1.2", "TLSv1.3")
    conn.close()


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1_1 is deprecated:DeprecationWarning")
def test_old_tls_is_refused(served):
    port, _ = served
    old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    old.check_hostname, old.verify_mode = False, ssl.CERT_NONE
    old.maximum_version = ssl.TLSVersion.TLSv1_1
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=old, timeout=10)
    with pytest.raises((ssl.SSLError, ConnectionError)):
        conn.request("GET", "/auth/signin")
