# SPDX-License-Identifier: GPL-3.0-or-later
"""The nftables ruleset: nft accepts it, and its structure says what docs/firewall.md promises."""

from __future__ import annotations

import re

import pytest

from appliance.firewall.render import render
from tests.unit.firewall.conftest import can_check, nft_check, office_policy


def _chain(ruleset: str, name: str) -> list[str]:
    """Return the rules of one chain, without comments and blank lines."""
    body = re.search(rf"\n\tchain {name} {{\n(.*?)\t}}\n", ruleset, re.S)
    assert body, f"no chain {name}"
    return [line.strip() for line in body.group(1).splitlines() if line.strip() and not line.strip().startswith("#")]


def _index(rules: list[str], start: str) -> int:
    return next(i for i, rule in enumerate(rules) if rule.startswith(start))


@pytest.mark.skipif(can_check() is not None, reason=can_check() or "")
@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"wan_interfaces": [], "wireguard_port": 0, "trunk_addresses": [], "lan_networks": []},
        {"tunnel_interfaces": [], "tunnel_tcp_ports": [], "lan_networks": ["fd10::/64"]},
        {"pki_http_port": 0},
    ],
)
def test_nft_accepts_the_ruleset(overrides):
    result = nft_check(render(office_policy(**overrides)))
    assert result.returncode == 0, result.stderr


@pytest.mark.skipif(can_check() is not None, reason=can_check() or "")
def test_nft_accepts_carried_bans_and_trust(policy):
    carried = {
        "sip_banned": ["192.0.2.7 timeout 3600s expires 1200s"],
        "sip_banned_v6": ["2001:db8::7 timeout 3600s expires 5s"],
        "sip_trusted": ["192.168.10.21 timeout 86400s expires 86000s", "192.168.10.22"],
    }
    ruleset = render(policy, carried)
    assert "elements = { 192.168.10.21 timeout 86400s expires 86000s, 192.168.10.22 }" in ruleset
    result = nft_check(ruleset)
    assert result.returncode == 0, result.stderr


def test_one_table_replaced_whole_in_one_transaction(policy):
    ruleset = render(policy)
    head = [line for line in ruleset.splitlines() if line and not line.startswith("#")]
    assert head[:3] == ["table inet appliance", "delete table inet appliance", "table inet appliance {"]
    assert re.findall(r"^(?:delete )?table (\S+ \S+)", ruleset, re.M) == ["inet appliance"] * 3
    assert "flush ruleset" not in ruleset  # never touches another table (Docker's, the VPN test fence)


def test_inbound_and_forward_drop_by_default(policy):
    ruleset = render(policy)
    assert _chain(ruleset, "input")[0] == "type filter hook input priority filter; policy drop;"
    assert _chain(ruleset, "forward") == ["type filter hook forward priority filter; policy drop;"]
    assert "hook output" not in ruleset


def test_control_ports_are_dropped_off_loopback_before_anything_can_accept_them(policy):
    rules = _chain(render(policy), "input")
    assert rules[1] == 'iif "lo" accept'
    assert rules[2] == "meta l4proto { tcp, udp } th dport { 8021, 5432, 8084 } counter drop"
    first_accept = next(i for i, r in enumerate(rules[2:], 2) if r.endswith("accept") or "jump" in r or "goto" in r)
    assert first_accept > 2


def test_bans_and_rate_limits_come_before_established_traffic(policy):
    rules = _chain(render(policy), "input")
    guard = _index(rules, "meta l4proto { tcp, udp } th dport { 5070, 5071, 5090, 5091 } jump sip_guard")
    assert guard < _index(rules, "ct state established,related accept")


def test_sip_guard_trusts_first_then_bans_then_limits_per_source(policy):
    rules = _chain(render(policy), "sip_guard")
    assert rules == [
        "ip saddr @sip_trusted goto sip_trusted_limit",
        "ip6 saddr @sip_trusted_v6 goto sip_trusted_limit",
        "ip saddr @trunks goto sip_trusted_limit",
        "ip6 saddr @trunks_v6 goto sip_trusted_limit",
        "ip saddr @sip_banned counter drop",
        "ip6 saddr @sip_banned_v6 counter drop",
        "update @sip_rate { ip saddr limit rate over 25/second burst 100 packets } counter drop",
        "update @sip_rate_v6 { ip6 saddr limit rate over 25/second burst 100 packets } counter drop",
    ]
    assert _chain(render(policy), "sip_trusted_limit") == [
        "update @sip_trusted_rate { ip saddr limit rate over 250/second burst 1000 packets } counter drop",
        "update @sip_trusted_rate_v6 { ip6 saddr limit rate over 250/second burst 1000 packets } counter drop",
    ]


def test_ban_and_trust_sets_time_out_by_themselves(policy):
    ruleset = render(policy)
    for name, family, seconds in (
        ("sip_banned", "ipv4_addr", 3600),
        ("sip_banned_v6", "ipv6_addr", 3600),
        ("sip_trusted", "ipv4_addr", 86400),
        ("sip_trusted_v6", "ipv6_addr", 86400),
    ):
        block = re.search(rf"\tset {name} {{\n(.*?)\n\t}}", ruleset, re.S).group(1)
        assert [line.strip() for line in block.splitlines()] == [
            f"type {family}",
            "flags timeout",
            f"timeout {seconds}s",
        ]


def test_wan_accepts_wireguard_only(policy):
    assert _chain(render(policy), "from_wan") == [
        "udp dport 51820 accept",
        'counter drop comment "the uplink: nothing but WireGuard"',
    ]
    assert _chain(render(office_policy(wireguard_port=0)), "from_wan") == [
        'counter drop comment "the uplink: nothing but WireGuard"'
    ]


def test_lan_gets_phones_services_but_not_the_carriers_profile(policy):
    rules = _chain(render(policy), "from_lan")
    assert rules == [
        "udp dport 5070 accept",
        "tcp dport { 5070, 5071 } accept",
        "udp dport 20000-20999 accept",
        "tcp dport 8443 accept",
        "tcp dport 80 accept",
        "icmp type echo-request limit rate 10/second accept",
        "icmpv6 type echo-request limit rate 10/second accept",
        "udp dport 51820 accept",
    ]
    assert not any("5090" in rule or "22" in rule.split() for rule in rules)


def test_the_cas_plain_http_port_is_open_to_the_lan_and_the_tunnel_only(policy):
    ruleset = render(policy)
    for chain in ("from_lan", "from_tunnel"):
        assert "tcp dport 80 accept" in _chain(ruleset, chain), chain
    assert not any("80" in rule.split() for rule in _chain(ruleset, "from_wan") + _chain(ruleset, "input"))
    closed = render(office_policy(pki_http_port=0))
    assert not any("dport 80 " in line for line in closed.splitlines())
    assert "tcp dport 8080 accept" in _chain(render(office_policy(pki_http_port=8080)), "from_tunnel")


def test_tunnel_also_gets_the_carriers_profile_and_ssh(policy):
    rules = _chain(render(policy), "from_tunnel")
    assert "meta l4proto { tcp, udp } th dport { 5090, 5091 } accept" in rules
    assert "tcp dport 22 accept" in rules
    assert "udp dport 51820 accept" not in rules


def test_zones_are_interfaces_narrowed_to_their_networks(policy):
    rules = _chain(render(policy), "input")
    assert 'iifname "eth0" jump from_wan' in rules
    assert 'iifname "eth1" ip saddr 192.168.10.0/24 jump from_lan' in rules
    assert 'iifname "eth1" ip6 saddr fd10::/64 jump from_lan' in rules
    assert 'iifname "wg0" jump from_tunnel' in rules
    assert rules[-1] == 'counter comment "dropped by the policy"'


def test_listed_carriers_reach_only_the_external_profile_and_rtp(policy):
    ruleset = render(policy)
    block = re.search(r"\tset trunks {\n(.*?)\n\t}", ruleset, re.S).group(1)
    assert "elements = { 203.0.113.10/32, 198.51.100.0/28 }" in block
    rules = _chain(ruleset, "input")
    assert "ip saddr @trunks meta l4proto { tcp, udp } th dport { 5090, 5091 } accept" in rules
    assert "ip saddr @trunks udp dport 20000-20999 accept" in rules
    assert not [r for r in rules if "@trunks" in r and ("5070" in r or "8443" in r)]


def test_ipv6_keeps_neighbour_discovery_on_link_only(policy):
    rules = _chain(render(policy), "input")
    assert "icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert, nd-router-advert } ip6 hoplimit 255 accept" in rules


def test_table_name_comes_from_the_policy():
    ruleset = render(office_policy(table="fca_test_1"))
    assert ruleset.count("table inet fca_test_1") == 3 and "inet appliance" not in ruleset
