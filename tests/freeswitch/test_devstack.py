# SPDX-License-Identifier: GPL-3.0-or-later
"""`make run`: the whole stack comes up on loopback, says where it listens, and Ctrl-C stops all of it."""

from __future__ import annotations

import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def test_make_run_starts_everything_on_loopback_and_stops_cleanly_on_ctrl_c():
    # Not pytest's tmp_path: that is private to root, and PostgreSQL runs as its own user.
    top = Path(tempfile.mkdtemp(prefix="appliance-run-"))
    top.chmod(0o755)
    workdir = top / "run"
    proc = subprocess.Popen(
        [sys.executable, "-m", "appliance.devstack.run", "--workdir", str(workdir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and proc.poll() is None:
            line = proc.stdout.readline()
            lines.append(line)
            if line.startswith("Script it:"):
                break
        output = "".join(lines)
        assert "The appliance is running" in output, output
        for name in ("PostgreSQL", "SIP for phones", "SIP for trunks", "Event socket", "Outbound-socket flows"):
            row = next(line for line in lines if line.strip().startswith(name))
            assert "127.0.0.1:" in row, row
        assert "extension 101" in output and "ata port 2" in output
        # Every daemon is up and on the event socket, the queue announcer like the others.
        for daemon in ("listener", "recorder", "announcer"):
            log = _wait_for_text(workdir / f"{daemon}.log", "connected to")
            assert "connected to" in log, (daemon, log)
        fs_pid = next(p for p in _pids("freeswitch") if str(workdir) in _cmdline(p))
    finally:
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, rest
    assert "stopped" in rest
    assert fs_pid not in _pids("freeswitch")
    assert not [p for p in _pids("postgres") if str(workdir) in _cmdline(p)]


def _wait_for_text(path: Path, text: str, timeout: float = 15) -> str:
    """Return a daemon's log once it contains text (or what it holds when the time is up)."""
    deadline = time.monotonic() + timeout
    log = ""
    while time.monotonic() < deadline:
        log = path.read_text(errors="replace") if path.exists() else ""
        if text in log:
            break
        time.sleep(0.2)
    return log


def _pids(name: str) -> list[int]:
    out = subprocess.run(["pgrep", "-x", name], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return fh.read().replace(b"\0", b" ").decode()
    except FileNotFoundError:
        return ""
