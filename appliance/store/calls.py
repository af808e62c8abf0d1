# SPDX-License-Identifier: GPL-3.0-or-later
"""Read and change mailboxes, schedules and forwarding rules (migration 0005), validated whole."""

from __future__ import annotations

import json
from dataclasses import asdict, replace
from typing import Any

import psycopg

from appliance.model.calls import ForwardRule, Holiday, Mailbox, Schedule, TimeRange
from appliance.model.validate import Problem, ValidationFailed
from appliance.store.repo import Store, load_snapshot


def load_calls(conn: psycopg.Connection) -> dict[str, tuple]:
    """Return the Snapshot fields of this module's objects (call inside load_snapshot's transaction)."""
    mailboxes = tuple(
        Mailbox(**r)
        for r in conn.execute(
            "SELECT m.id, e.number AS extension, m.on_busy, m.on_no_answer, m.managed_by"
            " FROM mailboxes m JOIN extensions e ON e.id = m.extension_id ORDER BY e.number"
        )
    )
    schedules = tuple(
        Schedule(
            **{
                **r,
                "ranges": tuple(TimeRange(**x) for x in r["ranges"]),
                "holidays": tuple(Holiday(**x) for x in r["holidays"]),
            }
        )
        for r in conn.execute("SELECT * FROM schedules ORDER BY name")
    )
    rules = tuple(
        ForwardRule(**{**r, "callers": tuple(r["callers"])})
        for r in conn.execute(
            "SELECT f.id, e.number AS extension, f.condition, f.position, f.destination_kind, f.destination,"
            " f.callers, coalesce(s.name, '') AS schedule, f.during, f.ring_seconds, f.managed_by"
            " FROM forward_rules f JOIN extensions e ON e.id = f.extension_id"
            " LEFT JOIN schedules s ON s.id = f.schedule_id ORDER BY e.number, f.condition, f.position"
        )
    )
    return {"mailboxes": mailboxes, "schedules": schedules, "forward_rules": rules}


class CallsStore(Store):
    """The write side for voicemail boxes, schedules and forwarding rules."""

    # -- mailboxes ---------------------------------------------------------------------------------
    def add_mailbox(self, extension: str, **options: Any) -> Mailbox:
        box = Mailbox(extension=extension, managed_by=self.actor, **options)
        with self.change() as conn:
            ext_id = self._extension_id(conn, f"mailbox {extension}", extension)
            if conn.execute("SELECT 1 FROM mailboxes WHERE extension_id = %s", (ext_id,)).fetchone():
                raise ValidationFailed([Problem(f"mailbox {extension}", "extension", "already has a mailbox")])
            conn.execute(
                "INSERT INTO mailboxes (extension_id, on_busy, on_no_answer, managed_by) VALUES (%s, %s, %s, %s)",
                (ext_id, box.on_busy, box.on_no_answer, box.managed_by),
            )
        return self._snap().mailbox(extension)

    def update_mailbox(self, extension: str, **changes: Any) -> Mailbox:
        with self.change() as conn:
            row_id = self._mailbox_id(conn, extension)
            self._guard(conn, f"mailbox {extension}", "mailboxes", "id", row_id)
            self._update(conn, "mailboxes", "id", row_id, changes)
        return self._snap().mailbox(extension)

    def remove_mailbox(self, extension: str) -> None:
        with self.change() as conn:
            row_id = self._mailbox_id(conn, extension)
            self._guard(conn, f"mailbox {extension}", "mailboxes", "id", row_id)
            conn.execute("DELETE FROM mailboxes WHERE id = %s", (row_id,))

    # -- schedules ---------------------------------------------------------------------------------
    def add_schedule(self, name: str, **options: Any) -> Schedule:
        sched = _schedule(Schedule(name=name, managed_by=self.actor, **_schedule_parts(options)))
        with self.change() as conn:
            self._refuse_existing(conn, "schedule", "schedules", "name", name)
            self._insert(conn, "schedules", sched, exclude={"id"})
        return self._snap().schedule(name)

    def update_schedule(self, name: str, **changes: Any) -> Schedule:
        with self.change() as conn:
            self._guard(conn, f"schedule {name}", "schedules", "name", name)
            self._update(conn, "schedules", "name", name, _schedule_columns(_schedule_parts(changes)))
        return self._snap().schedule(changes.get("name", name))

    def remove_schedule(self, name: str) -> None:
        with self.change() as conn:
            self._guard(conn, f"schedule {name}", "schedules", "name", name)
            self._refuse_references(
                conn,
                f"schedule {name}",
                [
                    (
                        "forward rule of extension",
                        "SELECT e.number FROM forward_rules f JOIN extensions e ON e.id = f.extension_id"
                        " JOIN schedules s ON s.id = f.schedule_id WHERE s.name = %s",
                    ),
                    (
                        "inbound number",
                        "SELECT number FROM inbound_numbers WHERE destination_kind = 'schedule' AND destination = %s",
                    ),
                ],
                name,
            )
            conn.execute("DELETE FROM schedules WHERE name = %s", (name,))

    # -- forwarding rules --------------------------------------------------------------------------
    def add_forward(
        self, extension: str, condition: str, destination_kind: str, destination: str, **options: Any
    ) -> ForwardRule:
        obj = f"forward rule {extension} {condition}"
        with self.change() as conn:
            ext_id = self._extension_id(conn, obj, extension)
            if "position" not in options:
                options["position"] = conn.execute(
                    "SELECT coalesce(max(position), 0) + 1 AS p FROM forward_rules"
                    " WHERE extension_id = %s AND condition = %s",
                    (ext_id, condition),
                ).fetchone()["p"]
            schedule = options.pop("schedule", "")
            rule = ForwardRule(
                extension, condition, destination_kind, destination, managed_by=self.actor, **_tupled(options)
            )
            conn.execute(
                "INSERT INTO forward_rules (extension_id, condition, position, destination_kind, destination,"
                " callers, schedule_id, during, ring_seconds, managed_by)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (
                    ext_id,
                    rule.condition,
                    rule.position,
                    rule.destination_kind,
                    rule.destination,
                    list(rule.callers),
                    self._schedule_id(conn, obj, schedule),
                    rule.during,
                    rule.ring_seconds,
                    rule.managed_by,
                ),
            )
        return next(
            r
            for r in self._snap().forward_rules
            if (r.extension, r.condition, r.position) == (extension, condition, rule.position)
        )

    def remove_forward(self, extension: str, condition: str, position: int) -> None:
        obj = f"forward rule {extension} {condition} {position}"
        with self.change() as conn:
            row = conn.execute(
                "SELECT f.id FROM forward_rules f JOIN extensions e ON e.id = f.extension_id"
                " WHERE e.number = %s AND f.condition = %s AND f.position = %s",
                (extension, condition, position),
            ).fetchone()
            if row is None:
                raise ValidationFailed([Problem(obj, "position", "does not exist")])
            self._guard(conn, obj, "forward_rules", "id", row["id"])
            conn.execute("DELETE FROM forward_rules WHERE id = %s", (row["id"],))

    # -- helpers -----------------------------------------------------------------------------------
    def _snap(self):
        return load_snapshot(self.conn)

    @staticmethod
    def _extension_id(conn: psycopg.Connection, obj: str, number: str) -> int:
        row = conn.execute("SELECT id FROM extensions WHERE number = %s", (number,)).fetchone()
        if row is None:
            raise ValidationFailed([Problem(obj, "extension", f"extension {number!r} does not exist")])
        return row["id"]

    def _mailbox_id(self, conn: psycopg.Connection, extension: str) -> int:
        row = conn.execute(
            "SELECT m.id FROM mailboxes m JOIN extensions e ON e.id = m.extension_id WHERE e.number = %s",
            (extension,),
        ).fetchone()
        if row is None:
            raise ValidationFailed([Problem(f"mailbox {extension}", "extension", "has no mailbox")])
        return row["id"]

    @staticmethod
    def _schedule_id(conn: psycopg.Connection, obj: str, name: str) -> int | None:
        if not name:
            return None
        row = conn.execute("SELECT id FROM schedules WHERE name = %s", (name,)).fetchone()
        if row is None:
            raise ValidationFailed([Problem(obj, "schedule", f"schedule {name!r} does not exist")])
        return row["id"]

    def _insert(self, conn: psycopg.Connection, table: str, record: Any, exclude: set[str]) -> int:
        if isinstance(record, Schedule):
            values = _schedule_columns({k: v for k, v in asdict(record).items() if k not in exclude})
            cols = ", ".join(values)
            marks = ", ".join(["%s"] * len(values))
            return conn.execute(
                f"INSERT INTO schedules ({cols}) VALUES ({marks}) RETURNING id",  # columns: Schedule fields
                list(values.values()),
            ).fetchone()["id"]
        return super()._insert(conn, table, record, exclude)


def _tupled(options: dict[str, Any]) -> dict[str, Any]:
    return {k: tuple(v) if isinstance(v, list) else v for k, v in options.items()}


def _schedule_parts(options: dict[str, Any]) -> dict[str, Any]:
    """Accept ranges/holidays as records, dicts or 'mon-fri 09:00-17:00' / '2025-12-24..2025-12-26' text."""
    out = dict(options)
    if "ranges" in out:
        out["ranges"] = tuple(_range(r) for r in out["ranges"])
    if "holidays" in out:
        out["holidays"] = tuple(_holiday(h) for h in out["holidays"])
    return out


def _range(value: Any) -> TimeRange:
    if isinstance(value, TimeRange):
        return value
    if isinstance(value, dict):
        return TimeRange(**value)
    days, _, times = str(value).strip().partition(" ")
    start, _, end = times.strip().partition("-")
    return TimeRange(days, start.strip(), end.strip())


def _holiday(value: Any) -> Holiday:
    if isinstance(value, Holiday):
        return value
    if isinstance(value, dict):
        return Holiday(**value)
    dates, _, name = str(value).strip().partition(" ")
    start, _, end = dates.partition("..")
    return Holiday(start, end, name.strip())


def _schedule(sched: Schedule) -> Schedule:
    return replace(sched, ranges=tuple(sched.ranges), holidays=tuple(sched.holidays))


def _schedule_columns(values: dict[str, Any]) -> dict[str, Any]:
    out = dict(values)
    for key in ("ranges", "holidays"):
        if key in out:
            out[key] = json.dumps([asdict(x) if not isinstance(x, dict) else x for x in out[key]])
    return out
