# SPDX-License-Identifier: GPL-3.0-or-later
"""Turn FreeSWITCH's channel events into webhook payloads: call.start, call.answer, call.hangup.

Only the leg that started the call (the CDR's A-leg) makes events: a bridged call is one call to
the receiver, not two. Each event gets its own id, which the receiver uses to drop duplicates.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from appliance.callcontrol.cdr import is_a_leg, trunk_of

# FreeSWITCH event name -> webhook event type.
TYPES = {
    "CHANNEL_CREATE": "call.start",
    "CHANNEL_ANSWER": "call.answer",
    "CHANNEL_HANGUP_COMPLETE": "call.hangup",
}
EVENT_TYPES = tuple(TYPES.values())
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def payload_from_event(headers: Mapping[str, str], new_id: Any = uuid.uuid4) -> dict[str, Any] | None:
    """Return the JSON payload for a call event of an A-leg, or None for anything else."""
    kind = TYPES.get(headers.get("Event-Name", ""))
    if kind is None or not is_a_leg(headers):
        return None
    # switch_event_serialize() writes an empty value as "_undef_"; it means "nothing".
    h = {name: value for name, value in headers.items() if value != "_undef_"}
    try:
        call_uuid = str(uuid.UUID(h.get("Unique-ID", "")))
    except ValueError:
        return None
    call: dict[str, Any] = {
        "uuid": call_uuid,
        "direction": h.get("Call-Direction") or h.get("variable_direction", ""),
        "caller_number": h.get("Caller-Caller-ID-Number", ""),
        "caller_name": h.get("Caller-Caller-ID-Name", ""),
        "destination": h.get("Caller-Destination-Number", ""),
        "call_type": h.get("variable_appliance_call_type", ""),
        "extension": h.get("variable_appliance_extension", ""),
        "did": h.get("variable_appliance_did", ""),
        "trunk": trunk_of(h),
        "tracking_tag": h.get("variable_appliance_tracking_tag", ""),
    }
    if kind == "call.hangup":
        call["hangup_cause"] = h.get("Hangup-Cause") or h.get("variable_hangup_cause", "")
        call["duration_s"] = _int(h.get("variable_duration"))
        call["billsec"] = _int(h.get("variable_billsec"))
        call["answered"] = _int(h.get("variable_answer_epoch")) > 0
    return {"id": str(new_id()), "type": kind, "occurred_at": _occurred(h), "call": call}


def _occurred(h: Mapping[str, str]) -> str:
    micros = _int(h.get("Event-Date-Timestamp"))
    when = _EPOCH + timedelta(microseconds=micros) if micros else datetime.now(UTC)
    return when.isoformat().replace("+00:00", "Z")


def _int(text: str | None) -> int:
    try:
        return max(int(text or 0), 0)
    except ValueError:
        return 0
