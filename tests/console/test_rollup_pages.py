# SPDX-License-Identifier: GPL-3.0-or-later
"""The dashboard's charts and the numbers page read the hourly rollup, and still count exactly."""

from __future__ import annotations

from datetime import timedelta

from appliance.console import chart, numbers
from tests.console.conftest import T0
from tests.console.test_dashboard import add_cdr


def test_week_and_day_charts_equal_a_count_over_the_cdrs(db):
    for i in range(60):
        add_cdr(
            db, T0 - timedelta(hours=3 * i, minutes=i), answered=i % 4 != 0, call_type=("inbound", "internal")[i % 2]
        )
    week, day = chart.last_week(db, T0), chart.last_day(db, T0)
    since_week = T0.replace(hour=0, minute=0) - timedelta(days=6)
    since_day = T0.replace(minute=0) - timedelta(hours=23)
    for buckets, since in ((week, since_week), (day, since_day)):
        truth = db.execute(
            "SELECT count(*) AS n, count(answered_at) AS a FROM cdrs WHERE started_at >= %s AND started_at < %s",
            (since, since + (buckets[1].start - buckets[0].start) * len(buckets)),
        ).fetchone()
        assert (sum(b.total for b in buckets), sum(b.answered for b in buckets)) == (truth["n"], truth["a"])
        assert truth["n"] > 0


def test_numbers_tracking_window_starts_exactly_thirty_days_ago(db, monkeypatch):
    monkeypatch.setattr(numbers.clock, "now", lambda: T0)  # T0 is 12:30: the window opens mid-hour
    since = T0 - timedelta(days=numbers.TRACKING_DAYS)
    add_cdr(db, since - timedelta(minutes=10), did="+4930111")  # same hour as the edge, but before it
    add_cdr(db, since + timedelta(minutes=10), did="+4930111", answered=False)  # inside, in the edge hour
    add_cdr(db, since + timedelta(hours=5), did="+4930111")
    add_cdr(db, T0 - timedelta(minutes=1), did="+4930222")
    add_cdr(db, T0 - timedelta(minutes=1), did="")  # not a DID's call
    tracked = numbers.tracking(db)["tracking"]
    assert {d: (r["calls"], r["answered"]) for d, r in tracked.items()} == {"+4930111": (2, 1), "+4930222": (1, 1)}
