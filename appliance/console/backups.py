# SPDX-License-Identifier: GPL-3.0-or-later
"""Configuration backups in the console (the `backups` blueprint): make one, list them, restore one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for

from appliance.backup import pgbackup
from appliance.backup.cli import DEFAULT_DIR
from appliance.console import audit, clock
from appliance.console.apply import apply_configuration
from appliance.console.auth import actor, admin_required
from appliance.console.db import get_conn
from appliance.console.forms import EmptyForm

bp = Blueprint("backups", __name__, url_prefix="/system/backups")


def _directory() -> Path:
    return Path((current_app.config["APPLIANCE_CONFIG"].get("backup") or {}).get("dir") or DEFAULT_DIR)


@bp.route("/")
def index() -> Any:
    """List the backups, newest first."""
    return render_template(
        "system/backups.html", backups=pgbackup.list_backups(_directory()), directory=_directory(), form=EmptyForm()
    )


@bp.route("/", methods=["POST"])
@admin_required
def create() -> Any:
    """Back up the configuration now."""
    try:
        backup = pgbackup.create(current_app.config["DATABASE_DSN"], _directory(), now=clock.now())
    except (pgbackup.BackupError, OSError) as exc:
        flash(f"No backup made: {exc}", "warn")
    else:
        who = actor()
        audit.record(
            get_conn(), who.who, "create", "backup", backup.name, {"tables": len(backup.tables)}, who.remote_addr
        )
        flash(f"Backup {backup.name} made ({backup.size} bytes, {len(backup.tables)} tables).", "ok")
    return redirect(url_for("backups.index")), 303


@bp.route("/<name>/restore", methods=["POST"])
@admin_required
def restore(name: str) -> Any:
    """Replace the whole configuration with a backup's, then apply it."""
    if request.form.get("confirm") != name:
        flash(f"Not restored: type the backup's name ({name}) to confirm.", "warn")
        return redirect(url_for("backups.index")), 303
    try:
        backup = pgbackup.find(_directory(), name)
        pgbackup.restore(current_app.config["DATABASE_DSN"], backup, actor=actor().who)
    except pgbackup.BackupError as exc:
        flash(f"Not restored: {exc}", "warn")
        return redirect(url_for("backups.index")), 303
    applied = apply_configuration(get_conn())
    flash(f"Configuration restored from {name}; {applied.message}.", "ok" if applied.ok else "warn")
    return redirect(url_for("backups.index")), 303
