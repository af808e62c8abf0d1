# SPDX-License-Identifier: GPL-3.0-or-later
"""The toll-fraud guard in the rendered tree: per-extension route lists and concurrent outside calls."""

from __future__ import annotations

import dataclasses
import re

from appliance.fsconf import check, render

from .conftest import office, parse


def _guards(tree) -> list:
    return parse(tree / "dialplan/default/40_outside_guard.xml").xpath("//extension")


def _variables(path) -> dict[str, str]:
    return {v.get("name"): v.get("value") for v in parse(path).iter("variable")}


def test_site_defaults_live_in_the_directory_domain(tree):
    assert _variables(tree / "directory/default.xml") == {
        "appliance_max_outside_calls": "2",
        "appliance_outside_routes": "*",
    }


def test_extension_overrides_are_written_only_when_set(tmp_path, runtime):
    snap = office(max_outside_calls=3, outside_routes="national,emergency")
    ext = dataclasses.replace(snap.extensions[1], max_outside_calls=1, outside_routes="emergency")
    snap = dataclasses.replace(snap, extensions=(snap.extensions[0], ext, snap.extensions[2]))
    render(snap, runtime, tmp_path / "conf")
    check(tmp_path / "conf")
    domain = _variables(tmp_path / "conf/directory/default.xml")
    assert domain == {"appliance_max_outside_calls": "3", "appliance_outside_routes": "national,emergency"}
    own = _variables(tmp_path / "conf/directory/default/1002.xml")
    assert (own["appliance_max_outside_calls"], own["appliance_outside_routes"]) == ("1", "emergency")
    line = _variables(tmp_path / "conf/directory/default/desk101-l2.xml")  # the desk phone's line 2 is 1002's
    assert (line["appliance_max_outside_calls"], line["appliance_outside_routes"]) == ("1", "emergency")
    assert "appliance_outside_routes" not in _variables(tmp_path / "conf/directory/default/1001.xml")


def test_one_guard_per_route_pattern_before_the_routes(tree):
    guards = _guards(tree)
    assert [g.get("name") for g in guards] == [
        "outside-guard-emergency-1",
        "outside-guard-emergency-2",
        "outside-guard-international-1",
        "outside-guard-national-1",
    ]
    files = sorted(p.name for p in (tree / "dialplan/default").glob("*.xml"))
    assert files.index("40_outside_guard.xml") < files.index("50_route_0001_emergency.xml")
    assert files.index("10_extension_1003.xml") < files.index("40_outside_guard.xml")


def test_a_guard_refuses_with_403_only_when_the_list_names_neither_the_route_nor_star(tree):
    guard = next(g for g in _guards(tree) if g.get("name") == "outside-guard-international-1")
    allowed, number, routes = guard.xpath("condition")
    assert (allowed.get("field"), allowed.get("expression")) == ("${appliance_outbound_allowed}", "^true$")
    assert number.get("expression") == parse(tree / "dialplan/default/50_route_0002_international.xml").xpath(
        '//condition[@field="destination_number"]'
    )[0].get("expression")
    assert routes.get("field") == "${appliance_outside_routes}"
    assert routes.xpath("action/@application") == ["log", "respond"]
    assert routes.xpath("action/@data")[-1] == "403"
    refuses = re.compile(routes.get("expression"))  # PCRE and Python agree on lookaheads
    for allowed_list in ("*", "international", "national,international", "international,emergency", "x,*"):
        assert not refuses.search(allowed_list), allowed_list
    for refused_list in ("", "national", "emergency", "international2", "xinternational", "national,intl"):
        assert refuses.search(refused_list), refused_list


def test_route_names_with_dots_are_literal_in_the_guard(tmp_path, runtime):
    snap = office()
    route = dataclasses.replace(snap.outbound_routes[0], name="de.mobile")
    snap = dataclasses.replace(snap, outbound_routes=(route, *snap.outbound_routes[1:]))
    render(snap, runtime, tmp_path / "conf")
    guard = next(g for g in _guards(tmp_path / "conf") if g.get("name") == "outside-guard-de.mobile-1")
    refuses = re.compile(guard.xpath("condition")[2].get("expression"))
    assert not refuses.search("de.mobile") and refuses.search("dexmobile")


def test_every_route_counts_concurrent_calls_per_extension_before_bridging(tree):
    for path in (tree / "dialplan/default").glob("50_route_*.xml"):
        for condition in parse(path).xpath('//extension/condition[@field="destination_number"]'):
            apps = condition.xpath("action/@application")
            assert apps[-2:] == ["limit", "bridge"], path
            assert condition.xpath('action[@application="limit"]/@data') == [
                "hash appliance_outside ${appliance_extension} ${appliance_max_outside_calls} !CALL_REJECTED"
            ]


def test_public_context_still_never_reaches_a_guard_or_a_route(tree):
    for path in [tree / "dialplan/public.xml", *(tree / "dialplan/public").glob("*.xml")]:
        root = parse(path)
        assert not root.xpath('//action[@application="bridge" or @application="limit"]'), path
        assert all(a.split()[-2:] != ["XML", "public"] for a in root.xpath('//action[@application="transfer"]/@data'))
