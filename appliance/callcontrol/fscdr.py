# SPDX-License-Identifier: GPL-3.0-or-later
"""The CDR files FreeSWITCH writes itself (mod_json_cdr): a source the CDR writer drains directly.

ESL events are not acknowledged: a call that ends while the listener is restarting or
reconnecting never reaches it as an event. FreeSWITCH writes every A-leg's record to disk at
hangup whatever the daemons are doing, so that directory is the CDR queue: the writer reads
it (`FreeSwitchCdrDir`) and deletes a file only once its row is committed. With hangup events
as a second source (`--cdr-source events`), `FileImporter` moves the files into the listener's
spool instead, where the A-leg UUID makes a call seen both ways land once.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from appliance.callcontrol.cdr import cdr_from_event
from appliance.callcontrol.spool import Spool, waiting

log = logging.getLogger(__name__)

# mod_json_cdr writes in place (no rename), ending with a newline; a file without it, or
# unparsable, is still being written unless it has been left like that for this long.
_INCOMPLETE_GRACE_S = 60.0


def headers_from_json(doc: Mapping[str, Any]) -> dict[str, str]:
    """Return the event-style headers cdr_from_event reads, taken from a mod_json_cdr document."""
    variables = doc.get("variables") or {}
    callflow = doc.get("callflow") or [{}]
    # The first callflow entry is the channel's current caller profile, as in the hangup event.
    profile = callflow[0].get("caller_profile") or {}
    headers = {f"variable_{name}": str(value) for name, value in variables.items()}
    headers.update(
        {
            "Event-Name": "CHANNEL_HANGUP_COMPLETE",
            "Unique-ID": str(variables.get("uuid", "")),
            "Call-Direction": str(variables.get("direction", "")),
            "Channel-Name": str(profile.get("chan_name", "")),
            "Caller-Caller-ID-Number": str(profile.get("caller_id_number", "")),
            "Caller-Caller-ID-Name": str(profile.get("caller_id_name", "")),
            "Caller-Destination-Number": str(profile.get("destination_number", "")),
            "Caller-Context": str(profile.get("context", "")),
            "Caller-Network-Addr": str(profile.get("network_addr", "")),
            "Core-UUID": str(doc.get("core-uuid", "")),
            "FreeSWITCH-Hostname": str(doc.get("switchname", "")),
        }
    )
    return headers


class RecentCalls:
    """UUIDs spooled lately, so the second sighting of a call (event or file) costs no disk write."""

    def __init__(self, size: int = 10_000):
        self.size = size
        self._seen: OrderedDict[str, None] = OrderedDict()

    def add(self, call_uuid: str) -> None:
        self._seen[call_uuid] = None
        self._seen.move_to_end(call_uuid)
        while len(self._seen) > self.size:
            self._seen.popitem(last=False)

    def __contains__(self, call_uuid: object) -> bool:
        return call_uuid in self._seen


class FileImporter:
    """Move finished CDR files from FreeSWITCH's directory into the spool, then delete them."""

    def __init__(self, directory: str | Path, spool: Spool, recent: RecentCalls | None = None):
        self.directory = Path(directory)
        self.spool = spool
        self.recent = recent if recent is not None else RecentCalls()
        self.bad = self.directory / "bad"
        self.imported = 0
        # FreeSWITCH writes here but does not create it; a missing directory would drop records.
        self.directory.mkdir(parents=True, exist_ok=True)

    def sweep(self, now: float | None = None) -> int:
        """Import every complete file; return how many records were spooled."""
        now = time.time() if now is None else now
        spooled = 0
        try:
            paths = sorted(self.directory.glob("*.cdr.json"))
        except OSError as exc:
            log.warning("cannot read FreeSWITCH's CDR directory %s: %s", self.directory, exc)
            return 0
        for path in paths:
            spooled += self._import(path, now)
        self.imported += spooled
        return spooled

    def _import(self, path: Path, now: float) -> int:
        if path.name.removesuffix(".cdr.json") in self.recent:
            # Already spooled (durably) from its hangup event: the file adds nothing.
            path.unlink(missing_ok=True)
            return 0
        try:
            text = path.read_text(encoding="utf-8")
            doc = json.loads(text) if text.endswith("\n") else None
        except FileNotFoundError:
            return 0  # another sweep took it
        except (OSError, ValueError, UnicodeDecodeError):
            doc = None
        if doc is None:
            if now - _mtime(path) > _INCOMPLETE_GRACE_S:
                self._quarantine(path, "not a complete JSON document")
            return 0
        record = cdr_from_event(headers_from_json(doc))
        if record is not None:
            self.spool.put(record)  # durable (fsynced) before the source is removed
            self.recent.add(record["uuid"])
        path.unlink(missing_ok=True)
        return 1 if record is not None else 0

    def _quarantine(self, path: Path, reason: str) -> None:
        log.error("moving FreeSWITCH CDR file %s to %s: %s", path.name, self.bad, reason)
        self.bad.mkdir(exist_ok=True)
        os.replace(path, self.bad / path.name)


class NotReady(Exception):
    """The file is still being written: leave it for a later pass."""


class FreeSwitchCdrDir:
    """FreeSWITCH's CDR directory seen as a queue: pending files, read, settle, quarantine.

    It has the interface the writer uses on a `Spool`, so the writer can drain FreeSWITCH's
    files without first copying each into the spool: that copy (a write, an fsync of the file
    and one of its directory, per call) was most of what the CDR path cost (docs/benchmarks.md).
    The files are as durable as FreeSWITCH leaves them: written, not fsynced (docs/decisions.md).
    """

    suffix = ".cdr.json"

    def __init__(self, directory: str | Path, clock: Callable[[], float] = time.time):
        self.directory = Path(directory)
        self.bad = self.directory / "bad"
        self.clock = clock
        # FreeSWITCH writes here but does not create it; a missing directory would drop records.
        self.directory.mkdir(parents=True, exist_ok=True)

    def pending(self, limit: int | None = None) -> list[Path]:
        """Return up to limit CDR files waiting: oldest first when they all fit, else any limit of them."""
        return waiting(self.directory, self.suffix, limit)

    def load(self, path: Path) -> dict[str, Any] | None:
        """Return the file's CDR record, None for a record that is not a CDR; raise NotReady while incomplete."""
        try:
            text = path.read_text(encoding="utf-8")
            doc = json.loads(text) if text.endswith("\n") else None
        except (ValueError, UnicodeDecodeError):
            doc = None
        if doc is None:
            # mod_json_cdr writes in place, ending with a newline: give a writer in progress time.
            if self.clock() - _mtime(path) > _INCOMPLETE_GRACE_S:
                raise ValueError("not a complete JSON document")
            raise NotReady(path.name)
        return cdr_from_event(headers_from_json(doc))

    def done_many(self, paths: list[Path]) -> None:
        """Delete files whose rows are committed."""
        for path in paths:
            path.unlink(missing_ok=True)

    def quarantine(self, path: Path, reason: str) -> None:
        """Move a file that can never be written to bad/, keeping it for a human."""
        log.error("moving FreeSWITCH CDR file %s to %s: %s", path.name, self.bad, reason)
        self.bad.mkdir(exist_ok=True)
        os.replace(path, self.bad / path.name)

    def depth(self) -> int:
        """Return how many CDR files wait."""
        with os.scandir(self.directory) as it:
            return sum(1 for entry in it if entry.name.endswith(self.suffix))


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return time.time()
