# SPDX-License-Identifier: GPL-3.0-or-later
"""A whole office on this host: PostgreSQL, FreeSWITCH on the rendered configuration, the daemons,
and sipp playing desk phones, an FXS gateway and the carrier. Everything binds to 127.0.0.1."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from appliance.callcontrol.esl import EslClient
from appliance.devstack.freeswitch import FreeSwitchProcess, find_freeswitch
from appliance.devstack.net import free_port, wait_for_tcp
from appliance.fsconf import service
from appliance.store.db import connect
from appliance.store.repo import Store, load_snapshot
from tests.harness.sipp import Sipp, SippResult

COMPANY = "+4930555000"
DID = "+4930555100"
CARRIER_CALLER = "+4917612345678"


class Office:
    """Build, start and drive one office; `close()` stops everything it started."""

    def __init__(self, workdir: Path, dsn: str):
        self.workdir = workdir
        self.dsn = dsn
        self.ports = {name: free_port() for name in ("sip", "tls", "external", "esl", "socket", "carrier")}
        rtp = 20000 + (os.getpid() % 100) * 200
        self.site = {
            "domain": "office.test",
            "lan_ip": "127.0.0.1",
            "trunk_ip": "127.0.0.1",
            "internal_sip_port": self.ports["sip"],
            "internal_tls_port": self.ports["tls"],
            "external_sip_port": self.ports["external"],
            "rtp_start": rtp,
            "rtp_end": rtp + 199,
            "company_number": COMPANY,
            "codecs": "PCMU,PCMA",
            "ring_seconds": 10,
        }
        self.cfg: dict[str, Any] = {
            "database": {"dsn": dsn},
            "freeswitch": {
                "conf_root": str(workdir / "fsconf"),
                "esl_host": "127.0.0.1",
                "esl_port": self.ports["esl"],
                "esl_password_file": str(workdir / "secrets" / "esl_password"),
                "outbound_socket_port": self.ports["socket"],
                "cert_dir": str(workdir / "tls"),
                "sounds_dir": str(workdir / "sounds"),
                "recordings_dir": str(workdir / "recordings"),
            },
            "cdr": {"spool_dir": str(workdir / "spool"), "freeswitch_dir": str(workdir / "fs-cdr")},
        }
        self.fs: FreeSwitchProcess | None = None
        self.daemons: dict[str, subprocess.Popen] = {}
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

    def config_file(self) -> Path:
        """Write this office's configuration as /etc/appliance/config.yml would hold it."""
        path = self.workdir / "config.yml"
        path.write_text(yaml.safe_dump(self.cfg))
        return path

    def snapshot(self):
        with connect(self.dsn, autocommit=True) as conn:
            return load_snapshot(conn)

    def apply(self, reload: bool = True) -> dict[str, str]:
        return service.apply(self.cfg, self.snapshot(), reload=reload)

    def start(self) -> Office:
        binary = find_freeswitch()
        assert binary is not None
        self.apply(reload=False)
        self.account("101")  # phones keep their credentials: cache them while PostgreSQL is up
        self.fs = FreeSwitchProcess(
            binary, Path(self.cfg["freeswitch"]["conf_root"]) / "current", self.workdir / "fs", self.ports["esl"]
        )
        self.fs.start()
        self.wait_profiles()
        self.start_daemons()
        return self

    def wait_profiles(self, timeout: float = 30) -> None:
        """Wait until both SIP profiles answer on their ports."""
        deadline = time.monotonic() + timeout
        status = ""
        while time.monotonic() < deadline:
            status = self.esl("sofia status")
            if status.count("RUNNING") >= 2:
                wait_for_tcp(self.ports["sip"])
                wait_for_tcp(self.ports["external"])
                return
            time.sleep(0.2)
        raise RuntimeError(f"SIP profiles not running after {timeout}s:\n{status}")

    def start_daemons(self) -> None:
        self.start_listener()
        self.start_outbound()

    def start_listener(self) -> None:
        fs = self.cfg["freeswitch"]
        self._daemon(
            "listener",
            "--esl-port",
            str(fs["esl_port"]),
            "--esl-password-file",
            fs["esl_password_file"],
            "--dsn",
            self.dsn,
            "--spool-dir",
            self.cfg["cdr"]["spool_dir"],
            "--freeswitch-cdr-dir",
            self.cfg["cdr"]["freeswitch_dir"],
            "--log-level",
            "DEBUG",
        )

    def start_outbound(self) -> None:
        self._daemon("outbound", "--port", str(self.ports["socket"]), "--log-level", "DEBUG")
        wait_for_tcp(self.ports["socket"])

    def _daemon(self, name: str, *args: str) -> None:
        log = (self.workdir / f"{name}.log").open("ab")
        self.daemons[name] = subprocess.Popen(
            [sys.executable, "-m", "appliance", "daemon", name, *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )

    def stop_daemon(self, name: str) -> None:
        proc = self.daemons.pop(name, None)
        if proc and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def daemon_log(self, name: str) -> str:
        return (self.workdir / f"{name}.log").read_text(errors="replace")

    def close(self) -> None:
        for sipp in self.sipps:
            sipp.stop()
        for name in list(self.daemons):
            self.stop_daemon(name)
        if self.fs:
            self.fs.stop()

    # -- driving -----------------------------------------------------------------------------------
    def esl(self, command: str) -> str:
        client = EslClient("127.0.0.1", self.ports["esl"], self.runtime_password())
        client.connect()
        try:
            return client.api(command, timeout=15)
        finally:
            client.close()

    def runtime_password(self) -> str:
        return Path(self.cfg["freeswitch"]["esl_password_file"]).read_text().strip()

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

    def phone(self, username: str, calls: int = 1) -> Sipp:
        """Register an account (from the same port each time), then answer calls on that port."""
        port = self._phone_ports.setdefault(username, free_port())
        result = self.register(username, port=port)
        assert result.ok and result.received("SIP/2.0 200"), result.explain()
        return self.sipp(
            "answer.xml", self.ports["sip"], local_port=port, calls=calls, name=f"phone-{username}-{port}"
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
