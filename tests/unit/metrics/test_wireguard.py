# SPDX-License-Identifier: GPL-3.0-or-later
"""WireGuard peers' health, through a stand-in for appliance.vpn.health.status."""

from __future__ import annotations

from pathlib import Path

import pytest

from appliance.metrics import wireguard
from appliance.metrics.wireguard import WireGuardSource, tunnel_from_config
from appliance.vpn import VpnError

HUB_KEY = "HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw="
OTHER_KEY = "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg="


def _status(ifname, names):
    """What health.status returns for a spoke whose hub shook hands 42 s ago, and a peer that never did."""
    assert ifname == "wg0"
    return {
        HUB_KEY: {
            "name": names.get(HUB_KEY, ""),
            "handshake_age": 42.0,
            "state": "up",
            "rx_bytes": 1200,
            "tx_bytes": 3400,
        },
        OTHER_KEY: {"name": "", "handshake_age": None, "state": "never", "rx_bytes": 0, "tx_bytes": 148},
    }


@pytest.fixture
def sys_class_net(tmp_path) -> Path:
    (tmp_path / "wg0").mkdir()
    return tmp_path


def _samples(source: WireGuardSource) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for family in source.collect():
        for s in family.samples:
            out.setdefault(s.name, {})[s.labels.get("peer", s.labels.get("interface")) or s.labels["public_key"]] = (
                s.value
            )
    return out


def test_handshake_age_state_and_bytes_per_peer(sys_class_net):
    samples = _samples(WireGuardSource("wg0", {HUB_KEY: "hub"}, status=_status, sys_class_net=sys_class_net))
    assert samples["appliance_wireguard_interface_up"] == {"wg0": 1}
    assert samples["appliance_wireguard_handshake_age_seconds"] == {"hub": 42.0}  # none for a peer without one
    assert samples["appliance_wireguard_peer_up"] == {"hub": 1, OTHER_KEY: 0}
    assert samples["appliance_wireguard_received_bytes_total"] == {"hub": 1200, OTHER_KEY: 0}
    assert samples["appliance_wireguard_sent_bytes_total"] == {"hub": 3400, OTHER_KEY: 148}


def test_a_missing_interface_is_reported_without_asking_wg(tmp_path):
    def must_not_run(ifname, names):
        raise AssertionError("wg asked about an interface that is not there")

    samples = _samples(WireGuardSource("wg0", {}, status=must_not_run, sys_class_net=tmp_path))
    assert samples == {"appliance_wireguard_interface_up": {"wg0": 0}}


def test_wg_failing_raises_so_the_scrape_marks_the_collector_failed(sys_class_net):
    def denied(ifname, names):
        raise VpnError("wg show wg0: Unable to access interface: Operation not permitted")

    with pytest.raises(VpnError):
        list(WireGuardSource("wg0", {}, status=denied, sys_class_net=sys_class_net).collect())


def test_the_tunnel_and_peer_names_come_from_the_vpn_section(tmp_path, monkeypatch):
    monkeypatch.setattr(wireguard.model, "DEFAULT_STATE_PATH", tmp_path / "absent.yml")
    assert tunnel_from_config({"vpn": {}}, None) is None
    vpn = {
        "role": "spoke",
        "interface": "wg7",
        "addresses": ["10.200.0.7/16"],
        "private_key_file": str(tmp_path / "wg7.key"),
        "peers": [
            {
                "name": "hub",
                "public_key": HUB_KEY,
                "endpoint": "hub.fleet.example:51820",
                "allowed_ips": ["10.200.0.0/16"],
                "preshared_key_file": str(tmp_path / "hub.psk"),
            }
        ],
    }
    assert tunnel_from_config({"vpn": vpn}, tmp_path / "config.yml") == ("wg7", {HUB_KEY: "hub"})


def test_a_broken_vpn_section_still_reports_the_interface(tmp_path, caplog):
    assert tunnel_from_config({"vpn": {"interface": "wg3", "peers": "nonsense"}}, None) == ("wg3", {})
    assert "reporting peers by public key" in caplog.text


def test_the_state_file_is_used_without_a_vpn_section(tmp_path, monkeypatch):
    state = tmp_path / "vpn.yml"
    state.write_text("interface: wg9\npeers: []\n")
    monkeypatch.setattr(wireguard.model, "DEFAULT_STATE_PATH", state)
    assert tunnel_from_config({"vpn": {}}, None)[0] == "wg9"
