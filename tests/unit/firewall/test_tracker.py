# SPDX-License-Identifier: GPL-3.0-or-later
"""Ban and trust decisions, with the clock in the test's hand and the recorded FreeSWITCH events."""

from __future__ import annotations

from appliance.firewall.events import CHALLENGE, FAILURE, SUCCESS, Observation, observe
from appliance.firewall.tracker import BAN, TRUST, Settings, Tracker
from tests.harness.fakeesl import events_in, load_transcript

SCANNER = "203.0.113.66"
PHONE = "192.168.10.21"


class Clock:
    """A clock that moves only when told to."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _tracker(**settings) -> tuple[Tracker, Clock]:
    clock = Clock()
    return Tracker(Settings(**({"max_failures": 5, "window": 60.0} | settings)), clock), clock


def _fail(address: str = SCANNER) -> Observation:
    return Observation(FAILURE, address, user="102")


def test_the_nth_failure_in_the_window_bans_once():
    tracker, clock = _tracker()
    decisions = []
    for _ in range(7):
        decisions.append(tracker.observe(_fail()))
        clock.now += 1
    assert decisions[:4] == [None] * 4
    assert (decisions[4].action, decisions[4].address, decisions[4].seconds) == (BAN, SCANNER, 3600)
    assert "5 failed authentications in 60s" in decisions[4].reason
    assert decisions[5:] == [None, None], "a banned address is not banned again"
    assert tracker.is_banned(SCANNER)


def test_failures_older_than_the_window_do_not_count():
    tracker, clock = _tracker()
    for _ in range(20):
        assert tracker.observe(_fail()) is None
        clock.now += 15  # four per minute: a phone retrying with a stale password, never five


def test_a_ban_ends_and_counting_starts_again():
    tracker, clock = _tracker(ban_seconds=600)
    for _ in range(5):
        tracker.observe(_fail())
    clock.now += 601
    assert not tracker.is_banned(SCANNER)
    assert [tracker.observe(_fail()) for _ in range(4)] == [None] * 4
    assert tracker.observe(_fail()).action == BAN


def test_a_registered_phone_is_trusted_and_never_banned():
    tracker, clock = _tracker()
    decision = tracker.observe(Observation(SUCCESS, PHONE, user="101", profile="internal"))
    assert (decision.action, decision.address, decision.seconds) == (TRUST, PHONE, 86400)
    for _ in range(1000):  # a second line with a stale password, or a scanner behind the same NAT
        assert tracker.observe(_fail(PHONE)) is None
        assert tracker.observe(Observation(CHALLENGE, PHONE)) is None
        clock.now += 0.01
    assert tracker.is_trusted(PHONE) and not tracker.is_banned(PHONE)


def test_trust_is_told_to_nftables_again_only_now_and_then():
    tracker, clock = _tracker(refresh_seconds=600)
    success = Observation(SUCCESS, PHONE)
    assert tracker.observe(success).action == TRUST
    clock.now += 300
    assert tracker.observe(success) is None
    clock.now += 301
    assert tracker.observe(success).action == TRUST


def test_trust_lapses_without_registrations():
    tracker, clock = _tracker(trust_seconds=3600)
    tracker.observe(Observation(SUCCESS, PHONE))
    clock.now += 3601
    assert not tracker.is_trusted(PHONE)
    assert [tracker.observe(_fail(PHONE)) for _ in range(5)][-1].action == BAN


def test_success_clears_earlier_failures_and_a_ban():
    tracker, _ = _tracker()
    for _ in range(5):
        tracker.observe(_fail(PHONE))
    assert tracker.is_banned(PHONE)
    tracker.observe(Observation(SUCCESS, PHONE))  # an admin unbanned it and it registered
    assert not tracker.is_banned(PHONE) and tracker.is_trusted(PHONE)


def test_unanswered_challenges_have_their_own_higher_threshold():
    tracker, _ = _tracker(max_challenges=30)
    challenges = [tracker.observe(Observation(CHALLENGE, SCANNER, request="INVITE")) for _ in range(30)]
    assert challenges[:29] == [None] * 29 and challenges[29].action == BAN
    assert "30 unanswered challenges" in challenges[29].reason


def test_forget_lets_an_address_be_decided_again():
    tracker, _ = _tracker()
    for _ in range(5):
        tracker.observe(_fail())
    tracker.forget(SCANNER)
    assert not tracker.is_banned(SCANNER)
    assert [tracker.observe(_fail()) for _ in range(5)][-1].action == BAN


def test_remembered_trust_is_not_told_again():
    tracker, _ = _tracker()
    tracker.remember(PHONE, 5000)
    assert tracker.is_trusted(PHONE)
    assert tracker.observe(Observation(SUCCESS, PHONE)) is None


def test_memory_is_bounded_under_a_spoofed_source_flood():
    tracker, clock = _tracker(max_tracked=100)
    for i in range(5000):
        tracker.observe(_fail(f"10.{i // 65536}.{(i // 256) % 256}.{i % 256}"))
        clock.now += 0.001
    assert len(tracker._failures) <= 100


def test_recorded_events_ban_the_scanner_and_protect_the_phone():
    # tests/fixtures/esl/inbound-sipguard.txt: the phone 127.0.0.3 registers, the scanner 127.0.0.2 fails
    # four REGISTERs and an INVITE, the phone fails three REGISTERs for another line, then registers.
    tracker, clock = _tracker(max_failures=5)
    decisions = []
    for headers in events_in(load_transcript("inbound-sipguard.txt")):
        obs = observe(headers)
        if obs is not None and (decision := tracker.observe(obs)):
            decisions.append((decision.action, decision.address))
        clock.now += 0.5
    assert decisions == [(TRUST, "127.0.0.3"), (BAN, "127.0.0.2")]
    assert tracker.is_trusted("127.0.0.3") and not tracker.is_banned("127.0.0.3")
