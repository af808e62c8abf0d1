# SPDX-License-Identifier: GPL-3.0-or-later
"""The appliance's nftables ruleset on a real kernel: a box in its own namespace, probed from its LAN,
the internet and the tunnel, each a namespace of its own behind a veth pair."""

from __future__ import annotations

import re
import time

import pytest

from tests.network.fwfabric import TCP_PORTS, UDP_PORTS, ZONES, ZONES6, Site, missing_tools

pytestmark = [pytest.mark.network, pytest.mark.timeout(240)]

if missing_tools():
    pytest.skip(missing_tools(), allow_module_level=True)

PHONE = ZONES["lan"][2]
INTERNET = ZONES["wan"][2]
HUB = ZONES["tun"][2]
EVERYTHING = {f"tcp/{name}": ("tcp", port) for name, port in TCP_PORTS.items()} | {
    f"udp/{name}": ("udp", port) for name, port in UDP_PORTS.items()
}


def _open(result: dict[str, bool]) -> set[str]:
    return {name for name, ok in result.items() if ok}


@pytest.fixture
def site(tmp_path):
    made = Site(tmp_path)
    try:
        made.create()
        made.apply()
        yield made
    finally:
        made.close()


def test_the_internet_reaches_wireguard_only(site):
    assert _open(site.reachable("wan", EVERYTHING)) == {"udp/wireguard"}
    assert not site.ping("wan")


def test_phones_reach_sip_media_and_the_console_but_no_control_socket(site):
    assert _open(site.reachable("lan", EVERYTHING)) == {
        "tcp/sip", "tcp/sip_tls", "tcp/console", "tcp/pki_http", "udp/sip", "udp/rtp", "udp/wireguard",
    }  # fmt: skip
    assert site.ping("lan")


def test_the_cas_http_port_closes_when_publishing_is_off(site):
    site.apply(pki_http_port=0)
    for zone in ("lan", "tun", "wan"):
        assert not site.reachable(zone, {"pki_http": ("tcp", TCP_PORTS["pki_http"])})["pki_http"], zone


def test_the_tunnel_also_reaches_the_carriers_profile_and_ssh(site):
    assert _open(site.reachable("tun", EVERYTHING)) == {
        "tcp/sip", "tcp/sip_tls", "tcp/external", "tcp/console", "tcp/pki_http", "tcp/ssh", "udp/sip", "udp/external",
        "udp/rtp",
    }  # fmt: skip


def test_control_sockets_answer_on_loopback_inside_the_box_only(site):
    targets = {name: ("tcp", TCP_PORTS[name]) for name in ("esl", "pg", "socket")}
    assert _open(site.reachable("box", targets, host="127.0.0.1")) == set(targets)
    assert _open(site.reachable("lan", targets)) == set(), "ESL, PostgreSQL, outbound socket on the LAN address"
    rule = next(line for line in site.nft("list", "chain", "inet", site.table, "input").splitlines() if "8021" in line)
    assert int(re.search(r"counter packets (\d+)", rule).group(1)) >= 3, "dropped by the explicit rule itself"


def test_a_lan_pattern_finds_the_nic_and_the_uplink_it_also_covers_stays_wan(site):
    # The product image lists "en*"/"eth*" (it cannot know the NIC's name); here "l*" and "w*" do the same
    # to lan0 and wan0, and the WAN's own name keeps the uplink out of the LAN.
    site.apply(lan_interfaces=["l*", "w*"], wan_interfaces=["wan0"], lan_networks=[])
    assert _open(site.reachable("lan", EVERYTHING)) == {
        "tcp/sip", "tcp/sip_tls", "tcp/console", "tcp/pki_http", "udp/sip", "udp/rtp", "udp/wireguard",
    }  # fmt: skip
    assert _open(site.reachable("wan", EVERYTHING)) == {"udp/wireguard"}


def test_a_source_outside_the_lan_networks_is_not_the_lan(site):
    site.apply(lan_networks=["10.78.9.0/24"])
    assert _open(site.reachable("lan", EVERYTHING)) == set(), "an interface is a zone only for its networks"


def test_ipv6_neighbour_discovery_works_and_the_same_zones_apply(site):
    site.apply(lan_networks=["10.78.1.0/24", "fd78:1::/64"])
    box_lan, box_wan = ZONES6["lan"][0], ZONES6["wan"][0]
    # A phone that only has IPv6 must first find the box's MAC address: neighbour solicitations get in.
    assert site.ping("lan", box_lan)
    assert _open(site.reachable("lan", EVERYTHING, host=box_lan)) == {
        "tcp/sip", "tcp/sip_tls", "tcp/console", "tcp/pki_http", "udp/sip", "udp/rtp", "udp/wireguard",
    }  # fmt: skip
    assert _open(site.reachable("wan", EVERYTHING, host=box_wan)) == {"udp/wireguard"}
    assert not site.ping("wan", box_wan)
    # A LAN source outside the LAN's IPv6 networks is not the LAN.
    site.apply(lan_networks=["10.78.1.0/24"])
    assert _open(site.reachable("lan", EVERYTHING, host=box_lan)) == set()


def test_a_listed_carrier_reaches_the_external_profile_and_media_from_the_internet(site):
    site.apply(trunk_addresses=[INTERNET])
    assert _open(site.reachable("wan", EVERYTHING)) == {"tcp/external", "udp/external", "udp/rtp", "udp/wireguard"}


def test_a_banned_source_loses_sip_only_and_trust_wins_over_a_ban(site):
    sip = {"udp/sip": ("udp", 5060), "tcp/sip": ("tcp", 5060), "tcp/console": ("tcp", 443)}
    site.nft("add", "element", "inet", site.table, "sip_banned", f"{{ {PHONE} timeout 60s }}")
    assert _open(site.reachable("lan", sip)) == {"tcp/console"}
    site.nft("add", "element", "inet", site.table, "sip_trusted", f"{{ {PHONE} timeout 60s }}")
    assert _open(site.reachable("lan", sip)) == set(sip), "a phone that registered is never banned"
    site.nft("delete", "element", "inet", site.table, "sip_trusted", f"{{ {PHONE} }}")
    assert site.appliance("firewall", "unban", PHONE, "--table", site.table) == {"unbanned": PHONE, "table": site.table}
    assert _open(site.reachable("lan", sip)) == set(sip)


def test_reapplying_keeps_bans_and_trust(site):
    site.nft("add", "element", "inet", site.table, "sip_banned", "{ 10.78.1.77 timeout 600s }")
    site.nft("add", "element", "inet", site.table, "sip_trusted", f"{{ {PHONE} timeout 900s }}")
    result = site.apply(console_port=8443)
    assert result["kept"] == {"sip_banned": 1, "sip_trusted": 1}
    status = {row["address"]: row for row in site.appliance("firewall", "status", "--table", site.table)["addresses"]}
    assert status["10.78.1.77"]["state"] == "banned" and 500 < status["10.78.1.77"]["expires_s"] <= 600
    assert status[PHONE]["state"] == "trusted" and 800 < status[PHONE]["expires_s"] <= 900
    assert _open(site.reachable("lan", {"new": ("tcp", 8443), "old": ("tcp", 443)})) == set()  # nothing on 8443
    assert "tcp dport 8443 accept" in site.nft("list", "chain", "inet", site.table, "from_lan")


def _dropped(site: Site, chain: str) -> int:
    """Return how many packets the per-source limits of a chain dropped."""
    rules = site.nft("list", "chain", "inet", site.table, chain)
    return sum(int(n) for n in re.findall(r"limit rate over .*? counter packets (\d+)", rules))


def test_sip_floods_are_cut_per_source_and_trusted_sources_get_more(site):
    # 400 packets at once: the untrusted limit lets the burst (100) and a little rate (25/s) through.
    assert site.ping("lan"), "the phone knows the box's MAC address: no packet waits for ARP and is lost"
    site.flood("lan", 5060, 400)
    time.sleep(1)
    untrusted = site.received("udp", 5060, PHONE)
    assert 100 <= untrusted <= 160, untrusted
    assert _dropped(site, "sip_guard") == 400 - untrusted
    # The same flood from a trusted source (a registered phone) stays inside its generous burst.
    site.nft("add", "element", "inet", site.table, "sip_trusted", f"{{ {PHONE} timeout 60s }}")
    site.flood("lan", 5060, 400)
    time.sleep(1)
    assert _dropped(site, "sip_trusted_limit") == 0
    assert _dropped(site, "sip_guard") == 400 - untrusted, "the untrusted limit saw none of it"
    # (The listener itself may lose some to its socket buffer; the firewall let all 400 through.)
    assert site.received("udp", 5060, PHONE) - untrusted > 150
    # Other sources are not affected by the phone's limit.
    assert _open(site.reachable("tun", {"sip": ("udp", 5060)})) == {"sip"}
