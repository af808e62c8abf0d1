# SPDX-License-Identifier: GPL-3.0-or-later
"""The store against real PostgreSQL: strong generated credentials, whole-or-nothing validated changes."""

from __future__ import annotations

import pytest

from appliance.model.validate import ValidationFailed, password_weakness, pin_weakness
from appliance.store.migrate import available, migrate
from appliance.store.repo import Store, load_snapshot


@pytest.fixture
def store(conn):
    return Store(conn)


def _office(store: Store) -> None:
    store.add_extension("101", "Alice", caller_id_number="+4930123456101")
    store.add_extension("102", "Bob")
    store.add_trunk("carrier", "127.0.0.2", username="acct", password="Tr0ub4dor&3xyz", register=True)


def test_migrations_are_idempotent(conn):
    assert migrate(conn) == []
    assert conn.execute("SELECT count(*) AS n FROM schema_migrations").fetchone()["n"] == len(available())


def test_extension_gets_strong_generated_credentials(store):
    ext = store.add_extension("101", "Alice")
    assert password_weakness(ext.sip_password, username="101") is None
    assert pin_weakness(ext.voicemail_pin, "101") is None
    assert ext.managed_by == "console"
    assert store.add_extension("102", "Bob").sip_password != ext.sip_password


def test_duplicate_extension_is_refused_naming_object_and_field(store):
    store.add_extension("101", "Alice")
    with pytest.raises(ValidationFailed, match=r"extension 101: number: already exists"):
        store.add_extension("101", "Mallory")
    assert [e.name for e in load_snapshot(store.conn).extensions] == ["Alice"]


def test_weak_credentials_are_refused(store):
    with pytest.raises(ValidationFailed, match=r"extension 103: sip_password: must be at least 16"):
        store.add_extension("103", "Carol", sip_password="1234")
    with pytest.raises(ValidationFailed, match=r"extension 104: voicemail_pin: is guessable"):
        store.add_extension("104", "Dan", voicemail_pin="1234")
    assert load_snapshot(store.conn).extensions == ()


def test_device_lines_each_get_their_own_account(store):
    _office(store)
    ata = store.add_device("ata1", "fxs_gateway", [{"port": 1, "extension": "101"}, {"port": 2, "extension": "102"}])
    assert [(line.port, line.extension, line.sip_username) for line in ata.lines] == [
        (1, "101", "ata1-1"),
        (2, "102", "ata1-2"),
    ]
    assert ata.lines[0].sip_password != ata.lines[1].sip_password


def test_device_line_to_unknown_extension_leaves_nothing_behind(store):
    _office(store)
    with pytest.raises(ValidationFailed, match=r"device ata1 port 2: extension: extension '999' does not exist"):
        store.add_device("ata1", "fxs_gateway", [{"port": 1, "extension": "101"}, {"port": 2, "extension": "999"}])
    assert load_snapshot(store.conn).devices == ()


def test_overlapping_routes_are_refused_and_nothing_is_half_written(store):
    _office(store)
    store.add_route("national", ["0ZXXXXXXXX."], ["carrier"])
    with pytest.raises(
        ValidationFailed, match=r"outbound route intl: patterns: '011.' overlaps '0ZXXXXXXXX.' of route 'national'"
    ):
        store.add_route("intl", ["011.", "00."], ["carrier"])
    assert [r.name for r in load_snapshot(store.conn).outbound_routes] == ["national"]


def test_malformed_pattern_and_pattern_shadowing_an_extension_are_refused(store):
    _office(store)
    with pytest.raises(ValidationFailed, match=r"character 'Q' at position 2"):
        store.add_route("bad", ["9Q."], ["carrier"])
    with pytest.raises(ValidationFailed, match=r"'1XX' matches extension 101"):
        store.add_route("short", ["1XX"], ["carrier"])


def test_unknown_destination_and_trunk_are_refused(store):
    _office(store)
    with pytest.raises(ValidationFailed, match=r"inbound number \+4930123456: destination: extension '555'"):
        store.add_number("+4930123456", "555")
    with pytest.raises(ValidationFailed, match=r"outbound route r: trunks: trunk 'nope' does not exist"):
        store.add_route("r", ["9X."], ["nope"])
    number = store.add_number("+4930123456", "101", tracking_tag="spring-flyer", trunk="carrier")
    assert (number.trunk, number.tracking_tag) == ("carrier", "spring-flyer")


def test_console_cannot_change_ansible_objects(conn):
    Store(conn, actor="ansible").add_extension("201", "Reception")
    with pytest.raises(ValidationFailed, match=r"extension 201: managed_by: is managed by Ansible"):
        Store(conn).update_extension("201", name="Hacked")
    with pytest.raises(ValidationFailed, match=r"managed by Ansible"):
        Store(conn).remove_extension("201")
    assert Store(conn, actor="ansible").update_extension("201", name="Front desk").name == "Front desk"


def test_remove_refuses_while_referenced(store):
    _office(store)
    store.add_number("+4930123456", "101")
    with pytest.raises(ValidationFailed, match=r"extension 101: references: still used by inbound number"):
        store.remove_extension("101")
    store.remove_number("+4930123456")
    store.remove_extension("101")
    assert [e.number for e in load_snapshot(store.conn).extensions] == ["102"]


def test_site_update_is_validated(store):
    with pytest.raises(ValidationFailed, match=r"site: lan_ip: 'not-an-ip'"):
        store.update_site(lan_ip="not-an-ip")
    with pytest.raises(ValidationFailed, match=r"site: colour: no such setting"):
        store.update_site(colour="blue")
    assert store.update_site(company_number="+4930123456").company_number == "+4930123456"
