# SPDX-License-Identifier: GPL-3.0-or-later
"""One table of the objects the console edits: their fields, types and secrets.

The forms, the REST API's input checks and its OpenAPI document are all made from this table, so
the three cannot disagree. Meaning (formats, references, overlaps) is checked by the Store; this
table only decides types, choices and bounds, the things the database itself would refuse rudely.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from appliance.model import DESTINATION_KINDS, DEVICE_KINDS, PRESENTATIONS, RECORDING_MODES, TRANSPORTS
from appliance.model.validate import E164_RE, EXTENSION_RE, MAC_RE, NAME_RE, Problem

INT32 = (-(2**31), 2**31 - 1)


@dataclass(frozen=True)
class Field:
    """One editable field of an object."""

    name: str
    # "str", "int", "bool", "strlist" (list of strings), "lines" (a device's ports), "rows" (strings
    # holding spaces, one per line in forms), "options" (an IVR menu's keys)
    type: str
    label: str
    help: str = ""
    required: bool = False  # needed to create the object
    key: bool = False  # names the object; fixed once created
    secret: bool = False  # shown only on demand, masked in the audit log
    choices: tuple[str, ...] = ()
    default: Any = None
    minimum: int = INT32[0]
    maximum: int = INT32[1]
    max_length: int = 255
    pattern: str = ""  # documented in OpenAPI; the Store checks it and says what is wrong in words
    readonly: bool = False  # shown and returned, never written (a key the appliance makes)


@dataclass(frozen=True)
class Kind:
    """An object kind: its name, how it is titled, its key and fields."""

    name: str  # "extension"; also the audit log's object_kind
    plural: str  # "extensions"; the API's collection name
    title: str  # "Extension"
    obj: str  # how the Store names one in a Problem: "inbound number" +4930...
    fields: tuple[Field, ...]
    # How the Store names an object of this kind from its key, when not "<obj> <key>".
    labeler: Callable[[str], str] | None = None
    # A refusal's field -> the form field it is shown next to (a forwarding loop: the destination).
    field_map: dict[str, str] = dataclasses.field(default_factory=dict, hash=False, compare=False)

    @property
    def key(self) -> Field:
        return next(f for f in self.fields if f.key)

    @property
    def secrets(self) -> tuple[str, ...]:
        """Return the names masked in the audit log (a device's lines each hold a SIP password)."""
        nested = ("sip_password",) if any(f.type == "lines" for f in self.fields) else ()
        return tuple(f.name for f in self.fields if f.secret) + nested

    def field(self, name: str) -> Field | None:
        return next((f for f in self.fields if f.name == name), None)

    def label(self, key: str) -> str:
        return self.labeler(key) if self.labeler else f"{self.obj} {key}"


EXTENSION = Kind(
    "extension",
    "extensions",
    "Extension",
    "extension",
    (
        Field(
            "number",
            "str",
            "Number",
            "2 to 6 digits, not starting with 0",
            required=True,
            key=True,
            max_length=6,
            pattern=EXTENSION_RE.pattern,
        ),
        Field("name", "str", "Name", "who answers it, as phones show it", required=True, max_length=80),
        Field("caller_id_number", "str", "Caller ID", "number shown outside (E.164), usually its DID", default=""),
        Field("outbound_allowed", "bool", "May call outside numbers", default=True),
        Field(
            "presentation",
            "str",
            "Caller ID presentation",
            "(none): as the route says; withheld always wins (docs/recording.md)",
            choices=("", *PRESENTATIONS),
            default="",
        ),
        Field(
            "recording",
            "str",
            "Call recording",
            "always, on demand (*2 during a call) or off; needs the owner's key (Recordings)",
            choices=RECORDING_MODES,
            default="off",
        ),
        Field("sip_password", "str", "SIP password", "at least 16 characters; empty: generated", secret=True),
        Field("voicemail_pin", "str", "Voicemail PIN", "4 to 10 digits; empty: generated", secret=True, max_length=10),
    ),
)

DEVICE = Kind(
    "device",
    "devices",
    "Device",
    "device",
    (
        Field(
            "name",
            "str",
            "Name",
            "letters, digits, '.', '_', '-'",
            required=True,
            key=True,
            max_length=63,
            pattern=NAME_RE.pattern,
        ),
        Field("kind", "str", "Kind", required=True, choices=DEVICE_KINDS),
        Field(
            "lines",
            "lines",
            "Lines",
            "PORT:EXTENSION for each line key or FXS port, e.g. 1:101, 2:102; each gets its own SIP account",
            required=True,
        ),
        Field(
            "mac",
            "str",
            "MAC address",
            "like 00:11:22:aa:bb:cc",
            default="",
            max_length=17,
            pattern=f"^$|{MAC_RE.pattern}",
        ),
        Field("model", "str", "Model", default="", max_length=80),
        Field(
            "tls",
            "bool",
            "Registers over TLS",
            "calls to it then require SRTP, and its provisioning profile says TLS (the site must offer TLS)",
            default=False,
        ),
    ),
)

TRUNK = Kind(
    "trunk",
    "trunks",
    "Trunk",
    "trunk",
    (
        Field(
            "name",
            "str",
            "Name",
            "letters, digits, '.', '_', '-'",
            required=True,
            key=True,
            max_length=63,
            pattern=NAME_RE.pattern,
        ),
        Field("host", "str", "Host", "the carrier's SIP server: name or address", required=True, max_length=253),
        Field("port", "int", "Port", default=5060, minimum=1, maximum=65535),
        Field("transport", "str", "Transport", choices=TRANSPORTS, default="udp"),
        Field("username", "str", "User name", default=""),
        Field("password", "str", "Password", "from the carrier", secret=True, default=""),
        Field("register", "bool", "Register", "log in to the carrier (needs user name and password)", default=False),
        Field("from_domain", "str", "From domain", default="", max_length=253),
        Field("inbound_cidrs", "strlist", "Inbound addresses", "addresses or networks the carrier calls from"),
        Field("max_channels", "int", "Channel limit", "0: unlimited", default=0, minimum=0),
    ),
)

NUMBER = Kind(
    "number",
    "numbers",
    "Inbound number",
    "inbound number",
    (
        Field(
            "number",
            "str",
            "Number",
            "E.164, + optional",
            required=True,
            key=True,
            max_length=16,
            pattern=E164_RE.pattern,
        ),
        Field("destination_kind", "str", "Destination kind", choices=DESTINATION_KINDS, default="extension"),
        Field("destination", "str", "Destination", "the extension that answers", required=True, max_length=64),
        Field("tracking_tag", "str", "Tracking tag", "campaign name copied onto every call's CDR", default=""),
        Field("trunk", "str", "Trunk", "only calls from this trunk (empty: any)", default="", max_length=63),
    ),
)

ROUTE = Kind(
    "route",
    "routes",
    "Outbound route",
    "outbound route",
    (
        Field(
            "name",
            "str",
            "Name",
            "letters, digits, '.', '_', '-'",
            required=True,
            key=True,
            max_length=63,
            pattern=NAME_RE.pattern,
        ),
        Field("patterns", "strlist", "Dial patterns", "X any digit, Z 1-9, N 2-9, [1-5], final . or !", required=True),
        Field("trunks", "strlist", "Trunks", "in failover order", required=True),
        Field("presentation", "str", "Caller ID shown", choices=PRESENTATIONS, default="extension"),
        Field("strip_digits", "int", "Strip digits", "leading digits removed before dialling", default=0),
        Field("prepend", "str", "Prepend", "digits put in front after stripping", default="", max_length=32),
        Field("priority", "int", "Priority", default=100),
        Field("record_calls", "bool", "Record every call", "needs the owner's key (Recordings)", default=False),
    ),
)

KINDS: dict[str, Kind] = {k.name: k for k in (EXTENSION, DEVICE, TRUNK, NUMBER, ROUTE)}
MAX_LIST = 64  # dial patterns, trunks, networks or lines in one object


def public(kind: Kind, obj: Any, secrets: bool = False) -> dict[str, Any]:
    """Return an object as the API and the pages show it: the table's fields and managed_by; secrets on demand.

    Only the table's fields, so a field added to the model stays out of the API until its row (type,
    bounds, help) is added here, and the OpenAPI document stays true.
    """
    data = {f.name: _plain(getattr(obj, f.name)) for f in kind.fields if not (f.secret and not secrets)}
    data["managed_by"] = obj.managed_by
    if not secrets:
        for line in data.get("lines", []):
            line.pop("sip_password", None)
    return data


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value):
        return dataclasses.asdict(value)
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return value


def coerce(kind: Kind, key: str, data: Any, *, creating: bool) -> tuple[dict[str, Any], list[Problem]]:
    """Check a JSON body's types, choices and bounds; return the clean values and the problems."""
    obj = kind.label(key)
    if not isinstance(data, dict):
        return {}, [Problem(obj, "body", "must be a JSON object")]
    problems = [Problem(obj, name, "no such field") for name in data if kind.field(name) is None]
    problems += [Problem(obj, f.name, "is set by the appliance") for f in kind.fields if f.readonly and f.name in data]
    clean: dict[str, Any] = {}
    for f in kind.fields:
        if f.readonly:
            continue
        if f.name not in data:
            if creating and f.required:
                problems.append(Problem(obj, f.name, "is required"))
            continue
        if f.key and not creating:
            problems.append(Problem(obj, f.name, "cannot be changed; create a new one and remove this one"))
            continue
        value, why = _value(f, data[f.name])
        if why:
            problems.append(Problem(obj, f.name, why))
        else:
            clean[f.name] = value
    return clean, problems


def text_problem(value: str, max_length: int) -> str | None:
    """Return why a string cannot be stored as text, or None."""
    if len(value) > max_length:
        return f"must be at most {max_length} characters"
    if "\x00" in value:
        return "must not contain NUL characters"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "must be valid Unicode text"
    return None


def _value(f: Field, value: Any) -> tuple[Any, str | None]:
    if f.type == "str":
        if not isinstance(value, str):
            return None, "must be a string"
        if f.choices and value not in f.choices:
            return None, f"{value!r} is not one of {', '.join(f.choices)}"
        return value, text_problem(value, f.max_length)
    if f.type == "int":
        # bool is an int in Python; JSON true is not a port number.
        if isinstance(value, bool) or not isinstance(value, int):
            return None, "must be an integer"
        if not f.minimum <= value <= f.maximum:
            return None, f"must be between {f.minimum} and {f.maximum}"
        return value, None
    if f.type == "bool":
        return (value, None) if isinstance(value, bool) else (None, "must be true or false")
    if f.type in ("strlist", "rows"):
        if not isinstance(value, list) or len(value) > MAX_LIST or not all(isinstance(v, str) for v in value):
            return None, f"must be a list of at most {MAX_LIST} strings"
        why = next((w for v in value if (w := text_problem(v, f.max_length))), None)
        return value, why
    if f.type == "options":
        return _options(value)
    return _lines(value)


def _options(value: Any) -> tuple[Any, str | None]:
    shape = f"must be a list of at most {MAX_LIST} objects {{digits, destination_kind, destination}} (strings)"
    keys = {"digits", "destination_kind", "destination"}
    if not isinstance(value, list) or len(value) > MAX_LIST:
        return None, shape
    for item in value:
        if not isinstance(item, dict) or set(item) != keys or not all(isinstance(v, str) for v in item.values()):
            return None, shape
        if why := next((w for v in item.values() if (w := text_problem(v, 64))), None):
            return None, why
    return [dict(item) for item in value], None


def _lines(value: Any) -> tuple[Any, str | None]:
    shape = f"must be a list of at most {MAX_LIST} objects {{port: 1-64, extension: string}}"
    if not isinstance(value, list) or len(value) > MAX_LIST:
        return None, shape
    lines = []
    for item in value:
        if not isinstance(item, dict) or set(item) != {"port", "extension"}:
            return None, shape
        port, ext = item["port"], item["extension"]
        if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 64 or not isinstance(ext, str):
            return None, shape
        if why := text_problem(ext, 64):
            return None, f"extension: {why}"
        lines.append({"port": port, "extension": ext})
    return lines, None


# The PBX features' kinds (forwarding rules, schedules, mailboxes, IVR menus, groups, queues).
from appliance.console.pbxschema import PBX_KINDS  # noqa: E402

KINDS.update(PBX_KINDS)
