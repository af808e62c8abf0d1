# SPDX-License-Identifier: GPL-3.0-or-later
"""Call volume from the CDRs, drawn server-side as inline SVG: no JavaScript, no chart library."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import psycopg
from markupsafe import Markup, escape

WIDTH, HEIGHT = 720, 200
PAD_LEFT, PAD_BOTTOM, PAD_TOP = 36, 24, 8


@dataclass(frozen=True)
class Bucket:
    """Calls that started in [start, start + step)."""

    start: datetime
    label: str
    answered: int
    unanswered: int

    @property
    def total(self) -> int:
        return self.answered + self.unanswered


def last_day(conn: psycopg.Connection, now: datetime) -> list[Bucket]:
    """Return 24 hourly buckets ending with the current hour (UTC)."""
    end = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    return _buckets(conn, end - timedelta(hours=24), timedelta(hours=1), 24, "hour", "%H")


def last_week(conn: psycopg.Connection, now: datetime) -> list[Bucket]:
    """Return 7 daily buckets ending with today (UTC)."""
    end = now.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    return _buckets(conn, end - timedelta(days=7), timedelta(days=1), 7, "day", "%a %d")


def _buckets(
    conn: psycopg.Connection, start: datetime, step: timedelta, count: int, unit: str, fmt: str
) -> list[Bucket]:
    # From the hourly rollup (migration 0008): a week is at most a few thousand rows, however many
    # calls it held. Buckets are whole UTC hours or days, so the rollup answers them exactly.
    rows = conn.execute(
        "SELECT date_trunc(%s, hour AT TIME ZONE 'UTC') AS bucket,"
        " coalesce(sum(calls) FILTER (WHERE answered), 0)::bigint AS answered,"
        " coalesce(sum(calls) FILTER (WHERE NOT answered), 0)::bigint AS unanswered"
        " FROM cdr_hourly WHERE hour >= %s AND hour < %s GROUP BY 1",
        (unit, start, start + step * count),
    ).fetchall()
    found = {r["bucket"]: r for r in rows}
    buckets = []
    for i in range(count):
        at = start + step * i
        row = found.get(at.replace(tzinfo=None), {"answered": 0, "unanswered": 0})
        buckets.append(Bucket(at, at.strftime(fmt), row["answered"], row["unanswered"]))
    return buckets


def svg(buckets: list[Bucket], title: str) -> Markup:
    """Return a stacked bar chart (answered, unanswered) as an inline SVG element."""
    top = max((b.total for b in buckets), default=0)
    scale_max = max(top, 1)
    plot_w, plot_h = WIDTH - PAD_LEFT, HEIGHT - PAD_BOTTOM - PAD_TOP
    slot = plot_w / max(len(buckets), 1)
    bar_w = max(slot * 0.7, 1)
    total = sum(b.total for b in buckets)
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}: {total} calls"'
        ' xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
        f'<line class="axis" x1="{PAD_LEFT}" y1="{HEIGHT - PAD_BOTTOM}" x2="{WIDTH}" y2="{HEIGHT - PAD_BOTTOM}"/>',
        f'<text class="tick" x="{PAD_LEFT - 4}" y="{PAD_TOP + 10}" text-anchor="end">{top}</text>',
        f'<text class="tick" x="{PAD_LEFT - 4}" y="{HEIGHT - PAD_BOTTOM}" text-anchor="end">0</text>',
    ]
    label_every = max(1, len(buckets) // 12)
    for i, b in enumerate(buckets):
        x = PAD_LEFT + i * slot + (slot - bar_w) / 2
        h_ans = plot_h * b.answered / scale_max
        h_un = plot_h * b.unanswered / scale_max
        base = HEIGHT - PAD_BOTTOM
        tip = escape(f"{b.label}: {b.total} calls, {b.answered} answered")
        parts += [
            f'<g class="bar"><title>{tip}</title>',
            _rect("answered", x, base - h_ans, bar_w, h_ans),
            _rect("unanswered", x, base - h_ans - h_un, bar_w, h_un),
            "</g>",
        ]
        if i % label_every == 0:
            middle = x + bar_w / 2
            parts.append(
                f'<text class="tick" x="{middle:.1f}" y="{HEIGHT - 6}" text-anchor="middle">{escape(b.label)}</text>'
            )
    parts.append("</svg>")
    return Markup("".join(parts))


def _rect(css_class: str, x: float, y: float, width: float, height: float) -> str:
    return f'<rect class="{css_class}" x="{x:.1f}" y="{y:.1f}" width="{width:.1f}" height="{height:.1f}"/>'
