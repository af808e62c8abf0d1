# SPDX-License-Identifier: GPL-3.0-or-later
"""Validate a whole Snapshot; every problem names the object and the field it is about.

The store applies a change inside a transaction, reads the resulting Snapshot and validates
it, so a refused change is rolled back whole and the database only ever holds valid states.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from appliance.addresses import is_ip, is_network
from appliance.model import (
    DEVICE_KINDS,
    MANAGERS,
    PRESENTATIONS,
    TRANSPORTS,
    Device,
    Extension,
    InboundNumber,
    OutboundRoute,
    Site,
    Snapshot,
    destinations,
    media,
)
from appliance.model import patterns as dialpatterns

EXTENSION_RE = re.compile(r"^[1-9]\d{1,5}$")
E164_RE = re.compile(r"^\+?[1-9]\d{2,14}$")
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
SIP_USER_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{2,63}$")
TAG_RE = re.compile(r"^[A-Za-z0-9_.-]{0,64}$")
HOST_RE = re.compile(
    r"^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$"
)
MAC_RE = re.compile(r"^([0-9a-f]{2}:){5}[0-9a-f]{2}$")
KNOWN_CODECS = {"OPUS", "G722", "PCMU", "PCMA", "G729", "GSM", "H264", "H263", "VP8"}
# Passwords FreeSWITCH ships with or that scanners try first; refused whatever their length.
WEAK_PASSWORDS = {"1234", "12345", "123456", "1234567", "12345678", "password", "cluecon", "admin", "secret"}
MIN_SIP_PASSWORD = 16


@dataclass(frozen=True)
class Problem:
    """One thing wrong: which object, which field, what."""

    obj: str
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.obj}: {self.field}: {self.message}"


class ValidationFailed(ValueError):
    """A change was refused; `problems` lists every reason."""

    def __init__(self, problems: Iterable[Problem]):
        self.problems = list(problems)
        super().__init__("; ".join(str(p) for p in self.problems))


def validate(snap: Snapshot) -> list[Problem]:
    """Return every problem in the snapshot (an empty list means valid)."""
    problems: list[Problem] = []
    problems += _site(snap.site)
    problems += _extensions(snap)
    problems += _devices(snap)
    problems += _trunks(snap)
    problems += _inbound_numbers(snap)
    problems += _routes(snap)
    problems += _outside_call_limits(snap)
    problems += [Problem(*p) for p in media.problems(snap)]  # presentation per extension, recording
    from appliance.model.calls_validate import validate_calls  # imports this module

    problems += validate_calls(snap)
    from appliance.model.menus_check import menu_problems  # imports Problem from here

    problems += menu_problems(snap)
    return problems


def password_weakness(password: str, *, username: str = "", minimum: int = MIN_SIP_PASSWORD) -> str | None:
    """Return why a password is weak, or None when it is acceptable."""
    if len(password) < minimum:
        return f"must be at least {minimum} characters (got {len(password)})"
    if password.lower() in WEAK_PASSWORDS or (username and username.lower() in password.lower()):
        return "is a well-known default or contains the user name"
    if len(set(password)) < 6:
        return "uses too few distinct characters"
    return None


def pin_weakness(pin: str, number: str) -> str | None:
    """Return why a voicemail PIN is weak, or None."""
    if not re.fullmatch(r"\d{4,10}", pin):
        return "must be 4 to 10 digits"
    if len(set(pin)) == 1 or pin in "01234567890" or pin in "09876543210" or pin == number:
        return "is guessable (repeated, sequential or the extension number)"
    return None


def _site(site: Site) -> Iterator[Problem]:
    obj = "site"
    if not HOST_RE.match(site.domain):
        yield Problem(obj, "domain", f"{site.domain!r} is not a valid domain name")
    for name in ("lan_ip", "trunk_ip"):
        if not is_ip(getattr(site, name)):
            yield Problem(obj, name, f"{getattr(site, name)!r} is not an IP address")
    if site.company_number and not E164_RE.match(site.company_number):
        yield Problem(obj, "company_number", f"{site.company_number!r} is not a phone number (E.164 digits)")
    ports = {
        "internal_sip_port": site.internal_sip_port,
        "internal_tls_port": site.internal_tls_port,
        "external_sip_port": site.external_sip_port,
    }
    for name, port in ports.items():
        if not 1 <= port <= 65535:
            yield Problem(obj, name, f"{port} is not a port number")
    if len(set(ports.values())) != len(ports) and site.lan_ip == site.trunk_ip:
        yield Problem(obj, "ports", "internal, TLS and external SIP ports must differ on the same address")
    if not (1024 <= site.rtp_start < site.rtp_end <= 65535) or site.rtp_end - site.rtp_start < 100:
        yield Problem(obj, "rtp_start", f"RTP range {site.rtp_start}-{site.rtp_end} must be 1024-65535, >= 100 ports")
    unknown = [c for c in site.codecs.split(",") if c.strip().upper() not in KNOWN_CODECS]
    if unknown or not site.codecs.strip():
        yield Problem(obj, "codecs", f"unknown codecs {unknown}; known: {', '.join(sorted(KNOWN_CODECS))}")
    if not 5 <= site.ring_seconds <= 300:
        yield Problem(obj, "ring_seconds", f"{site.ring_seconds} must be between 5 and 300")
    yield from _managed(obj, site.managed_by)


def _extensions(snap: Snapshot) -> Iterator[Problem]:
    seen: dict[str, Extension] = {}
    for ext in snap.extensions:
        obj = f"extension {ext.number}"
        if not EXTENSION_RE.match(ext.number):
            yield Problem(obj, "number", "must be 2 to 6 digits, not starting with 0")
        if ext.number in seen:
            yield Problem(obj, "number", f"already used by extension {ext.number} ({seen[ext.number].name})")
        seen[ext.number] = ext
        if not ext.name.strip() or len(ext.name) > 80 or _has_control(ext.name):
            yield Problem(obj, "name", "must be 1 to 80 printable characters")
        if why := password_weakness(ext.sip_password, username=ext.number):
            yield Problem(obj, "sip_password", why)
        if why := pin_weakness(ext.voicemail_pin, ext.number):
            yield Problem(obj, "voicemail_pin", why)
        if ext.caller_id_number and not E164_RE.match(ext.caller_id_number):
            yield Problem(obj, "caller_id_number", f"{ext.caller_id_number!r} is not a phone number")
        yield from _managed(obj, ext.managed_by)


def _devices(snap: Snapshot) -> Iterator[Problem]:
    names: set[str] = set()
    usernames = {e.number for e in snap.extensions}
    for dev in snap.devices:
        obj = f"device {dev.name}"
        if not NAME_RE.match(dev.name):
            yield Problem(obj, "name", "use letters, digits, '.', '_' or '-' (at most 63)")
        if dev.name in names:
            yield Problem(obj, "name", "already used by another device")
        names.add(dev.name)
        if dev.kind not in DEVICE_KINDS:
            yield Problem(obj, "kind", f"{dev.kind!r} is not one of {', '.join(DEVICE_KINDS)}")
        if dev.mac and not MAC_RE.match(dev.mac):
            yield Problem(obj, "mac", f"{dev.mac!r} is not a MAC address like 00:11:22:aa:bb:cc")
        if not dev.lines:
            yield Problem(obj, "lines", "a device needs at least one line or port")
        if dev.tls and not snap.site.tls_enabled:
            yield Problem(obj, "tls", "the site does not offer SIP over TLS (site tls_enabled is off)")
        yield from _lines(snap, dev, usernames)
        yield from _managed(obj, dev.managed_by)


def _lines(snap: Snapshot, dev: Device, usernames: set[str]) -> Iterator[Problem]:
    ports: set[int] = set()
    for line in dev.lines:
        obj = f"device {dev.name} port {line.port}"
        if line.port in ports or not 1 <= line.port <= 64:
            yield Problem(obj, "port", "ports must be distinct numbers from 1 to 64")
        ports.add(line.port)
        if snap.extension(line.extension) is None:
            yield Problem(obj, "extension", f"extension {line.extension!r} does not exist")
        if not SIP_USER_RE.match(line.sip_username):
            yield Problem(obj, "sip_username", "use 3-64 lowercase letters, digits, '.', '_' or '-'")
        elif line.sip_username in usernames:
            yield Problem(obj, "sip_username", f"{line.sip_username!r} is already a SIP user name")
        usernames.add(line.sip_username)
        if why := password_weakness(line.sip_password, username=line.sip_username):
            yield Problem(obj, "sip_password", why)


def _trunks(snap: Snapshot) -> Iterator[Problem]:
    names: set[str] = set()
    for trunk in snap.trunks:
        obj = f"trunk {trunk.name}"
        if not NAME_RE.match(trunk.name):
            yield Problem(obj, "name", "use letters, digits, '.', '_' or '-' (at most 63)")
        if trunk.name in names:
            yield Problem(obj, "name", "already used by another trunk")
        names.add(trunk.name)
        if not (is_ip(trunk.host) or HOST_RE.match(trunk.host)):
            yield Problem(obj, "host", f"{trunk.host!r} is neither a host name nor an IP address")
        if not 1 <= trunk.port <= 65535:
            yield Problem(obj, "port", f"{trunk.port} is not a port number")
        if trunk.transport not in TRANSPORTS:
            yield Problem(obj, "transport", f"{trunk.transport!r} is not one of {', '.join(TRANSPORTS)}")
        if trunk.register and not (trunk.username and trunk.password):
            yield Problem(obj, "register", "registration needs a username and a password")
        if trunk.password and (why := password_weakness(trunk.password, minimum=8)):
            yield Problem(obj, "password", why)
        for cidr in trunk.inbound_cidrs:
            if not is_network(cidr):
                yield Problem(obj, "inbound_cidrs", f"{cidr!r} is not an address or network")
        if trunk.max_channels < 0:
            yield Problem(obj, "max_channels", "must be 0 (unlimited) or more")
        yield from _managed(obj, trunk.managed_by)


def _inbound_numbers(snap: Snapshot) -> Iterator[Problem]:
    seen: set[str] = set()
    for did in snap.inbound_numbers:
        obj = f"inbound number {did.number}"
        if not E164_RE.match(did.number):
            yield Problem(obj, "number", "must be a phone number: 3 to 15 digits, optional leading +")
        bare = did.number.lstrip("+")
        if bare in seen:
            yield Problem(obj, "number", "already routed by another inbound number")
        seen.add(bare)
        yield from _destination(obj, snap, did)
        if not TAG_RE.match(did.tracking_tag):
            yield Problem(obj, "tracking_tag", "use at most 64 letters, digits, '.', '_' or '-'")
        if did.trunk and snap.trunk(did.trunk) is None:
            yield Problem(obj, "trunk", f"trunk {did.trunk!r} does not exist")
        yield from _managed(obj, did.managed_by)


def _destination(obj: str, snap: Snapshot, did: InboundNumber) -> Iterator[Problem]:
    for field, message in destinations.problems(snap, did.destination_kind, did.destination):
        yield Problem(obj, field, message)


def _routes(snap: Snapshot) -> Iterator[Problem]:
    names: set[str] = set()
    parsed: list[tuple[OutboundRoute, dialpatterns.DialPattern]] = []
    for route in snap.outbound_routes:
        obj = f"outbound route {route.name}"
        if not NAME_RE.match(route.name):
            yield Problem(obj, "name", "use letters, digits, '.', '_' or '-' (at most 63)")
        if route.name in names:
            yield Problem(obj, "name", "already used by another route")
        names.add(route.name)
        if not route.patterns:
            yield Problem(obj, "patterns", "a route needs at least one dial pattern")
        for text in route.patterns:
            try:
                parsed.append((route, dialpatterns.parse(text)))
            except dialpatterns.PatternError as exc:
                yield Problem(obj, "patterns", str(exc))
        yield from _route_fields(obj, snap, route)
    yield from _pattern_conflicts(snap, parsed)


def _pattern_conflicts(
    snap: Snapshot, parsed: list[tuple[OutboundRoute, dialpatterns.DialPattern]]
) -> Iterator[Problem]:
    # One number must lead to one route: ambiguity is refused rather than resolved by order,
    # and reported on both routes so the message names whichever one was just changed.
    for i, (route, pattern) in enumerate(parsed):
        obj = f"outbound route {route.name}"
        for j, (other_route, other) in enumerate(parsed):
            if i == j or (other_route is route and j < i):
                continue
            if (witness := dialpatterns.overlap(pattern, other)) is not None:
                where = "another pattern of this route" if other_route is route else f"route {other_route.name!r}"
                yield Problem(
                    obj, "patterns", f"{pattern.text!r} overlaps {other.text!r} of {where} (both match {witness})"
                )
        for ext in snap.extensions:
            if pattern.matches(ext.number):
                yield Problem(obj, "patterns", f"{pattern.text!r} matches extension {ext.number}")
        if route.strip_digits >= pattern.min_length:
            yield Problem(
                obj, "strip_digits", f"stripping {route.strip_digits} digits leaves nothing of {pattern.text!r}"
            )


def _route_fields(obj: str, snap: Snapshot, route: OutboundRoute) -> Iterator[Problem]:
    if not route.trunks:
        yield Problem(obj, "trunks", "a route needs at least one trunk")
    if len(set(route.trunks)) != len(route.trunks):
        yield Problem(obj, "trunks", "a trunk is listed twice")
    for name in route.trunks:
        if snap.trunk(name) is None:
            yield Problem(obj, "trunks", f"trunk {name!r} does not exist")
    if route.presentation not in PRESENTATIONS:
        yield Problem(obj, "presentation", f"{route.presentation!r} is not one of {', '.join(PRESENTATIONS)}")
    if route.presentation == "company" and not snap.site.company_number:
        yield Problem(obj, "presentation", "'company' needs the site's company_number to be set")
    if route.strip_digits < 0:
        yield Problem(obj, "strip_digits", "must be 0 or more")
    if not re.fullmatch(r"[0-9*#+]*", route.prepend):
        yield Problem(obj, "prepend", f"{route.prepend!r} may hold only digits, '*', '#' and '+'")
    yield from _managed(obj, route.managed_by)


MAX_OUTSIDE_CALLS = 1000  # FreeSWITCH's max-sessions (switch.conf.xml): a higher limit could never bite


def _outside_call_limits(snap: Snapshot) -> Iterator[Problem]:
    """Check the toll-fraud guard: concurrent outside calls and allowed outbound routes."""
    routes = {r.name for r in snap.outbound_routes}
    if not 1 <= snap.site.max_outside_calls <= MAX_OUTSIDE_CALLS:
        yield Problem("site", "max_outside_calls", f"must be 1 to {MAX_OUTSIDE_CALLS} (use outbound_allowed to forbid)")
    if not snap.site.outside_routes.strip():
        yield Problem("site", "outside_routes", "use '*' for every outbound route, or name the routes")
    yield from _route_list("site", snap.site.outside_routes, routes)
    for ext in snap.extensions:
        obj = f"extension {ext.number}"
        if not 0 <= ext.max_outside_calls <= MAX_OUTSIDE_CALLS:
            yield Problem(obj, "max_outside_calls", f"must be 0 (the site's) to {MAX_OUTSIDE_CALLS}")
        yield from _route_list(obj, ext.outside_routes, routes)


def _route_list(obj: str, text: str, routes: set[str]) -> Iterator[Problem]:
    """Check a route list: '' (the site's), '*' (every route) or comma-separated names of existing routes."""
    if text in ("", "*"):
        return
    names = text.split(",")
    if any(not n for n in names) or len(set(names)) != len(names) or any(c.isspace() for c in text):
        yield Problem(obj, "outside_routes", f"{text!r}: name each route once, separated by commas without spaces")
    for name in dict.fromkeys(n for n in names if n):
        if name not in routes:
            known = ", ".join(sorted(routes)) or "none yet"
            yield Problem(obj, "outside_routes", f"outbound route {name!r} does not exist (routes: {known})")


def _managed(obj: str, managed_by: str) -> Iterator[Problem]:
    if managed_by not in MANAGERS:
        yield Problem(obj, "managed_by", f"{managed_by!r} is not one of {', '.join(MANAGERS)}")


def _has_control(text: str) -> bool:
    return any(ord(c) < 32 or ord(c) == 127 for c in text)
