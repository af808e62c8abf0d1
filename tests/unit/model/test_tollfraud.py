# SPDX-License-Identifier: GPL-3.0-or-later
"""Validation of the toll-fraud guard's limits: site defaults, extension overrides, route names."""

from __future__ import annotations

import dataclasses

from appliance.model import Extension, OutboundRoute, Site, Snapshot, Trunk
from appliance.model.validate import validate


def _snapshot(site: Site | None = None, **ext) -> Snapshot:
    return Snapshot(
        site=site or Site(),
        extensions=(dataclasses.replace(Extension("101", "Alice", "Vh3Kq9Zt2Lm7Xc4Rw8Pn", "493817"), **ext),),
        trunks=(Trunk("carrier", "203.0.113.10"),),
        outbound_routes=(
            OutboundRoute("national", ("0ZX.",), ("carrier",)),
            OutboundRoute("emergency", ("112",), ("carrier",)),
        ),
    )


def _messages(snap: Snapshot) -> list[str]:
    return [str(p) for p in validate(snap)]


def test_defaults_are_valid():
    assert _messages(_snapshot()) == []
    assert (Site().max_outside_calls, Site().outside_routes) == (2, "*")
    assert (Extension("101", "A", "p", "1").max_outside_calls, Extension("101", "A", "p", "1").outside_routes) == (
        0,
        "",
    )


def test_route_lists_name_existing_routes_once_without_spaces():
    assert _messages(_snapshot(outside_routes="national,emergency")) == []
    assert _messages(_snapshot(outside_routes="*")) == []
    assert _messages(_snapshot(outside_routes="national,premium")) == [
        "extension 101: outside_routes: outbound route 'premium' does not exist (routes: emergency, national)"
    ]
    assert _messages(_snapshot(outside_routes="national, emergency")) == [
        "extension 101: outside_routes: 'national, emergency': "
        "name each route once, separated by commas without spaces",
        "extension 101: outside_routes: outbound route ' emergency' does not exist (routes: emergency, national)",
    ]
    assert _messages(_snapshot(outside_routes="national,national"))[0].startswith(
        "extension 101: outside_routes: 'national,national': name each route once"
    )


def test_limits_are_bounded():
    assert _messages(_snapshot(max_outside_calls=-1)) == [
        "extension 101: max_outside_calls: must be 0 (the site's) to 1000"
    ]
    assert _messages(_snapshot(Site(max_outside_calls=0))) == [
        "site: max_outside_calls: must be 1 to 1000 (use outbound_allowed to forbid)"
    ]


def test_the_site_default_names_routes_or_all():
    assert _messages(_snapshot(Site(outside_routes=""))) == [
        "site: outside_routes: use '*' for every outbound route, or name the routes"
    ]
    assert _messages(_snapshot(Site(outside_routes="emergency"))) == []
