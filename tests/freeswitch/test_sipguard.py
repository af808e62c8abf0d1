# SPDX-License-Identifier: GPL-3.0-or-later
"""The SIP guard daemon on a real FreeSWITCH: a scanner's REGISTER flood gets it banned, a phone that
registered keeps registering and calling throughout and is never banned.

FreeSWITCH runs on loopback as in the other live tests; the firewall table the daemon writes to lives
in a network namespace this test makes (unique table name, deleted afterwards), so the host's own
nftables are never touched. tests/network/test_firewall.py shows what the table does to packets.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from appliance.firewall.nft import Nft
from tests.harness import scanner
from tests.harness.office import Office

pytestmark = [pytest.mark.network, pytest.mark.timeout(300)]

WRONG = "Wrong-Password-0123456789"
FLOOD = 200  # REGISTERs...
RATE = 50  # ...per second: four seconds of flood
MAX_FAILURES = 10


def _missing() -> str | None:
    if os.geteuid() != 0:
        return "not root: the SIP guard test needs a network namespace for its nftables table"
    for tool, package in (("ip", "iproute2"), ("nft", "nftables")):
        if shutil.which(tool) is None:
            return f"{tool} not found (apt-get install {package}): SIP guard test skipped"
    return None


class Guarded:
    """A namespace holding the firewall table, and the sipguard daemon writing into it."""

    def __init__(self, office: Office, workdir: Path):
        tag = secrets.token_hex(3)
        self.office = office
        self.ns = f"fca-{tag}-guard"
        self.table = f"fca_{tag}"
        self.dir = workdir
        self.nft = Nft(netns=self.ns)
        self.daemon: subprocess.Popen | None = None

    def start(self) -> Guarded:
        subprocess.run(["ip", "netns", "add", self.ns], check=True, timeout=30)
        (self.dir / "none.yml").write_text("{}\n")
        (self.dir / "firewall.yml").write_text(f"table: {self.table}\nlan_interfaces: [lan0]\n")
        self.appliance("firewall", "apply", "--state", str(self.dir / "firewall.yml"), "--no-db", "--no-save")
        return self.start_daemon(MAX_FAILURES)

    def start_daemon(self, max_failures: int) -> Guarded:
        """Start `appliance daemon sipguard` on the office's event socket, writing into the test table."""
        fs = self.office.cfg["freeswitch"]
        connected = self.log().count("connected to")
        self.daemon = subprocess.Popen(
            [sys.executable, "-m", "appliance", "daemon", "sipguard", "--esl-port", str(fs["esl_port"]),
             "--esl-password-file", fs["esl_password_file"], "--table", self.table, "--netns", self.ns,
             "--max-failures", str(max_failures), "--window", "60", "--log-level", "DEBUG"],
            stdout=(self.dir / "sipguard.log").open("ab"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        self.wait(lambda: self.log().count("connected to") > connected, "the daemon connected to FreeSWITCH")
        return self

    def stop_daemon(self) -> None:
        if self.daemon and self.daemon.poll() is None:
            self.daemon.terminate()
            try:
                self.daemon.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.daemon.kill()
                self.daemon.wait()

    def close(self) -> None:
        self.stop_daemon()
        subprocess.run(["ip", "netns", "del", self.ns], check=False, timeout=30)

    def appliance(self, *args: str) -> str:
        """Run `appliance ARGS` inside the namespace, where its nft sees the test table."""
        proc = subprocess.run(
            ["ip", "netns", "exec", self.ns, sys.executable, "-m", "appliance", "--config", str(self.dir / "none.yml"),
             *args], capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    def members(self, name: str) -> set[str]:
        return {e.address for e in self.nft.elements(self.table, name)}

    def log(self) -> str:
        path = self.dir / "sipguard.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def wait(self, predicate, what: str, timeout: float = 15) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            assert time.monotonic() < deadline, f"{what} not within {timeout}s:\n{self.log()[-3000:]}"
            time.sleep(0.1)


@pytest.fixture
def guarded(office, tmp_path):
    reason = _missing()
    if reason:
        pytest.skip(reason)
    made = Guarded(office, tmp_path)
    try:
        yield made.start()
    finally:
        made.close()


def test_a_register_flood_is_banned_while_a_registered_phone_keeps_working(office, guarded):
    user, password = office.account("101")
    first = scanner.register(office, scanner.PHONE, user, password)
    assert first.received("SIP/2.0 200"), first.explain()
    guarded.wait(lambda: scanner.PHONE in guarded.members("sip_trusted"), "the phone trusted")

    flood = scanner.flood(office, scanner.SCANNER, "102", WRONG, count=FLOOD, rate=RATE)
    rounds = 0
    try:
        deadline = time.monotonic() + 60
        while flood.proc.poll() is None and time.monotonic() < deadline:
            rounds += 1
            again = scanner.register(office, scanner.PHONE, user, password)
            assert again.received("SIP/2.0 200"), again.explain()
            call = scanner.invite(office, scanner.PHONE, "*43", office.ports["sip"], auth=(user, password))
            assert call.ok, call.explain()
            # The same phone's second line still has an old password: it fails, and that must not ban it.
            stale = scanner.register(office, scanner.PHONE, "102", WRONG)
            assert stale.received("SIP/2.0 403"), stale.explain()
    finally:
        result = flood.wait(timeout=60)
    assert rounds >= 2, "the phone should have worked during the flood, not only after it"
    assert len(result.received("SIP/2.0 403")) >= FLOOD // 2, "FreeSWITCH answered the flood (nothing on lo is dropped)"

    guarded.wait(lambda: scanner.SCANNER in guarded.members("sip_banned"), "the scanner banned")
    banned = {e.address: e for e in guarded.nft.elements(guarded.table, "sip_banned")}
    assert set(banned) == {scanner.SCANNER}
    assert 3000 < banned[scanner.SCANNER].expires <= 3600, "bans lift by themselves after an hour"
    assert scanner.PHONE in guarded.members("sip_trusted")
    assert guarded.log().count(f"banned {scanner.SCANNER}") == 1, "banned once, however long the flood went on"

    # After the flood the phone still registers and calls.
    assert scanner.register(office, scanner.PHONE, user, password).received("SIP/2.0 200")
    assert scanner.invite(office, scanner.PHONE, "*43", office.ports["sip"], auth=(user, password)).ok

    # An admin lets the address back in.
    guarded.appliance("firewall", "unban", scanner.SCANNER, "--table", guarded.table)
    assert scanner.SCANNER not in guarded.members("sip_banned")


def test_trust_survives_a_restart_of_the_daemon(office, guarded):
    user, password = office.account("101")
    assert scanner.register(office, scanner.PHONE, user, password).received("SIP/2.0 200")
    guarded.wait(lambda: scanner.PHONE in guarded.members("sip_trusted"), "the phone trusted")
    guarded.stop_daemon()
    guarded.start_daemon(max_failures=3)
    for _ in range(5):
        assert scanner.register(office, scanner.PHONE, "102", WRONG).received("SIP/2.0 403")
    # Events arrive in order: once the scanner's third failure banned it, the phone's five were counted.
    for _ in range(3):
        assert scanner.register(office, scanner.SCANNER, "102", WRONG).received("SIP/2.0 403")
    guarded.wait(lambda: scanner.SCANNER in guarded.members("sip_banned"), "the scanner banned")
    assert scanner.PHONE not in guarded.members("sip_banned")
