# SPDX-License-Identifier: GPL-3.0-or-later
"""WireGuard between a hub and a site, each in its own namespace, set up by `appliance vpn`."""

from __future__ import annotations

import json

import pytest

from tests.network.fabric import (
    HUB_TUNNEL,
    HUB_UNDERLAY,
    SITE_TUNNEL,
    TRUNK_HOST,
    Fleet,
    build_fleet,
    missing_tools,
    sh,
)

pytestmark = [pytest.mark.network, pytest.mark.timeout(180)]

if missing_tools():
    pytest.skip(missing_tools(), allow_module_level=True)


def _peer(status: dict, name: str) -> dict:
    return next(p for p in status["peers"] if p["name"] == name)


def test_tunnel_carries_fleet_traffic_and_reports_health(fleet: Fleet):
    f = fleet.fabric
    assert not f.ping(f.site, HUB_UNDERLAY), "the fence should let only WireGuard over the underlay"
    before = _peer(f.appliance(f.hub, "vpn", "status", "--state", str(fleet.hub_state)), "site1")

    assert f.ping(f.site, HUB_TUNNEL)
    assert f.ping(f.site, TRUNK_HOST), "the network behind the hub is routed through the tunnel"

    route = f.ip_json(f.site, "route", "get", TRUNK_HOST)
    assert route[0]["dev"] == f.site_if
    hub_view = f.appliance(f.hub, "vpn", "status", "--state", str(fleet.hub_state))
    site1 = _peer(hub_view, "site1")
    assert site1["state"] == "up"
    assert 0 <= site1["handshake_age"] < 60
    assert site1["rx_bytes"] > before["rx_bytes"] and site1["tx_bytes"] > before["tx_bytes"]
    assert site1["allowed_ips"] == [f"{SITE_TUNNEL}/32"] and site1["preshared_key"] is True
    assert hub_view["implementation"] in {"userspace", "kernel"}
    site_view = f.appliance(f.site, "vpn", "status", "--state", str(fleet.site_state))
    assert _peer(site_view, "hub")["handshake_age"] < 60
    assert _peer(site_view, "hub")["persistent_keepalive"] == 25, "a spoke keeps its NAT mapping open"

    # The library functions the metrics exporter and the console will call.
    age, counters = f.python(
        f.site,
        "import json; from appliance.vpn import health; "
        f"print(json.dumps([health.handshake_age({f.site_if!r}, {fleet.hub_public!r}), "
        f"health.transfer({f.site_if!r}, {fleet.hub_public!r})]))",
    )
    assert 0 <= age < 60
    assert counters[0] > 0 and counters[1] > 0


def test_applying_the_same_state_twice_changes_nothing(fleet: Fleet):
    f = fleet.fabric
    snapshot = _live(f, f.site, f.site_if)
    assert f.appliance(f.site, "vpn", "up", "--state", str(fleet.site_state))["changes"] == []
    assert f.appliance(f.hub, "vpn", "up", "--state", str(fleet.hub_state))["changes"] == []
    assert _live(f, f.site, f.site_if) == snapshot
    assert f.ping(f.site, HUB_TUNNEL)


def test_changed_peer_is_updated_in_place(fleet: Fleet):
    f = fleet.fabric
    data = fleet.site_data()
    data["peers"][0]["persistent_keepalive"] = 10
    data["peers"][0]["allowed_ips"].append("10.77.98.0/24")
    fleet.write_site(data)
    changes = f.appliance(f.site, "vpn", "up", "--state", str(fleet.site_state))["changes"]
    assert changes == ["updated peer hub (allowed IPs, keepalive)", f"added route 10.77.98.0/24 via {f.site_if}"]
    dump = f.wg_dump(f.site, f.site_if)
    assert dump[1][3].split(",") == ["10.77.0.0/24", "10.77.98.0/24", "10.77.99.0/24"]
    assert dump[1][4] == "10"
    assert f.ping(f.site, HUB_TUNNEL)

    data["peers"][0]["allowed_ips"].remove("10.77.98.0/24")
    fleet.write_site(data)
    changes = f.appliance(f.site, "vpn", "up", "--state", str(fleet.site_state))["changes"]
    assert changes == ["updated peer hub (allowed IPs)", "removed route 10.77.98.0/24"]


def test_removed_peer_gets_no_more_traffic(fleet: Fleet):
    f = fleet.fabric
    assert f.ping(f.site, HUB_TUNNEL)
    result = f.appliance(f.hub, "vpn", "remove-peer", "site1", "--state", str(fleet.hub_state))
    assert result["changes"] == [f"removed peer {fleet.site_public[:8]}…"]
    assert f.wg_dump(f.hub, f.hub_if)[1:] == []
    assert json.loads((f.dir / "hub-peers.json").read_text()) == []
    assert not (f.dir / "psk" / "site1.psk").exists(), "the removed appliance's preshared key is deleted"
    assert not f.ping(f.site, HUB_TUNNEL)


def test_peer_with_wrong_key_gets_no_handshake_and_no_traffic(fabric):
    # The hub enrolled site.key's public key; the site runs with another key it made itself.
    fleet = build_fleet(fabric, site_key="wrong.key")
    f = fleet.fabric
    assert not f.ping(f.site, HUB_TUNNEL)
    assert not f.ping(f.site, TRUNK_HOST)
    site1 = _peer(f.appliance(f.hub, "vpn", "status", "--state", str(fleet.hub_state)), "site1")
    assert site1["handshake_age"] is None and site1["state"] == "never"
    assert site1["rx_bytes"] == 0 and site1["tx_bytes"] == 0
    hub = _peer(f.appliance(f.site, "vpn", "status", "--state", str(fleet.site_state)), "hub")
    assert hub["handshake_age"] is None
    assert hub["tx_bytes"] > 0, "the site did try: its handshake initiations went out and were dropped"


def test_down_removes_the_interface_and_wireguard_go(fleet: Fleet):
    f = fleet.fabric
    assert f.appliance(f.site, "vpn", "down", "--state", str(fleet.site_state))["changes"] == [f"removed {f.site_if}"]
    assert f.appliance(f.site, "vpn", "down", "--state", str(fleet.site_state))["changes"] == []
    assert sh("ip", "-n", f.site, "link", "show", f.site_if, check=False).returncode != 0
    assert sh("ip", "netns", "pids", f.site).stdout.strip() == "", "wireguard-go exits with its interface"
    status, stderr = f.appliance(f.site, "vpn", "status", "--state", str(fleet.site_state), check=False)
    assert status == 2 and "is not up" in stderr
    # Up again from nothing: the same state brings the tunnel back.
    assert f.appliance(f.site, "vpn", "up", "--state", str(fleet.site_state))["changes"]
    assert f.ping(f.site, HUB_TUNNEL)


def _live(f, ns: str, ifname: str) -> tuple:
    """Return everything `up` controls, without counters and timestamps."""
    addrs = [
        (a["local"], a["prefixlen"]) for link in f.ip_json(ns, "addr", "show", "dev", ifname) for a in link["addr_info"]
    ]
    routes = [(r["dst"], r.get("protocol")) for r in f.ip_json(ns, "route", "show", "dev", ifname)]
    link = f.ip_json(ns, "link", "show", ifname)[0]
    return f.wg_dump(ns, ifname), sorted(addrs), sorted(routes), link["mtu"], link["flags"]
