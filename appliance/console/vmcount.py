# SPDX-License-Identifier: GPL-3.0-or-later
"""Count the messages in each voicemail box, read from mod_voicemail's own files (never written).

mod_voicemail keeps its index in `<voicemail_dir>/voicemail.db` (SQLite) and the audio in
`<voicemail_dir>/<domain>/<extension>/msg_<uuid>.wav`. The console reads the index read-only; when it
cannot (no such file, no permission, a locked or foreign database) it counts the audio files instead,
and when it cannot read those either the count is unknown (None), never a guess.
"""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Counts:
    """A box's messages: new (unheard) and saved, or only the total when read from files."""

    new: int | None
    saved: int | None
    total: int | None
    source: str  # "index", "files" or "unreadable"


UNKNOWN = Counts(None, None, None, "unreadable")


def counts(voicemail_dir: Path, domain: str, extensions: list[str]) -> dict[str, Counts]:
    """Return the message counts of each extension's box."""
    found = _from_index(voicemail_dir / "voicemail.db", domain, extensions)
    if found is not None:
        return found
    return {ext: _from_files(voicemail_dir / domain / ext) for ext in extensions}


def _from_index(db: Path, domain: str, extensions: list[str]) -> dict[str, Counts] | None:
    if not db.is_file():
        return None
    try:
        # mode=ro: the console must never create, lock for writing or change FreeSWITCH's index.
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=0.5)
    except sqlite3.Error as exc:
        log.warning("cannot open the voicemail index %s: %s", db, exc)
        return None
    try:
        rows = conn.execute(
            "SELECT username, sum(read_epoch = 0), sum(read_epoch <> 0) FROM voicemail_msgs"
            " WHERE domain = ? AND coalesce(flags, '') <> 'delete' GROUP BY username",
            (domain,),
        ).fetchall()
    except sqlite3.Error as exc:
        log.warning("cannot read the voicemail index %s: %s", db, exc)
        return None
    finally:
        conn.close()
    by_user = {r[0]: (int(r[1] or 0), int(r[2] or 0)) for r in rows}
    out = {}
    for ext in extensions:
        new, saved = by_user.get(ext, (0, 0))
        out[ext] = Counts(new, saved, new + saved, "index")
    return out


def _from_files(box: Path) -> Counts:
    try:
        total = sum(1 for p in box.iterdir() if p.name.startswith("msg_") and p.is_file())
    except FileNotFoundError:
        return Counts(None, None, 0, "files")  # no message was ever left
    except OSError as exc:
        log.info("cannot read voicemail box %s: %s", box, exc)
        return UNKNOWN
    return Counts(None, None, total, "files")
