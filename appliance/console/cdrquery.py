# SPDX-License-Identifier: GPL-3.0-or-later
"""Search the CDRs (date range, number, call type, tracking tag) and export them as CSV."""

from __future__ import annotations

import csv
import io
import re
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import psycopg

from appliance.console.schema import text_problem

CALL_TYPES = ("inbound", "outbound", "internal", "unknown")
COLUMNS = (
    "uuid",
    "started_at",
    "answered_at",
    "ended_at",
    "call_type",
    "caller_number",
    "caller_name",
    "destination",
    "extension",
    "did",
    "tracking_tag",
    "trunk",
    "route",
    "outbound_caller_id",
    "duration_s",
    "billsec",
    "hangup_cause",
    "sip_hangup_status",
)
MAX_PER_PAGE = 500
# The number columns joined by a unit separator: migration 0008's trigram index is on exactly this
# expression (PostgreSQL uses an expression index only for the identical expression).
_SEPARATOR = "\x1f"
NUMBERS_TEXT = (
    "(caller_number || chr(31) || destination || chr(31) || did || chr(31) || extension"
    " || chr(31) || outbound_caller_id)"
)
_PHONE_LIKE = re.compile(r"^[+-]?[\d ]+$")


@dataclass(frozen=True)
class CdrFilter:
    """What to look for; empty fields match everything."""

    start: datetime | None = None
    end: datetime | None = None  # exclusive
    number: str = ""
    call_type: str = ""
    tag: str = ""


def parse_filter(args: Mapping[str, str], *, blank_is_default: bool = True) -> tuple[CdrFilter, dict[str, str]]:
    """Read a filter from query arguments (from, to, number, call_type, tag); return it and errors per field.

    The page's search form sends an empty select as `call_type=`, meaning any type. The API documents an
    enum and refuses a blank one (`blank_is_default=False`); only an absent one means any.
    """
    errors: dict[str, str] = {}
    start = _when(args.get("from", ""), "from", errors, end_of_day=False)
    end = _when(args.get("to", ""), "to", errors, end_of_day=True)
    if start and end and end <= start:
        errors["to"] = "must be after 'from'"
    text = {}
    for name, limit in (("number", 32), ("tag", 64), ("call_type", 16)):
        value = args.get(name, "").strip()
        if why := text_problem(value, limit):
            errors[name] = why
            value = ""
        text[name] = value
    blank_type = not text["call_type"] and "call_type" in args and not blank_is_default
    if blank_type or (text["call_type"] and text["call_type"] not in CALL_TYPES):
        errors["call_type"] = f"must be one of {', '.join(CALL_TYPES)}"
    return CdrFilter(start, end, text["number"], text["call_type"], text["tag"]), errors


def _when(raw: str, name: str, errors: dict[str, str], end_of_day: bool) -> datetime | None:
    """Parse a date (the whole day) or an ISO date-time; naive times are UTC."""
    raw = raw.strip()
    if not raw:
        return None
    try:
        if len(raw) == 10:
            day = date.fromisoformat(raw)
            return datetime.combine(day + timedelta(days=1 if end_of_day else 0), time(), UTC)
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        errors[name] = "must be a date like 2024-05-31 or a date-time like 2024-05-31T14:00:00Z"
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _where(f: CdrFilter) -> tuple[str, list[Any]]:
    clauses, params = [], []
    if f.start:
        clauses.append("started_at >= %s")
        params.append(f.start)
    if f.end:
        clauses.append("started_at < %s")
        params.append(f.end)
    if f.number:
        like = "%" + f.number.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        if _SEPARATOR in f.number:
            # Could match across two columns of the joined text: ask each column (unindexed, exact).
            clauses.append(
                "(caller_number LIKE %s OR destination LIKE %s OR did LIKE %s OR extension LIKE %s"
                " OR outbound_caller_id LIKE %s)"
            )
            params += [like] * 5
        else:
            # Without the separator a match lies inside one column: the same answer, from the trigram index.
            clauses.append(f"{NUMBERS_TEXT} LIKE %s")
            params.append(like)
    if f.call_type:
        clauses.append("call_type = %s")
        params.append(f.call_type)
    if f.tag:
        clauses.append("tracking_tag = %s")
        params.append(f.tag)
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), params


# Newest first; the uuid breaks ties, so (started_at, uuid) names one row: a keyset cursor.
NEWEST_FIRST = "started_at DESC, uuid DESC"


def _order(f: CdrFilter, direction: str = "DESC") -> str:
    """Return the ORDER BY list: by (started_at, uuid), in a form the time index serves or, for a number, not.

    With a number of three characters or more the trigram index finds the few matching rows; left to
    itself the planner may instead walk the time index from the newest row testing every one (it
    cannot estimate a substring's rarity: 0.2 ms became 1 s at 200,000 rows). Adding zero seconds
    keeps the order and takes that path away. Shorter needles match too much for trigrams.
    """
    if len(f.number) >= 3 and _SEPARATOR not in f.number:  # what the trigram index can serve
        return f"started_at + interval '0 s' {direction}, uuid {direction}"
    return f"started_at {direction}, uuid {direction}"


# A number search first looks among this many newest rows (of the other filters) for its page.
PROBE_ROWS = 5000


def _select(
    conn: psycopg.Connection,
    f: CdrFilter,
    direction: str,
    limit: int,
    offset: int = 0,
    keyset: tuple[str, list[Any]] = ("", []),
) -> list[dict[str, Any]]:
    """Return up to limit matching rows in (started_at, uuid) `direction` order, after the keyset condition."""
    cols = ", ".join(COLUMNS)
    natural = f"started_at {direction}, uuid {direction}"
    if _order(f) != NEWEST_FIRST and offset == 0:
        # A common needle ("123" is in most DIDs) fills a page from the newest few hundred rows, where
        # the trigram index would have to rank most of the table; a rare one is the other way round.
        # So: the newest PROBE_ROWS rows first; any match outside them is older than all of them, so a
        # full page found there is the right page. Otherwise the trigram plan, which is then cheap.
        inner, inner_params = _where(replace(f, number=""))
        inner, inner_params = _and(inner, inner_params, keyset)
        outer, outer_params = _where(CdrFilter(number=f.number))
        rows = conn.execute(
            f"SELECT {cols} FROM (SELECT {cols} FROM cdrs{inner} ORDER BY {natural} LIMIT {PROBE_ROWS}) AS newest"
            f"{outer} ORDER BY {natural} LIMIT %s",
            [*inner_params, *outer_params, limit],
        ).fetchall()
        if len(rows) == limit:
            return rows
    where, params = _and(*_where(f), keyset)
    return conn.execute(
        f"SELECT {cols} FROM cdrs{where} ORDER BY {_order(f, direction)} LIMIT %s OFFSET %s",
        [*params, limit, offset],
    ).fetchall()


def _and(where: str, params: list[Any], extra: tuple[str, list[Any]]) -> tuple[str, list[Any]]:
    clause, extra_params = extra
    if not clause:
        return where, params
    return where + (" AND " if where else " WHERE ") + clause, [*params, *extra_params]


def search(conn: psycopg.Connection, f: CdrFilter, page: int, per_page: int) -> tuple[list[dict[str, Any]], bool]:
    """Return one page of CDRs by number (OFFSET: the API's `page`), newest first, and whether another follows."""
    # One row more than asked says whether there is a next page without counting a million rows.
    rows = _select(conn, f, "DESC", per_page + 1, offset=(page - 1) * per_page)
    return rows[:per_page], len(rows) > per_page


@dataclass(frozen=True)
class Cursor:
    """A place in the list: the (started_at, uuid) of a row; a page lists the rows after or before it."""

    started_at: datetime
    uuid: str

    def __str__(self) -> str:
        return f"{self.started_at.astimezone(UTC).isoformat()}_{self.uuid}"

    @classmethod
    def of(cls, row: Mapping[str, Any]) -> Cursor:
        return cls(row["started_at"], str(row["uuid"]))


def parse_cursor(raw: str) -> Cursor | None:
    """Read a cursor written by str(Cursor); None if it is not one."""
    when, _, key = raw.strip().rpartition("_")
    try:
        started = datetime.fromisoformat(when)
        return Cursor(started if started.tzinfo else started.replace(tzinfo=UTC), str(uuid.UUID(key)))
    except ValueError:
        return None


@dataclass(frozen=True)
class Page:
    """One page of a keyset search and the cursors of its neighbours (None: no such page)."""

    rows: list[dict[str, Any]]
    newer: Cursor | None
    older: Cursor | None


def search_page(
    conn: psycopg.Connection, f: CdrFilter, per_page: int, after: Cursor | None = None, before: Cursor | None = None
) -> Page:
    """Return the page of CDRs older than `after`, or newer than `before`, or the newest; newest first.

    Keyset paging: the database walks the (started_at, uuid) index from the cursor, so page 200
    costs what page 1 does, where OFFSET reads and drops every row before it.
    """
    if before is not None:
        # The page just above: read upwards from the cursor, then show it newest first.
        above = ("(started_at, uuid) > (%s, %s::uuid)", [before.started_at, before.uuid])
        rows = _select(conn, f, "ASC", per_page + 1, keyset=above)
        more_newer = len(rows) > per_page
        rows = rows[:per_page][::-1]
        return Page(rows, Cursor.of(rows[0]) if rows and more_newer else None, Cursor.of(rows[-1]) if rows else None)
    below = ("(started_at, uuid) < (%s, %s::uuid)", [after.started_at, after.uuid]) if after else ("", [])
    rows = _select(conn, f, "DESC", per_page + 1, keyset=below)
    more_older = len(rows) > per_page
    rows = rows[:per_page]
    newer = Cursor.of(rows[0]) if rows and after is not None else None
    return Page(rows, newer, Cursor.of(rows[-1]) if rows and more_older else None)


def csv_rows(connection: Callable[[], psycopg.Connection], f: CdrFilter, batch: int = 1000) -> Iterator[str]:
    """Yield the matching CDRs as CSV text, header first, read through a server-side cursor.

    connection() is called once streaming starts: the request's pooled connection (the response is
    streamed inside the request's context, so it stays the request's until the last row).
    """
    where, params = _where(f)
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def flush() -> str:
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    writer.writerow(COLUMNS)
    yield flush()
    conn = connection()
    # A named (server-side) cursor lives in a transaction; an abandoned download rolls it back.
    with conn.transaction(), conn.cursor(name="cdr_export") as cur:
        cur.itersize = batch
        # _order: a cursor is planned for its first rows, which would favour walking the time index.
        cur.execute(f"SELECT {', '.join(COLUMNS)} FROM cdrs{where} ORDER BY {_order(f, 'ASC')}", params)
        for i, row in enumerate(cur, 1):
            writer.writerow([_cell(row[c]) for c in COLUMNS])
            if i % batch == 0:
                yield flush()
    yield flush()


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    text = str(value)
    # Caller names come from the outside world: a spreadsheet must not run "=HYPERLINK(...)" from one.
    # Phone numbers like +4930... stay as they are.
    if text[:1] in ("=", "@", "\t", "\r") or (text[:1] in ("+", "-") and not _PHONE_LIKE.match(text)):
        return "'" + text
    return text


def public(row: dict[str, Any]) -> dict[str, Any]:
    """Return a CDR as JSON-ready values."""
    return {
        c: (
            row[c].astimezone(UTC).isoformat()
            if isinstance(row[c], datetime)
            else str(row[c])
            if c == "uuid"
            else row[c]
        )
        for c in COLUMNS
    }
