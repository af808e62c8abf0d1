# SPDX-License-Identifier: GPL-3.0-or-later
"""Where a call can be sent: one convention shared by inbound numbers, forwarding rules, IVR options.

A destination is a (kind, value) pair. In the dialplan every kind but `extension` is a
target in the `targets` context, reached only by `transfer` (phones dial in `default`
and can never name a target themselves):

    extension 101     -> transfer 101 XML default
    voicemail 101     -> transfer voicemail-101 XML targets
    group sales       -> transfer group-sales XML targets
    queue support     -> transfer queue-support XML targets
    ivr main          -> transfer ivr-main XML targets
    schedule office   -> transfer schedule-office XML targets
    outside +4930...  -> transfer outside-+4930... XML targets

A feature adds its kind by adding a lookup to `EXISTS` (a function of the Snapshot and the
value that says whether the object exists) and rendering its `<kind>-<value>` extension
into `dialplan/targets/`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from appliance.model import Snapshot

TARGETS_CONTEXT = "targets"
_OUTSIDE_RE = re.compile(r"^\+?[0-9]{3,15}$")


def _extension(snap: Snapshot, value: str) -> bool:
    return snap.extension(value) is not None


def _named(attribute: str) -> Callable[[Snapshot, str], bool]:
    def exists(snap: Snapshot, value: str) -> bool:
        return any(getattr(obj, "name", None) == value for obj in getattr(snap, attribute, ()))

    return exists


# kind -> does an object of that kind with this value exist in the snapshot?
EXISTS: dict[str, Callable[[Snapshot, str], bool]] = {
    "extension": _extension,
    "voicemail": lambda snap, value: snap.mailbox(value) is not None,
    "group": _named("groups"),
    "queue": _named("queues"),
    "ivr": _named("ivrs"),
    "schedule": _named("schedules"),
    "outside": lambda _snap, value: bool(_OUTSIDE_RE.match(value)),
}
DESTINATION_KINDS = tuple(EXISTS)


def transfer_data(kind: str, value: str) -> str:
    """Return the `transfer` application's data that sends a call to this destination."""
    if kind == "extension":
        return f"{value} XML default"
    return f"{kind}-{value} XML {TARGETS_CONTEXT}"


def problems(snap: Snapshot, kind: str, value: str) -> Iterator[tuple[str, str]]:
    """Yield (field, message) for a destination that is malformed or names nothing."""
    if kind not in EXISTS:
        yield "destination_kind", f"{kind!r} is not one of {', '.join(DESTINATION_KINDS)}"
    elif not EXISTS[kind](snap, value):
        what = "is not a phone number (3 to 15 digits, optional +)" if kind == "outside" else "does not exist"
        yield "destination", f"{kind} {value!r} {what}"
