# SPDX-License-Identifier: GPL-3.0-or-later
"""The toll-fraud guard through the real FreeSWITCH: nobody unauthenticated reaches a trunk, and an
extension gets only its outbound routes and its number of concurrent outside calls."""

from __future__ import annotations

import contextlib
import socket
import time

import pytest

from appliance.store.db import connect
from appliance.store.repo import Store
from tests.harness import scanner
from tests.harness.office import Office
from tests.harness.sipp import Sipp, SippResult

pytestmark = pytest.mark.timeout(300)

ATTEMPTS = 5
OUTSIDE = ("0301234567", "00441234567", "0900123456")  # national, international, private (withheld)


def _finals(result: SippResult) -> list[int]:
    """Return every final (>= 300) response code sipp received, in order."""
    return [
        int(m.first_line[8:11])
        for m in result.messages
        if m.direction == "received" and m.first_line.startswith("SIP/2.0 ") and m.first_line[8:9] in "3456"
    ]


@contextlib.contextmanager
def _extension(office: Office, number: str, **changes):
    """Change an extension and apply it to the running FreeSWITCH; put it back afterwards."""
    with connect(office.dsn, autocommit=True) as conn:
        Store(conn).update_extension(number, **changes)
    office.apply()
    try:
        yield
    finally:
        with connect(office.dsn, autocommit=True) as conn:
            Store(conn).update_extension(number, max_outside_calls=0, outside_routes="")
        office.apply()


def _carrier(office: Office, calls: int = 1) -> Sipp:
    """Start the carrier's sipp and wait until it holds its port: a call bridged before would be refused."""
    carrier = office.carrier(calls)
    deadline = time.monotonic() + 10
    while True:
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
                probe.bind(("127.0.0.1", office.ports["carrier"]))
        except OSError:
            return carrier  # taken: sipp is listening
        assert time.monotonic() < deadline, "the carrier's sipp did not bind its port"
        time.sleep(0.05)


def _usage(office: Office, extension: str) -> int:
    return int(office.esl(f"limit_usage hash appliance_outside {extension}").strip() or 0)


def _wait_usage(office: Office, extension: str, count: int, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while _usage(office, extension) != count:
        assert time.monotonic() < deadline, f"{extension} never had {count} outside calls up"
        time.sleep(0.1)


def test_unauthenticated_invites_to_outside_numbers_are_challenged_every_time(office):
    carrier = _carrier(office)
    for attempt in range(ATTEMPTS):
        number = OUTSIDE[attempt % len(OUTSIDE)]
        result = scanner.invite(office, scanner.SCANNER, number, office.ports["sip"])
        assert _finals(result) == [407], (number, result.explain())
    carrier.stop()
    assert not carrier.wait(timeout=5).received("INVITE"), "an unauthenticated call reached the carrier"


def test_outside_numbers_from_the_carrier_side_go_nowhere_every_time(office):
    carrier = _carrier(office)
    for attempt in range(ATTEMPTS):
        number = OUTSIDE[attempt % len(OUTSIDE)]
        # From the trunk's own address the call lands in public: not one of our numbers.
        result = scanner.invite(office, "127.0.0.1", number, office.ports["external"])
        assert _finals(result) == [404], (number, result.explain())
        # From anywhere else the trunks ACL refuses it before the dialplan.
        result = scanner.invite(office, scanner.SCANNER, number, office.ports["external"])
        assert _finals(result) == [403], (number, result.explain())
    carrier.stop()
    assert not carrier.wait(timeout=5).received("INVITE")


def test_an_extension_over_its_outside_call_limit_is_refused_while_internal_calls_work(office):
    with _extension(office, "101", max_outside_calls=1):
        carrier = _carrier(office)
        held = office.sipp(
            "call.xml", office.ports["sip"], service=OUTSIDE[0], auth=office.account("101"),
            duration_ms=6000, keys={"from_user": "101", "from_name": "101"}, name=f"held-{time.monotonic_ns()}",
        ).start()  # fmt: skip
        try:
            _wait_usage(office, "101", 1)
            second = office.call("101", OUTSIDE[1])
            assert _finals(second) == [407, 603], second.explain()
            # The desk phone's line is extension 101 too: same limit.
            line = office.call("desk101-1", OUTSIDE[1])
            assert _finals(line) == [407, 603], line.explain()
            # Internal calls are not outside calls.
            bob = office.phone("ata1-1")
            internal = office.call("101", "102")
            assert internal.ok, internal.explain()
            assert bob.wait(timeout=30).received("INVITE")
        finally:
            first = held.wait(timeout=30)
        assert first.ok, first.explain()
        assert carrier.wait(timeout=30).received("INVITE")
        _wait_usage(office, "101", 0)
        # The slot came back with the hangup.
        carrier = _carrier(office)
        again = office.call("101", OUTSIDE[1])
        assert again.ok, again.explain()
        assert carrier.wait(timeout=30).received("INVITE")


def test_the_site_default_applies_to_every_extension(office):
    with connect(office.dsn, autocommit=True) as conn:
        Store(conn).update_site(max_outside_calls=1)
    office.apply()
    try:
        carrier = _carrier(office)
        held = office.sipp(
            "call.xml", office.ports["sip"], service=OUTSIDE[0], auth=office.account("102"),
            duration_ms=4000, keys={"from_user": "102", "from_name": "102"}, name=f"held-{time.monotonic_ns()}",
        ).start()  # fmt: skip
        try:
            _wait_usage(office, "102", 1)
            assert _finals(office.call("102", OUTSIDE[1])) == [407, 603]
        finally:
            assert held.wait(timeout=30).ok
        carrier.wait(timeout=30)
    finally:
        with connect(office.dsn, autocommit=True) as conn:
            Store(conn).update_site(max_outside_calls=2)
        office.apply()


def test_an_extension_reaches_only_its_own_outbound_routes(office):
    with _extension(office, "102", outside_routes="national"):
        refused = office.call("102", OUTSIDE[1])  # international
        assert _finals(refused) == [407, 403], refused.explain()
        carrier = _carrier(office)
        allowed = office.call("102", OUTSIDE[0])  # national
        assert allowed.ok, allowed.explain()
        assert carrier.wait(timeout=30).received("INVITE")
    # Back to the site's "*": international works again.
    carrier = _carrier(office)
    assert office.call("102", OUTSIDE[1]).ok
    assert carrier.wait(timeout=30).received("INVITE")
