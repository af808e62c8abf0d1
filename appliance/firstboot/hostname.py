# SPDX-License-Identifier: GPL-3.0-or-later
"""This box's host name: <prefix>-<board serial>, or <prefix>-<first MAC> where the board has none."""

from __future__ import annotations

import logging
import re
import socket
from pathlib import Path

log = logging.getLogger(__name__)

# What firmware puts where it has no real serial number.
_PLACEHOLDERS = {
    "",
    "none",
    "0",
    "default string",
    "not specified",
    "not applicable",
    "system serial number",
    "to be filled by o.e.m.",
    "chassis serial number",
    "123456789",
}
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


def board_serial(proc: Path = Path("/proc"), sys_root: Path = Path("/sys")) -> str | None:
    """Return the board's serial number (device tree on a Pi, DMI on x86), or None if it has none."""
    for path in (proc / "device-tree" / "serial-number", sys_root / "class" / "dmi" / "id" / "product_serial"):
        try:
            raw = path.read_bytes().replace(b"\x00", b"").decode("ascii", "replace").strip()
        except OSError:
            continue
        if usable_serial(raw):
            return raw
    return None


def usable_serial(raw: str) -> bool:
    """Return whether raw looks like a real serial number rather than a firmware placeholder."""
    text = raw.strip().lower()
    if text in _PLACEHOLDERS or not re.sub(r"[^a-z0-9]", "", text):
        return False
    return set(re.sub(r"[^a-z0-9]", "", text)) not in ({"0"}, {"f"}, {"x"})


def first_mac(sys_root: Path = Path("/sys")) -> str | None:
    """Return the MAC address of the first physical network interface (by name), or None."""
    net = sys_root / "class" / "net"
    if not net.is_dir():
        return None
    for iface in sorted(net.iterdir()):
        # Physical interfaces have a `device` link; lo, bridges, WireGuard and veths do not.
        if not (iface / "device").exists():
            continue
        try:
            mac = (iface / "address").read_text().strip().lower()
        except OSError:
            continue
        if mac and mac != "00:00:00:00:00:00":
            return mac
    return None


def derive(prefix: str, serial: str | None, mac: str | None) -> str:
    """Return <prefix>-<last 12 serial characters> or <prefix>-<12 MAC hex digits>."""
    if serial:
        suffix = re.sub(r"[^a-z0-9]", "", serial.lower())[-12:]
    elif mac:
        suffix = mac.replace(":", "").lower()
    else:
        raise RuntimeError("the board has no serial number and no network interface with a MAC address")
    name = f"{prefix.lower().strip('-')}-{suffix}"[:63].rstrip("-")
    check(name)
    return name


def check(name: str) -> None:
    """Refuse a host name that is not a single DNS label."""
    if not _LABEL.match(name):
        raise ValueError(f"{name!r} is not a valid host name (letters, digits and '-', at most 63)")


def write(name: str, etc: Path = Path("/etc")) -> None:
    """Write /etc/hostname and the 127.0.1.1 line of /etc/hosts (Debian's convention)."""
    (etc / "hostname").write_text(name + "\n", encoding="utf-8")
    hosts = etc / "hosts"
    lines = hosts.read_text(encoding="utf-8").splitlines() if hosts.exists() else ["127.0.0.1\tlocalhost"]
    lines = [line for line in lines if not line.startswith("127.0.1.1")]
    at = next((i + 1 for i, line in enumerate(lines) if line.startswith("127.0.0.1")), 0)
    lines.insert(at, f"127.0.1.1\t{name}")
    hosts.write_text("\n".join(lines) + "\n", encoding="utf-8")


def apply(name: str, etc: Path = Path("/etc")) -> None:
    """Make name this box's host name, now and after reboots."""
    check(name)
    write(name, etc)
    socket.sethostname(name)
    log.info("host name set to %s", name)
