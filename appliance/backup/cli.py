# SPDX-License-Identifier: GPL-3.0-or-later
"""`appliance backup create|list|restore`: the configuration, with pg_dump and pg_restore."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from appliance.backup import pgbackup

DEFAULT_DIR = "/var/lib/appliance/backups"


def directory(args: argparse.Namespace, cfg: dict[str, Any]) -> Path:
    """Return the backup directory: --dir, else the config's backup.dir."""
    return Path(getattr(args, "dir", None) or (cfg.get("backup") or {}).get("dir") or DEFAULT_DIR)


def _create(args: argparse.Namespace, cfg: dict[str, Any]) -> dict[str, Any]:
    return pgbackup.create(cfg["database"]["dsn"], directory(args, cfg)).to_json()


def _list(args: argparse.Namespace, cfg: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {"name": b.name, "created_at": b.created_at, "tables": len(b.tables), "size": b.size}
        for b in pgbackup.list_backups(directory(args, cfg))
    ]


def _restore(args: argparse.Namespace, cfg: dict[str, Any]) -> dict[str, Any]:
    if not args.yes:
        raise RuntimeError("restoring replaces the whole configuration: add --yes to do it")
    backup = pgbackup.find(directory(args, cfg), args.name)
    pgbackup.restore(cfg["database"]["dsn"], backup, actor="cli")
    return {"restored": backup.name, "next": "run `appliance config apply` to load it into FreeSWITCH"}


def add_commands(sub, cmd) -> None:
    """Add the backup commands to the `appliance` parser."""
    for name, handler, help_text in (
        ("create", _create, "back up the configuration (every table but CDRs) with pg_dump"),
        ("list", _list, "list the backups, newest first"),
        ("restore", _restore, "replace the configuration with a backup's (same schema version), all or nothing"),
    ):
        p = cmd(sub, name, handler, help_text)
        p.add_argument("--dir", help=f"backup directory (default: config backup.dir, {DEFAULT_DIR})")
        if name == "restore":
            p.add_argument("name", help="a name from `appliance backup list`")
            p.add_argument("--yes", action="store_true", help="yes, replace the current configuration")
