# SPDX-License-Identifier: GPL-3.0-or-later
"""The firewall policy: read from YAML-like mappings, every problem named, refused whole."""

from __future__ import annotations

import pytest

from appliance.firewall.model import Policy, parse
from appliance.model.validate import ValidationFailed


def _problems(data: dict) -> list[str]:
    with pytest.raises(ValidationFailed) as caught:
        parse(data)
    return [str(p) for p in caught.value.problems]


def test_defaults_need_only_the_lan_interface():
    policy = parse({"lan_interfaces": "eth0"})
    assert policy == Policy(lan_interfaces=("eth0",))
    assert policy.sip_ports == (5060, 5061, 5080, 5081)
    assert policy.loopback_ports == (8021, 5432, 8084)
    assert policy.wireguard_port == 0, "a spoke only dials out: nothing listens on the WAN by default"
    assert policy.pki_http_port == 80, "phones fetch the CRL over plain HTTP"


def test_without_a_lan_interface_nobody_could_reach_the_box():
    assert _problems({}) == [
        "firewall: lan_interfaces: name the LAN interface(s): phones and the console are reached there"
    ]


def test_every_problem_is_reported_at_once():
    problems = _problems(
        {
            "lan_interfaces": ["eth0", 'x" accept'],
            "tunnel_interfaces": ["eth0"],
            "lan_networks": ["192.168.1.0/33"],
            "sip_port": "five",
            "table": "1bad",
            "colour": "red",
        }
    )
    assert problems == [
        "firewall: colour: unknown keys; known: " + ", ".join(f for f in Policy.__dataclass_fields__),
        "firewall: sip_port: 'five' is not a whole number",
        "firewall: table: '1bad': use a letter, then letters, digits or '_' (at most 32)",
        "firewall: lan_interfaces: 'x\" accept' is not an interface name",
        "firewall: tunnel_interfaces: 'eth0' is already in lan_interfaces",
        "firewall: lan_networks: '192.168.1.0/33' is not an address or network",
    ]


def test_a_loopback_only_port_may_not_be_opened_elsewhere():
    problems = _problems({"lan_interfaces": ["eth0"], "console_port": 8021})
    assert problems == ["firewall: loopback_ports: 8021 is also opened to the network by another setting"]
    problems = _problems({"lan_interfaces": ["eth0"], "pki_http_port": 8084})
    assert problems == ["firewall: loopback_ports: 8084 is also opened to the network by another setting"]
    problems = _problems({"lan_interfaces": ["eth0"], "rtp_start": 5000, "rtp_end": 6000})
    assert problems == ["firewall: loopback_ports: 5432 is also opened to the network by another setting"]


def test_ports_ranges_and_rates_are_checked():
    problems = _problems(
        {
            "lan_interfaces": ["eth0"],
            "external_sip_port": 65535,
            "rtp_start": 30000,
            "rtp_end": 20000,
            "wireguard_port": 70000,
            "pki_http_port": 65536,
            "trusted_rate": 5,
            "ban_seconds": 0,
        }
    )
    assert problems == [
        "firewall: external_sip_port: its TLS port (one up) must be a port number too",
        "firewall: wireguard_port: 70000 is not a port number (0: none)",
        "firewall: pki_http_port: 65536 is not a port number (0: none)",
        "firewall: rtp_start: RTP range 30000-20000 is empty",
        "firewall: ban_seconds: must be 1 or more",
        "firewall: trusted_rate: trusted sources must get at least the untrusted rate and burst",
    ]


def test_a_prefix_pattern_names_every_interface_it_starts():
    # An image does not know what its box's kernel will call the NIC: the product image lists en* and eth*.
    assert parse({"lan_interfaces": ["en*", "eth*"]}).lan_interfaces == ("en*", "eth*")
    assert _problems({"lan_interfaces": ["en*", "*"]}) == ["firewall: lan_interfaces: '*' is not an interface name"]


def test_zones_that_could_match_one_interface_are_refused():
    assert _problems({"lan_interfaces": ["en*"], "tunnel_interfaces": ["enwg0"]}) == [
        "firewall: tunnel_interfaces: 'enwg0' is already in lan_interfaces"
    ]
    assert _problems({"lan_interfaces": ["e*"], "tunnel_interfaces": ["en*"]}) == [
        "firewall: tunnel_interfaces: 'en*' is already in lan_interfaces"
    ]
    # The uplink's own name inside a WAN pattern, or the same name twice, is ambiguous too.
    assert _problems({"wan_interfaces": ["en*"], "lan_interfaces": ["enp1s0"]}) == [
        "firewall: lan_interfaces: 'enp1s0' is already in wan_interfaces"
    ]
    assert _problems({"wan_interfaces": ["eth0"], "lan_interfaces": ["eth0"]}) == [
        "firewall: lan_interfaces: 'eth0' is already in wan_interfaces"
    ]


def test_a_lan_pattern_may_cover_the_uplink_which_the_wan_keeps():
    policy = parse({"wan_interfaces": ["enp2s0"], "lan_interfaces": ["en*"]})
    assert policy.wan_interfaces == ("enp2s0",) and policy.lan_interfaces == ("en*",)
