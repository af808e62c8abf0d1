# SPDX-License-Identifier: GPL-3.0-or-later
"""Who may do what: console users, API tokens, and the audit log of every change."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for

from appliance.console import audit, tokens, users
from appliance.console.auth import actor, admin_required
from appliance.console.db import get_conn
from appliance.console.forms import TokenForm
from appliance.console.schema import text_problem
from appliance.model.validate import ValidationFailed

bp = Blueprint("access", __name__, url_prefix="/access")

AUDIT_PAGE = 100


@bp.route("/")
def index() -> Any:
    """List console users and API tokens."""
    conn = get_conn()
    return render_template(
        "access/index.html", users=users.all_users(conn), tokens=tokens.all_tokens(conn), form=TokenForm()
    )


@bp.route("/tokens", methods=["POST"])
@admin_required
def create_token() -> Any:
    """Create an API token and show it, once."""
    form = TokenForm()
    conn = get_conn()
    if form.validate_on_submit():
        scopes = ["read", "write"] if form.write.data else ["read"]
        who = actor()
        try:
            token = tokens.create(conn, form.name.data.strip(), scopes, who.who, who.remote_addr)
        except ValidationFailed as exc:
            form.name.errors = [p.message for p in exc.problems if p.field == "name"] or [str(exc)]
        else:
            return render_template("access/token.html", name=form.name.data.strip(), token=token, scopes=scopes)
    return render_template(
        "access/index.html", users=users.all_users(conn), tokens=tokens.all_tokens(conn), form=form
    ), 422


@bp.route("/tokens/<name>/revoke", methods=["POST"])
@admin_required
def revoke_token(name: str) -> Any:
    """Revoke an API token at once."""
    who = actor()
    try:
        tokens.revoke(get_conn(), name, who.who, who.remote_addr)
    except ValidationFailed as exc:
        flash(str(exc), "warn")
    else:
        flash(f"Token {name} revoked.", "ok")
    return redirect(url_for("access.index"))


@bp.route("/audit")
def audit_log() -> Any:
    """Show the newest changes, who made them and what changed."""
    kind = request.args.get("kind") or None
    if kind is not None and text_problem(kind, 40):
        kind = None
    rows = audit.recent(get_conn(), AUDIT_PAGE, kind=kind)
    return render_template("access/audit.html", rows=rows, kind=kind)
