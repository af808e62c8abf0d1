# SPDX-License-Identifier: GPL-3.0-or-later
"""Call detail records: search with paging, and the matching records as a streamed CSV file."""

from __future__ import annotations

from datetime import UTC
from typing import Any

from flask import Blueprint, Response, current_app, render_template, request, stream_with_context

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
    rows, has_next = ([], False) if errors else cdrquery.search(get_conn(), f, page, PER_PAGE)
    status = 400 if errors else 200
    query = {k: v for k, v in request.args.items() if k != "page" and v}
    return render_template(
        "cdrs/search.html",
        rows=rows,
        errors=errors,
        args=request.args,
        page=page,
        has_next=has_next,
        query=query,
        call_types=cdrquery.CALL_TYPES,
    ), status


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
            has_next=False,
            query={},
            call_types=cdrquery.CALL_TYPES,
        ), 400
    stamp = clock.now().astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    body = stream_with_context(cdrquery.csv_rows(current_app.config["DATABASE_DSN"], f))
    return Response(
        body,
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="cdrs-{stamp}.csv"'},
    )
