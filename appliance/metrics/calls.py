# SPDX-License-Identifier: GPL-3.0-or-later
"""Count finished calls by type and result as their hangup events arrive; render them at scrape time."""

from __future__ import annotations

import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from appliance.callcontrol.cdr import cdr_from_event
from appliance.metrics.causes import RESULTS, result_of

# The dialplan's call types; series for these exist from the start, so rate() sees the first call.
CALL_TYPES = ("internal", "inbound", "outbound", "unknown")
WINDOW_S = 60.0
# call_type comes from a channel variable; anything odd is folded so it cannot grow the series set.
_CALL_TYPE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")


class CallStats(Collector):
    """Finished A-legs by call type and result, and the rate of the last minute."""

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self._clock = clock
        # Events arrive in the gevent thread, scrapes in the HTTP server's threads.
        self._lock = threading.Lock()
        self._counts = {(kind, result): 0 for kind in CALL_TYPES for result in RESULTS}
        self._recent: deque[float] = deque()

    def on_hangup_complete(self, headers: Mapping[str, str]) -> None:
        """Count one CHANNEL_HANGUP_COMPLETE if it ends an A-leg (B-legs and loopbacks are not calls)."""
        record = cdr_from_event(headers)
        if record is not None:
            self.count(str(record["call_type"]), result_of(record))

    def count(self, call_type: str, result: str) -> None:
        """Count one finished call."""
        kind = call_type if _CALL_TYPE.match(call_type) else "other"
        now = self._clock()
        with self._lock:
            self._counts[(kind, result)] = self._counts.get((kind, result), 0) + 1
            self._recent.append(now)
            self._forget(now)

    def total(self, call_type: str | None = None, result: str | None = None) -> int:
        """Return how many calls were counted, optionally only of one type and/or result."""
        with self._lock:
            return sum(
                n for (kind, res), n in self._counts.items() if call_type in (None, kind) and result in (None, res)
            )

    def calls_per_second(self) -> float:
        """Return the calls that ended within the last minute, per second."""
        with self._lock:
            self._forget(self._clock())
            return len(self._recent) / WINDOW_S

    def collect(self) -> Iterator[Metric]:
        """Yield the counter and the last-minute rate."""
        calls = CounterMetricFamily(
            "appliance_calls",
            "Calls (A-legs) that ended, by call type and result class of their hangup cause.",
            labels=["call_type", "result"],
        )
        with self._lock:
            counts = sorted(self._counts.items())
        for (kind, result), n in counts:
            calls.add_metric([kind, result], n)
        yield calls
        yield GaugeMetricFamily(
            "appliance_calls_per_second",
            f"Calls that ended in the last {WINDOW_S:.0f} seconds, per second (rate() of appliance_calls_total "
            "gives any other window).",
            value=self.calls_per_second(),
        )

    def _forget(self, now: float) -> None:
        while self._recent and self._recent[0] <= now - WINDOW_S:
            self._recent.popleft()
