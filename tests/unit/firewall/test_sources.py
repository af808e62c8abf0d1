# SPDX-License-Identifier: GPL-3.0-or-later
"""Where the policy's facts come from: configuration, WireGuard state, the site, the firewall state."""

from __future__ import annotations

from appliance.config import DEFAULTS
from appliance.firewall import sources
from appliance.model import Site, Trunk


def test_loopback_ports_follow_the_configuration():
    cfg = {
        "database": {"dsn": "host=/run/postgresql port=5433 dbname=appliance"},
        "freeswitch": {"esl_port": 18021, "outbound_socket_port": 18084},
    }
    assert sources.from_config(cfg) == {"loopback_ports": (18021, 5433, 18084)}
    assert sources.from_config(DEFAULTS)["loopback_ports"] == (8021, 5432, 8084)


def test_console_and_metrics_ports_follow_their_sections():
    cfg = {"console": {"port": 443}, "metrics": {"listen_address": "tunnel", "port": 9478}}
    assert sources.from_config(cfg) | {"loopback_ports": ()} == {
        "loopback_ports": (),
        "console_port": 443,
        "tunnel_tcp_ports": (22, 9478),
    }
    assert "tunnel_tcp_ports" not in sources.from_config({"metrics": {"listen_address": "127.0.0.1", "port": 9478}})


def test_tunnel_interface_and_wireguard_port_follow_the_vpn_state():
    assert sources.from_vpn({}) == {}
    assert sources.from_vpn({"role": "spoke", "interface": "wg1"}) == {
        "tunnel_interfaces": ("wg1",),
        "wireguard_port": 0,
    }
    assert sources.from_vpn({"role": "hub", "listen_port": 51820})["wireguard_port"] == 51820


def test_sip_ports_rtp_and_carriers_follow_the_site():
    site = Site(internal_sip_port=5070, internal_tls_port=5071, external_sip_port=5090, rtp_start=20000, rtp_end=21000)
    trunks = (
        Trunk("a", "203.0.113.10", inbound_cidrs=("203.0.113.64/27",)),
        Trunk("b", "sip.carrier-b.example", inbound_cidrs=("198.51.100.7", "203.0.113.64/27")),
    )
    assert sources.from_site(site, trunks) == {
        "sip_port": 5070,
        "sip_tls_port": 5071,
        "external_sip_port": 5090,
        "rtp_start": 20000,
        "rtp_end": 21000,
        "trunk_addresses": ("203.0.113.10", "203.0.113.64/27", "198.51.100.7"),
    }


def test_the_firewall_state_wins_over_everything_else(tmp_path):
    state_file = tmp_path / "firewall.yml"
    state_file.write_text("lan_interfaces: [eth1]\nwireguard_port: 51999\nloopback_ports: [8021]\n")
    cfg = dict(DEFAULTS) | {"vpn": {"interface": "wg7", "listen_port": 51820}}
    state, where = sources.read_state(state_file, cfg)
    assert where == str(state_file)
    policy = sources.gather(cfg, state, use_db=False)
    assert (policy.tunnel_interfaces, policy.wireguard_port, policy.loopback_ports) == (("wg7",), 51999, (8021,))


def test_the_config_section_is_read_when_no_state_file_is_given():
    cfg = dict(DEFAULTS) | {"firewall": {"lan_interfaces": ["br0"]}}
    assert sources.read_state(None, cfg) == ({"lan_interfaces": ["br0"]}, "the firewall section of the configuration")
