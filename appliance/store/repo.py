# SPDX-License-Identifier: GPL-3.0-or-later
"""Read and change PBX objects; every change is validated whole and committed whole, or not at all."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import fields
from typing import Any

import psycopg
from psycopg import sql

from appliance import secrets
from appliance.model import (
    Device,
    DeviceLine,
    Extension,
    InboundNumber,
    OutboundRoute,
    Site,
    Snapshot,
    Trunk,
)
from appliance.model.validate import Problem, ValidationFailed, validate

_SITE_FIELDS = [f.name for f in fields(Site)]
_CHANGE_LOCK = 0x46534343  # any constant shared by every writer of the model


def load_snapshot(conn: psycopg.Connection) -> Snapshot:
    """Read every configuration object in one consistent view."""
    with _transaction(conn):
        site = Site(**{k: v for k, v in conn.execute("SELECT * FROM site").fetchone().items() if k != "id"})
        extensions = tuple(Extension(**r) for r in conn.execute("SELECT * FROM extensions ORDER BY number"))
        from appliance.store.calls import load_calls  # subclasses this module's Store

        return Snapshot(
            site,
            extensions,
            _devices(conn),
            _trunks(conn),
            _numbers(conn),
            _routes(conn),
            **load_calls(conn),
            **_menus(conn),
        )


def _devices(conn: psycopg.Connection) -> tuple[Device, ...]:
    lines: dict[int, list[DeviceLine]] = {}
    for r in conn.execute(
        "SELECT l.device_id, l.port, e.number AS extension, l.sip_username, l.sip_password"
        " FROM device_lines l JOIN extensions e ON e.id = l.extension_id ORDER BY l.device_id, l.port"
    ):
        lines.setdefault(r.pop("device_id"), []).append(DeviceLine(**r))
    return tuple(
        Device(lines=tuple(lines.get(r["id"], ())), **r) for r in conn.execute("SELECT * FROM devices ORDER BY name")
    )


def _trunks(conn: psycopg.Connection) -> tuple[Trunk, ...]:
    rows = conn.execute("SELECT * FROM trunks ORDER BY name")
    return tuple(Trunk(**{**r, "inbound_cidrs": tuple(r["inbound_cidrs"])}) for r in rows)


def _numbers(conn: psycopg.Connection) -> tuple[InboundNumber, ...]:
    rows = conn.execute(
        "SELECT n.id, n.number, n.destination_kind, n.destination, n.tracking_tag, n.managed_by,"
        " coalesce(t.name, '') AS trunk FROM inbound_numbers n LEFT JOIN trunks t ON t.id = n.trunk_id"
        " ORDER BY n.number"
    )
    return tuple(InboundNumber(**r) for r in rows)


def _routes(conn: psycopg.Connection) -> tuple[OutboundRoute, ...]:
    trunks: dict[int, list[str]] = {}
    for r in conn.execute(
        "SELECT rt.route_id, t.name FROM outbound_route_trunks rt JOIN trunks t ON t.id = rt.trunk_id"
        " ORDER BY rt.route_id, rt.position"
    ):
        trunks.setdefault(r["route_id"], []).append(r["name"])
    return tuple(
        OutboundRoute(**{**r, "patterns": tuple(r["patterns"]), "trunks": tuple(trunks.get(r["id"], ()))})
        for r in conn.execute("SELECT * FROM outbound_routes ORDER BY priority, name")
    )


def _menus(conn: psycopg.Connection) -> dict[str, tuple]:
    from appliance.store import menus  # menus.py imports this module for Store

    return menus.load(conn)


@contextlib.contextmanager
def _transaction(conn: psycopg.Connection) -> Iterator[None]:
    with conn.transaction():
        yield


class Store:
    """The write side. `actor` is who makes the change: 'console' may not touch Ansible's objects."""

    def __init__(self, conn: psycopg.Connection, actor: str = "console"):
        self.conn = conn
        self.actor = actor

    @contextlib.contextmanager
    def change(self) -> Iterator[psycopg.Connection]:
        """Run a change in one transaction; roll it back whole if the resulting model is invalid."""
        try:
            with self.conn.transaction():
                # One change at a time: validating the whole model is only sound if no other
                # change commits between our read and our commit (two changes each valid alone
                # could conflict). Office-scale change rates make the serialisation free.
                self.conn.execute("SELECT pg_advisory_xact_lock(%s)", (_CHANGE_LOCK,))
                yield self.conn
                problems = validate(load_snapshot(self.conn))
                if problems:
                    raise ValidationFailed(problems)
        except psycopg.errors.UniqueViolation as exc:
            raise ValidationFailed([_unique_problem(exc)]) from None

    # -- site --------------------------------------------------------------------------------------
    def update_site(self, **changes: Any) -> Site:
        unknown = set(changes) - set(_SITE_FIELDS) - {"managed_by"}
        if unknown:
            raise ValidationFailed([Problem("site", f, "no such setting") for f in sorted(unknown)])
        with self.change() as conn:
            self._guard(conn, "site", "site", "id", 1)
            self._update(conn, "site", "id", 1, changes)
        return load_snapshot(self.conn).site

    # -- extensions --------------------------------------------------------------------------------
    def add_extension(self, number: str, name: str, **options: Any) -> Extension:
        ext = Extension(
            number=number,
            name=name,
            sip_password=options.pop("sip_password", None) or secrets.sip_password(),
            voicemail_pin=options.pop("voicemail_pin", None) or secrets.voicemail_pin(number),
            managed_by=self.actor,
            **options,
        )
        with self.change() as conn:
            self._refuse_existing(conn, "extension", "extensions", "number", number)
            self._insert(conn, "extensions", ext, exclude={"id"})
        return self._get_extension(number)

    def update_extension(self, number: str, **changes: Any) -> Extension:
        with self.change() as conn:
            self._guard(conn, f"extension {number}", "extensions", "number", number)
            self._update(conn, "extensions", "number", number, changes)
        return self._get_extension(changes.get("number", number))

    def remove_extension(self, number: str) -> None:
        with self.change() as conn:
            self._guard(conn, f"extension {number}", "extensions", "number", number)
            self._refuse_references(
                conn,
                f"extension {number}",
                [
                    (
                        "device line",
                        "SELECT d.name || ' port ' || l.port FROM device_lines l JOIN devices d"
                        " ON d.id = l.device_id JOIN extensions e ON e.id = l.extension_id WHERE e.number = %s",
                    ),
                    (
                        "inbound number",
                        "SELECT number FROM inbound_numbers WHERE destination_kind = 'extension' AND destination = %s",
                    ),
                ],
                number,
            )
            conn.execute("DELETE FROM extensions WHERE number = %s", (number,))

    def _get_extension(self, number: str) -> Extension:
        return next(e for e in load_snapshot(self.conn).extensions if e.number == number)

    # -- devices -----------------------------------------------------------------------------------
    def add_device(
        self, name: str, kind: str, lines: list[dict[str, Any]], *, mac: str = "", model: str = "", tls: bool = False
    ) -> Device:
        """Add a phone or FXS gateway; each line is {port, extension[, sip_username, sip_password]}."""
        with self.change() as conn:
            self._refuse_existing(conn, "device", "devices", "name", name)
            device_id = conn.execute(
                "INSERT INTO devices (name, kind, mac, model, tls, managed_by) VALUES (%s, %s, %s, %s, %s, %s)"
                " RETURNING id",
                (name, kind, mac.lower(), model, tls, self.actor),
            ).fetchone()["id"]
            for line in lines:
                self._insert_line(conn, device_id, name, line)
        return next(d for d in load_snapshot(self.conn).devices if d.name == name)

    def _insert_line(self, conn: psycopg.Connection, device_id: int, device: str, line: dict[str, Any]) -> None:
        port = int(line["port"])
        ext = conn.execute("SELECT id FROM extensions WHERE number = %s", (str(line["extension"]),)).fetchone()
        if ext is None:
            raise ValidationFailed(
                [
                    Problem(
                        f"device {device} port {port}", "extension", f"extension {line['extension']!r} does not exist"
                    )
                ]
            )
        conn.execute(
            "INSERT INTO device_lines (device_id, port, extension_id, sip_username, sip_password)"
            " VALUES (%s, %s, %s, %s, %s)",
            (
                device_id,
                port,
                ext["id"],
                line.get("sip_username") or f"{device.lower()}-{port}",
                line.get("sip_password") or secrets.sip_password(),
            ),
        )

    def remove_device(self, name: str) -> None:
        with self.change() as conn:
            self._guard(conn, f"device {name}", "devices", "name", name)
            conn.execute("DELETE FROM devices WHERE name = %s", (name,))

    # -- trunks ------------------------------------------------------------------------------------
    def add_trunk(self, name: str, host: str, **options: Any) -> Trunk:
        trunk = Trunk(name=name, host=host, managed_by=self.actor, **options)
        with self.change() as conn:
            self._refuse_existing(conn, "trunk", "trunks", "name", name)
            self._insert(conn, "trunks", trunk, exclude={"id"})
        return next(t for t in load_snapshot(self.conn).trunks if t.name == name)

    def update_trunk(self, name: str, **changes: Any) -> Trunk:
        with self.change() as conn:
            self._guard(conn, f"trunk {name}", "trunks", "name", name)
            self._update(conn, "trunks", "name", name, changes)
        return next(t for t in load_snapshot(self.conn).trunks if t.name == changes.get("name", name))

    def remove_trunk(self, name: str) -> None:
        with self.change() as conn:
            self._guard(conn, f"trunk {name}", "trunks", "name", name)
            self._refuse_references(
                conn,
                f"trunk {name}",
                [
                    (
                        "outbound route",
                        "SELECT r.name FROM outbound_routes r JOIN outbound_route_trunks rt"
                        " ON rt.route_id = r.id JOIN trunks t ON t.id = rt.trunk_id WHERE t.name = %s",
                    ),
                    (
                        "inbound number",
                        "SELECT n.number FROM inbound_numbers n JOIN trunks t ON t.id = n.trunk_id WHERE t.name = %s",
                    ),
                ],
                name,
            )
            conn.execute("DELETE FROM trunks WHERE name = %s", (name,))

    # -- inbound numbers ---------------------------------------------------------------------------
    def add_number(
        self,
        number: str,
        destination: str,
        *,
        destination_kind: str = "extension",
        tracking_tag: str = "",
        trunk: str = "",
    ) -> InboundNumber:
        with self.change() as conn:
            self._refuse_existing(conn, "inbound number", "inbound_numbers", "number", number)
            conn.execute(
                "INSERT INTO inbound_numbers (number, destination_kind, destination, tracking_tag, trunk_id,"
                " managed_by) VALUES (%s, %s, %s, %s, %s, %s)",
                (
                    number,
                    destination_kind,
                    destination,
                    tracking_tag,
                    self._trunk_id(conn, f"inbound number {number}", trunk),
                    self.actor,
                ),
            )
        return next(n for n in load_snapshot(self.conn).inbound_numbers if n.number == number)

    def remove_number(self, number: str) -> None:
        with self.change() as conn:
            self._guard(conn, f"inbound number {number}", "inbound_numbers", "number", number)
            conn.execute("DELETE FROM inbound_numbers WHERE number = %s", (number,))

    # -- outbound routes ---------------------------------------------------------------------------
    def add_route(self, name: str, patterns: list[str], trunks: list[str], **options: Any) -> OutboundRoute:
        with self.change() as conn:
            self._refuse_existing(conn, "outbound route", "outbound_routes", "name", name)
            route = OutboundRoute(name=name, patterns=tuple(patterns), trunks=(), managed_by=self.actor, **options)
            route_id = self._insert(conn, "outbound_routes", route, exclude={"id", "trunks"})
            for position, trunk in enumerate(trunks):
                conn.execute(
                    "INSERT INTO outbound_route_trunks (route_id, position, trunk_id) VALUES (%s, %s, %s)",
                    (route_id, position, self._trunk_id(conn, f"outbound route {name}", trunk, "trunks")),
                )
        return next(r for r in load_snapshot(self.conn).outbound_routes if r.name == name)

    def remove_route(self, name: str) -> None:
        with self.change() as conn:
            self._guard(conn, f"outbound route {name}", "outbound_routes", "name", name)
            conn.execute("DELETE FROM outbound_routes WHERE name = %s", (name,))

    # -- helpers -----------------------------------------------------------------------------------
    def _guard(self, conn: psycopg.Connection, obj: str, table: str, key: str, value: Any) -> None:
        row = conn.execute(
            sql.SQL("SELECT managed_by FROM {} WHERE {} = %s").format(sql.Identifier(table), sql.Identifier(key)),
            (value,),
        ).fetchone()
        if row is None:
            raise ValidationFailed([Problem(obj, key, "does not exist")])
        if row["managed_by"] == "ansible" and self.actor != "ansible":
            raise ValidationFailed([Problem(obj, "managed_by", "is managed by Ansible; change it in the inventory")])

    def _refuse_existing(self, conn: psycopg.Connection, kind: str, table: str, key: str, value: Any) -> None:
        query = sql.SQL("SELECT 1 FROM {} WHERE {} = %s").format(sql.Identifier(table), sql.Identifier(key))
        if conn.execute(query, (value,)).fetchone():
            raise ValidationFailed([Problem(f"{kind} {value}", key, "already exists")])

    @staticmethod
    def _refuse_references(conn: psycopg.Connection, obj: str, queries: list[tuple[str, str]], value: Any) -> None:
        problems = [
            Problem(obj, "references", f"still used by {kind} {row[next(iter(row))]}")
            for kind, query in queries
            for row in conn.execute(query, (value,))
        ]
        if problems:
            raise ValidationFailed(problems)

    @staticmethod
    def _trunk_id(conn: psycopg.Connection, obj: str, name: str, field: str = "trunk") -> int | None:
        if not name:
            return None
        row = conn.execute("SELECT id FROM trunks WHERE name = %s", (name,)).fetchone()
        if row is None:
            raise ValidationFailed([Problem(obj, field, f"trunk {name!r} does not exist")])
        return row["id"]

    @staticmethod
    def _insert(conn: psycopg.Connection, table: str, record: Any, exclude: set[str]) -> int:
        values = {f.name: _db_value(getattr(record, f.name)) for f in fields(record) if f.name not in exclude}
        query = sql.SQL("INSERT INTO {} ({}) VALUES ({}) RETURNING id").format(
            sql.Identifier(table),
            sql.SQL(", ").join(map(sql.Identifier, values)),
            sql.SQL(", ").join(sql.Placeholder() * len(values)),
        )
        return conn.execute(query, list(values.values())).fetchone()["id"]

    def _update(self, conn: psycopg.Connection, table: str, key: str, value: Any, changes: dict[str, Any]) -> None:
        if self.actor == "ansible":
            changes = {**changes, "managed_by": "ansible"}
        if not changes:
            return
        query = sql.SQL("UPDATE {} SET {} WHERE {} = %s").format(
            sql.Identifier(table),
            sql.SQL(", ").join(sql.SQL("{} = %s").format(sql.Identifier(k)) for k in changes),
            sql.Identifier(key),
        )
        try:
            conn.execute(query, [_db_value(v) for v in changes.values()] + [value])
        except psycopg.errors.UndefinedColumn as exc:
            raise ValidationFailed([Problem(f"{table} {value}", "field", str(exc).splitlines()[0])]) from None


def _db_value(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def _unique_problem(exc: psycopg.errors.UniqueViolation) -> Problem:
    diag = exc.diag
    return Problem(diag.table_name or "object", diag.constraint_name or "key", diag.message_detail or str(exc))
