# SPDX-License-Identifier: GPL-3.0-or-later
"""The queue announcer's bookkeeping: who is waiting, when each hears its position, and which position."""

from __future__ import annotations

from appliance.callcontrol.announcer import QueueAnnouncer

HEADER = "queue|instance_id|uuid|session_uuid|cid_number|cid_name|system_epoch|joined_epoch|state|score"


class FakeEsl:
    """Answers the API commands the announcer sends, from a members table the test sets."""

    def __init__(self):
        self.members: list[tuple[str, str, str]] = []  # (queue, session_uuid, state), in serving order
        self.variables: dict[str, str] = {}
        self.sent: list[str] = []
        self.gone: set[str] = set()

    def api(self, cmd: str, timeout: float | None = None) -> str:
        self.sent.append(cmd)
        if cmd.startswith("callcenter_config queue list members"):
            queue = cmd.split()[-1] if len(cmd.split()) == 5 else None
            rows = [m for m in self.members if queue is None or m[0] == queue]
            body = [f"{q}|i|m-{s}|{s}|1|n|0|0|{state}|0" for q, s, state in rows]
            return "\n".join([HEADER, *body, "+OK"]) + "\n"
        if cmd.startswith("uuid_getvar"):
            return self.variables.get(cmd.split()[1], "_undef_")
        if cmd.startswith("uuid_broadcast"):
            return "-ERR invalid uuid\n" if cmd.split()[1] in self.gone else "+OK Message sent\n"
        return "+OK\n"

    def broadcasts(self) -> list[str]:
        return [c for c in self.sent if c.startswith("uuid_broadcast")]


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _join(announcer: QueueAnnouncer, session: str, queue: str = "help", every: str = "10") -> None:
    announcer.on_event(
        {
            "Event-Subclass": "callcenter::info",
            "CC-Action": "member-queue-start",
            "CC-Queue": queue,
            "CC-Member-Session-UUID": session,
            "variable_appliance_queue_announce": every,
        }
    )


def test_each_waiting_caller_hears_its_position_every_interval():
    clock, esl = Clock(), FakeEsl()
    announcer = QueueAnnouncer(clock)
    _join(announcer, "a")
    _join(announcer, "b")
    esl.members = [("help", "a", "Waiting"), ("help", "b", "Waiting")]
    clock.now += 9.9
    assert announcer.tick(esl) == 0 and esl.broadcasts() == []
    clock.now += 0.1
    assert announcer.tick(esl) == 2
    assert esl.broadcasts() == [
        "uuid_broadcast a 'speak::flite|kal|You are caller number 1 in the queue.' aleg",
        "uuid_broadcast b 'speak::flite|kal|You are caller number 2 in the queue.' aleg",
    ]
    assert "uuid_setvar b appliance_queue_position 2" in esl.sent
    clock.now += 5
    assert announcer.tick(esl) == 0  # the next round is due 10 s after the last
    esl.members = [("help", "b", "Waiting")]  # a was answered: b moves up
    clock.now += 5
    assert announcer.tick(esl) == 1
    assert esl.broadcasts()[-1] == "uuid_broadcast b 'speak::flite|kal|You are caller number 1 in the queue.' aleg"
    assert "a" not in announcer.waiting


def test_callers_with_an_agent_are_skipped_and_only_the_own_queue_counts():
    clock, esl = Clock(), FakeEsl()
    announcer = QueueAnnouncer(clock)
    _join(announcer, "c", queue="sales")
    esl.members = [("sales", "x", "Answered"), ("help", "y", "Waiting"), ("sales", "c", "Trying")]
    clock.now += 10
    assert announcer.tick(esl) == 1
    assert "caller number 1 in" in esl.broadcasts()[0]


def test_no_interval_means_no_announcements_and_leaving_stops_them():
    clock, esl = Clock(), FakeEsl()
    announcer = QueueAnnouncer(clock)
    _join(announcer, "quiet", every="0")
    _join(announcer, "none", every="")
    _join(announcer, "left")
    announcer.on_event({"CC-Action": "bridge-agent-start", "CC-Queue": "help", "CC-Member-Session-UUID": "left"})
    esl.members = [("help", s, "Waiting") for s in ("quiet", "none", "left")]
    clock.now += 60
    assert announcer.tick(esl) == 0 and esl.broadcasts() == []


def test_a_caller_that_hung_up_unseen_is_forgotten():
    clock, esl = Clock(), FakeEsl()
    announcer = QueueAnnouncer(clock)
    _join(announcer, "gone")
    _join(announcer, "vanished")
    esl.members = [("help", "gone", "Waiting")]
    esl.gone = {"gone"}
    clock.now += 10
    assert announcer.tick(esl) == 0
    assert announcer.waiting == {}


def test_resync_picks_up_callers_already_waiting():
    clock, esl = Clock(), FakeEsl()
    announcer = QueueAnnouncer(clock)
    esl.members = [("help", "early", "Waiting"), ("help", "quiet", "Waiting"), ("help", "busy", "Answered")]
    esl.variables = {"early": "15", "busy": "15"}
    announcer.resync(esl)
    assert set(announcer.waiting) == {"early"}
    assert announcer.waiting["early"].next_at == clock.now + 15


def test_custom_subscriptions_take_only_event_subclass_names():
    import pytest

    from appliance.callcontrol.esl import EslClient

    client = EslClient("127.0.0.1", 1, "pw")
    for bad in ([], ["CHANNEL_ANSWER"], ["callcenter::info\n"], ["callcenter::info\nevent plain ALL"]):
        with pytest.raises(ValueError):
            client.subscribe_custom(bad)
