# SPDX-License-Identifier: GPL-3.0-or-later
"""Call tracking: calls, answered calls and talk time per campaign tag and day, with a chart and CSV.

The figures are appliance.tracking.stats.tag_stats(), the same the CLI prints, read in the site's zone.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from dataclasses import asdict, fields
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import psycopg
from flask import Blueprint, Response, render_template, request

from appliance.console import chart, clock, objects
from appliance.console.cdrquery import _cell
from appliance.console.db import get_conn
from appliance.console.schema import text_problem
from appliance.tracking.stats import MAX_DAYS, TagStats, tag_stats

bp = Blueprint("tracking", __name__, url_prefix="/tracking")

DEFAULT_DAYS = 30
PARAMETERS = ("from", "to", "tag")


def parse(
    args: Mapping[str, str], today: date, *, blank_is_default: bool = True
) -> tuple[dict[str, Any], dict[str, str]]:
    """Read from, to (dates, both included; default the last 30 days) and tag; return them and errors.

    The page's form sends its empty date fields as `from=`: there blank means the default. The API
    documents a date and refuses a blank one (`blank_is_default=False`); only an absent one defaults.
    """
    errors: dict[str, str] = {}
    out: dict[str, Any] = {}
    for name, default in (("from", today - timedelta(days=DEFAULT_DAYS - 1)), ("to", today)):
        raw = (args.get(name) or "").strip()
        if not raw and (blank_is_default or name not in args):
            out[name] = default
            continue
        try:
            out[name] = date.fromisoformat(raw)  # a blank one lands here too and is refused
        except ValueError:
            errors[name] = "must be a date like 2030-06-01"
            out[name] = default
    if "from" not in errors and "to" not in errors:
        if out["to"] < out["from"]:
            errors["to"] = "must not be before 'from'"
        elif (out["to"] - out["from"]).days > MAX_DAYS:
            errors["to"] = f"the range must be at most {MAX_DAYS} days"
    tag = (args.get("tag") or "").strip()
    if why := text_problem(tag, 64):
        errors["tag"] = why
        tag = ""
    out["tag"] = tag or None
    return out, errors


def report(conn: psycopg.Connection, q: dict[str, Any]) -> dict[str, Any]:
    """Return the totals per tag, the rows per tag and day, and the daily buckets for the chart."""
    zone = objects.snapshot(conn).site.timezone or "UTC"
    totals = tag_stats(conn, q["from"], q["to"], by_day=False, tag=q["tag"], timezone=zone)
    daily = tag_stats(conn, q["from"], q["to"], by_day=True, tag=q["tag"], timezone=zone)
    per_day: dict[date, list[int]] = {}
    for row in daily:
        calls, answered = per_day.setdefault(row.day, [0, 0])
        per_day[row.day] = [calls + row.calls, answered + row.answered]
    buckets = []
    day = q["from"]
    while day <= q["to"]:
        calls, answered = per_day.get(day, [0, 0])
        buckets.append(
            chart.Bucket(datetime.combine(day, time(), UTC), day.strftime("%m-%d"), answered, calls - answered)
        )
        day += timedelta(days=1)
    return {"totals": totals, "daily": daily, "buckets": buckets, "timezone": zone}


def csv_text(rows: list[TagStats]) -> str:
    """Return rows as CSV; a tag a spreadsheet would run as a formula is neutralised."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([f.name for f in fields(TagStats)])
    for row in rows:
        writer.writerow([_cell(v) for v in asdict(row).values()])
    return out.getvalue()


def _today() -> date:
    return clock.now().astimezone(UTC).date()


@bp.route("/")
def index() -> Any:
    """Show statistics per tag for a date range, with the calls per day as a chart."""
    q, errors = parse(request.args, _today())
    if errors:
        return render_template("tracking/index.html", q=q, errors=errors, args=request.args), 400
    data = report(get_conn(), q)
    title = f"Tracked calls per day ({q['tag'] or 'all tags'})"
    return render_template(
        "tracking/index.html", q=q, errors={}, args=request.args, chart=chart.svg(data["buckets"], title), **data
    )


@bp.route("/export.csv")
def export() -> Any:
    """Download the statistics per tag and day as CSV."""
    q, errors = parse(request.args, _today())
    if errors:
        return render_template("tracking/index.html", q=q, errors=errors, args=request.args), 400
    zone = objects.snapshot(get_conn()).site.timezone or "UTC"
    rows = tag_stats(get_conn(), q["from"], q["to"], by_day=True, tag=q["tag"], timezone=zone)
    name = f"tracking-{q['from']}-{q['to']}.csv"
    return Response(
        csv_text(rows), mimetype="text/csv", headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )
