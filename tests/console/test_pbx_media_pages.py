# SPDX-License-Identifier: GPL-3.0-or-later
"""Recordings (downloaded as stored, never decrypted), the owner's key, and call tracking statistics."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, datetime

import pyrage
import pytest

from appliance.recording.crypto import encrypt_file
from tests.console.conftest import bearer, post, seed_pbx
from tests.console.html import field_block

CALL = str(uuid.uuid4())


def add_cdr(db, call_uuid: str, tag: str, started: datetime, answered: bool, billsec: int, caller="+4930999") -> None:
    db.execute(
        "INSERT INTO cdrs (uuid, call_type, caller_number, destination, did, tracking_tag, started_at, answered_at,"
        " ended_at, billsec) VALUES (%s, 'inbound', %s, '101', '+4930123456', %s, %s, %s, %s, %s)",
        (call_uuid, caller, tag, started, started if answered else None, started, billsec),
    )


@pytest.fixture
def owner(tmp_path):
    """The owner's key pair: the appliance only ever sees the public half."""
    identity = pyrage.x25519.Identity.generate()
    return identity, str(identity.to_public())


@pytest.fixture
def stored(app, db, tmp_path, owner):
    """One encrypted recording in the recordings directory, with its call's CDR."""
    seed_pbx(db)
    root = tmp_path / "recordings"
    app.config["APPLIANCE_CONFIG"]["freeswitch"]["recordings_dir"] = str(root)
    plain = tmp_path / "plain.wav"
    plain.write_bytes(b"RIFF-secret-audio" * 100)
    target = root / "2030-06-03" / f"{CALL}.wav.age"
    encrypt_file(plain, target, owner[1])
    add_cdr(db, CALL, "", datetime(2030, 6, 3, 9, 15, tzinfo=UTC), True, 42, caller="+4917012345")
    (root / "2030-06-03" / ".hidden.wav.age").write_bytes(b"x")  # a partial write is not listed
    return target


def test_recordings_list_shows_each_call_and_size(admin, stored):
    page = admin.get("/recordings/").get_data(as_text=True)
    assert CALL in page and "+4917012345" in page and "2030-06-03 09:15:00" in page
    assert f'<td class="num">{stored.stat().st_size}</td>' in page
    assert f'href="/recordings/2030-06-03/{CALL}.wav.age"' in page
    assert ".hidden" not in page


def test_download_is_the_encrypted_file_as_stored(admin, readonly, stored, owner):
    for client in (admin, readonly):
        response = client.get(f"/recordings/2030-06-03/{CALL}.wav.age")
        assert response.status_code == 200
        assert response.mimetype == "application/octet-stream"
        assert "attachment" in response.headers["Content-Disposition"]
        body = response.get_data()
        assert body == stored.read_bytes()
        assert body.startswith(b"age-encryption.org/v1") and b"secret-audio" not in body
        assert pyrage.decrypt(body, [owner[0]]) == b"RIFF-secret-audio" * 100  # only the owner's key opens it


@pytest.mark.parametrize(
    "url",
    [
        "/recordings/2030-06-03/nope.wav.age",
        "/recordings/..%2F..%2Fetc/passwd.age",
        "/recordings/2030-06-03/.hidden.wav.age",
        "/recordings/2030-06-03/plain.wav",
    ],
)
def test_download_refuses_anything_but_a_stored_recording(admin, stored, url):
    assert admin.get(url).status_code == 404


def test_download_refuses_a_symlink_out_of_the_directory(admin, stored, tmp_path):
    outside = tmp_path / "outside.age"
    outside.write_bytes(b"not a recording")
    (stored.parent / "link.wav.age").symlink_to(outside)
    assert admin.get("/recordings/2030-06-03/link.wav.age").status_code == 404


def test_set_owner_key_audited_and_private_key_refused(admin, stored, db, owner):
    response = post(admin, "/recordings/key", {"recording_key": owner[1]}, "/recordings/")
    assert response.status_code == 302
    assert db.execute("SELECT recording_key FROM site").fetchone()["recording_key"] == owner[1]
    row = db.execute("SELECT actor, object_kind, object_key FROM audit_log ORDER BY id DESC LIMIT 1").fetchone()
    assert row == {"actor": "user:admin", "object_kind": "site", "object_key": "recording_key"}
    refused = post(admin, "/recordings/key", {"recording_key": str(owner[0])}, "/recordings/")
    assert refused.status_code == 422
    assert field_block(refused.get_data(as_text=True), "recording_key").count("private") >= 1
    assert db.execute("SELECT recording_key FROM site").fetchone()["recording_key"] == owner[1]


def test_owner_key_refused_for_readonly_without_csrf_and_when_ansible_manages_the_site(
    admin, readonly, stored, db, owner
):
    assert post(readonly, "/recordings/key", {"recording_key": owner[1]}, "/recordings/").status_code == 403
    assert admin.post("/recordings/key", data={"recording_key": owner[1]}).status_code == 400
    db.execute("UPDATE site SET managed_by = 'ansible'")
    page = admin.get("/recordings/").get_data(as_text=True)
    assert "Managed by Ansible" in page and 'id="key-form"' not in page
    assert post(admin, "/recordings/key", {"recording_key": owner[1]}, "/recordings/").status_code == 403
    assert db.execute("SELECT recording_key FROM site").fetchone()["recording_key"] == ""


def test_recordings_api_lists_downloads_and_sets_the_key(client, stored, db, owner):
    headers = bearer(db)
    listing = client.get("/api/v1/recordings", headers=headers).get_json()
    assert listing["items"][0]["call_uuid"] == CALL and listing["items"][0]["cdr"]["billsec"] == 42
    download = client.get(f"/api/v1/recordings/2030-06-03/{CALL}.wav.age", headers=headers)
    assert download.status_code == 200 and download.get_data() == stored.read_bytes()
    assert client.get("/api/v1/recordings/2030-06-03/x.age", headers=headers).status_code == 404
    read_only = bearer(db, "reader", ("read",))
    assert client.put("/api/v1/recording-key", json={"recording_key": owner[1]}, headers=read_only).status_code == 403
    bad = client.put("/api/v1/recording-key", json={"recording_key": "age1nonsense"}, headers=headers)
    assert bad.status_code == 422 and bad.get_json()["problems"][0]["field"] == "recording_key"
    ok = client.put("/api/v1/recording-key", json={"recording_key": owner[1]}, headers=headers)
    assert ok.status_code == 200 and ok.get_json()["recording_key"] == owner[1]


# -- call tracking ------------------------------------------------------------------------------------


@pytest.fixture
def tracked(db):
    seed_pbx(db)
    calls = [
        ("spring-flyer", datetime(2030, 6, 1, 10, tzinfo=UTC), True, 60),
        ("spring-flyer", datetime(2030, 6, 1, 11, tzinfo=UTC), False, 0),
        ("spring-flyer", datetime(2030, 6, 3, 9, tzinfo=UTC), True, 30),
        ("=HYPERLINK(1)", datetime(2030, 6, 2, 9, tzinfo=UTC), True, 10),
        ("spring-flyer", datetime(2030, 4, 1, 9, tzinfo=UTC), True, 99),  # outside the default 30 days
    ]
    for tag, started, answered, billsec in calls:
        add_cdr(db, str(uuid.uuid4()), tag, started, answered, billsec)
    return db


def test_tracking_page_totals_by_day_and_chart(admin, tracked):
    response = admin.get("/tracking/")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    totals = page.split('id="totals"')[1].split("</table>")[0]
    assert "spring-flyer" in totals
    assert '<td class="num">3</td><td class="num">2</td><td class="num">90</td><td class="num">45.0</td>' in totals
    daily = page.split('id="daily"')[1].split("</table>")[0]
    assert "2030-06-01" in daily and "2030-06-03" in daily and "2030-04-01" not in daily
    assert '<svg class="chart"' in page and "4 calls" in page  # the chart's label counts the range's calls


def test_tracking_filters_by_tag_and_refuses_bad_dates(admin, tracked):
    page = admin.get("/tracking/?from=2030-04-01&to=2030-06-03&tag=spring-flyer").get_data(as_text=True)
    totals = page.split('id="totals"')[1].split("</table>")[0]
    assert "HYPERLINK" not in totals and '<td class="num">4</td>' in totals
    bad = admin.get("/tracking/?from=2030-06-05&to=2030-06-01")
    assert bad.status_code == 400
    assert "must not be before" in bad.get_data(as_text=True)
    assert admin.get("/tracking/?from=yesterday").status_code == 400
    # the form's empty fields mean the default range
    assert admin.get("/tracking/?from=&to=&tag=").status_code == 200


def test_tracking_csv_export(admin, tracked):
    response = admin.get("/tracking/export.csv?from=2030-06-01&to=2030-06-03")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert {(r["tag"], r["day"], r["calls"], r["answered"], r["total_seconds"]) for r in rows} == {
        ("'=HYPERLINK(1)", "2030-06-02", "1", "1", "10"),
        ("spring-flyer", "2030-06-01", "2", "1", "60"),
        ("spring-flyer", "2030-06-03", "1", "1", "30"),
    }


def test_tracking_api(client, tracked):
    headers = bearer(tracked)
    data = client.get("/api/v1/tracking?from=2030-06-01&to=2030-06-03&tag=spring-flyer", headers=headers).get_json()
    assert data["totals"] == [
        {"tag": "spring-flyer", "day": None, "calls": 3, "answered": 2, "total_seconds": 90, "average_seconds": 45.0}
    ]
    assert [d["day"] for d in data["daily"]] == ["2030-06-01", "2030-06-03"]
    assert client.get("/api/v1/tracking?to=2030-01-01", headers=headers).status_code == 400
    assert client.get("/api/v1/tracking?tags=x", headers=headers).status_code == 400
    # the document says a date: a blank one is refused (the page's empty form field means the default)
    blank = client.get("/api/v1/tracking?from=&to=", headers=headers)
    assert blank.status_code == 400
    assert {p["field"] for p in blank.get_json()["problems"]} == {"from", "to"}


# -- recording and presentation on extensions and routes ----------------------------------------------


def test_extension_recording_needs_the_owner_key_then_saves(admin, db, owner):
    seed_pbx(db)
    form = {"name": "Alice", "caller_id_number": "+4930123456101", "outbound_allowed": "y"}
    refused = post(admin, "/extensions/101/edit", {**form, "recording": "always"}, "/extensions/101/edit")
    assert refused.status_code == 422
    assert "needs the owner's public key first" in field_block(refused.get_data(as_text=True), "recording")
    assert db.execute("SELECT recording FROM extensions WHERE number = '101'").fetchone()["recording"] == "off"
    db.execute("UPDATE site SET recording_key = %s", (owner[1],))
    saved = post(
        admin,
        "/extensions/101/edit",
        {**form, "recording": "on_demand", "presentation": "withheld"},
        "/extensions/101/edit",
    )
    assert saved.status_code == 302
    row = db.execute("SELECT recording, presentation FROM extensions WHERE number = '101'").fetchone()
    assert row == {"recording": "on_demand", "presentation": "withheld"}


def test_route_record_calls_through_the_api(client, db, owner):
    seed_pbx(db)
    headers = bearer(db)
    refused = client.patch("/api/v1/routes/national", json={"record_calls": True}, headers=headers)
    assert refused.status_code == 422 and refused.get_json()["problems"][0]["field"] == "record_calls"
    db.execute("UPDATE site SET recording_key = %s", (owner[1],))
    ok = client.patch("/api/v1/routes/national", json={"record_calls": True}, headers=headers)
    assert ok.status_code == 200 and ok.get_json()["item"]["record_calls"] is True
