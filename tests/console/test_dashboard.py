# SPDX-License-Identifier: GPL-3.0-or-later
"""The dashboard: counts, live registrations and calls over ESL, call volume drawn from the CDRs."""

from __future__ import annotations

import json
import re
import uuid
from datetime import timedelta

import pytest

from appliance.console import create_app
from tests.console.conftest import ADMIN_PASSWORD, T0, HttpsClient, make_user, seed_pbx, sign_in
from tests.console.fakefs import PASSWORD, ThreadedFakeEsl
from tests.console.html import element_text

REGISTRATIONS = {
    "row_count": 2,
    "rows": [
        {
            "reg_user": "desk-101-1",
            "realm": "pbx.local",
            "network_ip": "192.0.2.21",
            "network_port": "5060",
            "network_proto": "udp",
            "url": "sofia/internal/sip:desk-101-1@192.0.2.21:5060",
        },
        {
            "reg_user": "102",
            "realm": "pbx.local",
            "network_ip": "192.0.2.22",
            "network_port": "5062",
            "network_proto": "tcp",
            "url": "sofia/internal/sip:102@192.0.2.22:5062",
        },
    ],
}
CALLS = {
    "row_count": 1,
    "rows": [
        {
            "uuid": "6f1c",
            "direction": "inbound",
            "created": "2030-06-03 12:29:01",
            "cid_num": "+4930999",
            "cid_name": "Caller",
            "dest": "101",
            "callstate": "ACTIVE",
        }
    ],
}


def add_cdr(db, started, answered: bool = True, **fields) -> None:
    values = {"call_type": "inbound", "caller_number": "+4930999", "destination": "101", **fields}
    db.execute(
        "INSERT INTO cdrs (uuid, call_type, caller_number, destination, did, tracking_tag, started_at, answered_at,"
        " ended_at, billsec, hangup_cause) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (
            str(uuid.uuid4()),
            values["call_type"],
            values["caller_number"],
            values["destination"],
            values.get("did", ""),
            values.get("tracking_tag", ""),
            started,
            started + timedelta(seconds=3) if answered else None,
            started + timedelta(seconds=60),
            57 if answered else 0,
            "NORMAL_CLEARING" if answered else "NO_ANSWER",
        ),
    )


def test_counts_and_no_live_state_without_freeswitch(admin, db):
    seed_pbx(db)
    page = admin.get("/").get_data(as_text=True)
    assert element_text(page, "count-extensions").startswith("3")
    assert element_text(page, "count-devices").startswith("1")
    assert element_text(page, "count-trunks").startswith("2")
    assert element_text(page, "count-numbers").startswith("1")
    assert "not connected to a live FreeSWITCH" in element_text(page, "live-unavailable")


def test_charts_count_calls_per_hour_and_day(admin, db):
    # T0 is 12:30 UTC: two calls this hour (one missed), one at 09:xx, one 3 days ago, one 8 days ago (out).
    add_cdr(db, T0 - timedelta(minutes=5))
    add_cdr(db, T0 - timedelta(minutes=20), answered=False)
    add_cdr(db, T0 - timedelta(hours=3))
    add_cdr(db, T0 - timedelta(days=3))
    add_cdr(db, T0 - timedelta(days=8))
    page = admin.get("/").get_data(as_text=True)
    assert "Last 24 hours: 3 calls" in page
    assert "Last 7 days: 4 calls" in page
    day = page[page.index('id="chart-day"') : page.index('id="chart-week"')]
    assert "<svg" in day and "<script" not in day
    assert "12: 2 calls, 1 answered" in day
    assert "09: 1 calls, 1 answered" in day
    assert "11: 0 calls" in day
    bars = re.findall(r'<g class="bar">', day)
    assert len(bars) == 24
    week = page[page.index('id="chart-week"') :]
    assert len(re.findall(r'<g class="bar">', week)) == 7
    assert "Mon 03: 3 calls, 2 answered" in week  # 2030-06-03 is a Monday


@pytest.fixture
def live_app(app_config, db, tmp_path):
    """The console configured beside a (fake) live FreeSWITCH."""
    replies = {"show registrations as json": json.dumps(REGISTRATIONS), "show calls as json": json.dumps(CALLS)}
    fake = ThreadedFakeEsl(replies).start()
    password_file = tmp_path / "esl_password"
    password_file.write_text(PASSWORD + "\n")
    cfg = app_config["APPLIANCE_CONFIG"]
    cfg["freeswitch"].update(esl_port=fake.port, esl_password_file=str(password_file))
    app = create_app({**app_config, "FREESWITCH_LIVE": True, "ESL_TIMEOUT": 3.0})
    app.test_client_class = HttpsClient
    yield app, fake
    fake.stop()
    app.extensions["console_freeswitch"].shutdown()


def test_live_registrations_and_calls_from_esl(live_app, db):
    app, fake = live_app
    seed_pbx(db)
    make_user(db, "admin", ADMIN_PASSWORD)
    client = app.test_client()
    sign_in(client, "admin", ADMIN_PASSWORD)
    page = client.get("/").get_data(as_text=True)
    registrations = element_text(page, "registrations")
    assert "desk-101 line 1 → 101" in registrations and "192.0.2.21:5060" in registrations
    assert "extension 102 (Bob)" in registrations
    assert element_text(page, "count-registered").startswith("2")
    assert element_text(page, "count-calls").startswith("1")
    assert "+4930999" in element_text(page, "calls")
    assert "api show registrations as json" in fake.commands


def test_unreachable_freeswitch_is_said_not_fatal(app_config, db, tmp_path):
    password_file = tmp_path / "esl_password"
    password_file.write_text("whatever\n")
    cfg = app_config["APPLIANCE_CONFIG"]
    cfg["freeswitch"].update(esl_port=1, esl_password_file=str(password_file))
    app = create_app({**app_config, "FREESWITCH_LIVE": True, "ESL_TIMEOUT": 1.0})
    app.test_client_class = HttpsClient
    make_user(db, "admin", ADMIN_PASSWORD)
    client = app.test_client()
    sign_in(client, "admin", ADMIN_PASSWORD)
    response = client.get("/")
    assert response.status_code == 200
    assert "FreeSWITCH did not answer" in element_text(response.get_data(as_text=True), "live-unavailable")
