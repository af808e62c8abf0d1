# SPDX-License-Identifier: GPL-3.0-or-later
"""Sign-in throttling: after N failures from one address or for one user name, refuse for a while.

Kept in memory: the console is one process, and a restart forgetting the counts costs an attacker
a restart of the box. Time comes from an injected clock, so tests advance it instead of sleeping.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

# Bounds the memory an address-spraying attacker can make us use; old entries go first.
MAX_ENTRIES = 10_000


@dataclass
class _Entry:
    failures: int = 0
    locked_until: float = 0.0
    last: float = 0.0


class SignInLimiter:
    """Count failed sign-ins per key ('ip:…', 'user:…'); lock a key for lock_seconds after max_failures."""

    def __init__(self, clock: Callable[[], float], max_failures: int = 5, lock_seconds: float = 60.0):
        self.clock = clock
        self.max_failures = max_failures
        self.lock_seconds = lock_seconds
        self._entries: dict[str, _Entry] = {}
        self._lock = threading.Lock()

    def retry_after(self, *keys: str) -> float:
        """Return the seconds until every key may try again (0 when none is locked)."""
        now = self.clock()
        with self._lock:
            waits = [e.locked_until - now for k in keys if (e := self._entries.get(k)) is not None]
        return max([0.0, *waits])

    def failed(self, *keys: str) -> None:
        """Count one failure for each key; lock the keys that reached the limit."""
        now = self.clock()
        with self._lock:
            for key in keys:
                entry = self._entries.get(key)
                # Failures older than one lock period are forgotten: a typo a day never locks anyone.
                if entry is None or now - entry.last > self.lock_seconds:
                    entry = self._entries[key] = _Entry()
                entry.failures += 1
                entry.last = now
                if entry.failures >= self.max_failures:
                    entry.locked_until = now + self.lock_seconds
                    entry.failures = 0
            self._prune(now)

    def succeeded(self, *keys: str) -> None:
        """Forget the failures of these keys."""
        with self._lock:
            for key in keys:
                self._entries.pop(key, None)

    def _prune(self, now: float) -> None:
        if len(self._entries) <= MAX_ENTRIES:
            return
        stale = [k for k, e in self._entries.items() if e.locked_until <= now and now - e.last > self.lock_seconds]
        for key in stale:
            del self._entries[key]
        if len(self._entries) > MAX_ENTRIES:
            for key in sorted(self._entries, key=lambda k: self._entries[k].last)[: len(self._entries) - MAX_ENTRIES]:
                del self._entries[key]
