# SPDX-License-Identifier: GPL-3.0-or-later
"""Run sipp as phones, FXS ports and carrier trunks, and read back what crossed the wire."""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from appliance.devstack.net import free_port, free_udp_block

SCENARIOS = Path(__file__).resolve().parent.parent / "sipp"
_SPLIT = re.compile(r"^-{20,}.*$", re.M)
_HEAD = re.compile(r"^\s*(UDP|TCP|TLS) message (received|sent)", re.M)


def available() -> bool:
    return shutil.which("sipp") is not None


@dataclass
class SipMessage:
    direction: str  # "received" or "sent", from sipp's point of view
    text: str

    @property
    def first_line(self) -> str:
        return self.text.split("\n", 1)[0].strip()

    def header(self, name: str) -> str | None:
        m = re.search(rf"^{re.escape(name)}\s*:\s*(.*)$", self.text, re.M | re.I)
        return m.group(1).strip() if m else None


@dataclass
class SippResult:
    returncode: int
    messages: list[SipMessage] = field(default_factory=list)
    errors: str = ""
    stats: str = ""

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def received(self, start: str) -> list[SipMessage]:
        """Return messages sipp received whose first line starts with `start` (a method or 'SIP/2.0 200')."""
        return [m for m in self.messages if m.direction == "received" and m.first_line.startswith(start)]

    def explain(self) -> str:
        lines = [f"sipp exit {self.returncode}", self.errors[-2000:]]
        lines += [f"{m.direction}: {m.first_line}" for m in self.messages]
        return "\n".join(lines)


class Sipp:
    """One sipp process; `start()` returns at once, `wait()` collects its result."""

    def __init__(
        self,
        workdir: Path,
        scenario: str,
        target: str,
        *,
        service: str = "service",
        local_port: int | None = None,
        auth: tuple[str, str] | None = None,
        keys: dict[str, str] | None = None,
        calls: int = 1,
        duration_ms: int = 500,
        timeout_s: int = 30,
        extra: list[str] | None = None,
        name: str | None = None,
    ):
        self.local_port = local_port or free_port()
        self.name = name or f"{Path(scenario).stem}-{self.local_port}"
        self.dir = workdir / self.name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.msgfile = self.dir / "messages.log"
        self.errfile = self.dir / "errors.log"
        self.statfile = self.dir / "stats.csv"
        self.cmd = [
            "sipp",
            target,
            "-sf",
            str(SCENARIOS / scenario),
            "-i",
            "127.0.0.1",
            "-p",
            str(self.local_port),
            "-mi",
            "127.0.0.1",
            "-mp",
            # sipp binds four ports from here: audio RTP/RTCP, video RTP/RTCP.
            str(free_udp_block(4)),
            "-s",
            service,
            "-m",
            str(calls),
            "-d",
            str(duration_ms),
            "-timeout",
            f"{timeout_s}s",
            "-timeout_error",
            "-nostdin",
            "-trace_msg",
            "-message_file",
            str(self.msgfile),
            "-trace_err",
            "-error_file",
            str(self.errfile),
            "-max_recv_loops",
            "1000",
        ]
        if auth:
            self.cmd += ["-au", auth[0], "-ap", auth[1]]
        for key, value in (keys or {}).items():
            self.cmd += ["-key", key, value]
        self.cmd += extra or []
        self.proc: subprocess.Popen | None = None

    def start(self) -> Sipp:
        self.proc = subprocess.Popen(
            self.cmd,
            cwd=self.dir,
            stdin=subprocess.DEVNULL,
            stdout=(self.dir / "stdout.log").open("wb"),
            stderr=subprocess.STDOUT,
        )
        return self

    def wait(self, timeout: float = 60) -> SippResult:
        assert self.proc is not None, "start() first"
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        return SippResult(code, _messages(self.msgfile), _read(self.errfile), _read(self.dir / "stdout.log"))

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    def run(self, timeout: float = 60) -> SippResult:
        return self.start().wait(timeout)


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except FileNotFoundError:
        return ""


def _messages(path: Path) -> list[SipMessage]:
    out = []
    for chunk in _SPLIT.split(_read(path)):
        head = _HEAD.search(chunk)
        if not head:
            continue
        body = chunk[head.end() :].split("\n", 1)[-1].strip("\n")
        out.append(SipMessage(head.group(2), body.replace("\r\n", "\n").strip()))
    return out
