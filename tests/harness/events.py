# SPDX-License-Identifier: GPL-3.0-or-later
"""FreeSWITCH events collected in the background while a live test runs (evidence of what was played)."""

from __future__ import annotations

import time
from collections.abc import Callable

import gevent

from appliance.callcontrol.esl import EslClient
from tests.harness.office import Office


class Events:
    """FreeSWITCH events of some names, collected in the background while a test runs."""

    def __init__(self, office: Office, names: list[str], custom: tuple[str, ...] = ()):
        self.client = EslClient("127.0.0.1", office.ports["esl"], office.esl_password())
        self.client.connect()
        self.seen: list[dict] = []
        for name in [*names, *custom]:
            self.client.on(name, self.seen.append)
        if names:
            self.client.subscribe(names)
        if custom:
            self.client.subscribe_custom(list(custom))

    def until(self, what: str, match: Callable[[dict], bool], timeout: float = 15) -> list[dict]:
        """Wait (bounded) until some collected event satisfies match; return those that do."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if found := [e for e in self.seen if match(e)]:
                return found
            gevent.sleep(0.1)  # the ESL client's greenlets read the socket meanwhile
        raise AssertionError(f"{what}: not seen within {timeout}s; events: {self.seen}")

    def close(self) -> None:
        self.client.close()
