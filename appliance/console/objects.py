# SPDX-License-Identifier: GPL-3.0-or-later
"""Read and change the PBX objects for the pages and the API: through the Store, audited, all or nothing.

Every change runs in one transaction holding both the Store's change (validated whole) and its audit
row. The Store has no update for devices, inbound numbers and routes yet; here an edit replaces the
object (remove, then add) inside that same transaction, so a refused edit leaves the old one intact.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg

from appliance.console import audit, pbxobjects
from appliance.console.schema import DEVICE, EXTENSION, NUMBER, ROUTE, TRUNK, Kind, public
from appliance.model import Snapshot
from appliance.model.validate import Problem, ValidationFailed
from appliance.store.repo import Store, load_snapshot

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Actor:
    """Who makes a change, as the audit log records it."""

    who: str  # "user:admin", "token:crm"
    remote_addr: str = ""


def snapshot(conn: psycopg.Connection) -> Snapshot:
    """Return the whole model as it is now."""
    return load_snapshot(conn)


def items(snap: Snapshot, kind: Kind) -> tuple[Any, ...]:
    """Return every object of a kind."""
    if kind.name in pbxobjects.CREATE:
        return pbxobjects.items(snap, kind.name)
    return {
        "extension": snap.extensions,
        "device": snap.devices,
        "trunk": snap.trunks,
        "number": snap.inbound_numbers,
        "route": snap.outbound_routes,
    }[kind.name]


def find(snap: Snapshot, kind: Kind, key: str) -> Any | None:
    """Return the object of a kind with this key, or None."""
    return next((o for o in items(snap, kind) if key_of(kind, o) == key), None)


def key_of(kind: Kind, obj: Any) -> str:
    """Return the key that names an object in URLs and the audit log."""
    return str(getattr(obj, kind.key.name))


def refused_as_managed(exc: ValidationFailed) -> bool:
    """Return whether a refusal is because Ansible manages the object."""
    return any(p.field == "managed_by" and "Ansible" in p.message for p in exc.problems)


def create(conn: psycopg.Connection, kind: Kind, values: dict[str, Any], actor: Actor) -> Any:
    """Create an object from clean values; raise ValidationFailed naming each field that is wrong."""
    key = str(values.get(kind.key.name, ""))
    full = {f.name: values.get(f.name, f.default) for f in kind.fields}

    def change(store: Store) -> Any:
        nonlocal key
        if kind.name in pbxobjects.CREATE:
            key = pbxobjects.CREATE[kind.name](store, full)  # a forwarding rule's key is made by the Store
        else:
            _CREATE[kind.name](store, full)
        created = find(load_snapshot(conn), kind, key)
        audit.record(
            conn,
            actor.who,
            "create",
            kind.name,
            key,
            audit.masked(public(kind, created, True), kind.secrets),
            actor.remote_addr,
        )
        return created

    return _in_transaction(conn, kind, key, change)


def update(conn: psycopg.Connection, kind: Kind, key: str, values: dict[str, Any], actor: Actor) -> Any:
    """Change an object's fields (the key stays); all or nothing, audited with what changed."""

    def change(store: Store) -> Any:
        before = find(load_snapshot(conn), kind, key)
        if before is None:
            raise ValidationFailed([Problem(kind.label(key), kind.key.name, "does not exist")])
        after_key = key
        if kind.name in pbxobjects.UPDATE:
            after_key = pbxobjects.UPDATE[kind.name](store, before, values)
        else:
            _UPDATE[kind.name](store, before, values)
        after = find(load_snapshot(conn), kind, after_key)
        summary = audit.diff(public(kind, before, True), public(kind, after, True), kind.secrets)
        if summary:  # saving an unchanged form changes nothing, so it leaves no audit row
            audit.record(conn, actor.who, "update", kind.name, key, summary, actor.remote_addr)
        return after

    return _in_transaction(conn, kind, key, change)


def remove(conn: psycopg.Connection, kind: Kind, key: str, actor: Actor) -> None:
    """Remove an object; refused while something uses it or when Ansible manages it."""

    def change(store: Store) -> None:
        before = find(load_snapshot(conn), kind, key)
        if kind.name in pbxobjects.REMOVE:
            if before is None:
                raise ValidationFailed([Problem(kind.label(key), kind.key.name, "does not exist")])
            pbxobjects.REMOVE[kind.name](store, key, before)
        else:
            _REMOVE[kind.name](store, key)
        summary = audit.masked(public(kind, before, True), kind.secrets) if before else {}
        audit.record(conn, actor.who, "delete", kind.name, key, summary, actor.remote_addr)

    _in_transaction(conn, kind, key, change)


def _in_transaction(conn: psycopg.Connection, kind: Kind, key: str, change: Callable[[Store], Any]) -> Any:
    try:
        with conn.transaction():
            return change(Store(conn, actor="console"))
    except (psycopg.errors.IntegrityError, psycopg.errors.DataError) as exc:
        # The schema table keeps these out; should one slip through, it is still the caller's mistake
        # about one field, never a server error.
        log.warning("database refused a %s change: %s", kind.name, exc)
        diag = exc.diag
        field = diag.column_name or diag.constraint_name or "value"
        raise ValidationFailed([Problem(kind.label(key), field, diag.message_primary or str(exc))]) from None


# -- per kind: the Store's calls -------------------------------------------------------------------


def _add_extension(store: Store, v: dict[str, Any]) -> None:
    store.add_extension(
        v["number"],
        v["name"],
        caller_id_number=v["caller_id_number"],
        outbound_allowed=v["outbound_allowed"],
        presentation=v["presentation"],
        recording=v["recording"],
        sip_password=v["sip_password"] or None,
        voicemail_pin=v["voicemail_pin"] or None,
    )


def _add_device(store: Store, v: dict[str, Any]) -> None:
    store.add_device(v["name"], v["kind"], v["lines"] or [], mac=v["mac"], model=v["model"], tls=v.get("tls", False))


def _add_trunk(store: Store, v: dict[str, Any]) -> None:
    options = {k: val for k, val in v.items() if k not in ("name", "host")}
    options["inbound_cidrs"] = tuple(options["inbound_cidrs"] or ())
    store.add_trunk(v["name"], v["host"], **options)


def _add_number(store: Store, v: dict[str, Any]) -> None:
    store.add_number(
        v["number"],
        v["destination"],
        destination_kind=v["destination_kind"],
        tracking_tag=v["tracking_tag"],
        trunk=v["trunk"],
    )


def _add_route(store: Store, v: dict[str, Any]) -> None:
    store.add_route(
        v["name"],
        list(v["patterns"] or ()),
        list(v["trunks"] or ()),
        presentation=v["presentation"],
        strip_digits=v["strip_digits"],
        prepend=v["prepend"],
        priority=v["priority"],
        record_calls=v["record_calls"],
    )


def _update_extension(store: Store, before: Any, v: dict[str, Any]) -> None:
    store.update_extension(before.number, **v)


def _update_trunk(store: Store, before: Any, v: dict[str, Any]) -> None:
    store.update_trunk(before.name, **v)


def _replace_device(store: Store, before: Any, v: dict[str, Any]) -> None:
    # A line that keeps its port keeps its SIP account: re-provisioning every phone for a rename of
    # the model field would be absurd.
    old = {line.port: line for line in before.lines}
    lines = [
        {
            "port": line.port,
            "extension": line.extension,
            "sip_username": line.sip_username,
            "sip_password": line.sip_password,
        }
        for line in before.lines
    ]
    if "lines" in v:
        lines = []
        for line in v["lines"]:
            kept = old.get(line["port"])
            credentials = {"sip_username": kept.sip_username, "sip_password": kept.sip_password} if kept else {}
            lines.append({"port": line["port"], "extension": line["extension"], **credentials})
    store.remove_device(before.name)
    store.add_device(
        before.name,
        v.get("kind", before.kind),
        lines,
        mac=v.get("mac", before.mac),
        model=v.get("model", before.model),
        tls=v.get("tls", before.tls),
    )


def _replace_number(store: Store, before: Any, v: dict[str, Any]) -> None:
    store.remove_number(before.number)
    store.add_number(
        before.number,
        v.get("destination", before.destination),
        destination_kind=v.get("destination_kind", before.destination_kind),
        tracking_tag=v.get("tracking_tag", before.tracking_tag),
        trunk=v.get("trunk", before.trunk),
    )


def _replace_route(store: Store, before: Any, v: dict[str, Any]) -> None:
    store.remove_route(before.name)
    store.add_route(
        before.name,
        list(v.get("patterns", before.patterns)),
        list(v.get("trunks", before.trunks)),
        presentation=v.get("presentation", before.presentation),
        strip_digits=v.get("strip_digits", before.strip_digits),
        prepend=v.get("prepend", before.prepend),
        priority=v.get("priority", before.priority),
        record_calls=v.get("record_calls", before.record_calls),
    )


_CREATE: dict[str, Callable[[Store, dict[str, Any]], None]] = {
    EXTENSION.name: _add_extension,
    DEVICE.name: _add_device,
    TRUNK.name: _add_trunk,
    NUMBER.name: _add_number,
    ROUTE.name: _add_route,
}
_UPDATE: dict[str, Callable[[Store, Any, dict[str, Any]], None]] = {
    EXTENSION.name: _update_extension,
    DEVICE.name: _replace_device,
    TRUNK.name: _update_trunk,
    NUMBER.name: _replace_number,
    ROUTE.name: _replace_route,
}
_REMOVE: dict[str, Callable[[Store, str], None]] = {
    EXTENSION.name: lambda store, key: store.remove_extension(key),
    DEVICE.name: lambda store, key: store.remove_device(key),
    TRUNK.name: lambda store, key: store.remove_trunk(key),
    NUMBER.name: lambda store, key: store.remove_number(key),
    ROUTE.name: lambda store, key: store.remove_route(key),
}
