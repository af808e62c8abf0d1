# SPDX-License-Identifier: GPL-3.0-or-later
"""The appliance's moving parts on one host, bound to 127.0.0.1: the configuration rendered from
PostgreSQL, FreeSWITCH on it, and the daemons. `make run` and the live tests both stand on this."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from appliance.callcontrol.esl import EslClient
from appliance.devstack.freeswitch import NOT_FOUND, FreeSwitchProcess, find_freeswitch
from appliance.devstack.net import free_port, wait_for_tcp
from appliance.fsconf import service
from appliance.model import Snapshot
from appliance.store.db import connect
from appliance.store.repo import Store, load_snapshot

log = logging.getLogger(__name__)

PORT_NAMES = ("sip", "tls", "external", "esl", "socket")


class Stack:
    """Render, start and stop one appliance; `close()` stops everything it started."""

    def __init__(self, workdir: Path, dsn: str, ports: dict[str, int] | None = None, daemon_log_level: str = "DEBUG"):
        self.workdir = Path(workdir)
        self.dsn = dsn
        self.ports = {name: free_port() for name in PORT_NAMES} | (ports or {})
        self.daemon_log_level = daemon_log_level
        # Spread RTP ranges so two stacks on one host (parallel test sessions) do not collide.
        rtp = 20000 + (os.getpid() % 100) * 200
        # FreeSWITCH's registrations database in RAM, like the box's /run (tmpfs), where the host has
        # /dev/shm; start() makes the directory, close() removes this one.
        shm = Path("/dev/shm")
        ram = shm.is_dir() and os.access(shm, os.W_OK)
        self._ram_dir = Path(tempfile.mkdtemp(prefix="appliance-fsdb-", dir=shm)) if ram else None
        self.site: dict[str, Any] = {
            "lan_ip": "127.0.0.1",
            "trunk_ip": "127.0.0.1",
            "internal_sip_port": self.ports["sip"],
            "internal_tls_port": self.ports["tls"],
            "external_sip_port": self.ports["external"],
            "rtp_start": rtp,
            "rtp_end": rtp + 199,
        }
        self.cfg: dict[str, Any] = {
            "database": {"dsn": dsn},
            "freeswitch": {
                "conf_root": str(self.workdir / "fsconf"),
                "esl_host": "127.0.0.1",
                "esl_port": self.ports["esl"],
                "esl_password_file": str(self.workdir / "secrets" / "esl_password"),
                "outbound_socket_port": self.ports["socket"],
                "cert_dir": str(self.workdir / "tls"),
                "sounds_dir": str(self.workdir / "sounds"),
                "recordings_dir": str(self.workdir / "recordings"),
                "recording_staging_dir": str(self.workdir / "recording-staging"),
                "voicemail_dir": str(self.workdir / "voicemail"),
                "volatile_db_dir": str(self._ram_dir or self.workdir / "fs-volatile-db"),
            },
            "cdr": {"spool_dir": str(self.workdir / "spool"), "freeswitch_dir": str(self.workdir / "fs-cdr")},
        }
        self.fs: FreeSwitchProcess | None = None
        self.daemons: dict[str, subprocess.Popen] = {}

    # -- configuration -----------------------------------------------------------------------------
    def bind_site(self) -> None:
        """Point the site's addresses and ports at this stack's loopback ports."""
        with connect(self.dsn, autocommit=True) as conn:
            Store(conn).update_site(**self.site)

    def config_file(self) -> Path:
        """Write this stack's configuration as /etc/appliance/config.yml would hold it."""
        path = self.workdir / "config.yml"
        path.write_text(yaml.safe_dump(self.cfg))
        return path

    def snapshot(self) -> Snapshot:
        with connect(self.dsn, autocommit=True) as conn:
            return load_snapshot(conn)

    def apply(self, reload: bool = True) -> dict[str, str]:
        return service.apply(self.cfg, self.snapshot(), reload=reload)

    # -- processes ---------------------------------------------------------------------------------
    def start(self) -> Stack:
        """Render the configuration, start FreeSWITCH on it, then the daemons."""
        binary = find_freeswitch()
        if binary is None:
            raise RuntimeError(NOT_FOUND)
        self.apply(reload=False)
        # mod_voicemail keeps its message index there and needs the directory (tmpfiles makes it on a box).
        Path(self.cfg["freeswitch"]["voicemail_dir"]).mkdir(parents=True, exist_ok=True)
        Path(self.cfg["freeswitch"]["volatile_db_dir"]).mkdir(parents=True, exist_ok=True)
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
        self.start_recorder()
        self.start_announcer()

    def start_announcer(self, tick_seconds: float = 0.5) -> None:
        """Start the queue position announcer (tests pass a shorter tick to hear announcements sooner)."""
        fs = self.cfg["freeswitch"]
        self._daemon(
            "announcer",
            *("--esl-port", str(fs["esl_port"]), "--esl-password-file", fs["esl_password_file"]),
            *("--tick-seconds", str(tick_seconds)),
        )

    def start_recorder(self) -> None:
        fs = self.cfg["freeswitch"]
        self._daemon(
            "recorder",
            *("--esl-port", str(fs["esl_port"]), "--esl-password-file", fs["esl_password_file"], "--dsn", self.dsn),
            *("--staging-dir", fs["recording_staging_dir"], "--recordings-dir", fs["recordings_dir"]),
        )

    def start_listener(self) -> None:
        fs, cdr = self.cfg["freeswitch"], self.cfg["cdr"]
        self._daemon(
            "listener",
            *("--esl-port", str(fs["esl_port"]), "--esl-password-file", fs["esl_password_file"]),
            *("--dsn", self.dsn, "--spool-dir", cdr["spool_dir"], "--freeswitch-cdr-dir", cdr["freeswitch_dir"]),
        )

    def start_outbound(self) -> None:
        self._daemon("outbound", "--port", str(self.ports["socket"]))
        wait_for_tcp(self.ports["socket"])

    def _daemon(self, name: str, *args: str) -> None:
        running = self.daemons.get(name)
        if running is not None and running.poll() is None:
            # A second one would run unseen beside the first (only the newest is stopped).
            raise RuntimeError(f"the {name} daemon is already running (pid {running.pid}); stop it first")
        out = (self.workdir / f"{name}.log").open("ab")
        self.daemons[name] = subprocess.Popen(
            [sys.executable, "-m", "appliance", "daemon", name, *args, "--log-level", self.daemon_log_level],
            stdout=out,
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

    def stop_daemons(self) -> None:
        """Stop every daemon this stack started."""
        for name in list(self.daemons):
            self.stop_daemon(name)

    def daemon_log(self, name: str) -> str:
        return (self.workdir / f"{name}.log").read_text(errors="replace")

    def close(self) -> None:
        """Stop FreeSWITCH, then the daemons, so the listener still imports the last calls' CDRs."""
        if self.fs:
            self.fs.stop()
        self.stop_daemons()
        if self._ram_dir is not None:
            shutil.rmtree(self._ram_dir, ignore_errors=True)

    # -- talking to FreeSWITCH ---------------------------------------------------------------------
    def esl(self, command: str) -> str:
        """Run one API command on the running FreeSWITCH and return its reply."""
        client = EslClient("127.0.0.1", self.ports["esl"], self.esl_password())
        client.connect()
        try:
            return client.api(command, timeout=15)
        finally:
            client.close()

    def esl_password(self) -> str:
        return Path(self.cfg["freeswitch"]["esl_password_file"]).read_text().strip()
