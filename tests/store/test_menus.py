# SPDX-License-Identifier: GPL-3.0-or-later
"""IVR menus, ring groups and queues in the store: each refusal names object and field and writes nothing."""

from __future__ import annotations

import pytest

from appliance.model.validate import ValidationFailed
from appliance.store.menus import MenuStore
from appliance.store.repo import Store, load_snapshot


@pytest.fixture
def menus(conn):
    store = Store(conn)
    for number, name in (("101", "Alice"), ("102", "Bob"), ("103", "Carol")):
        store.add_extension(number, name)
    return MenuStore(store)


def _snap(menus: MenuStore):
    return load_snapshot(menus.store.conn)


def test_objects_round_trip_through_the_store(menus):
    menus.add("group", "sales", members=["101", "102"], strategy="sequential", ring_seconds=10, number="600")
    menus.add("queue", "support", agents=["102"], max_wait_seconds=60, overflow_kind="group", overflow="sales")
    ivr = menus.add(
        "ivr",
        "main",
        greeting="say:Welcome",
        options=[
            {"digits": "1", "destination_kind": "group", "destination": "sales"},
            {"digits": "2", "destination_kind": "queue", "destination": "support"},
            {"digits": "0", "destination_kind": "extension", "destination": "103"},
        ],
        fallback_kind="extension",
        fallback="103",
    )
    assert [(o.digits, o.destination_kind, o.destination) for o in ivr.options] == [
        ("1", "group", "sales"),
        ("2", "queue", "support"),
        ("0", "extension", "103"),
    ]
    snap = _snap(menus)
    assert snap.groups[0].members == ("101", "102") and snap.groups[0].strategy == "sequential"
    assert snap.queues[0].agents == ("102",) and snap.queues[0].overflow == "sales"
    changed = menus.update("ivr", "main", options=[{"digits": "9", "destination_kind": "ivr", "destination": "main"}])
    assert [o.digits for o in changed.options] == ["9"]  # a menu may offer itself again (the caller can still act)


def test_option_to_nowhere_is_refused(menus):
    with pytest.raises(ValidationFailed, match=r"IVR main option 1: destination: group 'nosuch' does not exist"):
        menus.add("ivr", "main", options=[{"digits": "1", "destination_kind": "group", "destination": "nosuch"}])
    assert _snap(menus).ivrs == ()


def test_duplicate_digits_are_refused(menus):
    options = [
        {"digits": "1", "destination_kind": "extension", "destination": "101"},
        {"digits": "1", "destination_kind": "extension", "destination": "102"},
    ]
    with pytest.raises(ValidationFailed, match=r"IVR main option 1: digits: already used by another option"):
        menus.add("ivr", "main", options=options)
    assert _snap(menus).ivrs == ()


def test_menu_that_is_its_own_timeout_fallback_is_refused(menus):
    opt = [{"digits": "1", "destination_kind": "extension", "destination": "101"}]
    with pytest.raises(ValidationFailed, match=r"IVR main: fallback: a menu cannot be its own fallback"):
        menus.add("ivr", "main", options=opt, fallback_kind="ivr", fallback="main")
    assert _snap(menus).ivrs == ()


def test_fallback_chains_that_loop_are_refused_but_submenu_cycles_are_fine(menus):
    opt = [{"digits": "1", "destination_kind": "extension", "destination": "101"}]
    menus.add("ivr", "a", options=opt)
    menus.add(
        "ivr",
        "b",
        options=[{"digits": "9", "destination_kind": "ivr", "destination": "a"}],
        fallback_kind="ivr",
        fallback="a",
    )
    # a <-> b as sub-menus: the caller can always press 1, so it is allowed
    menus.update("ivr", "a", options=[*opt, {"digits": "2", "destination_kind": "ivr", "destination": "b"}])
    with pytest.raises(ValidationFailed, match=r"fallbacks loop forever: ivr a -> ivr b -> ivr a"):
        menus.update("ivr", "a", fallback_kind="ivr", fallback="b")
    assert _snap(menus).ivrs[0].fallback == ""


def test_empty_group_and_unknown_members_are_refused(menus):
    with pytest.raises(ValidationFailed, match=r"ring group sales: members: a ring group needs at least one"):
        menus.add("group", "sales", members=[])
    with pytest.raises(ValidationFailed, match=r"ring group sales: members: extension '999' does not exist"):
        menus.add("group", "sales", members=["101", "999"])
    with pytest.raises(ValidationFailed, match=r"queue help: agents: extension '998' does not exist"):
        menus.add("queue", "help", agents=["998"])
    with pytest.raises(ValidationFailed, match=r"queue help: agents: a queue needs at least one"):
        menus.add("queue", "help", agents=[])
    snap = _snap(menus)
    assert snap.groups == () and snap.queues == ()


def test_removing_a_member_extension_is_refused_naming_the_group(menus):
    menus.add("group", "sales", members=["101", "102"])
    with pytest.raises(ValidationFailed, match=r"ring group sales: members: extension '102' does not exist"):
        menus.store.remove_extension("102")
    assert _snap(menus).extension("102") is not None


def test_numbers_may_not_clash(menus):
    with pytest.raises(ValidationFailed, match=r"ring group sales: number: 101 is already extension 101"):
        menus.add("group", "sales", members=["101"], number="101")
    menus.add("group", "sales", members=["101"], number="600")
    with pytest.raises(ValidationFailed, match=r"queue help: number: 600 is already ring group sales"):
        menus.add("queue", "help", agents=["101"], number="600")


def test_bad_fields_are_refused(menus):
    with pytest.raises(ValidationFailed) as info:
        menus.add("group", "g", members=["101"], strategy="random", ring_seconds=1)
    text = str(info.value)
    assert "ring group g: strategy: 'random' is not one of" in text and "ring group g: ring_seconds: 1 must be" in text
    with pytest.raises(ValidationFailed, match=r"IVR m: greeting: .* must be 'say:<text>'"):
        menus.add("ivr", "m", greeting="relative.wav", dial_by_extension=True)
    with pytest.raises(ValidationFailed, match=r"queue q: overflow: give both the kind"):
        menus.add("queue", "q", agents=["101"], overflow_kind="extension")
    with pytest.raises(ValidationFailed, match=r"ring group g: colour: no such field"):
        menus.add("group", "g", members=["101"], colour="red")


def test_removal_used_by_a_did_or_an_option_is_refused(menus):
    menus.add("group", "sales", members=["101"])
    menus.add("ivr", "main", options=[{"digits": "1", "destination_kind": "group", "destination": "sales"}])
    with pytest.raises(ValidationFailed, match=r"IVR main option 1: destination: group 'sales' does not exist"):
        menus.remove("group", "sales")
    menus.store.add_number("+4930555200", "main", destination_kind="ivr")
    with pytest.raises(ValidationFailed, match=r"IVR main: references: still used by inbound number \+4930555200"):
        menus.remove("ivr", "main")
    menus.store.remove_number("+4930555200")
    menus.remove("ivr", "main")
    menus.remove("group", "sales")
    assert _snap(menus).ivrs == () and _snap(menus).groups == ()


def test_console_may_not_change_ansibles_group(menus):
    MenuStore(Store(menus.store.conn, actor="ansible")).add("group", "ops", members=["101"])
    with pytest.raises(ValidationFailed, match=r"ring group ops: managed_by: is managed by Ansible"):
        menus.update("group", "ops", ring_seconds=30)
