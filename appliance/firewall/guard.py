# SPDX-License-Identifier: GPL-3.0-or-later
"""The SIP guard daemon: FreeSWITCH's registration events in, nftables bans and trust out.

It subscribes over the event socket to sofia's registration events (`events`), lets the `tracker`
decide, and writes the decisions into the firewall's `sip_banned`/`sip_trusted` sets with a timeout,
so a ban lifts by itself even if this daemon is gone. FreeSWITCH never waits for it: without the
daemon nothing is banned any more, and the nftables rate limits still hold.
"""

from __future__ import annotations

import argparse
import json
import logging
import re

import gevent
import gevent.event

from appliance.callcontrol.esl import EslClient, EslError, read_password, run_forever
from appliance.firewall import FirewallError
from appliance.firewall.events import KINDS, observe
from appliance.firewall.nft import Element, Nft, family
from appliance.firewall.render import BANNED, TRUSTED
from appliance.firewall.tracker import BAN, Decision, Settings, Tracker
from appliance.lifecycle import configure_logging, stop_on_signals

log = logging.getLogger(__name__)

# What the daemon subscribes to (and what tests/tools/record_sipguard.py records).
EVENTS = ["CUSTOM", *KINDS]
_SUBCLASS_RE = re.compile(r"^[a-z][a-z0-9_]*::[a-z][a-z0-9_]*$")


class GuardClient(EslClient):
    """The event-socket client, able to subscribe to CUSTOM subclasses such as sofia::register."""

    def subscribe_custom(self, subclasses: list[str]) -> None:
        """Ask for CUSTOM events of these subclasses, in plain format."""
        bad = [name for name in subclasses if not _SUBCLASS_RE.match(name)]
        if bad or not subclasses:
            raise ValueError(f"not event subclasses: {bad or subclasses}")
        reply = self._send("event plain CUSTOM " + " ".join(subclasses), None).headers.get("Reply-Text", "")
        if not reply.startswith("+OK"):
            raise EslError(f"subscribing to {subclasses} failed: {reply}")


class Enforcer:
    """Write decisions into the firewall's sets."""

    def __init__(self, nft: Nft, table: str):
        self.nft = nft
        self.table = table

    def apply(self, decision: Decision) -> bool:
        """Put the address in its set with the decision's timeout; return whether nftables took it."""
        sets = BANNED if decision.action == BAN else TRUSTED
        try:
            self.nft.put(self.table, sets[family(decision.address)], decision.address, decision.seconds)
        except FirewallError as exc:
            log.error("could not %s %s in table %s: %s", decision.action, decision.address, self.table, exc)
            return False
        return True

    def trusted(self) -> list[Element]:
        """Return what the firewall trusts now (kept across a restart of this daemon)."""
        try:
            return [e for name in TRUSTED.values() for e in self.nft.elements(self.table, name)]
        except FirewallError as exc:
            log.warning("cannot read the trusted sets of table %s: %s", self.table, exc)
            return []


class SipGuard:
    """One method per event; the tracker decides, the enforcer acts."""

    def __init__(self, tracker: Tracker, enforcer: Enforcer):
        self.tracker = tracker
        self.enforcer = enforcer
        self.bans = 0
        self.trusts = 0

    def on_connected(self, client: GuardClient) -> None:
        """Register the handlers, subscribe, then trust whoever is registered right now."""
        for subclass in KINDS:
            client.on(subclass, self.on_event)
        client.subscribe_custom(list(KINDS))
        for element in self.enforcer.trusted():
            self.tracker.remember(element.address, element.expires)
        for address in registered_addresses(client):
            if decision := self.tracker.trust(address, "registered before the guard connected"):
                self._act(decision)

    def on_event(self, headers: dict[str, str]) -> None:
        """Count one registration outcome and act on what the tracker decides."""
        obs = observe(headers)
        if obs is None:
            return
        decision = self.tracker.observe(obs)
        if decision is not None:
            self._act(decision)

    def _act(self, decision: Decision) -> None:
        if not self.enforcer.apply(decision):
            self.tracker.forget(decision.address)  # decide again on its next failure
            return
        if decision.action == BAN:
            self.bans += 1
            log.warning("banned %s for %ss: %s", decision.address, decision.seconds, decision.reason)
        else:
            self.trusts += 1
            log.info("trusted %s for %ss: %s", decision.address, decision.seconds, decision.reason)


def registered_addresses(client: EslClient) -> list[str]:
    """Return the source addresses of the current registrations (`show registrations as json`)."""
    try:
        reply = client.api("show registrations as json")
        rows = json.loads(reply).get("rows") or []
    except (EslError, ValueError) as exc:
        log.warning("cannot list registrations: %s", exc)
        return []
    found = []
    for row in rows:
        obs = observe({"Event-Subclass": "sofia::register", "network-ip": str(row.get("network_ip", ""))})
        if obs is not None:
            found.append(obs.address)
    return found


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Read the command line."""
    defaults = Settings()
    p = argparse.ArgumentParser(prog="appliance daemon sipguard", description=__doc__.splitlines()[0])
    p.add_argument("--esl-host", default="127.0.0.1")
    p.add_argument("--esl-port", type=int, default=8021)
    p.add_argument("--esl-password-file", default="/var/lib/appliance/secrets/esl_password")
    p.add_argument("--table", default="appliance", help="the firewall's nftables table (inet family)")
    p.add_argument("--netns", help="run nft in this network namespace (tests)")
    p.add_argument("--max-failures", type=int, default=defaults.max_failures, help="failed logins before a ban")
    p.add_argument("--max-challenges", type=int, default=defaults.max_challenges, help="unanswered challenges")
    p.add_argument("--window", type=float, default=defaults.window, help="seconds the counts look back")
    p.add_argument("--ban-seconds", type=int, default=defaults.ban_seconds)
    p.add_argument("--trust-seconds", type=int, default=defaults.trust_seconds)
    p.add_argument("--log-level", default="INFO")
    return p.parse_args(argv)


def serve(args: argparse.Namespace, stop: gevent.event.Event) -> SipGuard:
    """Run the guard until stop is set."""
    settings = Settings(
        max_failures=args.max_failures,
        max_challenges=args.max_challenges,
        window=args.window,
        ban_seconds=args.ban_seconds,
        trust_seconds=args.trust_seconds,
    )
    guard = SipGuard(Tracker(settings), Enforcer(Nft(netns=args.netns), args.table))
    password = read_password(args.esl_password_file)
    log.info(
        "guarding SIP from %s:%s into table inet %s: ban after %d failures in %.0fs",
        args.esl_host, args.esl_port, args.table, settings.max_failures, settings.window,
    )  # fmt: skip
    run_forever(lambda: GuardClient(args.esl_host, args.esl_port, password), guard.on_connected, stop)
    return guard


def main(argv: list[str] | None = None) -> int:
    """Entry point of `appliance daemon sipguard`."""
    args = parse_args(argv)
    configure_logging(args.log_level)
    with stop_on_signals() as stop:
        guard = serve(args, stop)
    log.info("stopped; %d bans and %d trusts this run", guard.bans, guard.trusts)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
