# SPDX-License-Identifier: GPL-3.0-or-later
"""Turn a CHANNEL_HANGUP_COMPLETE event into a row for the `cdrs` table."""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

log = logging.getLogger(__name__)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_GATEWAY = re.compile(r"sofia/gateway/([^/|,\]\s]+)/")
_SECRET_WORDS = frozenset({"password", "passwd", "pass", "secret", "pin", "token", "key"})
_SECRET_ASSIGNMENT = re.compile(
    r"(?<![A-Za-z0-9])((?:[A-Za-z0-9]+_)*(?:password|passwd|pass|secret|pin|token|key)(?:_[A-Za-z0-9]+)*=)"
    r"[^,\]}|\s]*",
    re.IGNORECASE,
)

# Channel variables kept next to the appliance_* ones: enough to trace a call in the
# FreeSWITCH logs and judge its quality, without storing the whole event.
_USEFUL_VARIABLES = (
    "sip_call_id",
    "sip_user_agent",
    "sip_from_user",
    "sip_to_user",
    "sip_network_ip",
    "sip_hangup_disposition",
    "sip_gateway_name",
    "hangup_cause_q850",
    "originate_disposition",
    "endpoint_disposition",
    "last_bridge_to",
    "bridge_channel",
    "last_app",
    "last_arg",
    "read_codec",
    "write_codec",
    "rtp_audio_in_mos",
    # mod_callcenter: the queue a caller waited in and the agent who took it (docs/pbx-menus.md).
    "cc_queue",
    "cc_agent",
)
_USEFUL_HEADERS = {
    "Channel-Name": "channel_name",
    "Caller-Network-Addr": "network_addr",
    "Core-UUID": "core_uuid",
    "FreeSWITCH-Hostname": "hostname",
}


def is_a_leg(headers: Mapping[str, str]) -> bool:
    """Tell whether this channel is the one that started the call (the leg a CDR describes)."""
    if headers.get("variable_is_loopback") == "1" or headers.get("Channel-Name", "").startswith("loopback/"):
        return False
    direction = headers.get("Call-Direction") or headers.get("variable_direction", "")
    if direction == "inbound":
        return True
    # An outbound leg is an A-leg only when nothing originated it on behalf of another
    # channel: the originate API (callbacks, voice codes) makes such legs, whereas a
    # bridge's B-legs carry the originating leg's UUID and an originator profile.
    return direction == "outbound" and not (
        headers.get("variable_originating_leg_uuid") or headers.get("Other-Type") == "originator"
    )


def cdr_from_event(headers: Mapping[str, str]) -> dict[str, Any] | None:
    """Return the cdrs row for a hung-up A-leg, or None for any other channel."""
    if headers.get("Event-Name") != "CHANNEL_HANGUP_COMPLETE" or not is_a_leg(headers):
        return None
    # switch_event_serialize() writes an empty value as "_undef_"; it means "nothing". (Scanning the values
    # first costs a C loop; rebuilding all ~200 headers for every CDR cost a quarter of reading one.)
    if "_undef_" in headers.values():
        headers = {name: value for name, value in headers.items() if value != "_undef_"}
    raw_uuid = headers.get("Unique-ID") or headers.get("variable_uuid", "")
    try:
        call_uuid = str(uuid.UUID(raw_uuid))
    except ValueError:
        log.warning("CHANNEL_HANGUP_COMPLETE without a usable Unique-ID (%r); no CDR", raw_uuid)
        return None

    event_time = _usec(headers.get("Event-Date-Timestamp"))
    started = _time(headers, "start") or _usec(headers.get("Caller-Channel-Created-Time")) or event_time
    ended = _time(headers, "end") or _usec(headers.get("Caller-Channel-Hangup-Time")) or event_time
    if started is None or ended is None:
        log.warning("CHANNEL_HANGUP_COMPLETE for %s carries no times; no CDR", call_uuid)
        return None
    answered = _time(headers, "answer")

    return {
        "uuid": call_uuid,
        "call_type": _var(headers, "appliance_call_type") or "unknown",
        "caller_number": headers.get("Caller-Caller-ID-Number", ""),
        "caller_name": headers.get("Caller-Caller-ID-Name", ""),
        "destination": headers.get("Caller-Destination-Number") or _var(headers, "destination_number"),
        "context": headers.get("Caller-Context", ""),
        "extension": _var(headers, "appliance_extension"),
        "trunk": trunk_of(headers),
        "route": _var(headers, "appliance_route"),
        "did": _var(headers, "appliance_did"),
        "tracking_tag": _var(headers, "appliance_tracking_tag"),
        "outbound_caller_id": _var(headers, "appliance_outbound_caller_id"),
        "started_at": started,
        "answered_at": answered,
        "ended_at": ended,
        "duration_s": _int(_var(headers, "duration"), int((ended - started).total_seconds())),
        "billsec": _int(_var(headers, "billsec"), int((ended - answered).total_seconds()) if answered else 0),
        "hangup_cause": _var(headers, "hangup_cause") or headers.get("Hangup-Cause", ""),
        "sip_hangup_status": _var(headers, "sip_term_status"),
        "variables": _variables(headers),
    }


def trunk_of(headers: Mapping[str, str]) -> str:
    """Return the carrier gateway this call used, or '' when it used none (or it is ambiguous)."""
    named = _var(headers, "appliance_trunk") or _var(headers, "sip_gateway_name")
    if named:
        return named
    for name in ("last_bridge_to", "bridge_channel", "last_arg", "current_application_data"):
        gateways = set(_GATEWAY.findall(_var(headers, name)))
        # A failover dial string names several gateways; guessing one would be worse than none.
        if len(gateways) == 1:
            return gateways.pop()
        if gateways:
            return ""
    return ""


def _var(headers: Mapping[str, str], name: str) -> str:
    return headers.get(f"variable_{name}", "")


def _int(text: str, fallback: int) -> int:
    try:
        return max(int(text), 0)
    except ValueError:
        return max(fallback, 0)


def _usec(text: str | None) -> datetime | None:
    try:
        value = int(text or 0)
    except ValueError:
        return None
    return _EPOCH + timedelta(microseconds=value) if value > 0 else None


def _time(headers: Mapping[str, str], name: str) -> datetime | None:
    """Read variable_<name>_uepoch (or the whole-second _epoch); FreeSWITCH writes 0 for never."""
    precise = _usec(_var(headers, f"{name}_uepoch"))
    if precise is not None:
        return precise
    seconds = _int(_var(headers, f"{name}_epoch"), 0)
    return _EPOCH + timedelta(seconds=seconds) if seconds > 0 else None


def _variables(headers: Mapping[str, str]) -> dict[str, str]:
    kept = {}
    for key, value in headers.items():
        # A FreeSWITCH CDR holds ~200 variables and a handful are ours: test the cheap prefix first
        # (this loop was half the time of reading a CDR file, docs/benchmarks.md).
        if not key.startswith("variable_appliance_"):
            continue
        name = key.removeprefix("variable_")
        if _SECRET_WORDS.isdisjoint(name.lower().split("_")):
            kept[name] = _redact(value)
    for name in _USEFUL_VARIABLES:
        if f"variable_{name}" in headers:
            kept[name] = _redact(headers[f"variable_{name}"])
    for header, name in _USEFUL_HEADERS.items():
        if header in headers:
            kept[name] = headers[header]
    return kept


def _redact(value: str) -> str:
    """Blank out password=... style assignments (dial strings may carry them)."""
    # Most values (numbers, names, codecs) hold no '=' at all: skip the regular expression for them.
    return _SECRET_ASSIGNMENT.sub(r"\1***", value) if "=" in value else value
