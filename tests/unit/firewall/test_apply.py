# SPDX-License-Identifier: GPL-3.0-or-later
"""apply: check first, load whole, keep bans and trust, save the boot copy; and the CLI around it."""

from __future__ import annotations

import json

import pytest

from appliance import cli
from appliance.firewall import FirewallError
from appliance.firewall.apply import apply
from appliance.firewall.nft import Element
from appliance.firewall.render import render


class FakeNft:
    """nftables as apply sees it: a loaded table with some elements, and a checker that may refuse."""

    def __init__(self, loaded: bool = True, refuse: str | None = None):
        self.loaded = loaded
        self.refuse = refuse
        self.calls: list[str] = []
        self.ruleset = ""

    def check(self, ruleset: str) -> None:
        self.calls.append("check")
        if self.refuse and self.refuse in ruleset:
            raise FirewallError("nft -c refused")

    def load(self, ruleset: str) -> None:
        self.calls.append("load")
        self.ruleset = ruleset

    def table_exists(self, table: str) -> bool:
        return self.loaded

    def elements(self, table: str, name: str) -> list[Element]:
        return {
            "sip_banned": [Element("192.0.2.7", 3600, 1200)],
            "sip_trusted": [Element("192.168.10.21", 86400, 0)],
        }.get(name, [])


def test_bans_and_trust_survive_a_reload(policy, tmp_path):
    nft = FakeNft()
    result = apply(policy, nft, save=tmp_path / "firewall.nft")
    assert nft.calls == ["check", "check", "load"]
    assert "elements = { 192.0.2.7 timeout 3600s expires 1200s }" in nft.ruleset
    assert "elements = { 192.168.10.21 }" in nft.ruleset
    assert result == {
        "table": "appliance",
        "kept": {"sip_banned": 1, "sip_trusted": 1},
        "saved": str(tmp_path / "firewall.nft"),
    }
    saved = (tmp_path / "firewall.nft").read_text()
    assert saved == render(policy) and "192.0.2.7" not in saved, "the boot copy holds no stale bans"


def test_a_refused_ruleset_is_never_loaded(policy, tmp_path):
    nft = FakeNft(refuse="table inet appliance")
    with pytest.raises(FirewallError):
        apply(policy, nft, save=tmp_path / "firewall.nft")
    assert nft.calls == ["check"] and not (tmp_path / "firewall.nft").exists()


def test_elements_nft_will_not_take_back_are_dropped_not_the_reload(policy):
    nft = FakeNft(refuse="expires 1200s")
    result = apply(policy, nft, save=None)
    assert nft.calls == ["check", "check", "load"] and result["kept"] == {}
    assert "192.0.2.7" not in nft.ruleset


def test_first_load_has_nothing_to_keep(policy):
    nft = FakeNft(loaded=False)
    assert apply(policy, nft, save=None)["kept"] == {}
    assert nft.calls == ["check", "load"]


def _cli(capsys, *args: str) -> tuple[int, str, str]:
    status = cli.main(list(args))
    out, err = capsys.readouterr()
    return status, out, err


def test_cli_renders_from_the_state_file_alone(capsys, tmp_path):
    (tmp_path / "none.yml").write_text("{}\n")
    state = tmp_path / "firewall.yml"
    state.write_text("lan_interfaces: [eth1]\ntable: fw_cli\n")
    status, out, _ = _cli(
        capsys, "--config", str(tmp_path / "none.yml"), "firewall", "render", "--state", str(state), "--no-db"
    )
    assert status == 0 and out.startswith("#!/usr/sbin/nft -f") and "table inet fw_cli {" in out


def test_cli_refuses_a_bad_state_naming_the_field(capsys, tmp_path):
    (tmp_path / "none.yml").write_text("{}\n")
    state = tmp_path / "firewall.yml"
    state.write_text("lan_interfaces: [eth1]\nconsole_port: 8021\n")
    status, _, err = _cli(
        capsys, "--config", str(tmp_path / "none.yml"), "--json", "firewall", "check", "--state", str(state), "--no-db"
    )
    assert status == 2
    assert json.loads(err)["problems"] == [
        {
            "obj": "firewall",
            "field": "loopback_ports",
            "message": "8021 is also opened to the network by another setting",
        }
    ]
