# SPDX-License-Identifier: GPL-3.0-or-later
"""What is wrong with the data volume, for people (`appliance storage status`), the console and metrics."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from appliance.storage.settings import StorageSettings

UNLOCKED = "unlocked"
DEGRADED = "degraded"
UNKNOWN = "unknown"


def write(path: Path, record: dict[str, Any]) -> None:
    """Write the status record atomically (0644: it holds no secret, the console reads it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def _mode_file(data_dir: Path) -> dict[str, str]:
    path = data_dir / ".storage-mode"
    if not path.exists():
        return {}
    pairs = (line.split("=", 1) for line in path.read_text(encoding="utf-8").splitlines() if "=" in line)
    return {k: v for k, v in pairs}


def storage_status(settings: StorageSettings, now: float | None = None) -> dict[str, Any]:
    """Return the volume's state: the unlock service's record checked against what is mounted now.

    Keys: state (unlocked, degraded, unknown), method, lab_mode, mounted, survival, problems (sentences a
    person can act on), checked_at, and the unlock record's tried list.
    """
    now = time.time() if now is None else now
    record: dict[str, Any] = {}
    if settings.status_file.exists():
        try:
            record = json.loads(settings.status_file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            record = {"problems": [f"{settings.status_file}: unreadable ({exc})"]}
    mounted = os.path.ismount(settings.data_dir)
    mode = _mode_file(settings.data_dir) if mounted else {}
    problems = list(record.get("problems", []))
    state = record.get("state", UNKNOWN)
    if not record:
        problems.append(
            f"no unlock record at {settings.status_file}: appliance-storage-unlock.service has not run this boot"
        )
    if state == UNLOCKED and not mounted:
        state = DEGRADED
        problems.append(f"the data volume was unlocked but {settings.data_dir} is no longer mounted")
    lab = mode.get("mode") == "lab" or record.get("method") == "keyfile"
    if lab:
        problems.append(
            "LAB MODE: the data volume's key is a file on the root filesystem; anyone holding the disk can read it"
        )
    return {
        "state": state,
        "method": record.get("method", ""),
        "mode": mode.get("mode", record.get("mode", "")),
        "lab_mode": lab,
        "mounted": mounted,
        "survival": bool(record.get("survival")),
        "tried": record.get("tried", []),
        "problems": problems,
        "checked_at": record.get("checked_at"),
        "age_seconds": round(now - record["checked_at"]) if record.get("checked_at") else None,
    }


def describe(status: dict[str, Any]) -> str:
    """Return the status as lines for a terminal."""
    lines = [
        f"data volume: {status['state']}" + (f" (unlocked by {status['method']})" if status["method"] else ""),
        f"mounted: {'yes' if status['mounted'] else 'no'}",
    ]
    if status["survival"]:
        lines.append("FreeSWITCH: survival configuration (local calls only; no trunk, voicemail, recordings)")
    for attempt in status["tried"]:
        lines.append(f"tried {attempt['method']}: {attempt['result']}")
    lines += [f"PROBLEM: {p}" for p in status["problems"]]
    return "\n".join(lines)
