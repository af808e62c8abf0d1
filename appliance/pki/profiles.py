# SPDX-License-Identifier: GPL-3.0-or-later
"""Certificate profiles: what each kind of leaf certificate is for and how long it may live.

Plain data, no cryptography import: the `appliance` parser reads the profile names on every command.
"""

from __future__ import annotations

from dataclasses import dataclass

from appliance.pki.errors import PkiError

SERVICE_MAX_DAYS = 30
PHONE_DAYS = 365
INTERMEDIATE_DAYS = 730
ROOT_DAYS = 3650


@dataclass(frozen=True)
class Profile:
    """One kind of leaf certificate."""

    name: str
    purpose: str
    days: int
    usages: tuple[str, ...]  # extended key usages, by their RFC 5280 names

    @property
    def max_days(self) -> int:
        """Return the longest lifetime this profile allows (its default is the maximum)."""
        return self.days


PROFILES: dict[str, Profile] = {
    p.name: p
    for p in (
        Profile("console", "HTTPS of the web console", SERVICE_MAX_DAYS, ("serverAuth",)),
        Profile(
            "sip",
            "SIP over TLS in FreeSWITCH (server to phones, client to peers)",
            SERVICE_MAX_DAYS,
            ("serverAuth", "clientAuth"),
        ),
        Profile(
            "phone",
            "a phone's client certificate for provisioning and SIP-TLS",
            PHONE_DAYS,
            ("clientAuth",),
        ),
    )
}


def profile(name: str) -> Profile:
    """Return the named profile or refuse, listing the known ones."""
    try:
        return PROFILES[name]
    except KeyError:
        raise PkiError(f"unknown certificate profile {name!r}; known: {', '.join(PROFILES)}") from None
