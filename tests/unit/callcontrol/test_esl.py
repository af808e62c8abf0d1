# SPDX-License-Identifier: GPL-3.0-or-later
"""EslClient and the reconnect loop against a fake FreeSWITCH replaying a transcript on 127.0.0.1."""

from __future__ import annotations

import logging
import time

import gevent
import gevent.event
import pytest
from gevent.server import StreamServer

from appliance.callcontrol.esl import EslAuthError, EslClient, EslError, read_password, run_forever
from appliance.devstack.net import free_port
from tests.harness.fakeesl import FakeEslServer, load_transcript, parse_frames, wait_until

pytestmark = pytest.mark.timeout(30)

TRANSCRIPT = "inbound-hangup-complete.txt"  # recorded from FreeSWITCH 1.10.12
SHUTDOWN = "inbound-shutdown.txt"  # what FreeSWITCH sends a listener when it shuts down
PASSWORD = "Zq8vN3xLp0"


@pytest.fixture
def server():
    fake = FakeEslServer(load_transcript(TRANSCRIPT), password=PASSWORD, api_replies={"reloadxml": "+OK [Success]\n"})
    fake.start()
    yield fake
    fake.stop()


def _client(port: int, password: str = PASSWORD) -> EslClient:
    return EslClient("127.0.0.1", port, password, timeout=2)


def test_subscribed_events_reach_the_handler_url_decoded(server):
    seen = []
    client = _client(server.port)
    client.connect()
    client.on("CHANNEL_HANGUP_COMPLETE", seen.append)
    client.subscribe(["CHANNEL_HANGUP_COMPLETE"])
    wait_until(lambda: len(seen) == 8, what="eight hangup events")
    assert client.connected
    assert server.commands == [f"auth {PASSWORD}", "event plain CHANNEL_HANGUP_COMPLETE"]
    assert seen[4]["Caller-Caller-ID-Name"] == "Zoë Müller & Co"
    client.close()
    assert server.commands[-1] == "exit"
    assert not client.connected
    assert server.mismatches == []


def test_api_returns_the_reply_body(server):
    client = _client(server.port)
    client.connect()
    assert client.api("reloadxml") == "+OK [Success]\n"
    assert client.api("no_such_command").startswith("-ERR no_such_command Command not found")
    client.close()


def test_wrong_password_is_an_auth_error(server):
    with pytest.raises(EslAuthError):
        _client(server.port, "wrong").connect()


def test_nothing_listening_is_a_prompt_esl_error():
    started = time.monotonic()
    with pytest.raises(EslError, match="cannot connect"):
        _client(free_port()).connect()
    assert time.monotonic() - started < 1


def test_subscribe_rejects_names_that_are_not_plain_events(server):
    client = _client(server.port)
    client.connect()
    with pytest.raises(ValueError):
        client.subscribe(["CHANNEL_ANSWER; api shutdown"])
    client.close()


def test_events_read_just_before_freeswitch_shuts_down_are_still_handled():
    # The hangups, then FreeSWITCH's recorded last words: SHUTDOWN and the disconnect notice.
    last_words = parse_frames(load_transcript(SHUTDOWN))[3:]
    assert [f.content_type for f in last_words] == ["text/event-plain", "text/disconnect-notice"]
    fake = FakeEslServer(load_transcript(TRANSCRIPT) + b"".join(f.raw for f in last_words), password=PASSWORD)
    fake.start()
    seen = []
    try:
        client = _client(fake.port)
        client.connect()
        client.on("CHANNEL_HANGUP_COMPLETE", seen.append)
        client.on("SHUTDOWN", seen.append)
        client.subscribe(["CHANNEL_HANGUP_COMPLETE", "SHUTDOWN"])
        assert client.disconnected.wait(3)
        wait_until(lambda: len(seen) == 9, what="all nine events handled after the close")
        assert seen[-1]["Event-Info"] == "System Shutting Down"
    finally:
        fake.stop()


def test_peer_dying_mid_frame_ends_the_connection_instead_of_spinning():
    def half_frame(sock, _address):
        sock.sendall(b"Content-Type: auth/request\n\n")
        sock.recv(1024)
        sock.sendall(b"Content-Type: command/reply\nReply-Text: +OK accepted\n\n")
        sock.sendall(b"Content-Length: 500\nContent-Type: text/event-plain\n\nEvent-Name: CHANNEL_HANG")
        sock.close()

    raw = StreamServer(("127.0.0.1", 0), half_frame)
    raw.start()
    try:
        client = _client(raw.server_port)
        client.connect()
        assert client.disconnected.wait(3)
        with pytest.raises(EslError):
            client.api("status")
        client.close()
    finally:
        raw.stop()


def test_run_forever_reconnects_after_freeswitch_restarts(server, caplog):
    caplog.set_level(logging.INFO, logger="appliance.callcontrol.esl")
    stop = gevent.event.Event()
    connected = []

    def on_connected(client: EslClient) -> None:
        connected.append(client)
        client.subscribe(["HEARTBEAT"])

    loop = gevent.spawn(run_forever, lambda: _client(server.port), on_connected, stop)
    try:
        wait_until(lambda: len(connected) == 1, what="first connection")
        server.stop()  # FreeSWITCH restarts: clients dropped, nothing listening for a while
        gevent.sleep(0.8)
        assert not connected[0].connected
        restarted = time.monotonic()
        server.start()
        wait_until(lambda: len(connected) == 2, what="reconnection")
        # backoff 0.2 s doubling to at most 2 s: back within one backoff step of the restart
        assert time.monotonic() - restarted < 2.5
        assert connected[1].connected
    finally:
        stop.set()
        loop.join(5)
    assert loop.dead
    messages = [r.getMessage() for r in caplog.records]
    assert sum("lost" in m for m in messages) == 1
    assert sum(m.startswith("reconnected to") for m in messages) == 1
    assert not any("unavailable" in m for m in messages)  # retries while down are not logged again
    assert server.connections == 2


def test_run_forever_logs_an_unreachable_freeswitch_once_and_stops_on_request(caplog):
    caplog.set_level(logging.DEBUG, logger="appliance.callcontrol.esl")
    stop = gevent.event.Event()
    port = free_port()
    loop = gevent.spawn(run_forever, lambda: _client(port), lambda c: None, stop, max_backoff=0.1)
    gevent.sleep(0.6)
    stop.set()
    loop.join(2)
    assert loop.dead
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "unavailable" in warnings[0].getMessage()
    assert sum("still cannot reach" in r.getMessage() for r in caplog.records) >= 2


def test_read_password(tmp_path):
    (tmp_path / "pw").write_text("Zq8vN3xLp0\n")
    assert read_password(tmp_path / "pw") == "Zq8vN3xLp0"
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(ValueError):
        read_password(tmp_path / "empty")
