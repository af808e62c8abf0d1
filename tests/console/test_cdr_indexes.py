# SPDX-License-Identifier: GPL-3.0-or-later
"""Migration 0008: the number search uses the trigram index and still means "part of any number"."""

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


def test_call_volume_is_counted_from_the_index_alone(db):
    sql = (
        "SELECT date_trunc('hour', started_at AT TIME ZONE 'UTC'), count(answered_at), count(did)"
        " FROM cdrs WHERE started_at >= %s AND started_at < %s GROUP BY 1"
    )
    for i in range(50):
        add_cdr(db, T0 - timedelta(hours=i), answered=i % 3 > 0, did="+49301" if i % 2 else "")
    db.execute("VACUUM ANALYZE cdrs")  # an index-only scan needs the visibility map, as autovacuum keeps it
    text = plan(db, sql, [T0 - timedelta(days=7), T0])
    assert "Index Only Scan using cdrs_started_at" in text
