# SPDX-License-Identifier: GPL-3.0-or-later
"""Decide bans and trust from authentication outcomes: pure logic, the clock injected.

An address that registered successfully is trusted and never banned: that is what keeps an office's
phones working when one of them has a stale password or a scanner hides behind the same NAT. Any other
address is banned once it fails authentication `max_failures` times, or leaves `max_challenges`
challenges unanswered, within `window` seconds. Memory is bounded: at most `max_tracked` addresses.
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass

from appliance.firewall.events import CHALLENGE, FAILURE, SUCCESS, Observation

BAN = "ban"
TRUST = "trust"


@dataclass(frozen=True)
class Settings:
    """The thresholds; docs/firewall.md explains the defaults."""

    max_failures: int = 10
    max_challenges: int = 120
    window: float = 300.0
    ban_seconds: int = 3600
    trust_seconds: int = 86400
    # A phone re-registers every few minutes; telling nftables again is only needed now and then.
    refresh_seconds: float = 600.0
    max_tracked: int = 10000


@dataclass(frozen=True)
class Decision:
    """What to do to the firewall: ban or trust an address for `seconds`."""

    action: str
    address: str
    seconds: int
    reason: str


class Tracker:
    """Count failures per source in a sliding window; trust successful registrations."""

    def __init__(self, settings: Settings | None = None, clock: Callable[[], float] = time.monotonic):
        self.settings = settings or Settings()
        self.clock = clock
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self._challenges: OrderedDict[str, deque[float]] = OrderedDict()
        self._banned_until: dict[str, float] = {}
        self._trusted_until: dict[str, float] = {}
        self._told_trust_at: dict[str, float] = {}

    def observe(self, obs: Observation) -> Decision | None:
        """Take one outcome; return what the firewall must do now, if anything."""
        if obs.kind == SUCCESS:
            return self.trust(obs.address, f"registered {obs.user or '?'} on {obs.profile or '?'}")
        if obs.kind not in (FAILURE, CHALLENGE) or self.is_trusted(obs.address) or self.is_banned(obs.address):
            return None
        if obs.kind == FAILURE:
            seen, limit, what = self._failures, self.settings.max_failures, "failed authentications"
        else:
            seen, limit, what = self._challenges, self.settings.max_challenges, "unanswered challenges"
        if self._count(seen, obs.address) < limit:
            return None
        return self._ban(obs.address, f"{limit} {what} in {self.settings.window:.0f}s (last: {obs.request} {obs.user})")

    def trust(self, address: str, reason: str) -> Decision | None:
        """Trust address (again); return a decision when nftables needs to hear about it."""
        now = self.clock()
        self._trusted_until.pop(address, None)  # re-insert: dicts evict in insertion order
        self._trusted_until[address] = now + self.settings.trust_seconds
        self._banned_until.pop(address, None)
        self._failures.pop(address, None)
        self._challenges.pop(address, None)
        told = self._told_trust_at.get(address)
        if told is not None and now - told < self.settings.refresh_seconds:
            return None
        self._told_trust_at.pop(address, None)
        self._told_trust_at[address] = now
        self._bound(self._told_trust_at)
        self._bound(self._trusted_until)
        return Decision(TRUST, address, self.settings.trust_seconds, reason)

    def remember(self, address: str, seconds_left: float) -> None:
        """Take over a trust nftables already holds (after a restart), without telling it again."""
        now = self.clock()
        self._trusted_until[address] = now + seconds_left
        self._told_trust_at[address] = now
        self._bound(self._trusted_until)
        self._bound(self._told_trust_at)

    def forget(self, address: str) -> None:
        """Forget a ban (an admin unbanned it, or nftables could not take it) so it can be decided again."""
        self._banned_until.pop(address, None)
        self._told_trust_at.pop(address, None)

    def is_trusted(self, address: str) -> bool:
        """Return whether address registered successfully within the trust period."""
        return self._trusted_until.get(address, float("-inf")) > self.clock()

    def is_banned(self, address: str) -> bool:
        """Return whether address is banned now."""
        return self._banned_until.get(address, float("-inf")) > self.clock()

    def _count(self, seen: OrderedDict[str, deque[float]], address: str) -> int:
        now = self.clock()
        times = seen.pop(address, None) or deque()
        times.append(now)
        while times and times[0] <= now - self.settings.window:
            times.popleft()
        seen[address] = times  # most recently seen last: the oldest is evicted first
        self._bound(seen)
        return len(times)

    def _ban(self, address: str, reason: str) -> Decision:
        self._banned_until[address] = self.clock() + self.settings.ban_seconds
        self._failures.pop(address, None)
        self._challenges.pop(address, None)
        self._prune_bans()
        return Decision(BAN, address, self.settings.ban_seconds, reason)

    def _prune_bans(self) -> None:
        if len(self._banned_until) > self.settings.max_tracked:
            now = self.clock()
            self._banned_until = {a: t for a, t in self._banned_until.items() if t > now}
            self._bound(self._banned_until)

    def _bound(self, mapping: dict) -> None:
        """Drop the oldest entries beyond max_tracked (insertion order is age order)."""
        while len(mapping) > self.settings.max_tracked:
            del mapping[next(iter(mapping))]
