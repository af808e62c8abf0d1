# SPDX-License-Identifier: GPL-3.0-or-later
"""The SIP guard daemon against a fake FreeSWITCH replaying recorded registration events."""

from __future__ import annotations

import json

import gevent
import gevent.event
import pytest

from appliance.callcontrol.esl import run_forever
from appliance.firewall import FirewallError
from appliance.firewall.guard import Enforcer, GuardClient, SipGuard
from appliance.firewall.nft import Element
from appliance.firewall.tracker import BAN, TRUST, Decision, Settings, Tracker
from tests.harness.fakeesl import FakeEslServer, load_transcript, wait_until

pytestmark = pytest.mark.timeout(30)

PASSWORD = "Qm4rT8vLx2"
REGISTRATIONS = {
    "row_count": 1,
    "rows": [{"reg_user": "ata1-1", "realm": "office.test", "network_ip": "192.168.10.30", "network_port": "5060"}],
}


class FakeNft:
    """Records what the enforcer asks nftables to do; fails for addresses listed in `refuse`."""

    def __init__(self, trusted: list[Element] | None = None, refuse: set[str] | None = None):
        self.puts: list[tuple[str, str, str, int]] = []
        self.trusted = trusted or []
        self.refuse = refuse or set()
        self.refused: list[str] = []

    def put(self, table: str, name: str, address: str, seconds: int) -> None:
        if address in self.refuse:
            self.refused.append(address)
            raise FirewallError("nft refused")
        self.puts.append((table, name, address, seconds))

    def elements(self, table: str, name: str) -> list[Element]:
        return [e for e in self.trusted if (":" in e.address) == name.endswith("_v6")]


@pytest.fixture
def server():
    fake = FakeEslServer(
        load_transcript("inbound-sipguard.txt"),
        password=PASSWORD,
        api_replies={"show registrations as json": json.dumps(REGISTRATIONS)},
    ).start()
    yield fake
    fake.stop()


def _run(server: FakeEslServer, guard: SipGuard, until) -> None:
    stop = gevent.event.Event()
    loop = gevent.spawn(run_forever, lambda: GuardClient("127.0.0.1", server.port, PASSWORD), guard.on_connected, stop)
    try:
        wait_until(until, what="the guard's decisions")
    finally:
        stop.set()
        loop.join(5)


def test_scanner_is_banned_and_the_phones_are_trusted(server):
    nft = FakeNft(trusted=[Element("192.168.10.21", 86400, 80000)])
    guard = SipGuard(Tracker(Settings(max_failures=5)), Enforcer(nft, "appliance"))
    _run(server, guard, lambda: guard.bans == 1)
    assert server.commands[:3] == [
        f"auth {PASSWORD}",
        "event plain CUSTOM sofia::register_failure sofia::pre_register sofia::register",
        "api show registrations as json",
    ]
    assert ("appliance", "sip_banned", "127.0.0.2", 3600) in nft.puts
    assert ("appliance", "sip_trusted", "127.0.0.3", 86400) in nft.puts
    assert ("appliance", "sip_trusted", "192.168.10.30", 86400) in nft.puts, "registered before the guard came"
    assert not [p for p in nft.puts if p[2] == "192.168.10.21"], "already trusted in nftables: not told again"
    assert not [p for p in nft.puts if p[2] == "127.0.0.3" and p[1] == "sip_banned"]
    assert guard.tracker.is_trusted("192.168.10.21")


def test_a_ban_nftables_refused_is_decided_again(server):
    nft = FakeNft(refuse={"127.0.0.2"})
    guard = SipGuard(Tracker(Settings(max_failures=2)), Enforcer(nft, "appliance"))
    # Five failures, two per ban: the second attempt proves the first refusal was forgotten.
    _run(server, guard, lambda: len(nft.refused) == 2)
    assert guard.bans == 0
    assert not guard.tracker.is_banned("127.0.0.2"), "forgotten, so its next failures ban it once nft takes it"


def test_enforcer_puts_each_family_in_its_own_set():
    nft = FakeNft()
    enforcer = Enforcer(nft, "t1")
    assert enforcer.apply(Decision(BAN, "2001:db8::7", 60, "test"))
    assert enforcer.apply(Decision(TRUST, "192.0.2.8", 120, "test"))
    assert nft.puts == [("t1", "sip_banned_v6", "2001:db8::7", 60), ("t1", "sip_trusted", "192.0.2.8", 120)]
