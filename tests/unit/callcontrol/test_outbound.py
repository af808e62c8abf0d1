# SPDX-License-Identifier: GPL-3.0-or-later
"""The outbound-socket server, with a fake FreeSWITCH replaying recorded outbound sessions."""

from __future__ import annotations

import logging
import os
import signal

import gevent
import pytest

from appliance.callcontrol import apps, outbound
from appliance.callcontrol.apps.echo import EchoFlow
from appliance.callcontrol.outbound import FLOWS, Flow, OutboundServer, flow
from appliance.devstack.net import free_port, wait_for_tcp
from tests.harness.fakeesl import FakeOutboundCall, load_transcript

pytestmark = pytest.mark.timeout(30)

# Both recorded from FreeSWITCH 1.10.12 running these flows (tests/tools/record_esl.py outbound).
ECHO = "outbound-echo.txt"
UNKNOWN = "outbound-unknown-flow.txt"


def _execute(app: str, arg: str | None = None) -> str:
    command = f"sendmsg\ncall-command: execute\nexecute-app-name: {app}"
    return command + (f"\nexecute-app-arg: {arg}" if arg else "")


@pytest.fixture
def serve():
    servers = []

    def _serve(flows=None, **kwargs) -> OutboundServer:
        server = OutboundServer("127.0.0.1", 0, flows, **kwargs)
        server.start()
        servers.append(server)
        return server

    yield _serve
    for server in servers:
        server.stop(timeout=1)


def test_echo_flow_runs_from_the_connect_reply_to_the_hangup(serve, caplog):
    caplog.set_level(logging.INFO, logger="appliance.callcontrol.outbound")
    server = serve({"echo": EchoFlow})
    call = FakeOutboundCall(server.port, load_transcript(ECHO)).start()
    assert call.wait() == [
        "connect",
        "myevents",
        "linger 10",
        _execute("answer"),
        _execute("set", "appliance_flow_ran=echo"),
        _execute("echo"),
        "exit",
    ]
    assert call.replay.mismatches == []
    transitions = [r.getMessage().split(": ", 1)[1] for r in caplog.records if r.getMessage().startswith("flow echo")]
    assert transitions == ["new -> answering", "answering -> echoing", "echoing -> done"]
    assert server.handled == 1 and server.active == 0


def test_unknown_flow_is_logged_and_hung_up_with_a_clear_cause(serve, caplog):
    server = serve({"echo": EchoFlow})
    call = FakeOutboundCall(server.port, load_transcript(UNKNOWN)).start()
    commands = call.wait()
    assert commands[3:] == [
        _execute("set", "appliance_flow_error=unknown flow fax2email"),
        _execute("hangup", "SERVICE_NOT_IMPLEMENTED"),
        "exit",
    ]
    assert "unknown flow 'fax2email' (known: echo)" in caplog.text


def test_a_crashing_flow_hangs_up_instead_of_leaving_the_caller_in_silence(serve, caplog):
    class Broken(Flow):
        def run(self) -> None:
            self.enter("thinking")
            raise RuntimeError("bug in the flow")

    server = serve({"echo": Broken})
    commands = FakeOutboundCall(server.port, load_transcript(ECHO)).start().wait()
    assert commands[3:] == [_execute("hangup", "NORMAL_TEMPORARY_FAILURE"), "exit"]
    assert "bug in the flow" in caplog.text


def test_calls_over_the_limit_are_refused_so_the_dialplan_falls_back(serve):
    server = serve({"echo": EchoFlow}, max_calls=0)
    call = FakeOutboundCall(server.port, load_transcript(ECHO)).start()
    assert call.wait() == []


def test_flows_register_in_one_line_and_names_stay_unique():
    apps.load_all()
    assert FLOWS["echo"] is EchoFlow and EchoFlow.name == "echo"

    @flow("test-only-flow")
    class Probe(Flow):
        def run(self) -> None:
            pass

    try:
        assert FLOWS["test-only-flow"] is Probe
        with pytest.raises(ValueError, match="already registered"):
            flow("test-only-flow")(type("Other", (Flow,), {}))
    finally:
        del FLOWS["test-only-flow"]


def test_main_serves_the_registered_flows_on_loopback_and_stops_on_sigterm():
    port = free_port()
    daemon = gevent.spawn(outbound.main, ["--port", str(port)])
    try:
        gevent.get_hub().threadpool.apply(wait_for_tcp, (port,), {"timeout": 5})
        commands = FakeOutboundCall(port, load_transcript(ECHO)).start().wait()
        assert _execute("set", "appliance_flow_ran=echo") in commands
        os.kill(os.getpid(), signal.SIGTERM)
        daemon.join(5)
    finally:
        daemon.kill()
    assert daemon.dead and daemon.value == 0
