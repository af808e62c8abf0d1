# SPDX-License-Identifier: GPL-3.0-or-later
"""The `appliance tracking` commands: call statistics per campaign tag, as a table, JSON or CSV."""

from __future__ import annotations

import argparse
import datetime
import sys
from collections.abc import Callable
from typing import Any

import psycopg

from appliance.tracking.stats import tag_stats, to_csv


def _date(text: str) -> datetime.date:
    try:
        return datetime.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date like 2026-11-01") from None


def _stats(args: argparse.Namespace, cfg: dict[str, Any]) -> Any:
    from appliance.store.db import connect

    today = datetime.datetime.now(datetime.UTC).date()
    start = args.start or today.replace(day=1)
    end = args.end or today
    try:
        with connect(cfg["database"]["dsn"], autocommit=True) as conn:
            rows = tag_stats(conn, start, end, by_day=not args.totals, tag=args.tag, timezone=args.timezone)
    except (ValueError, psycopg.errors.InvalidParameterValue) as exc:
        raise RuntimeError(str(exc).splitlines()[0]) from None
    if args.csv:
        sys.stdout.write(to_csv(rows))
        return None
    return rows


def add_commands(sub, cmd: Callable[..., argparse.ArgumentParser]) -> None:
    """Add the `appliance tracking` actions; cmd(sub, name, handler, help) makes one (appliance.cli._cmd)."""
    p = cmd(sub, "stats", _stats, "calls, answered and talk time per tracking tag, per day")
    p.add_argument("--from", dest="start", type=_date, help="first day, YYYY-MM-DD (default: 1st of this month)")
    p.add_argument("--to", dest="end", type=_date, help="last day, included (default: today)")
    p.add_argument("--tag", help="only this tag")
    p.add_argument("--totals", action="store_true", help="one row per tag for the whole range, not per day")
    p.add_argument("--timezone", default="UTC", help="the days are this zone's (default UTC)")
    p.add_argument("--csv", action="store_true", help="write CSV to standard output")
