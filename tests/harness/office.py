# SPDX-License-Identifier: GPL-3.0-or-later
"""A whole office on this host: PostgreSQL, FreeSWITCH on the rendered configuration, the daemons,
and sipp playing desk phones, an FXS gateway and the carrier. Everything binds to 127.0.0.1."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from appliance.devstack.net import free_port
from appliance.devstack.stack import Stack
from appliance.store.db import connect
from appliance.store.repo import Store
from tests.harness.sipp import Sipp, SippResult

COMPANY = "+4930555000"
DID = "+4930555100"
CARRIER_CALLER = "+4917612345678"


class Office(Stack):
    """An office on the appliance, with sipp as its phones and carrier; `close()` stops everything."""

    def __init__(self, workdir: Path, dsn: str):
        super().__init__(workdir, dsn, ports={"carrier": free_port()})
        self.site |= {"domain": "office.test", "company_number": COMPANY, "codecs": "PCMU,PCMA", "ring_seconds": 10}
        self.sipps: list[Sipp] = []
        self._phone_ports: dict[str, int] = {}
        self._accounts: dict[str, str] = {}

    # -- set-up ------------------------------------------------------------------------------------
    def populate(self) -> None:
        """Create the office: three extensions, a desk phone, a two-port ATA, a carrier, a DID, routes."""
        with connect(self.dsn, autocommit=True) as conn:
            store = Store(conn)
            store.update_site(**self.site)
            store.add_extension("101", "Alice", caller_id_number="+4930555101")
            store.add_extension("102", "Bob")
            store.add_extension("103", "Carol", outbound_allowed=False)
            store.add_device("desk101", "sip_phone", [{"port": 1, "extension": "101"}])
            store.add_device("ata1", "fxs_gateway", [{"port": 1, "extension": "102"}, {"port": 2, "extension": "103"}])
            store.add_trunk("carrier", "127.0.0.1", port=self.ports["carrier"])
            store.add_number(DID, "101", tracking_tag="spring-flyer", trunk="carrier")
            store.add_route("national", ["0[1-8]XXXXX."], ["carrier"], strip_digits=1, prepend="+49")
            store.add_route("international", ["00."], ["carrier"], presentation="company")
            store.add_route("private", ["09X."], ["carrier"], presentation="withheld")

    def start(self) -> Office:
        self.account("101")  # phones keep their credentials: cache them while PostgreSQL is up
        super().start()
        return self

    def close(self) -> None:
        for sipp in self.sipps:
            sipp.stop()
        super().close()

    # -- driving -----------------------------------------------------------------------------------
    def registered_users(self, expected: set[str], timeout: float = 5) -> set[str]:
        """Return the users FreeSWITCH lists as registered, waiting until `expected` are among them."""
        deadline = time.monotonic() + timeout
        users: set[str] = set()
        while time.monotonic() < deadline:
            rows = self.esl("show registrations").splitlines()[1:]
            users = {row.split(",", 1)[0] for row in rows if "," in row}
            if expected <= users:
                break
            time.sleep(0.1)
        return users

    def account(self, username: str) -> tuple[str, str]:
        """Return (username, password) of an extension number or device line, as its phone keeps them."""
        if username not in self._accounts:
            snap = self.snapshot()
            self._accounts = {e.number: e.sip_password for e in snap.extensions}
            self._accounts |= {line.sip_username: line.sip_password for d in snap.devices for line in d.lines}
        return username, self._accounts[username]

    def sipp(self, scenario: str, target_port: int, **kwargs: Any) -> Sipp:
        sipp = Sipp(self.workdir / "sipp", scenario, f"127.0.0.1:{target_port}", **kwargs)
        self.sipps.append(sipp)
        return sipp

    def register(self, username: str, password: str | None = None, port: int | None = None) -> SippResult:
        """Register an account; the result holds FreeSWITCH's final answer (200 or 403)."""
        user, real = self.account(username) if password is None else (username, password)
        return self.sipp(
            "register.xml",
            self.ports["sip"],
            service=user,
            auth=(user, real),
            local_port=port,
            name=f"register-{user}-{time.monotonic_ns()}",
        ).run()

    def phone(self, username: str, calls: int = 1, scenario: str = "phone.xml") -> Sipp:
        """Register an account (from the same port each time), then answer calls on that port.

        scenario: phone.xml answers, busy.xml answers 486 Busy, ring.xml rings until cancelled.
        """
        port = self._phone_ports.setdefault(username, free_port())
        result = self.register(username, port=port)
        assert result.ok and result.received("SIP/2.0 200"), result.explain()
        # phone.xml also answers message-waiting NOTIFYs, which sipp counts as calls: it stops itself
        # after `calls` answered INVITEs, so -m only bounds the total.
        return self.sipp(
            scenario,
            self.ports["sip"],
            local_port=port,
            calls=1000,
            keys={"answers": str(calls)},
            name=f"phone-{username}-{port}-{time.monotonic_ns()}",
        ).start()

    def carrier(self, calls: int = 1) -> Sipp:
        """Answer what the appliance sends to the carrier trunk."""
        return self.sipp(
            "answer.xml",
            self.ports["external"],
            local_port=self.ports["carrier"],
            calls=calls,
            name=f"carrier-{time.monotonic_ns()}",
        ).start()

    def call(self, username: str, destination: str, hold_ms: int = 300, expect_ok: bool = True) -> SippResult:
        """Place a call from a phone account (answering FreeSWITCH's digest challenge)."""
        user, password = self.account(username)
        return self.sipp(
            "call.xml",
            self.ports["sip"],
            service=destination,
            auth=(user, password),
            duration_ms=hold_ms,
            keys={"from_user": user, "from_name": user},
            name=f"call-{user}-{destination}-{time.monotonic_ns()}",
        ).run()

    def inbound(self, did: str = DID, caller: str = CARRIER_CALLER, hold_ms: int = 300) -> SippResult:
        """Place a call from the carrier to a DID (no digest: the trunk ACL admits it)."""
        return self.sipp(
            "call.xml",
            self.ports["external"],
            service=did,
            duration_ms=hold_ms,
            keys={"from_user": caller, "from_name": "Customer"},
            name=f"inbound-{did}-{time.monotonic_ns()}",
        ).run()

    def cdr_of(self, call: SippResult, timeout: float = 20) -> dict[str, Any]:
        """Wait for the CDR of the call sipp placed (matched on its SIP Call-ID) and return it."""
        call_id = next(m.header("Call-ID") for m in call.messages if m.first_line.startswith("INVITE"))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with connect(self.dsn, autocommit=True) as conn:
                row = conn.execute("SELECT * FROM cdrs WHERE variables->>'sip_call_id' = %s", (call_id,)).fetchone()
            if row:
                return row
            time.sleep(0.2)
        raise AssertionError(f"no CDR for Call-ID {call_id} after {timeout}s:\n" + self.daemon_log("listener")[-3000:])

    def cdrs(self, count: int, timeout: float = 20) -> list[dict[str, Any]]:
        """Wait until at least `count` CDRs are in PostgreSQL; return them oldest first."""
        deadline = time.monotonic() + timeout
        rows: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            with connect(self.dsn, autocommit=True) as conn:
                rows = conn.execute("SELECT * FROM cdrs ORDER BY started_at, recorded_at").fetchall()
            if len(rows) >= count:
                return rows
            time.sleep(0.2)
        raise AssertionError(
            f"{len(rows)} CDRs after {timeout}s, expected {count}:\n" + self.daemon_log("listener")[-3000:]
        )
