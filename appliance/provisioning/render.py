# SPDX-License-Identifier: GPL-3.0-or-later
"""A provisioning profile as the files phones read: Yealink's `<mac>.cfg`, or JSON for anything else."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from appliance.provisioning.profile import Profile

# Yealink's codes: sip_server.N.transport_type 0 UDP, 1 TCP, 2 TLS; srtp_encryption 0 off, 1 optional, 2 compulsory.
_YEALINK_TRANSPORT = {"udp": 0, "tcp": 1, "tls": 2}
_YEALINK_SRTP = {"off": 0, "optional": 1, "mandatory": 2}


def _value(text: object) -> str:
    """Return a value on one line: a name with a line break must not add settings of its own."""
    return " ".join(str(text).split())


def yealink(profile: Profile) -> str:
    """Return the MAC-oriented configuration file of a Yealink phone."""
    lines = [
        "#!version:1.0.0.1",
        f"## {profile.device}: made by the appliance; edits on the phone are overwritten at the next fetch.",
        # The fleet root: the phone then verifies the SIP-TLS server and HTTPS provisioning with it.
        f"static.trusted_certificates.url = {_value(profile.root_url)}",
        "static.security.trust_certificates = 1",
    ]
    for account in profile.accounts:
        n = account.line
        lines += [
            f"account.{n}.enable = 1",
            f"account.{n}.label = {_value(account.extension)}",
            f"account.{n}.display_name = {_value(account.display_name)}",
            f"account.{n}.auth_name = {_value(account.username)}",
            f"account.{n}.user_name = {_value(account.username)}",
            f"account.{n}.password = {_value(account.password)}",
            f"account.{n}.sip_server.1.address = {_value(profile.server)}",
            f"account.{n}.sip_server.1.port = {profile.port}",
            f"account.{n}.sip_server.1.transport_type = {_YEALINK_TRANSPORT[profile.transport]}",
            f"account.{n}.srtp_encryption = {_YEALINK_SRTP[profile.srtp]}",
        ]
    return "\n".join(lines) + "\n"


def as_json(profile: Profile) -> dict[str, Any]:
    """Return the profile as plain data, the root inline (for ATAs and scripts that set phones up)."""
    return asdict(profile)
