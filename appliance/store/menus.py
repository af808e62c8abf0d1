# SPDX-License-Identifier: GPL-3.0-or-later
"""Read and change IVR menus, ring groups and queues through the `Store`'s validated changes."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import fields
from typing import Any

import psycopg

from appliance.model.menus import Ivr, IvrOption, Queue, RingGroup
from appliance.model.validate import Problem, ValidationFailed
from appliance.store.repo import Store, load_snapshot

# kind -> (table, record type, label used in problems)
_KINDS: dict[str, tuple[str, type, str]] = {
    "ivr": ("ivrs", Ivr, "IVR"),
    "group": ("ring_groups", RingGroup, "ring group"),
    "queue": ("queues", Queue, "queue"),
}


def load(conn: psycopg.Connection) -> dict[str, tuple]:
    """Return the Snapshot fields `ivrs`, `groups` and `queues` (call inside load_snapshot's transaction)."""
    options: dict[int, list[IvrOption]] = {}
    for r in conn.execute(
        "SELECT ivr_id, digits, destination_kind, destination FROM ivr_options ORDER BY ivr_id, position"
    ):
        options.setdefault(r.pop("ivr_id"), []).append(IvrOption(**r))
    ivrs = tuple(
        Ivr(**{**r, "options": tuple(options.get(r["id"], ()))})
        for r in conn.execute("SELECT * FROM ivrs ORDER BY name")
    )
    groups = tuple(
        RingGroup(**{**r, "members": tuple(r["members"])})
        for r in conn.execute("SELECT * FROM ring_groups ORDER BY name")
    )
    queues = tuple(
        Queue(**{**r, "agents": tuple(r["agents"])}) for r in conn.execute("SELECT * FROM queues ORDER BY name")
    )
    return {"ivrs": ivrs, "groups": groups, "queues": queues}


def _options(raw: Iterable[Any]) -> list[IvrOption]:
    """Accept IvrOption records or {digits, destination_kind, destination} mappings."""
    return [o if isinstance(o, IvrOption) else IvrOption(**o) for o in raw]


class MenuStore:
    """Add, change and remove menus, groups and queues; each change is validated whole, or refused whole."""

    def __init__(self, store: Store):
        self.store = store

    # -- generic -----------------------------------------------------------------------------------
    def get(self, kind: str, name: str) -> Any:
        _table, _record, label = _KINDS[kind]
        found = next((o for o in getattr(load_snapshot(self.store.conn), f"{kind}s") if o.name == name), None)
        if found is None:
            raise ValidationFailed([Problem(f"{label} {name}", "name", "does not exist")])
        return found

    def add(self, kind: str, name: str, **values: Any) -> Any:
        table, record, label = _KINDS[kind]
        options = _options(values.pop("options", ()))
        _refuse_unknown(label, name, record, values)
        obj = record(name=name, managed_by=self.store.actor, **_tuples(values))
        with self.store.change() as conn:
            self.store._refuse_existing(conn, label, table, "name", name)
            row_id = self.store._insert(conn, table, obj, exclude={"id", "options"})
            if kind == "ivr":
                _write_options(conn, row_id, options)
        return self.get(kind, name)

    def update(self, kind: str, name: str, **changes: Any) -> Any:
        table, record, label = _KINDS[kind]
        options = changes.pop("options", None)
        _refuse_unknown(label, name, record, changes)
        with self.store.change() as conn:
            self.store._guard(conn, f"{label} {name}", table, "name", name)
            self.store._update(conn, table, "name", name, _tuples(changes))
            if options is not None:
                row_id = conn.execute("SELECT id FROM ivrs WHERE name = %s", (changes.get("name", name),)).fetchone()
                conn.execute("DELETE FROM ivr_options WHERE ivr_id = %s", (row_id["id"],))
                _write_options(conn, row_id["id"], _options(options))
        return self.get(kind, changes.get("name", name))

    def remove(self, kind: str, name: str) -> None:
        table, _record, label = _KINDS[kind]
        with self.store.change() as conn:
            self.store._guard(conn, f"{label} {name}", table, "name", name)
            _refuse_dids(conn, kind, name, label)
            conn.execute(f"DELETE FROM {table} WHERE name = %s", (name,))  # table comes from _KINDS, never from input


def _refuse_dids(conn: psycopg.Connection, kind: str, name: str, label: str) -> None:
    # Menu options and fallbacks naming it are caught by whole-model validation after the delete.
    rows = conn.execute(
        "SELECT number FROM inbound_numbers WHERE destination_kind = %s AND destination = %s", (kind, name)
    ).fetchall()
    if rows:
        raise ValidationFailed(
            [Problem(f"{label} {name}", "references", f"still used by inbound number {r['number']}") for r in rows]
        )


def _write_options(conn: psycopg.Connection, ivr_id: int, options: list[IvrOption]) -> None:
    for position, option in enumerate(options):
        conn.execute(
            "INSERT INTO ivr_options (ivr_id, position, digits, destination_kind, destination)"
            " VALUES (%s, %s, %s, %s, %s)",
            (ivr_id, position, option.digits, option.destination_kind, option.destination),
        )


def _refuse_unknown(label: str, name: str, record: type, values: dict[str, Any]) -> None:
    known = {f.name for f in fields(record)} - {"id", "name", "managed_by", "options"}
    unknown = sorted(set(values) - known - ({"name"} if "name" in values else set()))
    if unknown:
        raise ValidationFailed([Problem(f"{label} {name}", f, "no such field") for f in unknown])


def _tuples(values: dict[str, Any]) -> dict[str, Any]:
    return {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
