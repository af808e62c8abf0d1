# SPDX-License-Identifier: GPL-3.0-or-later
"""PBX feature pages: forwarding rules, schedules, voicemail, IVR menus, groups, queues.

Status, redirects and bodies; refusals next to their field with nothing saved; CSRF refused;
read-only users refused; Ansible-managed objects read-only.
"""

from __future__ import annotations

import pytest

from appliance.store.calls import CallsStore
from appliance.store.menus import MenuStore
from appliance.store.repo import Store
from tests.console.conftest import post, seed_pbx
from tests.console.html import field_block


def count(db, table: str) -> int:
    return db.execute(f"SELECT count(*) AS n FROM {table}").fetchone()["n"]


def audit_rows(db) -> list[dict]:
    return db.execute("SELECT actor, action, object_kind, object_key, summary FROM audit_log ORDER BY id").fetchall()


def seed_features(db) -> None:
    """The small office plus a schedule, forwarding rules, a mailbox, a menu, a group and a queue."""
    seed_pbx(db)
    calls, fleet = CallsStore(db, actor="console"), CallsStore(db, actor="ansible")
    calls.add_schedule(
        "office",
        open_kind="extension",
        open_destination="101",
        closed_kind="extension",
        closed_destination="102",
        ranges=["mon-fri 09:00-17:00"],
        holidays=["2030-12-24..2030-12-26 Christmas"],
    )
    calls.add_forward("101", "busy", "extension", "102")
    fleet.add_forward("102", "no_answer", "extension", "101", ring_seconds=15)
    calls.add_mailbox("101")
    fleet.add_mailbox("201")
    menus, fleet_menus = MenuStore(Store(db, actor="console")), MenuStore(Store(db, actor="ansible"))
    menus.add("group", "sales", members=["101", "102"], strategy="sequential", number="601")
    fleet_menus.add("queue", "support", agents=["101"], number="602")
    menus.add(
        "ivr",
        "main",
        greeting="say:Welcome",
        options=[
            {"digits": "1", "destination_kind": "group", "destination": "sales"},
            {"digits": "2", "destination_kind": "queue", "destination": "support"},
        ],
    )


@pytest.fixture
def office(db):
    seed_features(db)
    return db


LISTS = {
    "/forwards/": ["101-busy-1", "busy", "extension", "102-no_answer-1", "badge ansible"],
    "/schedules/": ["office", "mon-fri 09:00-17:00", "2030-12-24..2030-12-26 Christmas"],
    "/mailboxes/": ["101", "201", "New", "Saved", "Messages"],
    "/ivrs/": ["main", "say:Welcome", "group sales", "queue support"],
    "/groups/": ["sales", "601", "101, 102", "sequential"],
    "/queues/": ["support", "602", "longest-idle-agent", "badge ansible"],
}


@pytest.mark.parametrize("url", sorted(LISTS))
def test_lists_show_every_object(admin, office, url):
    response = admin.get(url)
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    for text in LISTS[url]:
        assert text in body, text


def test_navigation_has_every_pbx_area(admin, office):
    page = admin.get("/").get_data(as_text=True)
    for href in (
        "/forwards/",
        "/schedules/",
        "/ivrs/",
        "/groups/",
        "/queues/",
        "/mailboxes/",
        "/recordings/",
        "/tracking/",
    ):
        assert f'href="{href}"' in page, href


def test_ivr_detail_shows_the_options_table(admin, office):
    page = admin.get("/ivrs/main").get_data(as_text=True)
    assert 'class="list options"' in page
    assert "<code>1</code></td><td>group sales" in page
    edit = admin.get("/ivrs/main/edit").get_data(as_text=True)
    assert "1=group:sales\n2=queue:support" in edit


def test_mailbox_pages_never_show_the_pin(admin, office):
    pin = office.execute("SELECT voicemail_pin FROM extensions WHERE number = '101'").fetchone()["voicemail_pin"]
    for url in ("/mailboxes/", "/mailboxes/101", "/mailboxes/101/edit"):
        assert pin not in admin.get(url).get_data(as_text=True), url


def test_mailbox_counts_from_the_voicemail_index(admin, office, app, tmp_path):
    import sqlite3

    app.config["APPLIANCE_CONFIG"]["freeswitch"]["voicemail_dir"] = str(tmp_path)
    domain = office.execute("SELECT domain FROM site").fetchone()["domain"]
    db = sqlite3.connect(tmp_path / "voicemail.db")
    db.execute("CREATE TABLE voicemail_msgs (read_epoch INTEGER, username TEXT, domain TEXT, flags TEXT)")
    rows = [(0, "101", domain, ""), (0, "101", domain, ""), (5, "101", domain, "save"), (0, "101", domain, "delete")]
    db.executemany("INSERT INTO voicemail_msgs VALUES (?, ?, ?, ?)", rows)
    db.commit()
    db.close()
    page = admin.get("/mailboxes/").get_data(as_text=True)
    row = page.split('href="/mailboxes/101"')[1].split("</tr>")[0]
    assert '<td class="num">2</td><td class="num">1</td><td class="num">3</td>' in row
    other = page.split('href="/mailboxes/201"')[1].split("</tr>")[0]
    assert '<td class="num">0</td><td class="num">0</td><td class="num">0</td>' in other


def test_mailbox_counts_from_files_or_unknown(admin, office, app, tmp_path):
    app.config["APPLIANCE_CONFIG"]["freeswitch"]["voicemail_dir"] = str(tmp_path)
    domain = office.execute("SELECT domain FROM site").fetchone()["domain"]
    box = tmp_path / domain / "101"
    box.mkdir(parents=True)
    for name in ("msg_a.wav", "msg_b.wav", "greeting_1.wav"):
        (box / name).write_bytes(b"RIFF")
    page = admin.get("/mailboxes/").get_data(as_text=True)
    row = page.split('href="/mailboxes/101"')[1].split("</tr>")[0]
    assert '<td class="num">?</td><td class="num">?</td><td class="num">2</td>' in row
    (tmp_path / domain / "201").mkdir()
    (tmp_path / domain / "201").chmod(0)
    try:
        page = admin.get("/mailboxes/").get_data(as_text=True)
    finally:
        (tmp_path / domain / "201").chmod(0o755)
    import os

    if os.geteuid() != 0:  # root reads any directory
        other = page.split('href="/mailboxes/201"')[1].split("</tr>")[0]
        assert '<td class="num">?</td><td class="num">?</td><td class="num">?</td>' in other


# -- create, edit, delete ---------------------------------------------------------------------------


def test_create_forwarding_rule_redirects_to_its_key_and_audits(admin, office):
    response = post(
        admin,
        "/forwards/new",
        {
            "extension": "101",
            "condition": "no_answer",
            "destination_kind": "voicemail",
            "destination": "101",
            "callers": "0301234X., +49Z.",
            "schedule": "office",
            "during": "closed",
            "ring_seconds": "25",
            "position": "0",
        },
        form_url="/forwards/new",
    )
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/forwards/101-no_answer-1")
    rule = office.execute(
        "SELECT destination_kind, callers, during, ring_seconds FROM forward_rules f"
        " JOIN extensions e ON e.id = f.extension_id WHERE e.number = '101' AND condition = 'no_answer'"
    ).fetchone()
    assert rule == {
        "destination_kind": "voicemail",
        "callers": ["0301234X.", "+49Z."],
        "during": "closed",
        "ring_seconds": 25,
    }
    last = audit_rows(office)[-1]
    assert (last["actor"], last["action"], last["object_kind"], last["object_key"]) == (
        "user:admin",
        "create",
        "forward",
        "101-no_answer-1",
    )
    page = admin.get("/forwards/101-no_answer-1").get_data(as_text=True)
    assert "0301234X., +49Z." in page and "History" in page


def test_forwarding_loop_is_refused_next_to_the_destination(admin, office):
    post(
        admin,
        "/forwards/new",
        {
            "extension": "102",
            "condition": "always",
            "destination_kind": "extension",
            "destination": "101",
            "during": "open",
            "ring_seconds": "0",
            "position": "0",
        },
        form_url="/forwards/new",
    )
    before, rules = audit_rows(office), count(office, "forward_rules")
    response = post(
        admin,
        "/forwards/new",
        {
            "extension": "101",
            "condition": "always",
            "destination_kind": "extension",
            "destination": "102",
            "during": "open",
            "ring_seconds": "0",
            "position": "0",
        },
        form_url="/forwards/new",
    )
    assert response.status_code == 422
    block = field_block(response.get_data(as_text=True), "destination")
    assert "forwarding loop" in block and "extension 101 -> extension 102 -> extension 101" in block
    assert count(office, "forward_rules") == rules
    assert audit_rows(office) == before


def test_forwarding_to_a_missing_extension_is_refused_next_to_the_field(admin, office):
    response = post(
        admin,
        "/forwards/new",
        {
            "extension": "999",
            "condition": "busy",
            "destination_kind": "extension",
            "destination": "102",
            "during": "open",
            "ring_seconds": "0",
            "position": "0",
        },
        form_url="/forwards/new",
    )
    assert response.status_code == 422
    assert "does not exist" in field_block(response.get_data(as_text=True), "extension")


def test_edit_forwarding_rule_keeps_it_whole_or_refuses(admin, office):
    response = post(
        admin,
        "/forwards/101-busy-1/edit",
        {
            "extension": "101",
            "condition": "busy",
            "destination_kind": "group",
            "destination": "sales",
            "during": "open",
            "ring_seconds": "0",
            "position": "1",
        },
        form_url="/forwards/101-busy-1/edit",
    )
    assert response.status_code == 302 and response.headers["Location"].endswith("/forwards/101-busy-1")
    refused = post(
        admin,
        "/forwards/101-busy-1/edit",
        {
            "extension": "101",
            "condition": "busy",
            "destination_kind": "group",
            "destination": "nowhere",
            "during": "open",
            "ring_seconds": "0",
            "position": "1",
        },
        form_url="/forwards/101-busy-1/edit",
    )
    assert refused.status_code == 422
    assert "nowhere" in field_block(refused.get_data(as_text=True), "destination")
    row = office.execute("SELECT destination_kind, destination FROM forward_rules WHERE condition = 'busy'").fetchone()
    assert row == {"destination_kind": "group", "destination": "sales"}


def test_delete_forwarding_rule(admin, office):
    assert admin.get("/forwards/101-busy-1/delete").status_code == 200
    response = post(admin, "/forwards/101-busy-1/delete", form_url="/forwards/101-busy-1/delete")
    assert response.status_code == 302 and response.headers["Location"].endswith("/forwards/")
    assert admin.get("/forwards/101-busy-1").status_code == 404
    assert audit_rows(office)[-1]["action"] == "delete"


SCHEDULE_FORM = {
    "name": "weekend",
    "open_kind": "extension",
    "open_destination": "101",
    "closed_kind": "voicemail",
    "closed_destination": "101",
    "ranges": "sat,sun 10:00-14:00\nsat 16:00-18:00",
    "holidays": "2030-01-01 New year\n2030-05-01..2030-05-02",
    "timezone": "Europe/Berlin",
}


def test_create_schedule_with_ranges_and_holidays(admin, office):
    response = post(admin, "/schedules/new", SCHEDULE_FORM, form_url="/schedules/new")
    assert response.status_code == 302 and response.headers["Location"].endswith("/schedules/weekend")
    row = office.execute("SELECT ranges, holidays, timezone FROM schedules WHERE name = 'weekend'").fetchone()
    assert row["ranges"] == [
        {"days": "sat,sun", "start": "10:00", "end": "14:00"},
        {"days": "sat", "start": "16:00", "end": "18:00"},
    ]
    assert row["holidays"][0] == {"start": "2030-01-01", "end": "", "name": "New year"}
    page = admin.get("/schedules/weekend").get_data(as_text=True)
    assert "<li>sat,sun 10:00-14:00</li>" in page and "<li>2030-05-01..2030-05-02</li>" in page


def test_overlapping_ranges_are_refused_next_to_the_field(admin, office):
    data = {**SCHEDULE_FORM, "ranges": "mon-fri 09:00-17:00\nwed 12:00-13:00"}
    response = post(admin, "/schedules/new", data, form_url="/schedules/new")
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "wed 12:00-13:00 overlaps mon-fri 09:00-17:00" in field_block(page, "ranges")
    assert "mon-fri 09:00-17:00\nwed 12:00-13:00" in page  # what was typed stays in the form
    assert count(office, "schedules") == 1


def test_bad_holiday_and_zone_are_refused_next_to_their_fields(admin, office):
    data = {**SCHEDULE_FORM, "holidays": "2030-02-30", "timezone": "Mars/Olympus"}
    response = post(admin, "/schedules/new", data, form_url="/schedules/new")
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "YYYY-MM-DD" in field_block(page, "holidays")
    assert "'Mars/Olympus' is not a known timezone" in field_block(page, "timezone")
    assert count(office, "schedules") == 1


def test_edit_schedule_and_delete_refused_while_used(admin, office):
    data = {k: v for k, v in SCHEDULE_FORM.items() if k != "name"}
    response = post(
        admin, "/schedules/office/edit", {**data, "ranges": "mon-thu 08:00-16:00"}, "/schedules/office/edit"
    )
    assert response.status_code == 302
    ranges = office.execute("SELECT ranges FROM schedules WHERE name = 'office'").fetchone()["ranges"]
    assert ranges == [{"days": "mon-thu", "start": "08:00", "end": "16:00"}]
    post(
        admin,
        "/forwards/new",
        {
            "extension": "101",
            "condition": "always",
            "destination_kind": "voicemail",
            "destination": "101",
            "schedule": "office",
            "during": "closed",
            "ring_seconds": "0",
            "position": "0",
        },
        form_url="/forwards/new",
    )
    refused = post(admin, "/schedules/office/delete", form_url="/schedules/office/delete")
    assert refused.status_code == 422
    assert "forward rule of extension 101" in refused.get_data(as_text=True)
    assert count(office, "schedules") == 1


def test_create_group_queue_and_ivr(admin, office):
    group = post(
        admin,
        "/groups/new",
        {
            "name": "front",
            "members": "101 102",
            "strategy": "simultaneous",
            "ring_seconds": "20",
            "number": "",
            "fallback_kind": "voicemail",
            "fallback": "101",
        },
        "/groups/new",
    )
    assert group.status_code == 302, group.get_data(as_text=True)
    queue = post(
        admin,
        "/queues/new",
        {
            "name": "help",
            "agents": "102",
            "strategy": "ring-all",
            "max_wait_seconds": "60",
            "announce_seconds": "0",
            "agent_ring_seconds": "10",
            "overflow_kind": "group",
            "overflow": "front",
        },
        "/queues/new",
    )
    assert queue.status_code == 302, queue.get_data(as_text=True)
    ivr = post(
        admin,
        "/ivrs/new",
        {
            "name": "night",
            "greeting": "say:Closed",
            "options": "1=queue:help\n9=voicemail:101",
            "timeout_ms": "3000",
            "max_attempts": "2",
            "invalid_prompt": "say:No",
            "fallback_kind": "",
            "fallback": "",
        },
        "/ivrs/new",
    )
    assert ivr.status_code == 302, ivr.get_data(as_text=True)
    options = office.execute(
        "SELECT digits, destination_kind, destination FROM ivr_options o JOIN ivrs i ON i.id = o.ivr_id"
        " WHERE i.name = 'night' ORDER BY position"
    ).fetchall()
    assert [tuple(o.values()) for o in options] == [("1", "queue", "help"), ("9", "voicemail", "101")]
    assert office.execute("SELECT members FROM ring_groups WHERE name = 'front'").fetchone()["members"] == [
        "101",
        "102",
    ]


def test_ivr_option_to_nowhere_is_refused_next_to_options(admin, office):
    response = post(
        admin,
        "/ivrs/new",
        {
            "name": "bad",
            "options": "1=group:ghost",
            "timeout_ms": "3000",
            "max_attempts": "2",
            "invalid_prompt": "say:No",
        },
        "/ivrs/new",
    )
    assert response.status_code == 422
    assert "ghost" in field_block(response.get_data(as_text=True), "options")
    malformed = post(
        admin,
        "/ivrs/new",
        {
            "name": "bad",
            "options": "1 group ghost",
            "timeout_ms": "3000",
            "max_attempts": "2",
            "invalid_prompt": "say:No",
        },
        "/ivrs/new",
    )
    assert malformed.status_code == 422
    assert "DIGITS=KIND:VALUE" in field_block(malformed.get_data(as_text=True), "options")
    assert count(office, "ivrs") == 1


def test_group_with_unknown_member_is_refused_and_edit_of_group(admin, office):
    response = post(
        admin,
        "/groups/new",
        {"name": "x", "members": "101 555", "strategy": "simultaneous", "ring_seconds": "20"},
        "/groups/new",
    )
    assert response.status_code == 422
    assert "555" in field_block(response.get_data(as_text=True), "members")
    assert count(office, "ring_groups") == 1
    edited = post(
        admin,
        "/groups/sales/edit",
        {"members": "102", "strategy": "simultaneous", "ring_seconds": "30", "number": "601"},
        "/groups/sales/edit",
    )
    assert edited.status_code == 302
    assert office.execute("SELECT members, ring_seconds FROM ring_groups WHERE name = 'sales'").fetchone() == {
        "members": ["102"],
        "ring_seconds": 30,
    }


def test_removing_a_group_a_menu_uses_is_refused(admin, office):
    response = post(admin, "/groups/sales/delete", form_url="/groups/sales/delete")
    assert response.status_code == 422
    assert "sales" in response.get_data(as_text=True)
    assert count(office, "ring_groups") == 1


def test_create_and_edit_mailbox(admin, office):
    response = post(admin, "/mailboxes/new", {"extension": "102", "on_busy": "y"}, "/mailboxes/new")
    assert response.status_code == 302 and response.headers["Location"].endswith("/mailboxes/102")
    row = office.execute(
        "SELECT on_busy, on_no_answer FROM mailboxes m JOIN extensions e ON e.id = m.extension_id WHERE number = '102'"
    ).fetchone()
    assert row == {"on_busy": True, "on_no_answer": False}
    again = post(admin, "/mailboxes/new", {"extension": "102"}, "/mailboxes/new")
    assert again.status_code == 422
    assert "already has a mailbox" in field_block(again.get_data(as_text=True), "extension")


# -- who may change what ----------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["/forwards/102-no_answer-1", "/mailboxes/201", "/queues/support"])
def test_ansible_objects_are_read_only(admin, office, url):
    page = admin.get(url).get_data(as_text=True)
    assert "Managed by Ansible: read-only here." in page
    assert f"{url}/edit" not in page
    before = audit_rows(office)
    for action in ("edit", "delete"):
        assert admin.get(f"{url}/{action}").status_code == 403
        assert post(admin, f"{url}/{action}", {}).status_code == 403
    assert audit_rows(office) == before


def test_readonly_user_is_refused_on_writes(readonly, office):
    assert readonly.get("/forwards/").status_code == 200
    assert "New forwarding rule" not in readonly.get("/forwards/").get_data(as_text=True)
    for url in ("/forwards/new", "/schedules/office/edit", "/groups/sales/delete", "/ivrs/new", "/mailboxes/101/edit"):
        assert readonly.get(url).status_code == 403, url
    assert post(readonly, "/groups/sales/delete").status_code == 403
    assert post(readonly, "/schedules/new", SCHEDULE_FORM).status_code == 403
    assert count(office, "schedules") == 1 and count(office, "ring_groups") == 1


def test_writes_without_csrf_token_are_refused(admin, office):
    assert admin.post("/groups/sales/delete").status_code == 400
    assert admin.post("/schedules/new", data=SCHEDULE_FORM).status_code == 400
    assert admin.post("/forwards/101-busy-1/delete").status_code == 400
    assert count(office, "ring_groups") == 1 and count(office, "schedules") == 1
    assert count(office, "forward_rules") == 2
