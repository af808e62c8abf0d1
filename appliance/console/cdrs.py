# SPDX-License-Identifier: GPL-3.0-or-later
"""Call detail records: search with paging, and the matching records as a streamed CSV file."""

from __future__ import annotations

from datetime import UTC
from typing import Any

from flask import Blueprint, Response, render_template, request, stream_with_context

from appliance.console import cdrquery, clock
from appliance.console.db import get_conn

bp = Blueprint("cdrs", __name__, url_prefix="/cdrs")

PER_PAGE = 50


@bp.route("/")
def search() -> Any:
    """Show the CDRs matching the filter, newest first, PER_PAGE at a time."""
    f, errors = cdrquery.parse_filter(request.args)
    page = request.args.get("page", 1, type=int) or 1
    page = max(1, min(page, 100_000))
    after, before = _cursor("after", errors), _cursor("before", errors)
    newer = older = None
    if errors:
        rows = []
    elif after or before:
        # Keyset paging, what the pager's links use: as fast at page 200 as at page 1.
        found = cdrquery.search_page(get_conn(), f, PER_PAGE, after=after, before=before)
        rows, newer, older = found.rows, found.newer, found.older
        if before and newer is None:
            page = 1  # back at the top, however we got here
    else:
        # A page by number (a bookmark, or ?page=N typed in): OFFSET, then keyset links from here on.
        rows, has_next = cdrquery.search(get_conn(), f, page, PER_PAGE)
        if rows and page > 1:
            newer = cdrquery.Cursor.of(rows[0])
        if rows and has_next:
            older = cdrquery.Cursor.of(rows[-1])
    status = 400 if errors else 200
    query = {k: v for k, v in request.args.items() if k not in ("page", "after", "before") and v}
    return render_template(
        "cdrs/search.html",
        rows=rows,
        errors=errors,
        args=request.args,
        page=page,
        newer=newer,
        older=older,
        query=query,
        call_types=cdrquery.CALL_TYPES,
    ), status


def _cursor(name: str, errors: dict[str, str]) -> cdrquery.Cursor | None:
    raw = request.args.get(name, "")
    if not raw:
        return None
    cursor = cdrquery.parse_cursor(raw)
    if cursor is None:
        errors[name] = "is not a place in the list (use the Newer and Older links)"
    return cursor


@bp.route("/export.csv")
def export() -> Any:
    """Stream every CDR matching the filter as CSV (oldest first), however many there are."""
    f, errors = cdrquery.parse_filter(request.args)
    if errors:
        return render_template(
            "cdrs/search.html",
            rows=[],
            errors=errors,
            args=request.args,
            page=1,
            newer=None,
            older=None,
            query={},
            call_types=cdrquery.CALL_TYPES,
        ), 400
    stamp = clock.now().astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    body = stream_with_context(cdrquery.csv_rows(get_conn, f))
    return Response(
        body,
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="cdrs-{stamp}.csv"'},
    )
