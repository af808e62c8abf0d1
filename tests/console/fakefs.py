# SPDX-License-Identifier: GPL-3.0-or-later
"""A fake FreeSWITCH event socket on its own thread, for a console whose ESL worker is another thread.

The fake (tests/harness/fakeesl.py) is gevent-based and gevent hubs are per thread: it must run, and
keep yielding, on a thread of its own while the console's worker thread talks to it.
"""

from __future__ import annotations

import threading

import gevent

from tests.harness.fakeesl import FakeEslServer

PASSWORD = "fake-esl-Pw-4kT9qZ"


class ThreadedFakeEsl:
    """Serve a FakeEslServer answering api commands from a table, on a background thread."""

    def __init__(self, api_replies: dict[str, str]):
        self.api_replies = api_replies
        self.port = 0
        self.commands: list[str] = []
        self._ready = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fake-esl", daemon=True)

    def start(self) -> ThreadedFakeEsl:
        self._thread.start()
        assert self._ready.wait(10), "the fake event socket did not start"
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        server = FakeEslServer(b"", password=PASSWORD, api_replies=self.api_replies).start()
        self.port = server.port
        self.commands = server.commands
        self._ready.set()
        while not self._stop.is_set():
            gevent.sleep(0.02)
        server.stop()
