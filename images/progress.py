# SPDX-License-Identifier: GPL-3.0-or-later
"""Progress lines, step timings and logged subprocesses for the builder (a CLI tool: it prints)."""

from __future__ import annotations

import re
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

HEARTBEAT_S = 60


class BuildError(RuntimeError):
    """A step failed; the message says which and where its log is."""


def say(line: str) -> None:
    """Print one progress line at once (make and pytest capture stdout in blocks otherwise)."""
    print(line, flush=True)


def fmt_duration(seconds: float) -> str:
    """Return 83.2 as '1m23s'."""
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{seconds:.1f}s"


def fmt_size(n: int) -> str:
    """Return a byte count in MiB or GiB."""
    return f"{n / 2**30:.2f} GiB" if n >= 2**30 else f"{n / 2**20:.1f} MiB"


class Steps:
    """Numbered steps, each timed; `table()` prints them at the end."""

    def __init__(self, total: int):
        self.total = total
        self.timings: list[tuple[str, float]] = []

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        """Time one step and print its start and end."""
        say(f"==> [{len(self.timings) + 1}/{self.total}] {name}")
        start = time.monotonic()
        try:
            yield
        finally:
            elapsed = time.monotonic() - start
            self.timings.append((name, elapsed))
        say(f"    {name}: done in {fmt_duration(elapsed)}")

    def table(self) -> list[str]:
        """Return the timing lines, the total last."""
        width = max((len(name) for name, _ in self.timings), default=10)
        lines = [f"  {name:<{width}}  {fmt_duration(t):>8}" for name, t in self.timings]
        lines.append(f"  {'total':<{width}}  {fmt_duration(sum(t for _, t in self.timings)):>8}")
        return lines


def run(
    cmd: Sequence[str | Path],
    log: Path,
    *,
    show: str | None = None,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    what: str = "",
) -> None:
    """Run `cmd`, appending its output to `log`; echo lines matching the regex `show`; raise BuildError on failure."""
    pattern = re.compile(show) if show else None
    tail: deque[str] = deque(maxlen=40)
    last_output = [time.monotonic()]
    started = time.monotonic()
    done = threading.Event()
    label = what or Path(str(cmd[0])).name

    def heartbeat() -> None:
        # long quiet phases (mmdebstrap unpacking, xz) must still show the build is alive
        while not done.wait(10):
            if time.monotonic() - last_output[0] >= HEARTBEAT_S:
                say(f"    ... {label} still running ({fmt_duration(time.monotonic() - started)})")
                last_output[0] = time.monotonic()

    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("a", buffering=1) as out:  # line-buffered: the log can be followed live
        out.write(f"\n$ {' '.join(map(str, cmd))}\n")
        out.flush()
        proc = subprocess.Popen(
            [str(c) for c in cmd],
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
        )
        beat = threading.Thread(target=heartbeat, daemon=True)
        beat.start()
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                out.write(line)
                tail.append(line.rstrip())
                if pattern and pattern.search(line):
                    say(f"    {line.rstrip()}")
                    last_output[0] = time.monotonic()
            rc = proc.wait()
        finally:
            done.set()
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    if rc != 0:
        shown = "\n".join(f"      {t}" for t in tail)
        raise BuildError(f"{label} failed (exit {rc}); last lines:\n{shown}\n    full log: {log}")


def output(cmd: Sequence[str | Path], **kwargs) -> str:
    """Run a short command and return its stdout; raise BuildError with its stderr on failure."""
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, **kwargs)
    if proc.returncode != 0:
        raise BuildError(f"{' '.join(map(str, cmd))} failed (exit {proc.returncode}): {proc.stderr.strip()}")
    return proc.stdout


def err(line: str) -> None:
    """Print a line to stderr."""
    print(line, file=sys.stderr, flush=True)
