# SPDX-License-Identifier: GPL-3.0-or-later
"""Migration 0008: the number search uses the trigram index and still means "part of any number";
the keyset pages read the time index from their cursor."""

from __future__ import annotations

from datetime import timedelta

import pytest

from appliance.console import cdrquery
from tests.console.conftest import T0
from tests.console.test_dashboard import add_cdr


def plan(db, sql: str, params: list) -> str:
    """Return the plan PostgreSQL picks when a sequential scan is ruled out (the table is tiny here)."""
    db.execute("SET enable_seqscan = off")
    try:
        return "\n".join(r["QUERY PLAN"] for r in db.execute("EXPLAIN " + sql, params).fetchall())
    finally:
        db.execute("RESET enable_seqscan")


@pytest.fixture
def calls(db):
    add_cdr(db, T0 - timedelta(hours=1), caller_number="+4917012", destination="345", did="+49301")
    add_cdr(db, T0 - timedelta(hours=2), call_type="outbound", caller_number="101", destination="0309876")
    db.execute("UPDATE cdrs SET outbound_caller_id = '+4930555777' WHERE destination = '0309876'")
    add_cdr(db, T0 - timedelta(hours=3), caller_number="\x1fodd", destination="777")
    return db


@pytest.mark.parametrize(
    ("needle", "destinations"),
    [
        ("17012", {"345"}),  # caller_number
        ("0309", {"0309876"}),  # destination
        ("+49301", {"345"}),  # did
        ("555777", {"0309876"}),  # outbound_caller_id
        ("777", {"0309876", "777"}),  # two columns of two calls
        ("12345", set()),  # the end of one number and the start of the next is no match
        ("\x1fodd", {"777"}),  # a needle holding the separator takes the exact, unindexed path
    ],
)
def test_number_search_matches_within_one_number(calls, needle, destinations):
    rows, _ = cdrquery.search(calls, cdrquery.CdrFilter(number=needle), 1, 50)
    assert {r["destination"] for r in rows} == destinations


def test_number_search_uses_the_trigram_index(db):
    where, params = cdrquery._where(cdrquery.CdrFilter(number="30123"))
    assert "cdrs_numbers_trgm" in plan(db, f"SELECT uuid FROM cdrs{where}", params)


def test_a_keyset_page_starts_at_its_cursor_in_the_time_index(db):
    for i in range(50):
        add_cdr(db, T0 - timedelta(hours=i))
    db.execute("ANALYZE cdrs")
    cursor = cdrquery.Cursor(T0 - timedelta(hours=20), "00000000-0000-4000-8000-000000000000")
    sql = f"SELECT uuid FROM cdrs WHERE (started_at, uuid) < (%s, %s::uuid) ORDER BY {cdrquery.NEWEST_FIRST} LIMIT 51"
    text = plan(db, sql, [cursor.started_at, cursor.uuid])
    # The cursor is an index condition (no rows read and dropped before it) and the order is the index's.
    assert "Scan Backward using cdrs_started_at" in text and "Index Cond" in text
    assert "Sort" not in text


@pytest.mark.parametrize("probe_rows", [5, 10_000])
def test_number_pages_are_the_same_whether_the_newest_rows_fill_them_or_not(db, monkeypatch, probe_rows):
    monkeypatch.setattr(cdrquery, "PROBE_ROWS", probe_rows)  # 5: most pages fall back to the trigram plan
    for i in range(60):
        # "555" on every third call (common), "777" on two (rare).
        number = f"+4930555{i:03d}" if i % 3 == 0 else f"+4930{700 + i}" + ("777" if i in (7, 41) else "000")
        add_cdr(db, T0 - timedelta(minutes=i), caller_number=number)
    for needle in ("555", "777", "4930"):
        want = [
            r["uuid"]
            for r in db.execute(
                f"SELECT uuid FROM cdrs WHERE {cdrquery.NUMBERS_TEXT} LIKE %s ORDER BY {cdrquery.NEWEST_FIRST}",
                [f"%{needle}%"],
            )
        ]
        got, after = [], None
        for _ in range(20):
            page = cdrquery.search_page(db, cdrquery.CdrFilter(number=needle), 4, after=after)
            got += [r["uuid"] for r in page.rows]
            if page.older is None:
                break
            after = page.older
        assert got == want and want, needle
        first, _ = cdrquery.search(db, cdrquery.CdrFilter(number=needle), 1, 4)
        assert [r["uuid"] for r in first] == want[:4]
        oldest = cdrquery.Cursor(T0 - timedelta(minutes=59), "00000000-0000-4000-8000-000000000000")
        back = cdrquery.search_page(db, cdrquery.CdrFilter(number=needle), 4, before=oldest)
        assert [r["uuid"] for r in back.rows] == want[-4:]  # the 4 oldest matches, newest first
