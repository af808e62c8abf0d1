# SPDX-License-Identifier: GPL-3.0-or-later
"""A webhook receiver on 127.0.0.1 that checks every signature as an integrator's server should."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from appliance.webhooks import signing


@dataclass
class Received:
    """One request as the receiver saw it."""

    path: str
    headers: dict[str, str]
    body: bytes
    verdict: str  # "ok", "duplicate", or why the signature was refused
    status: int

    @property
    def payload(self) -> dict[str, Any]:
        return json.loads(self.body)


class WebhookReceiver:
    """Answer 2xx to good signatures (once per event id), 401 to bad ones, or a forced failure status."""

    def __init__(self, secret: str, clock=time.time):
        self.secret = secret
        self.clock = clock
        self.requests: list[Received] = []
        self.failures: list[int] = []  # statuses to answer next, whatever the request
        self.seen: set[str] = set()
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                status, verdict = receiver._judge(dict(self.headers.items()), body)
                with receiver._lock:
                    receiver.requests.append(Received(self.path, dict(self.headers.items()), body, verdict, status))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, fmt: str, *args: Any) -> None:
                """Stay quiet: pytest shows the assertions."""

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, name="webhook-receiver", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/hooks/calls"

    def _judge(self, headers: dict[str, str], body: bytes) -> tuple[int, str]:
        with self._lock:
            if self.failures:
                return self.failures.pop(0), "forced failure"
        try:
            signing.verify(self.secret, headers, body, self.clock())
        except signing.SignatureError as exc:
            return 401, str(exc)
        event_id = headers.get(signing.EVENT_ID_HEADER, "")
        with self._lock:
            if event_id in self.seen:
                return 200, "duplicate"
            self.seen.add(event_id)
        return 204, "ok"

    def accepted(self) -> list[Received]:
        with self._lock:
            return [r for r in self.requests if r.verdict == "ok"]

    def wait_for(self, count: int, timeout: float = 20.0) -> list[Received]:
        """Wait until count events were accepted; return them."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.accepted()
            if len(got) >= count:
                return got
            time.sleep(0.05)
        raise AssertionError(f"{len(self.accepted())} webhook events accepted after {timeout}s, expected {count}")

    def __enter__(self) -> WebhookReceiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
