# SPDX-License-Identifier: GPL-3.0-or-later
"""What first boot tells the person at the console: ready, host key fingerprints, console URL, password."""

from __future__ import annotations

import ipaddress
import socket
from pathlib import Path

ISSUE_FILE = Path("/etc/issue.d/appliance.issue")


def primary_address() -> str | None:
    """Return the address this box uses towards the outside (the default route's source), if any."""
    # connect() on a UDP socket sends nothing; it only makes the kernel choose a route and address.
    for family, target in ((socket.AF_INET, "192.0.2.1"), (socket.AF_INET6, "2001:db8::1")):
        try:
            with socket.socket(family, socket.SOCK_DGRAM) as sock:
                sock.connect((target, 9))
                address = sock.getsockname()[0]
        except OSError:
            continue
        if not ipaddress.ip_address(address).is_loopback:
            return address
    return None


def console_url(hostname: str, address: str | None, port: int) -> str:
    """Return the web console's URL, by address when the box has one (names may not resolve yet)."""
    host = address or hostname
    if ":" in host:
        host = f"[{host}]"
    return f"https://{host}/" if port == 443 else f"https://{host}:{port}/"


def ready_lines(hostname: str, url: str, fingerprints: list[str], storage_mode: str) -> list[str]:
    """Return the lines printed to the console when first boot has finished."""
    lines = ["appliance-firstboot: ready", f"host name: {hostname}", f"console: {url}", "SSH host keys:"]
    lines += [f"  {line}" for line in fingerprints]
    if storage_mode == "lab":
        lines.append("WARNING: data volume in LAB MODE (keyfile on the root filesystem): not for production")
    return lines


def issue_text(hostname: str, url: str, fingerprints: list[str], password: str | None, storage_mode: str) -> str:
    """Return /etc/issue.d/appliance.issue: what the login screen (HDMI or serial) shows."""
    lines = [f"FreeSWITCH Carrier Appliance {hostname}", f"Console: {url}"]
    if password:
        lines.append(f"Console user admin, first password: {password}")
        lines.append("  (change it at the first login; it is also in /root/appliance-admin-password)")
    lines += ["SSH host keys:", *(f"  {line}" for line in fingerprints)]
    if storage_mode == "lab":
        lines.append("WARNING: data volume in LAB MODE (its key is on the root filesystem)")
    # agetty expands backslash escapes in issue files; the text must show as written.
    return "\n".join(line.replace("\\", "\\\\") for line in lines) + "\n\n"


def write_issue(text: str, path: Path = ISSUE_FILE) -> None:
    """Write the issue file, readable by root only (it may hold the first password)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.chmod(0o600)
    tmp.replace(path)
