# SPDX-License-Identifier: GPL-3.0-or-later
"""Recordings: the encrypted files (downloaded as stored) and the owner's public key they are sealed to."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import psycopg
from flask import Blueprint, abort, current_app, flash, redirect, render_template, send_file, url_for
from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import Length

from appliance.console import audit, objects, recfiles
from appliance.console.apply import apply_configuration
from appliance.console.auth import actor, admin_required
from appliance.console.db import get_conn
from appliance.model.validate import Problem, ValidationFailed
from appliance.store.repo import Store

log = logging.getLogger(__name__)

bp = Blueprint("recordings", __name__, url_prefix="/recordings")


class KeyForm(FlaskForm):
    recording_key = StringField(
        "Owner's public key",
        validators=[Length(max=200)],
        description="age1... from `appliance recording keygen` on the owner's machine; never a private key",
    )


def recordings_root() -> Path:
    return Path(current_app.config["APPLIANCE_CONFIG"]["freeswitch"]["recordings_dir"])


def set_key(conn: psycopg.Connection, key: str, who: objects.Actor) -> None:
    """Register the owner's public key: validated by the Store, audited in the same transaction."""
    site = objects.snapshot(conn).site
    if site.managed_by == "ansible":
        raise ValidationFailed([Problem("site", "managed_by", "managed by Ansible: change it in the fleet inventory")])
    with conn.transaction():
        Store(conn, actor="console").update_site(recording_key=key)
        if key != site.recording_key:
            # A public key is not a secret; the audit row shows which key recordings are sealed to.
            summary = {"recording_key": [site.recording_key, key]}
            audit.record(conn, who.who, "update", "site", "recording_key", summary, who.remote_addr)


def _page(form: KeyForm, status: int = 200) -> Any:
    conn = get_conn()
    site = objects.snapshot(conn).site
    items = recfiles.listing(conn, recordings_root())
    return render_template("recordings/index.html", items=items, form=form, site=site, limit=recfiles.LIMIT), status


@bp.route("/")
def index() -> Any:
    """List the encrypted recordings, newest first, with their calls."""
    return _page(KeyForm(data={"recording_key": objects.snapshot(get_conn()).site.recording_key}))


@bp.route("/<day>/<file>")
def download(day: str, file: str) -> Any:
    """Send a recording exactly as stored (age-encrypted); only the owner's private key opens it."""
    path = recfiles.path_of(recordings_root(), day, file)
    if path is None:
        abort(404, "There is no such recording.")
    log.info("recording %s/%s downloaded (encrypted) by %s", day, file, actor().who)
    return send_file(path, mimetype="application/octet-stream", as_attachment=True, download_name=file)


@bp.route("/key", methods=["POST"])
@admin_required
def key() -> Any:
    """Register (or clear) the owner's public key."""
    form = KeyForm()
    if form.validate_on_submit():
        try:
            set_key(get_conn(), (form.recording_key.data or "").strip(), actor())
        except ValidationFailed as exc:
            if any(p.field == "managed_by" for p in exc.problems):
                abort(403, "Managed by Ansible: read-only here. Change it in the fleet inventory.")
            for p in exc.problems:
                text = p.message if p.obj == "site" else f"{p.obj}: {p.field}: {p.message}"
                form.recording_key.errors = [*form.recording_key.errors, text]
        else:
            flash(f"Recording key saved; {apply_configuration(get_conn()).message}.", "ok")
            return redirect(url_for("recordings.index"))
    return _page(form, 422)
