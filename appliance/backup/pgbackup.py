# SPDX-License-Identifier: GPL-3.0-or-later
"""Back up and restore the configuration held in PostgreSQL, with PostgreSQL's own pg_dump and pg_restore.

A backup is the data of every table but the bulky, replaceable ones (CDRs, which the hub keeps, and
webhook deliveries) and the audit log, so a table added by a later migration is backed up without anyone remembering
to list it. It restores into a database at the same schema version, all or nothing: one psql
transaction empties the tables and loads the backup, under the model's change lock, and writes an
audit row; a failure anywhere rolls it all back. Files are 0600: they hold SIP passwords and secrets.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import subprocess
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import tuple_row

log = logging.getLogger(__name__)

# Data left out of a backup: large, and kept elsewhere (the hub's CDR replica), transient, or history
# that a restore must not rewrite (the audit log keeps every change, and the restore itself, across it).
EXCLUDED_DATA = ("cdrs", "webhook_deliveries", "audit_log")
NAME_RE = re.compile(r"^config-\d{8}T\d{6}Z(-\d+)?$")
_CHANGE_LOCK = 0x46534343  # appliance.store.repo's lock: no console change interleaves with a restore
TIMEOUT = 600


class BackupError(RuntimeError):
    """A backup or restore that cannot be done; the message says why and what to do."""


@dataclass(frozen=True)
class Backup:
    """One backup: its archive, and what its metadata says."""

    name: str
    path: Path
    created_at: str
    migrations: list[int]
    tables: list[str]
    size: int
    sha256: str

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "file": str(self.path),
            "created_at": self.created_at,
            "migrations": self.migrations,
            "tables": self.tables,
            "size": self.size,
            "sha256": self.sha256,
        }


def migrations(conn: psycopg.Connection) -> list[int]:
    """Return the schema versions applied to this database."""
    cur = conn.cursor(row_factory=tuple_row)
    return [r[0] for r in cur.execute("SELECT version FROM schema_migrations ORDER BY version")]


def create(dsn: str, directory: Path, now: datetime | None = None) -> Backup:
    """Dump the configuration into directory; return the backup."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    name = _free_name(directory, f"config-{now:%Y%m%dT%H%M%SZ}")
    archive = directory / f"{name}.dump"
    partial = directory / f".{name}.dump.partial"
    with psycopg.connect(dsn, connect_timeout=5) as conn:
        versions = migrations(conn)
    args = ["pg_dump", "--format=custom", "--data-only", "--no-owner", "--no-privileges", f"--file={partial}"]
    args += [f"--exclude-table-data=public.{t}" for t in EXCLUDED_DATA]
    old_umask = os.umask(0o077)  # pg_dump creates the file: it must never be readable by others
    try:
        _run([*args, f"--dbname={dsn}"], "pg_dump")
    finally:
        os.umask(old_umask)
    tables = _tables(partial)
    digest = _sha256(partial)
    os.replace(partial, archive)
    backup = Backup(name, archive, now.isoformat(), versions, tables, archive.stat().st_size, digest)
    _write_json(directory / f"{name}.json", backup.to_json())
    log.info("backup %s: %d tables, %d bytes", name, len(tables), backup.size)
    return backup


def list_backups(directory: Path) -> list[Backup]:
    """Return the backups in directory, newest first (a backup whose archive is missing is left out)."""
    found = []
    for meta in directory.glob("config-*.json") if directory.is_dir() else []:
        try:
            backup = _load(meta)
        except (OSError, ValueError, KeyError) as exc:
            log.warning("ignoring %s: %s", meta, exc)
            continue
        if backup.path.is_file():
            found.append(backup)
    return sorted(found, key=lambda b: b.name, reverse=True)


def find(directory: Path, name: str) -> Backup:
    """Return the named backup or refuse."""
    if not NAME_RE.match(name):
        raise BackupError(f"{name!r} is not a backup name (config-YYYYMMDDTHHMMSSZ); see `appliance backup list`")
    for backup in list_backups(directory):
        if backup.name == name:
            return backup
    raise BackupError(f"no backup {name} in {directory}; see `appliance backup list`")


def restore(dsn: str, backup: Backup, actor: str = "cli") -> None:
    """Replace the configuration with the backup's, in one transaction; refuse a foreign schema version."""
    if _sha256(backup.path) != backup.sha256:
        raise BackupError(f"{backup.path} does not match its recorded SHA-256: damaged or changed; not restored")
    with psycopg.connect(dsn, connect_timeout=5) as conn:
        current = migrations(conn)
        skipped = set(_owned_sequences(conn, EXCLUDED_DATA))
    if current != backup.migrations:
        raise BackupError(
            f"backup {backup.name} is of schema versions {backup.migrations}, this database is at {current}: "
            "restore it with the release that made it"
        )
    # pg_dump always writes the id sequences of the tables it leaves out (the audit log's among them);
    # setting one back would hand out ids still in use, so they are dropped from the restore list.
    listing = _run(["pg_restore", "--list", str(backup.path)], "pg_restore").splitlines()
    keep = [line for line in listing if not (" SEQUENCE SET public " in line and line.split()[-2] in skipped)]
    with tempfile.NamedTemporaryFile("w", suffix=".list", encoding="utf-8") as use_list:
        use_list.write("\n".join(keep) + "\n")
        use_list.flush()
        sql = _run(
            ["pg_restore", "--data-only", "--no-owner", f"--use-list={use_list.name}", "--file=-", str(backup.path)],
            "pg_restore",
        )
    tables = ", ".join(f"public.{_ident(t)}" for t in backup.tables)
    summary = json.dumps({"restored": backup.name, "created_at": backup.created_at})
    script = (
        "\\set ON_ERROR_STOP on\n"
        f"SELECT pg_advisory_xact_lock({_CHANGE_LOCK});\n"
        # CASCADE also empties tables whose rows point at restored ones (webhook deliveries).
        f"TRUNCATE {tables} CASCADE;\n"
        f"{sql}\n"
        "INSERT INTO public.audit_log (actor, action, object_kind, object_key, summary) VALUES "
        f"({_literal(actor)}, 'update', 'backup', {_literal(backup.name)}, {_literal(summary)}::jsonb);\n"
    )
    _run(["psql", "--no-psqlrc", "--quiet", "--single-transaction", "--file=-", f"--dbname={dsn}"], "psql", script)
    log.warning("configuration restored from backup %s by %s", backup.name, actor)


def _owned_sequences(conn: psycopg.Connection, tables: tuple[str, ...]) -> list[str]:
    """Return the sequences that belong to columns of these tables (serial ids)."""
    cur = conn.cursor(row_factory=tuple_row)
    return [
        r[0]
        for r in cur.execute(
            "SELECT s.relname FROM pg_class s JOIN pg_depend d ON d.objid = s.oid AND d.deptype = 'a'"
            " JOIN pg_class t ON t.oid = d.refobjid JOIN pg_namespace n ON n.oid = t.relnamespace"
            " WHERE s.relkind = 'S' AND n.nspname = 'public' AND t.relname = ANY (%s) ORDER BY 1",
            (list(tables),),
        )
    ]


def _tables(archive: Path) -> list[str]:
    """Return the tables whose data the archive holds."""
    listing = _run(["pg_restore", "--list", str(archive)], "pg_restore")
    tables = []
    for line in listing.splitlines():
        # "215; 0 16385 TABLE DATA public extensions appliance"
        parts = line.split()
        if "TABLE" in parts and "DATA" in parts:
            i = parts.index("DATA")
            if parts[i - 1] == "TABLE" and len(parts) > i + 2 and parts[i + 1] == "public":
                tables.append(parts[i + 2])
    if not tables:
        raise BackupError(f"{archive}: pg_dump wrote no table data")
    return tables


def _run(args: list[str], what: str, stdin: str | None = None) -> str:
    try:
        done = subprocess.run(args, input=stdin, capture_output=True, text=True, timeout=TIMEOUT, check=False)
    except FileNotFoundError:
        raise BackupError(f"{what} is not installed (apt-get install postgresql-client)") from None
    except subprocess.TimeoutExpired:
        raise BackupError(f"{what} did not finish within {TIMEOUT} s") from None
    if done.returncode != 0:
        raise BackupError(f"{what} failed: {done.stderr.strip()[-500:]}")
    return done.stdout


def _free_name(directory: Path, base: str) -> str:
    name, n = base, 1
    while (directory / f"{name}.dump").exists() or (directory / f"{name}.json").exists():
        n += 1
        name = f"{base}-{n}"
    return name


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _load(meta: Path) -> Backup:
    data = json.loads(meta.read_text(encoding="utf-8"))
    if not NAME_RE.match(str(data["name"])):
        raise ValueError("bad name")
    return Backup(
        name=data["name"],
        path=meta.with_suffix(".dump"),
        created_at=str(data["created_at"]),
        migrations=[int(v) for v in data["migrations"]],
        tables=[str(t) for t in data["tables"]],
        size=int(data["size"]),
        sha256=str(data["sha256"]),
    )


def _ident(name: str) -> str:
    if not re.match(r"^[a-z_][a-z0-9_]*$", name):
        raise BackupError(f"unexpected table name {name!r} in the backup")
    return name


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
