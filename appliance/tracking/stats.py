# SPDX-License-Identifier: GPL-3.0-or-later
"""Per-campaign call statistics from the CDRs: calls, answered, talk time, per day or per period.

Every inbound number carries a tracking tag, copied onto each call's CDR (`cdrs.tracking_tag`).
`tag_stats` returns plain rows the console can show and the CLI prints or writes as CSV.
"""

from __future__ import annotations

import csv
import datetime
import io
from collections.abc import Iterable
from dataclasses import asdict, dataclass, fields

import psycopg

MAX_DAYS = 3660  # ten years: a wider range is a typing mistake, not a report


@dataclass(frozen=True)
class TagStats:
    """One row: a tag's calls on one day (or over the whole range when `day` is None)."""

    tag: str
    day: datetime.date | None
    calls: int
    answered: int
    total_seconds: int  # talk time (billsec) of the answered calls
    average_seconds: float  # talk time per answered call; 0 when none was answered


def tag_stats(
    conn: psycopg.Connection,
    start: datetime.date,
    end: datetime.date,
    *,
    by_day: bool = True,
    tag: str | None = None,
    timezone: str = "UTC",
) -> list[TagStats]:
    """Return statistics per tag (and per day) for calls that started from start to end, both included."""
    if end < start:
        raise ValueError(f"--to {end} is before --from {start}")
    if (end - start).days > MAX_DAYS:
        raise ValueError(f"the range {start}..{end} is longer than {MAX_DAYS} days")
    day = "(started_at AT TIME ZONE %(tz)s)::date"
    query = f"""
        SELECT tracking_tag AS tag, {day if by_day else "NULL::date"} AS day,
               count(*) AS calls,
               count(*) FILTER (WHERE answered_at IS NOT NULL) AS answered,
               coalesce(sum(billsec) FILTER (WHERE answered_at IS NOT NULL), 0) AS total_seconds
          FROM cdrs
         WHERE tracking_tag <> ''
           AND {day} BETWEEN %(start)s AND %(end)s
           AND (%(tag)s::text IS NULL OR tracking_tag = %(tag)s::text)
         GROUP BY 1, 2
         ORDER BY 1, 2
    """  # only our own fragments are formatted in; values are parameters
    rows = conn.execute(query, {"tz": timezone, "start": start, "end": end, "tag": tag}).fetchall()
    return [
        TagStats(
            tag=r["tag"],
            day=r["day"],
            calls=r["calls"],
            answered=r["answered"],
            total_seconds=int(r["total_seconds"]),
            average_seconds=round(int(r["total_seconds"]) / r["answered"], 1) if r["answered"] else 0.0,
        )
        for r in rows
    ]


def to_csv(rows: Iterable[TagStats]) -> str:
    """Return the rows as CSV with a header line (day empty for whole-range rows)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([f.name for f in fields(TagStats)])
    for row in rows:
        writer.writerow(["" if v is None else v for v in asdict(row).values()])
    return out.getvalue()
