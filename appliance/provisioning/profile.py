# SPDX-License-Identifier: GPL-3.0-or-later
"""One device's provisioning profile, built from the data model and the CA's public root."""

from __future__ import annotations

import re
from dataclasses import dataclass

from appliance.model import Device, Snapshot

MAC_HEX = re.compile(r"^[0-9a-f]{12}$")


@dataclass(frozen=True)
class Account:
    """One SIP account of the device: a line key of a phone or a port of an ATA."""

    line: int
    extension: str
    display_name: str
    username: str
    password: str


@dataclass(frozen=True)
class Profile:
    device: str
    mac: str
    server: str
    domain: str
    transport: str  # "tls" for a TLS device, else "udp"
    port: int
    srtp: str  # "mandatory" over TLS (the appliance refuses TLS calls without it), else "optional"
    root_pem: str  # the fleet root: the phone trusts SIP-TLS and HTTPS provisioning with it
    root_url: str  # where the phone can fetch it again (plain HTTP, docs/pki.md)
    accounts: tuple[Account, ...]


def mac_key(text: str) -> str | None:
    """Return a MAC address as 12 lower-case hex digits (how phones name their file), or None."""
    key = re.sub(r"[:.-]", "", text.strip().lower())
    return key if MAC_HEX.match(key) else None


def find_device(snap: Snapshot, mac: str) -> Device | None:
    """Return the device with this MAC address (any notation), or None."""
    key = mac_key(mac)
    if key is None:
        return None
    return next((d for d in snap.devices if d.mac and mac_key(d.mac) == key), None)


def for_device(snap: Snapshot, device: Device, root_pem: str) -> Profile:
    """Return the device's profile: each line's account, the server; TLS with SRTP for a TLS device."""
    site = snap.site
    names = {e.number: e.name for e in snap.extensions}
    accounts = tuple(
        Account(ln.port, ln.extension, names.get(ln.extension, ln.extension), ln.sip_username, ln.sip_password)
        for ln in sorted(device.lines, key=lambda ln: ln.port)
    )
    tls = device.tls and site.tls_enabled  # validation refuses a TLS device on a site without TLS
    return Profile(
        device=device.name,
        mac=mac_key(device.mac) or "",
        server=site.lan_ip,
        domain=site.domain,
        transport="tls" if tls else "udp",
        port=site.internal_tls_port if tls else site.internal_sip_port,
        srtp="mandatory" if tls else "optional",
        root_pem=root_pem,
        root_url=f"http://{site.lan_ip}/pki/root.pem",
        accounts=accounts,
    )
