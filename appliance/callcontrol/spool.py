# SPDX-License-Identifier: GPL-3.0-or-later
"""A durable on-disk spool of records keyed by UUID (maildir style: tmp/, new/, bad/)."""

from __future__ import annotations

import json
import logging
import os
import uuid
from datetime import date, datetime
from pathlib import Path
from typing import Any

from appliance.files import fsync_dir

log = logging.getLogger(__name__)


def _json_default(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    raise TypeError(f"cannot spool a {type(value).__name__}")


class Spool:
    """Records written atomically into new/, removed only once their consumer is done with them."""

    def __init__(self, directory: str | Path):
        self.directory = Path(directory)
        self.tmp = self.directory / "tmp"
        self.new = self.directory / "new"
        self.bad = self.directory / "bad"
        for sub in (self.tmp, self.new, self.bad):
            sub.mkdir(parents=True, exist_ok=True, mode=0o750)

    def put(self, record: dict[str, Any]) -> Path:
        """Store record durably under its uuid and return its path in new/."""
        key = str(uuid.UUID(str(record["uuid"])))  # also rules out path tricks in the name
        data = json.dumps(record, default=_json_default, sort_keys=True).encode("utf-8")
        # The pid keeps two processes spooling the same uuid from sharing a tmp file.
        tmp = self.tmp / f"{key}.{os.getpid()}.json"
        final = self.new / f"{key}.json"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        # rename() is atomic: new/ holds either nothing or the whole record, never a part.
        os.rename(tmp, final)
        fsync_dir(self.new)
        return final

    def pending(self, limit: int | None = None) -> list[Path]:
        """Return up to limit records waiting in new/: oldest first when they all fit, else any limit of them."""
        return waiting(self.new, ".json", limit)

    def load(self, path: Path) -> dict[str, Any]:
        """Read one spooled record."""
        with open(path, encoding="utf-8") as f:
            record = json.load(f)
        if not isinstance(record, dict) or "uuid" not in record:
            raise ValueError(f"{path.name}: not a spooled record")
        return record

    def done(self, path: Path) -> None:
        """Forget a record its consumer has made durable elsewhere."""
        try:
            path.unlink()
        except FileNotFoundError:
            return
        fsync_dir(path.parent)

    def done_many(self, paths: list[Path]) -> None:
        """Forget a batch of records whose rows are committed."""
        # No directory fsync: an unlink lost in a crash brings the file back, and its replay
        # writes nothing (the uuid is the key). That fsync was most of the writer's time.
        for path in paths:
            path.unlink(missing_ok=True)

    def quarantine(self, path: Path, reason: str) -> None:
        """Move a record that can never be consumed to bad/, keeping it for a human."""
        log.error("moving spooled record %s to %s: %s", path.name, self.bad, reason)
        os.replace(path, self.bad / path.name)
        fsync_dir(self.bad)
        fsync_dir(path.parent)

    def depth(self) -> int:
        """Return how many records wait in new/."""
        with os.scandir(self.new) as it:
            return sum(1 for entry in it if entry.name.endswith(".json"))

    def discard_partial(self) -> int:
        """Remove tmp/ files a crash left half written; call only while no writer runs."""
        removed = 0
        for leftover in self.tmp.iterdir():
            log.warning("discarding partial spool file %s left by a crash", leftover.name)
            leftover.unlink(missing_ok=True)
            removed += 1
        return removed


def waiting(directory: Path, suffix: str, limit: int | None) -> list[Path]:
    """Return up to limit files named *suffix in directory, reading at most limit + 1 entries.

    A consumer needs any `limit` of them, not the oldest: the uuid names make order irrelevant
    to correctness. So a backlog is taken in directory order, without a stat per file and
    without listing all of it for every batch (that was quadratic in the backlog). When all
    the files fit in one answer they are sorted oldest first, which costs at most limit stats.
    """
    names = []
    with os.scandir(directory) as it:
        for entry in it:
            if entry.name.endswith(suffix) and entry.is_file():
                names.append(entry.name)
                if limit is not None and len(names) > limit:
                    return [directory / name for name in names[:limit]]
    aged = []
    for name in names:
        try:
            aged.append((os.stat(directory / name).st_mtime_ns, name))
        except FileNotFoundError:
            continue  # settled by the consumer while we were listing
    aged.sort()
    return [directory / name for _, name in aged]
