# SPDX-License-Identifier: GPL-3.0-or-later
"""`appliance pki serve-http`: the real cheroot server on loopback, a CA made at run time, a real client.

Nothing is mocked: the publisher binds 127.0.0.1 on a free port (port 0), every request goes over TCP
with a timeout, and the fixtures stop the listeners whatever the test did. The CLI test runs the
`appliance` command as a process and stops it with SIGTERM, as systemd does.
"""

from __future__ import annotations

import http.client
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509

from appliance import cli
from appliance.pki import crl, issue
from appliance.pki.errors import PkiError
from appliance.pki.httppublish import Publisher, parse_listen
from appliance.pki.published import PUBLISHED
from appliance.pki.store import CaStore

from .conftest import T0, Hierarchy

TIMEOUT_S = 5
REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def serve() -> Iterator:
    """Return a function starting a publisher on 127.0.0.1 for a folder; every one is stopped afterwards."""
    started: list[Publisher] = []

    def start(directory: Path, *hosts: str) -> Publisher:
        publisher = Publisher(directory, [(host, 0) for host in hosts or ("127.0.0.1",)])
        started.append(publisher)
        publisher.start()
        return publisher

    yield start
    for publisher in started:
        publisher.stop()


@pytest.fixture
def base_url(hierarchy: Hierarchy, serve) -> str:
    """Return http://127.0.0.1:<port>/pki/ serving the appliance CA's public folder."""
    return serve(hierarchy.store.public_dir).urls()[0]


def fetch(url: str, method: str = "GET") -> tuple[int, dict[str, str], bytes]:
    """Return status, headers and body of one request (an error status too, never an exception)."""
    request = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, dict(exc.headers), exc.read()


def raw_get(url: str, path: str) -> tuple[int, bytes]:
    """GET a path exactly as written (no client-side normalisation of `..` or escapes)."""
    host, port = re.match(r"http://([^/:]+):(\d+)/", url).groups()
    conn = http.client.HTTPConnection(host, int(port), timeout=TIMEOUT_S)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def test_root_chain_and_crls_are_served_byte_identical_with_their_media_types(hierarchy, base_url):
    public = hierarchy.store.public_dir
    for name, media_type in (
        ("root.pem", "application/x-pem-file"),
        ("chain.pem", "application/x-pem-file"),
        ("intermediate.crl", "application/pkix-crl"),
        ("intermediate.crl.pem", "application/x-pem-file"),
    ):
        status, headers, body = fetch(base_url + name)
        assert status == 200, name
        assert body == (public / name).read_bytes(), name
        assert headers["Content-Type"] == media_type, name
        assert headers["Cache-Control"] == "public, max-age=300", name
        assert int(headers["Content-Length"]) == len(body), name
    assert x509.load_pem_x509_certificate(fetch(base_url + "root.pem")[2]) == hierarchy.root.cert


def test_openssl_parses_and_verifies_the_fetched_der_crl(hierarchy, base_url, tmp_path):
    if shutil.which("openssl") is None:
        pytest.skip("openssl CLI not installed")
    fetched = tmp_path / "fetched.crl"
    fetched.write_bytes(fetch(base_url + "intermediate.crl")[2])
    proc = subprocess.run(
        [
            "openssl",
            "crl",
            "-inform",
            "DER",
            "-in",
            str(fetched),
            "-noout",
            "-issuer",
            "-CAfile",
            str(hierarchy.store.cert_path),
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 0, proc.stderr
    assert "verify OK" in proc.stderr + proc.stdout
    assert "pbx1 appliance CA" in proc.stdout


def test_a_republished_crl_is_served_at_once(hierarchy, base_url):
    leaf = issue.issue(hierarchy.store, "console", ["pbx1.example.org"], now=T0)
    before = x509.load_der_x509_crl(fetch(base_url + "intermediate.crl")[2])
    crl.revoke(hierarchy.store, leaf.serial, now=T0, reason="keyCompromise")
    after = x509.load_der_x509_crl(fetch(base_url + "intermediate.crl")[2])
    assert before.get_revoked_certificate_by_serial_number(int(leaf.serial, 16)) is None
    assert after.get_revoked_certificate_by_serial_number(int(leaf.serial, 16)) is not None


def test_head_answers_the_headers_without_the_body(hierarchy, base_url):
    status, headers, body = fetch(base_url + "intermediate.crl", method="HEAD")
    assert status == 200 and body == b""
    assert int(headers["Content-Length"]) == hierarchy.store.crl_path.stat().st_size
    assert headers["Content-Type"] == "application/pkix-crl"


def test_nothing_but_the_published_names_is_served(hierarchy, base_url):
    (hierarchy.store.public_dir / "extra.pem").write_text("not in the table\n")
    for path in (
        "/pki/intermediate.key",
        "/pki/index.json",
        "/pki/extra.pem",
        "/pki/../intermediate.key",
        "/pki/..%2Fintermediate.key",
        "/pki/%2e%2e/intermediate.key",
        "/pki/../../../../etc/passwd",
        "/pki/../private/01.key",
        "/pki/root.pem/",
        "/pki/",
        "/root.pem",
        "/",
    ):
        status, body = raw_get(base_url, path)
        assert status == 404, path
        assert b"/pki/ serves only chain.pem, intermediate.crl" in body, path


def test_anything_but_get_and_head_is_refused(base_url):
    for method in ("POST", "PUT", "DELETE", "OPTIONS"):
        status, headers, body = fetch(base_url + "root.pem", method=method)
        assert status == 405, method
        assert headers["Allow"] == "GET, HEAD"
        assert b"read-only" in body


def test_a_file_not_published_yet_is_a_404_saying_so(tmp_path, serve):
    store = CaStore.appliance(tmp_path / "fresh")  # no CA made here yet: not even public/
    status, _headers, body = fetch(serve(store.public_dir).urls()[0] + "root.pem")
    assert status == 404
    assert body == b"root.pem is not published yet (the CA has not made it).\n"


def test_the_hub_publishes_its_root_crl(hierarchy, serve):
    root_store = CaStore.root(hierarchy.root_dir)
    crl.publish_crl(root_store, now=T0)
    url = serve(root_store.public_dir).urls()[0]
    status, headers, body = fetch(url + "root.crl")
    assert (status, headers["Content-Type"]) == (200, "application/pkix-crl")
    assert body == root_store.crl_path.read_bytes()
    assert fetch(url + "intermediate.crl")[0] == 404


def test_every_address_gets_its_own_listener(hierarchy, serve):
    publisher = serve(hierarchy.store.public_dir, "127.0.0.1", "127.0.0.2")
    assert [host for host, _port in publisher.addresses] == ["127.0.0.1", "127.0.0.2"]
    for url in publisher.urls():
        assert fetch(url + "root.pem")[0] == 200, url


def test_each_request_is_logged_on_one_line(base_url, caplog):
    with caplog.at_level("INFO", logger="appliance.pki.httppublish"):
        fetch(base_url + "root.pem")
        raw_get(base_url, "/pki/x%0AINFO%20forged")
    lines = [r.getMessage() for r in caplog.records if r.name == "appliance.pki.httppublish"]
    assert any(re.fullmatch(r"127\.0\.0\.1 GET '/pki/root\.pem' 200 \d+", line) for line in lines), lines
    # The client's newline is logged escaped, so it cannot forge a second log line.
    assert any(re.search(r"GET '/pki/x\\nINFO forged' 404 \d+$", line) for line in lines), lines
    assert all("\n" not in line for line in lines), lines


def test_the_table_names_every_file_a_ca_publishes():
    for store in (CaStore.appliance(Path("/x")), CaStore.root(Path("/x"))):
        names = {"root.pem", store.chain_path.name, store.crl_path.name, store.crl_pem_path.name}
        assert names <= set(PUBLISHED), store.kind


@pytest.mark.parametrize("address", ["0.0.0.0:80", "[::]:80", ":::80"])
def test_a_wildcard_address_is_refused_naming_it(address):
    with pytest.raises(PkiError, match=r"is a wildcard address; name the box's LAN and tunnel IP addresses") as exc:
        parse_listen(address)
    assert f"--listen {address}" in str(exc.value)


@pytest.mark.parametrize(
    ("address", "why"),
    [("pbx1.example.org:80", "give an IP address"), ("192.168.1.10", "give an IP address"), ("10.0.0.1:http", "port")],
)
def test_names_and_bad_ports_are_refused(address, why):
    with pytest.raises(PkiError, match=why):
        parse_listen(address)


def test_a_wildcard_is_accepted_only_when_asked_for():
    """The image lists 0.0.0.0 with --listen-on-all, as its console does (decision 19)."""
    assert parse_listen("0.0.0.0:80", allow_wildcard=True) == ("0.0.0.0", 80)
    assert parse_listen("[::]:80", allow_wildcard=True) == ("::", 80)


def test_addresses_are_read_as_written():
    assert parse_listen("192.168.1.10:80") == ("192.168.1.10", 80)
    assert parse_listen("[fd10::1]:8080") == ("fd10::1", 8080)


def test_the_command_refuses_a_wildcard_before_binding_anything(tmp_path, capsys):
    config = tmp_path / "config.yml"
    config.write_text(f"pki:\n  dir: {tmp_path / 'pki'}\n")
    rc = cli.main(["pki", "serve-http", "--listen", "10.8.0.2:80", "--listen", "0.0.0.0:80", "--config", str(config)])
    assert rc == 2
    assert "--listen 0.0.0.0:80: 0.0.0.0 is a wildcard address" in capsys.readouterr().err


def test_the_command_serves_the_configured_ca_until_sigterm(hierarchy, tmp_path):
    config = tmp_path / "config.yml"
    config.write_text(f"pki:\n  dir: {hierarchy.store.dir}\n")
    argv = ["--verbose", "pki", "serve-http", "--listen", "127.0.0.1:0", "--config", str(config)]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "appliance", *argv], stderr=subprocess.PIPE, text=True, env=env, cwd=REPO
    )
    lines: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(target=lambda: [lines.put(line) for line in proc.stderr], daemon=True)
    reader.start()
    try:
        seen = []
        while not (match := re.search(r"on (http://127\.0\.0\.1:\d+/pki/)$", seen[-1] if seen else "")):
            seen.append(lines.get(timeout=20).rstrip("\n"))  # queue.Empty fails the test: it never listened
        assert f"publishing {hierarchy.store.public_dir} on" in seen[-1]
        status, _headers, body = fetch(match.group(1) + "root.pem")
        assert (status, body) == (200, hierarchy.root_pem.read_bytes())
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
        reader.join(timeout=5)
        rest = []
        while not lines.empty():
            rest.append(lines.get_nowait())
        assert any("GET '/pki/root.pem' 200" in line for line in rest), rest
        assert any("stopped publishing" in line for line in rest), rest
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
