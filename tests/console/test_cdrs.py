# SPDX-License-Identifier: GPL-3.0-or-later
"""CDR search (date range, number, call type, tag) with paging, the CSV export, and the API search."""

from __future__ import annotations

import csv
import html
import io
import re
from datetime import timedelta

import pytest

from tests.console.conftest import T0, bearer
from tests.console.html import element_text
from tests.console.test_dashboard import add_cdr


@pytest.fixture
def calls(db):
    add_cdr(db, T0 - timedelta(hours=1), did="+4930123456", tracking_tag="spring-flyer", caller_number="+4917011111")
    add_cdr(db, T0 - timedelta(hours=2), call_type="outbound", caller_number="101", destination="0301234567")
    add_cdr(db, T0 - timedelta(days=2), call_type="internal", caller_number="101", destination="102", answered=False)
    add_cdr(db, T0 - timedelta(days=10), caller_number='=HYPERLINK("http://evil")', destination="101")
    return db


def rows_of(page: str) -> str:
    return element_text(page, "cdrs")


def test_search_lists_newest_first(admin, calls):
    response = admin.get("/cdrs/")
    assert response.status_code == 200
    text = rows_of(response.get_data(as_text=True))
    assert text.index("+4917011111") < text.index("0301234567") < text.index("102")


@pytest.mark.parametrize(
    ("query", "present", "absent"),
    [
        ("call_type=outbound", ["0301234567"], ["+4917011111", "HYPERLINK"]),
        # the form's empty select means any type (the API refuses a blank call_type: test_api.py)
        ("call_type=&number=", ["+4917011111", "0301234567", "102"], []),
        ("tag=spring-flyer", ["+4917011111"], ["0301234567"]),
        ("number=30123", ["+4917011111", "0301234567"], ["HYPERLINK"]),
        ("from=2030-06-01&to=2030-06-01", ["102"], ["+4917011111", "0301234567"]),
        ("from=2030-06-03T10:00:00Z", ["+4917011111", "0301234567"], ["HYPERLINK"]),
    ],
)
def test_filters(admin, calls, query, present, absent):
    text = rows_of(admin.get(f"/cdrs/?{query}").get_data(as_text=True))
    for needle in present:
        assert needle in text, (query, needle)
    for needle in absent:
        assert needle not in text, (query, needle)


def test_bad_filter_is_shown_next_to_its_field(admin, calls):
    response = admin.get("/cdrs/?from=yesterday&call_type=fax")
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "must be a date like 2024-05-31" in element_text(page, "field-from")
    assert "must be one of inbound, outbound, internal, unknown" in element_text(page, "field-call_type")


def test_wildcards_in_number_are_literal(admin, calls):
    assert "No calls match." in admin.get("/cdrs/?number=%25").get_data(as_text=True)


def _link(page: str, rel: str) -> str | None:
    found = re.search(rf'rel="{rel}" href="([^"]+)"', page)
    return html.unescape(found.group(1)) if found else None


def test_paging(admin, db):
    for i in range(120):
        add_cdr(db, T0 - timedelta(minutes=i), caller_number=f"+49301000{i:03d}")
    first = admin.get("/cdrs/").get_data(as_text=True)
    assert "+49301000000" in first and "+49301000050" not in first
    assert _link(first, "prev") is None
    second = admin.get(_link(first, "next")).get_data(as_text=True)
    assert "+49301000050" in second and "+49301000049" not in second and "+49301000100" not in second
    third = admin.get(_link(second, "next")).get_data(as_text=True)
    assert "+49301000119" in third and "+49301000099" not in third and "Page 3" in third
    assert _link(third, "next") is None
    back = admin.get(_link(third, "prev")).get_data(as_text=True)
    assert "+49301000050" in back and "+49301000099" in back and "+49301000049" not in back and "Page 2" in back
    top = admin.get(_link(back, "prev")).get_data(as_text=True)
    assert "+49301000000" in top and "+49301000049" in top and _link(top, "prev") is None and "Page 1" in top
    # A page by number (a bookmark) still works, and links on by keyset from there.
    by_number = admin.get("/cdrs/?page=3").get_data(as_text=True)
    assert "+49301000119" in by_number and _link(by_number, "next") is None
    assert "after=" not in _link(by_number, "prev") and "before=" in _link(by_number, "prev")
    filtered = admin.get("/cdrs/?number=49301000&page=2").get_data(as_text=True)
    assert "number=49301000" in _link(filtered, "next")  # the filter follows the pages
    assert 'id="export" href="/cdrs/export.csv?number=49301000"' in filtered  # and the export


def test_calls_in_the_same_instant_are_neither_skipped_nor_repeated_across_pages(admin, db):
    for i in range(130):
        add_cdr(db, T0 - timedelta(minutes=i // 40), caller_number=f"+4930777{i:03d}")  # 40 calls per instant
    seen, url, pages = [], "/cdrs/", 0
    while url and pages < 10:
        page = admin.get(url).get_data(as_text=True)
        seen += set(re.findall(r"\+4930777\d{3}", page))
        url, pages = _link(page, "next"), pages + 1
    assert pages == 3 and len(seen) == 130 and len(set(seen)) == 130


def test_a_forged_cursor_is_refused_with_its_field_named(admin, calls):
    response = admin.get("/cdrs/?after=yesterday_not-a-uuid")
    assert response.status_code == 400
    assert "after: is not a place in the list" in response.get_data(as_text=True)


def test_csv_export_streams_every_match_safely(admin, calls):
    response = admin.get("/cdrs/export.csv?call_type=inbound")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == 'attachment; filename="cdrs-20300603T123000Z.csv"'
    assert response.is_streamed
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert [r["caller_number"] for r in rows] == ['\'=HYPERLINK("http://evil")', "+4917011111"]  # oldest first
    assert rows[1]["did"] == "+4930123456" and rows[1]["tracking_tag"] == "spring-flyer"
    assert rows[1]["billsec"] == "57" and rows[1]["started_at"] == "2030-06-03T11:30:00+00:00"


def test_csv_export_of_many_rows(admin, db):
    for i in range(2500):
        add_cdr(db, T0 - timedelta(seconds=i), caller_number=f"+4930{i:07d}")
    response = admin.get("/cdrs/export.csv")
    lines = response.get_data(as_text=True).splitlines()
    assert len(lines) == 2501 and lines[0].startswith("uuid,started_at")


def test_export_needs_sign_in(client, calls):
    assert client.get("/cdrs/export.csv").status_code == 302


def test_api_search(client, calls, db):
    headers = bearer(db, "reports", ("read",))
    response = client.get("/api/v1/cdrs?tag=spring-flyer", headers=headers)
    assert response.status_code == 200
    body = response.json
    assert body["page"] == 1 and body["per_page"] == 50 and body["has_next"] is False
    [record] = body["items"]
    assert record["did"] == "+4930123456" and record["answered_at"].startswith("2030-06-03T11:30:03")
    paged = client.get("/api/v1/cdrs?per_page=2", headers=headers).json
    assert len(paged["items"]) == 2 and paged["has_next"] is True
    bad = client.get("/api/v1/cdrs?per_page=0&from=never", headers=headers)
    assert bad.status_code == 400
    assert {p["field"] for p in bad.json["problems"]} == {"per_page", "from"}
