# SPDX-License-Identifier: GPL-3.0-or-later
"""Drive calls with sipp and read back what each run achieved: calls, failures, post-dial delay."""

from __future__ import annotations

import csv
import math
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from appliance.devstack.net import free_port, free_udp_block

SCENARIOS = Path(__file__).resolve().parent / "sipp"


@dataclass
class Step:
    """What one sipp caller run offered and got back."""

    label: str
    rate: float  # offered calls per second
    calls: int  # calls sipp was asked to place
    ok: int = 0
    failed: int = 0
    pdd_ms: list[float] = field(default_factory=list)  # one per call that rang or answered
    first_invite: float = 0.0  # epoch seconds, from sipp's message trace
    last_done: float = 0.0  # epoch seconds: the last call's final response
    cdr_lag_s: float = 0.0  # appliance only: from the last call to its CDR in PostgreSQL
    cpu_s: float = 0.0  # CPU seconds the set-up's FreeSWITCH, PostgreSQL and daemons used for the step
    cpu_by_role: dict[str, float] = field(default_factory=dict)  # the same, by process role

    @property
    def cpu_ms_per_call(self) -> float:
        return 1000 * self.cpu_s / max(1, self.ok)

    @property
    def fail_ratio(self) -> float:
        return self.failed / max(1, self.ok + self.failed)

    @property
    def span_s(self) -> float:
        """Seconds from the first INVITE to the last call done (and, with CDRs, to the last CDR)."""
        return max(1e-6, self.last_done - self.first_invite + self.cdr_lag_s)

    @property
    def achieved_cps(self) -> float:
        return self.ok / self.span_s

    @property
    def calls_cps(self) -> float:
        """Answered calls per second from the first INVITE to the last call's end, CDRs or not."""
        return self.ok / max(1e-6, self.last_done - self.first_invite)

    def pdd(self, q: float) -> float:
        return percentile(self.pdd_ms, q)

    def _cpu_roles(self) -> str:
        calls = max(1, self.ok)
        return " ".join(f"{role} {1000 * cpu / calls:.1f}" for role, cpu in self.cpu_by_role.items())

    def summary(self) -> str:
        return (
            f"{self.label:<9} {self.rate:6.0f} cps offered  {self.ok:5d} ok {self.failed:4d} failed"
            f"  {self.achieved_cps:6.1f} cps done  PDD p50 {self.pdd(50):6.1f} ms p99 {self.pdd(99):6.1f} ms"
            + (f"  CPU {self.cpu_ms_per_call:.1f} ms/call ({self._cpu_roles()})" if self.cpu_s else "")
            + (f"  CDRs +{self.cdr_lag_s:.1f}s" if self.cdr_lag_s else "")
        )


def percentile(values: list[float], q: float) -> float:
    """Return the q-th percentile (nearest rank); NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def _quiet(proc: subprocess.Popen, timeout: float = 5) -> None:
    """Stop a sipp: SIGTERM makes it exit at once, flushing its logs; SIGKILL if it does not."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _base_cmd(target: str, scenario: str, port: int) -> list[str]:
    return [
        "sipp",
        target,
        "-sf",
        str(SCENARIOS / scenario),
        "-i",
        "127.0.0.1",
        "-p",
        str(port),
        "-mi",
        "127.0.0.1",
        "-mp",
        str(free_udp_block(4)),
        "-nostdin",
    ]


class Callee:
    """One sipp that answers every call on the port the callee's phone registered from."""

    def __init__(self, workdir: Path, target: str, port: int):
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        # Answers without a call limit; stopped explicitly. -recv_timeout clears a call whose
        # ACK or BYE never came, so a broken call cannot pile up in the answering side.
        cmd = [*_base_cmd(target, "uas.xml", port), "-m", "100000000", "-recv_timeout", "10000"]
        with (self.dir / "stderr.log").open("wb") as err:
            self.proc = subprocess.Popen(
                cmd, cwd=self.dir, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err
            )

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        _quiet(self.proc)


def place_calls(
    workdir: Path,
    target: str,
    *,
    label: str,
    destination: str,
    auth: tuple[str, str],
    rate: float,
    calls: int,
    limit: int,
) -> Step:
    """Place `calls` calls at `rate` per second (at most `limit` open at once) and return the step."""
    workdir.mkdir(parents=True, exist_ok=True)
    short = workdir / "short.log"
    stat = workdir / "stat.csv"
    cmd = [
        *_base_cmd(target, "uac.xml", free_port()),
        "-s",
        destination,
        "-au",
        auth[0],
        "-ap",
        auth[1],
        "-key",
        "from_user",
        auth[0],
        "-r",
        f"{rate:g}",
        "-l",
        str(limit),
        "-m",
        str(calls),
        # A call with no answer in 5 s has failed; the whole run is bounded too.
        "-recv_timeout",
        "5000",
        "-timeout",
        f"{int(calls / rate) + 60}s",
        # sipp 3.6's RTD timers read CLOCK_MONOTONIC_COARSE (one kernel tick, 4 ms here), too coarse
        # for a 5 ms target; the short message trace stamps each message with gettimeofday (1 us).
        "-trace_shortmsg",
        "-shortmessage_file",
        str(short),
        "-trace_stat",
        "-stf",
        str(stat),
        "-trace_err",
        "-error_file",
        str(workdir / "errors.log"),
    ]
    with (workdir / "stderr.log").open("wb") as err:
        proc = subprocess.Popen(cmd, cwd=workdir, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)
    try:
        proc.wait(timeout=calls / rate + 90)
    except subprocess.TimeoutExpired:
        pass  # its own -timeout did not stop it: stop it below; what it logged so far still counts
    finally:
        _quiet(proc)
    step = Step(label, rate, calls)
    _read_stats(stat, step, workdir)
    _read_trace(short, step)
    return step


def _read_stats(path: Path, step: Step, workdir: Path) -> None:
    """Take the cumulative success and failure counts from sipp's last statistics row."""
    try:
        with path.open(newline="") as lines:
            rows = list(csv.DictReader(lines, delimiter=";"))
    except FileNotFoundError:
        rows = []
    if not rows:
        err = (workdir / "stderr.log").read_text(errors="replace")[-500:]
        raise RuntimeError(f"sipp wrote no statistics in {workdir}: {err}")
    last = rows[-1]
    step.ok = int(last["SuccessfulCall(C)"])
    step.failed = int(last["FailedCall(C)"])


def _read_trace(path: Path, step: Step) -> None:
    """Post-dial delay per call: first authenticated INVITE sent to first 180/183/200 received."""
    sent: dict[str, float] = {}
    rang: dict[str, float] = {}
    first = last = 0.0
    with path.open(errors="replace") as lines:
        for line in lines:
            # date, time, epoch, S|R, Call-ID, "CSeq:<n> <method>", first line
            parts = line.rstrip("\n").split("\t")
            if len(parts) < 7:
                continue
            stamp, way, call_id, cseq, first_line = float(parts[2]), parts[3], parts[4], parts[5], parts[6]
            if way == "S" and cseq == "CSeq:1 INVITE":
                first = first or stamp
            elif way == "S" and cseq == "CSeq:2 INVITE":
                sent.setdefault(call_id, stamp)  # a retransmission does not restart the clock
            elif way == "R" and cseq == "CSeq:2 INVITE" and first_line[8:11] in ("180", "183", "200"):
                rang.setdefault(call_id, stamp)
            elif way == "R" and cseq.endswith(" BYE"):
                last = max(last, stamp)
    step.pdd_ms = [(rang[c] - sent[c]) * 1000 for c in rang if c in sent]
    step.first_invite, step.last_done = first, max(last, first)
