# SPDX-License-Identifier: GPL-3.0-or-later
"""CPU time used by a set of processes and their descendants, from /proc.

On a shared machine, wall-clock throughput moves with whatever else runs; the CPU seconds a set-up's
own processes spend per call move far less, and on a CPU-bound box they set its capacity.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

_TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> tuple[int, float, float] | None:
    """Return (ppid, own CPU seconds, CPU seconds of reaped children) of pid, or None once it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = text[text.rindex(")") + 2 :].split()  # after "pid (comm) "; comm may hold spaces
    ppid, utime, stime, cutime, cstime = int(fields[1]), *(int(fields[i]) for i in (11, 12, 13, 14))
    return ppid, (utime + stime) / _TICK, (cutime + cstime) / _TICK


def cpu_seconds(roots: Iterable[int]) -> float:
    """Return CPU seconds used so far by roots and every live descendant, plus what their reaped children used."""
    stats = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit() and (stat := _stat(int(entry.name))) is not None:
            stats[int(entry.name)] = stat
    children: dict[int, list[int]] = {}
    for pid, (ppid, _own, _reaped) in stats.items():
        children.setdefault(ppid, []).append(pid)
    total, todo, seen = 0.0, [p for p in roots if p in stats], set()
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        _ppid, own, reaped = stats[pid]
        total += own + reaped
        todo.extend(children.get(pid, ()))
    return total


def postmaster_pid(datadir: Path) -> int:
    """Return the PostgreSQL server's pid from its data directory."""
    return int((Path(datadir) / "postmaster.pid").read_text().split()[0])
