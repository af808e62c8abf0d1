# SPDX-License-Identifier: GPL-3.0-or-later
"""The registrations that ring for an extension, as bridge legs: its own and each device line's.

Shared by the extension's dial string (directory) and ring groups (menus), so a TLS device's leg is
offered SRTP only wherever it rings: per-leg variables in brackets, the other legs keeping the
directory's dial-var (SRTP offered, plain RTP accepted).
"""

from __future__ import annotations

from appliance.model import Snapshot

# SDES suites for SRTP with phones (docs/sip-tls.md): the two every SDES phone implements (RFC 4568),
# strongest first. FreeSWITCH's default list would also accept AES_CM_128_NULL_AUTH (no integrity).
SRTP_SUITES = ("AES_CM_128_HMAC_SHA1_80", "AES_CM_128_HMAC_SHA1_32")
SRTP_ONLY = f"rtp_secure_media_outbound=mandatory:{':'.join(SRTP_SUITES)}"


def legs(snapshot: Snapshot, extension: str, own_user: str, domain: str, *extra: str) -> list[str]:
    """Return one bridge leg per registration source of extension; extra are per-leg variables for all."""
    out = [_leg(extra, own_user, domain)]
    for dev in snapshot.devices:
        for line in dev.lines:
            if line.extension == extension:
                out.append(_leg((*extra, SRTP_ONLY) if dev.tls else extra, line.sip_username, domain))
    return out


def _leg(variables: tuple[str, ...], user: str, domain: str) -> str:
    prefix = f"[{','.join(variables)}]" if variables else ""
    return f"{prefix}${{sofia_contact(*/{user}@{domain})}}"
