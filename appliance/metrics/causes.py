# SPDX-License-Identifier: GPL-3.0-or-later
"""Sort a finished call into a small set of results, from its answer time, hangup cause and SIP status.

FreeSWITCH knows about a hundred hangup causes; a dashboard needs a handful of classes whose
meaning an admin can act on (the carrier is failing, numbers are misdialled, nobody picks up).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

RESULTS = (
    "answered",
    "busy",
    "no_answer",
    "cancelled",
    "rejected",
    "not_found",
    "unavailable",
    "network",
    "unanswered",
    "failed",
)

_BY_CAUSE = {
    "USER_BUSY": "busy",
    "NO_ANSWER": "no_answer",
    "NO_USER_RESPONSE": "no_answer",
    "PROGRESS_TIMEOUT": "no_answer",
    "ORIGINATOR_CANCEL": "cancelled",
    "LOSE_RACE": "cancelled",
    "PICKED_OFF": "cancelled",
    "CALL_REJECTED": "rejected",
    "OUTGOING_CALL_BARRED": "rejected",
    "INCOMING_CALL_BARRED": "rejected",
    "BEARERCAPABILITY_NOTAUTH": "rejected",
    "FACILITY_REJECTED": "rejected",
    "UNALLOCATED_NUMBER": "not_found",
    "NO_ROUTE_TRANSIT_NET": "not_found",
    "NO_ROUTE_DESTINATION": "not_found",
    "NUMBER_CHANGED": "not_found",
    "INVALID_NUMBER_FORMAT": "not_found",
    "USER_NOT_REGISTERED": "unavailable",
    "SUBSCRIBER_ABSENT": "unavailable",
    "NORMAL_CIRCUIT_CONGESTION": "network",
    "SWITCH_CONGESTION": "network",
    "NETWORK_OUT_OF_ORDER": "network",
    "DESTINATION_OUT_OF_ORDER": "network",
    "NORMAL_TEMPORARY_FAILURE": "network",
    "RECOVERY_ON_TIMER_EXPIRE": "network",
    "GATEWAY_DOWN": "network",
    "EXCHANGE_ROUTING_ERROR": "network",
    "SERVICE_UNAVAILABLE": "network",
    "REQUESTED_CHAN_UNAVAIL": "network",
    "MEDIA_TIMEOUT": "network",
}

# NORMAL_CLEARING on a call nobody answered says nothing by itself (a bridge that failed and a
# dialplan that simply ended look alike); the SIP final response FreeSWITCH sent the caller does.
_BY_SIP_STATUS = {
    "404": "not_found",
    "484": "not_found",
    "486": "busy",
    "600": "busy",
    "408": "no_answer",
    "480": "unavailable",
    "487": "cancelled",
    "403": "rejected",
    "603": "rejected",
}
_UNINFORMATIVE = frozenset({"", "NORMAL_CLEARING", "NORMAL_UNSPECIFIED"})


def result_of(record: Mapping[str, Any]) -> str:
    """Return the result class of a CDR row (as appliance.callcontrol.cdr.cdr_from_event makes it)."""
    if record.get("answered_at"):
        return "answered"
    cause = str(record.get("hangup_cause") or "")
    if cause not in _UNINFORMATIVE:
        return _BY_CAUSE.get(cause, "failed")
    status = str(record.get("sip_hangup_status") or "")
    if status in _BY_SIP_STATUS:
        return _BY_SIP_STATUS[status]
    if status[:1] in ("5", "6"):
        return "network" if status[:1] == "5" else "rejected"
    return "unanswered"
