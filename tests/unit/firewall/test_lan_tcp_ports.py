# SPDX-License-Identifier: GPL-3.0-or-later
"""`lan_tcp_ports`: admin TCP ports opened to the LAN zone only (the image tests' SSH through QEMU)."""

from __future__ import annotations

import pytest

from appliance.firewall import model
from appliance.firewall.render import render
from appliance.model.validate import ValidationFailed


def _chain(text: str, name: str) -> str:
    return text.split(f"chain {name} {{", 1)[1].split("\n\t}", 1)[0]


def test_lan_tcp_ports_open_in_the_lan_chain_only():
    text = render(model.parse({"lan_interfaces": ["eth0"], "lan_tcp_ports": [22]}))
    assert "tcp dport 22 accept" in _chain(text, "from_lan")
    assert "22" not in _chain(text, "from_wan")


def test_none_by_default():
    text = render(model.parse({"lan_interfaces": ["eth0"]}))
    assert "tcp dport 22" not in _chain(text, "from_lan")


def test_a_loopback_port_in_lan_tcp_ports_is_refused():
    with pytest.raises(ValidationFailed) as err:
        model.parse({"lan_interfaces": ["eth0"], "lan_tcp_ports": [5432]})
    assert "loopback_ports" in str(err.value) and "5432" in str(err.value)
