# SPDX-License-Identifier: GPL-3.0-or-later
"""Turn mod_sofia's registration events into what the SIP guard counts: who tried, and how it went.

FreeSWITCH 1.10 fires, per REGISTER (and per INVITE on a profile with auth-calls):
`sofia::pre_register` when it challenges a request that carried no credentials, `sofia::register_failure`
when the credentials were wrong or the user unknown (the 403; `registration-type` says REGISTER or
INVITE), and `sofia::register` when a registration succeeded. `network-ip` is the packet's source.
Recorded examples: tests/fixtures/esl/inbound-sipguard.txt.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass

FAILURE = "failure"
CHALLENGE = "challenge"
SUCCESS = "success"

KINDS = {
    "sofia::register_failure": FAILURE,
    "sofia::pre_register": CHALLENGE,
    "sofia::register": SUCCESS,
}


@dataclass(frozen=True)
class Observation:
    """One authentication outcome from one source address."""

    kind: str
    address: str
    user: str = ""
    profile: str = ""
    request: str = "REGISTER"


def observe(headers: Mapping[str, str]) -> Observation | None:
    """Return what an event says about its source, or None for an event the guard does not count."""
    kind = KINDS.get(headers.get("Event-Subclass", ""))
    address = _address(headers.get("network-ip", ""))
    if kind is None or address is None:
        return None
    return Observation(
        kind=kind,
        address=address,
        user=headers.get("to-user") or headers.get("from-user") or "",
        profile=headers.get("profile-name", ""),
        request=headers.get("registration-type", "REGISTER"),
    )


def _address(text: str) -> str | None:
    """Return the canonical form of an IP address; an IPv4-mapped IPv6 address becomes IPv4."""
    try:
        address = ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return str(address)
