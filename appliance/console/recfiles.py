# SPDX-License-Identifier: GPL-3.0-or-later
"""The encrypted recordings in the data directory, for the console's page and the API (read-only).

The recorder writes `<recordings_dir>/<YYYY-MM-DD>/<A-leg uuid>.wav.age`. The console lists them and
hands them out byte for byte as stored; it holds no private key, so it can never decrypt one.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

from appliance.recording.crypto import SUFFIX

DAY_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
FILE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}\.age$")
LIMIT = 500  # newest first; the CLI lists everything


@dataclass(frozen=True)
class Recording:
    """One encrypted recording and, when its call's CDR is stored, what the call was."""

    day: str
    file: str
    call_uuid: str  # "" when the name is not a channel UUID
    bytes: int
    modified: datetime
    cdr: dict[str, Any] | None

    def public(self) -> dict[str, Any]:
        cdr = None
        if self.cdr:
            cdr = {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in self.cdr.items()}
        return {
            "day": self.day,
            "file": self.file,
            "call_uuid": self.call_uuid,
            "bytes": self.bytes,
            "modified": self.modified.isoformat(),
            "cdr": cdr,
        }


def _call_uuid(name: str) -> str:
    stem = name.split(".", 1)[0]
    try:
        return str(uuid.UUID(stem))
    except ValueError:
        return ""


def listing(conn: psycopg.Connection, root: Path, limit: int = LIMIT) -> list[Recording]:
    """Return the newest recordings (at most limit), each with its CDR when there is one."""
    found: list[tuple[str, str, int, float]] = []
    try:
        days = [d for d in root.iterdir() if d.is_dir() and DAY_RE.match(d.name)]
    except OSError:
        return []
    for day in sorted(days, reverse=True):
        try:
            files = sorted((p for p in day.iterdir() if FILE_RE.match(p.name) and p.is_file()), reverse=True)
        except OSError:
            continue
        for p in files:
            st = p.stat()
            found.append((day.name, p.name, st.st_size, st.st_mtime))
        if len(found) >= limit:
            break
    found.sort(key=lambda f: f[3], reverse=True)
    found = found[:limit]
    uuids = [u for f in found if (u := _call_uuid(f[1]))]
    cdrs: dict[str, dict[str, Any]] = {}
    if uuids:
        for row in conn.execute(
            "SELECT uuid::text AS uuid, call_type, caller_number, destination, started_at, billsec"
            " FROM cdrs WHERE uuid = ANY(%s::uuid[])",
            (uuids,),
        ):
            cdrs[row.pop("uuid")] = row
    return [
        Recording(d, f, _call_uuid(f), size, datetime.fromtimestamp(mtime, UTC), cdrs.get(_call_uuid(f)))
        for d, f, size, mtime in found
    ]


def path_of(root: Path, day: str, file: str) -> Path | None:
    """Return the stored file for day/file, or None when the names are not a recording's or it is absent."""
    if not DAY_RE.match(day) or not FILE_RE.match(file) or not file.endswith(SUFFIX):
        return None
    path = root / day / file
    try:
        if not path.is_file() or path.resolve().parent.parent != root.resolve():
            return None  # a symlink leading out of the recordings directory is not a recording
    except OSError:
        return None
    return path
