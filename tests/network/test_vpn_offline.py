# SPDX-License-Identifier: GPL-3.0-or-later
"""The VPN package's logic without namespaces: the model's rules, `wg` dump parsing, the change plan, key files."""

from __future__ import annotations

import base64
import json
import os
import shutil
import stat
from dataclasses import replace
from pathlib import Path

import pytest

from appliance.model.validate import ValidationFailed
from appliance.vpn import VpnError, health, keys, model, peers, wg

KEY_A = base64.b64encode(b"a" * 32).decode()
KEY_B = base64.b64encode(b"b" * 32).decode()
KEY_C = base64.b64encode(b"c" * 32).decode()
PSK = base64.b64encode(b"p" * 32).decode()


def _spoke(**changes) -> dict:
    data = {
        "role": "spoke",
        "interface": "wg0",
        "addresses": ["10.200.0.7/16"],
        "private_key_file": "wg0.key",
        "peers": [
            {
                "name": "hub",
                "public_key": KEY_A,
                "endpoint": "hub.example.net:51820",
                "allowed_ips": ["10.200.0.0/16", "10.250.1.0/24"],
                "preshared_key_file": "psk/hub.psk",
            }
        ],
    }
    data.update(changes)
    return data


def _hub(*peer_list: dict) -> dict:
    return {
        "role": "hub",
        "interface": "wg0",
        "addresses": ["10.200.0.1/16"],
        "listen_port": 51820,
        "peers_file": "peers.json",
        "peers": list(peer_list),
    }


def _problems(data: dict) -> list[str]:
    with pytest.raises(ValidationFailed) as info:
        model.parse(data, Path("/etc/appliance"))
    return [f"{p.obj}: {p.field}: {p.message}" for p in info.value.problems]


def test_spoke_model_defaults_and_routes():
    tunnel = model.parse(_spoke(), Path("/etc/appliance"))
    assert tunnel.private_key_file == Path("/etc/appliance/wg0.key")
    assert tunnel.peers[0].preshared_key_file == Path("/etc/appliance/psk/hub.psk")
    assert tunnel.peers[0].persistent_keepalive == model.SPOKE_KEEPALIVE
    assert tunnel.mtu == model.DEFAULT_MTU and tunnel.listen_port is None
    # The fleet network is on-link through the address; only what lies beyond it needs a route.
    assert tunnel.route_networks() == ["10.250.1.0/24"]
    assert model.parse(_spoke(routes=["10.250.0.0/16"])).route_networks() == ["10.250.0.0/16"]


def test_spoke_needs_exactly_one_peer_with_an_endpoint():
    hub = _spoke()["peers"][0]
    assert any("exactly one peer" in p for p in _problems(_spoke(peers=[])))
    assert any(
        "exactly one peer" in p for p in _problems(_spoke(peers=[hub, {**hub, "name": "b", "public_key": KEY_B}]))
    )
    assert any("endpoint" in p for p in _problems(_spoke(peers=[{**hub, "endpoint": None}])))


def test_bad_values_are_named_by_object_and_field():
    problems = _problems(
        _spoke(
            interface="a-name-far-too-long",
            addresses=["10.200.0.7/16", "nonsense"],
            mtu=100,
            colour="blue",
            peers=[
                {
                    "name": "hub",
                    "public_key": "short",
                    "endpoint": "hub:99999",
                    "allowed_ips": ["0.0.0.0/0", "10.1.2.3/24"],
                }
            ],
        )
    )
    joined = "\n".join(problems)
    for expected in (
        "interface: 1-15",
        "'nonsense' is not an address",
        "mtu: must be 1280-9000",
        "colour: unknown keys",
        "vpn peer hub: public_key: not a WireGuard key",
        "vpn peer hub: endpoint:",
        "vpn peer hub: allowed_ips: 0.0.0.0/0: a default route through the tunnel is not supported",
        "has host bits set",
        "vpn peer hub: preshared_key_file: every peer needs its own preshared key",
    ):
        assert expected in joined, (expected, problems)


def test_hub_trusts_each_appliance_for_one_address_only():
    site = {"name": "site1", "public_key": KEY_B, "allowed_ips": ["10.200.0.7/32"], "preshared_key_file": "a.psk"}
    tunnel = model.parse(_hub(site), Path("/etc/appliance"))
    assert tunnel.route_networks() == [] and tunnel.peers[0].persistent_keepalive == 0
    wide = {**site, "allowed_ips": ["10.200.0.0/24"]}
    assert any("one address" in p for p in _problems(_hub(wide)))
    twin = {**site, "name": "site2", "public_key": KEY_C}
    assert any("overlaps 10.200.0.7/32 of peer site1" in p for p in _problems(_hub(site, twin)))
    same_key = {**site, "name": "site2", "allowed_ips": ["10.200.0.8/32"]}
    assert any("public_key: used by another peer" in p for p in _problems(_hub(site, same_key)))
    assert any("listen_port" in p for p in _problems({**_hub(site), "listen_port": None}))


def test_hub_peers_file_round_trip(tmp_path: Path):
    state = tmp_path / "hub.yml"
    state.write_text(json.dumps(_hub()), encoding="utf-8")
    tunnel = model.load(state)
    assert tunnel.peers_file == tmp_path / "peers.json"
    site = model.Peer("site1", KEY_B, ("10.200.0.7/32",), tmp_path / "site1.psk")
    model.save_peers_file(model.with_peer(tunnel, site))
    reloaded = model.load(state)
    assert [(p.name, p.origin) for p in reloaded.peers] == [("site1", "peers_file")]
    # Re-enrolling a name replaces its key; removing it empties the file.
    rekeyed = model.with_peer(reloaded, replace(site, public_key=KEY_C))
    assert [p.public_key for p in rekeyed.peers] == [KEY_C]
    model.save_peers_file(model.without_peer(rekeyed, "site1"))
    assert json.loads((tmp_path / "peers.json").read_text()) == []
    with pytest.raises(ValidationFailed, match="no such peer"):
        model.without_peer(model.load(state), "site1")


def test_peers_from_the_state_file_are_not_the_cli_s_to_change(tmp_path: Path):
    site = {"name": "site1", "public_key": KEY_B, "allowed_ips": ["10.200.0.7/32"], "preshared_key_file": "a.psk"}
    state = tmp_path / "hub.yml"
    state.write_text(json.dumps(_hub(site)), encoding="utf-8")
    tunnel = model.load(state)
    with pytest.raises(ValidationFailed, match="managed in"):
        model.without_peer(tunnel, "site1")
    with pytest.raises(ValidationFailed, match="managed in"):
        model.with_peer(tunnel, model.Peer("site1", KEY_C, ("10.200.0.9/32",), tmp_path / "x.psk"))


DUMP = (
    "cHJpdmF0ZQ==\tPUBLIC=\t51820\toff\n"
    f"{KEY_A}\t{PSK}\t192.0.2.1:51820\t10.200.0.0/16,10.250.1.0/24\t1700000000\t1024\t2048\t25\n"
    f"{KEY_B}\t(none)\t(none)\t(none)\t0\t0\t0\toff\n"
)


def test_dump_is_parsed_and_the_private_key_dropped():
    live = wg.parse_dump(DUMP)
    assert live.public_key == "PUBLIC=" and live.listen_port == 51820 and live.fwmark == 0
    a, b = live.peers[KEY_A], live.peers[KEY_B]
    assert a.endpoint == "192.0.2.1:51820" and a.allowed_ips == {"10.200.0.0/16", "10.250.1.0/24"}
    assert (a.latest_handshake, a.rx_bytes, a.tx_bytes, a.persistent_keepalive) == (1700000000, 1024, 2048, 25)
    assert b.endpoint is None and b.allowed_ips == frozenset() and b.preshared_key is None
    assert "cHJpdmF0ZQ" not in repr(live) and PSK not in repr(live)
    with pytest.raises(VpnError):
        wg.parse_dump("one\ttwo\n")


def test_health_state_names_handshake_ages(monkeypatch):
    assert [health.state(a) for a in (None, 5.0, 179.0, 181.0)] == ["never", "up", "up", "stale"]
    monkeypatch.setattr(wg, "run", lambda args, stdin=None: DUMP)
    status = health.status("wg0", {KEY_A: "hub"}, now=1700000030)
    assert status[KEY_A]["name"] == "hub" and status[KEY_A]["handshake_age"] == 30
    assert status[KEY_A]["state"] == "up" and status[KEY_A]["preshared_key"] is True
    assert status[KEY_B]["state"] == "never" and status[KEY_B]["latest_handshake"] is None
    assert "cHJpdmF0ZQ" not in json.dumps(status)


@pytest.fixture
def offline_keys(monkeypatch):
    """Pretend the private key's public half is PUBLIC= and every preshared key is PSK."""
    monkeypatch.setattr(keys, "public_key", lambda path: "PUBLIC=")
    monkeypatch.setattr(keys, "read_preshared_key", lambda path: PSK)


def _live(**peer_changes) -> wg.LiveInterface:
    live = wg.parse_dump(DUMP)
    a = replace(live.peers[KEY_A], **peer_changes)
    return replace(live, peers={KEY_A: a})


def test_plan_is_empty_when_live_matches(offline_keys):
    tunnel = model.parse(_spoke(listen_port=51820, peers=[{**_spoke()["peers"][0], "endpoint": "192.0.2.1:51820"}]))
    assert peers.plan(tunnel, _live()) == []


def test_plan_updates_a_changed_peer_and_removes_an_unknown_one(offline_keys):
    tunnel = model.parse(_spoke(listen_port=51821, peers=[{**_spoke()["peers"][0], "endpoint": "192.0.2.1:51820"}]))
    live = replace(wg.parse_dump(DUMP), public_key="OTHER=")
    live = replace(live, peers={**live.peers, KEY_A: replace(live.peers[KEY_A], persistent_keepalive=0)})
    steps = peers.plan(tunnel, live)
    assert [s.says for s in steps] == [
        "set private key",
        "set listen port 51821",
        f"removed peer {KEY_B[:8]}…",
        "updated peer hub (keepalive)",
    ]
    assert steps[0].args == ("set", "wg0", "private-key", str(Path.cwd() / "wg0.key"))
    assert steps[-1].args == ("set", "wg0", "peer", KEY_A, "persistent-keepalive", "25")
    # Secrets go to wg as file paths only.
    assert all(PSK not in a for s in steps for a in s.args)


def test_plan_adds_a_new_peer_with_every_setting(offline_keys):
    tunnel = model.parse(_spoke(peers=[{**_spoke()["peers"][0], "endpoint": "192.0.2.9:51820"}]))
    steps = peers.plan(tunnel, replace(wg.parse_dump(DUMP), peers={}))
    assert [s.says for s in steps] == ["added peer hub"]
    args = steps[0].args
    assert args[:4] == ("set", "wg0", "peer", KEY_A)
    assert args[4:6] == ("preshared-key", str(Path.cwd() / "psk/hub.psk"))
    assert args[6:] == (
        "endpoint",
        "192.0.2.9:51820",
        "allowed-ips",
        "10.200.0.0/16,10.250.1.0/24",
        "persistent-keepalive",
        "25",
    )


def test_a_hub_leaves_roaming_endpoints_alone(offline_keys):
    site = {"name": "site1", "public_key": KEY_A, "allowed_ips": ["10.200.0.7/32"], "preshared_key_file": "a.psk"}
    tunnel = model.parse(_hub(site))
    live = _live(allowed_ips=frozenset({"10.200.0.7/32"}), persistent_keepalive=0)
    assert peers.plan(tunnel, live) == []


needs_wg = pytest.mark.skipif(shutil.which("wg") is None, reason="wg not found (apt-get install wireguard-tools)")


@needs_wg
def test_keys_are_made_on_the_device_0600_and_never_replaced(tmp_path: Path):
    path = tmp_path / "secrets" / "wireguard" / "wg0.key"
    assert keys.ensure_private_key(path) is True
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    first = path.read_text()
    public = keys.public_key(path)
    assert model.is_key(public) and public not in first
    assert keys.ensure_private_key(path) is False and path.read_text() == first
    psk = tmp_path / "psk" / "hub.psk"
    assert keys.ensure_preshared_key(psk) is True and model.is_key(keys.read_preshared_key(psk))


@needs_wg
def test_a_key_others_can_read_is_refused(tmp_path: Path):
    path = tmp_path / "wg0.key"
    keys.ensure_private_key(path)
    os.chmod(path, 0o644)
    with pytest.raises(VpnError, match="lets others read"):
        keys.public_key(path)
    with pytest.raises(VpnError, match="no such key file"):
        keys.public_key(tmp_path / "absent.key")


def test_check_summarises_a_good_state_and_names_every_problem_of_a_bad_one(tmp_path: Path):
    """`appliance vpn check` is what the wireguard role validates vpn.yml with before putting it in place."""
    import subprocess
    import sys

    def check(data: dict) -> subprocess.CompletedProcess:
        state = tmp_path / "vpn.yml"
        state.write_text(json.dumps(data), encoding="utf-8")
        return subprocess.run(
            [sys.executable, "-m", "appliance", "--json", "vpn", "check", "--state", str(state)],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip

    good = check(_spoke())
    assert good.returncode == 0, good.stderr
    assert json.loads(good.stdout) == {"interface": "wg0", "role": "spoke", "peers": ["hub"]}
    bad = check(_spoke(addresses=["10.200.0.300/16"], mtu="big"))
    assert bad.returncode == 2
    assert "addresses" in bad.stderr and "mtu" in bad.stderr, bad.stderr
    assert not (tmp_path / "wg0.key").exists()  # nothing applied, no key made
