# SPDX-License-Identifier: GPL-3.0-or-later
"""The host name from the board serial (Pi device tree, x86 DMI) or the first MAC."""

from __future__ import annotations

from pathlib import Path

import pytest

from appliance.firstboot import hostname


def test_pi_serial_from_the_device_tree(tmp_path: Path):
    proc, sys_root = tmp_path / "proc", tmp_path / "sys"
    (proc / "device-tree").mkdir(parents=True)
    (proc / "device-tree" / "serial-number").write_bytes(b"10000000abcdef12\x00")
    assert hostname.board_serial(proc, sys_root) == "10000000abcdef12"
    assert hostname.derive("appliance", "10000000abcdef12", None) == "appliance-0000abcdef12"


def test_dmi_serial_when_there_is_no_device_tree(tmp_path: Path):
    dmi = tmp_path / "sys" / "class" / "dmi" / "id"
    dmi.mkdir(parents=True)
    (dmi / "product_serial").write_text("PF-2X9 KL/77\n")
    assert hostname.board_serial(tmp_path / "proc", tmp_path / "sys") == "PF-2X9 KL/77"
    assert hostname.derive("pbx", "PF-2X9 KL/77", None) == "pbx-pf2x9kl77"


@pytest.mark.parametrize(
    "raw", ["", "0", "Not Specified", "To be filled by O.E.M.", "Default string", "000000", "FFFF"]
)
def test_firmware_placeholders_are_not_serials(raw):
    assert not hostname.usable_serial(raw)


def test_placeholder_serial_falls_back_to_the_first_physical_mac(tmp_path: Path):
    sys_root = tmp_path / "sys"
    dmi = sys_root / "class" / "dmi" / "id"
    dmi.mkdir(parents=True)
    (dmi / "product_serial").write_text("Not Specified\n")
    net = sys_root / "class" / "net"
    interfaces = [
        ("lo", "00:00:00:00:00:00", False),
        ("wg0", "", False),
        ("enp1s0", "52:54:00:12:34:56", True),
        ("enp2s0", "52:54:00:ff:ff:ff", True),
        ("br0", "02:00:00:00:00:01", False),
    ]
    for name, mac, physical in interfaces:
        (net / name).mkdir(parents=True)
        (net / name / "address").write_text(mac + "\n")
        if physical:
            (net / name / "device").mkdir()
    assert hostname.board_serial(tmp_path / "proc", sys_root) is None
    mac = hostname.first_mac(sys_root)
    assert mac == "52:54:00:12:34:56"
    assert hostname.derive("appliance", None, mac) == "appliance-525400123456"


def test_no_serial_and_no_mac_is_an_error():
    with pytest.raises(RuntimeError, match="no serial number"):
        hostname.derive("appliance", None, None)


def test_invalid_names_are_refused():
    with pytest.raises(ValueError, match="not a valid host name"):
        hostname.check("under_score")


def test_hostname_and_hosts_files(tmp_path: Path):
    (tmp_path / "hosts").write_text("127.0.0.1\tlocalhost\n127.0.1.1\tappliance\n::1\tlocalhost ip6-localhost\n")
    hostname.write("appliance-525400123456", tmp_path)
    assert (tmp_path / "hostname").read_text() == "appliance-525400123456\n"
    assert (tmp_path / "hosts").read_text() == (
        "127.0.0.1\tlocalhost\n127.0.1.1\tappliance-525400123456\n::1\tlocalhost ip6-localhost\n"
    )
    hostname.write("appliance-525400123456", tmp_path)
    assert (tmp_path / "hosts").read_text().count("127.0.1.1") == 1
