# SPDX-License-Identifier: GPL-3.0-or-later
"""Console users in the browser (the `consoleusers` blueprint): add, change role, disable, reset password."""

from __future__ import annotations

from typing import Any

import psycopg
from flask import Blueprint, abort, current_app, flash, g, redirect, render_template, request, url_for
from flask_wtf import FlaskForm
from wtforms import PasswordField, SelectField, StringField
from wtforms.validators import InputRequired, Length

from appliance.console import audit, passwords, users
from appliance.console.auth import actor, admin_required
from appliance.console.db import get_conn
from appliance.console.forms import EmptyForm
from appliance.model.validate import Problem, ValidationFailed

bp = Blueprint("consoleusers", __name__, url_prefix="/access/users")


class UserForm(FlaskForm):
    username = StringField(
        "User name", validators=[InputRequired(), Length(max=32)], description="lowercase, e.g. reception"
    )
    role = SelectField("Role", choices=[("readonly", "read-only"), ("admin", "admin")], default="readonly")
    password = PasswordField(
        "First password",
        validators=[InputRequired(), Length(max=256)],
        description="at least 12 characters; they must change it at their first sign-in",
    )


def _page(form: UserForm, status: int = 200) -> Any:
    return render_template(
        "consoleusers/index.html", users=users.all_users(get_conn()), form=form, action=EmptyForm()
    ), status


@bp.route("/")
def index() -> Any:
    """List console users; admins add and manage them."""
    return _page(UserForm(formdata=None))


@bp.route("/", methods=["POST"])
@admin_required
def create() -> Any:
    """Add a user who must change the given password at the first sign-in."""
    form = UserForm()
    if form.validate_on_submit():
        who = actor()
        try:
            users.create(
                get_conn(),
                current_app.extensions["console_hasher"],
                form.username.data.strip().lower(),
                form.password.data,
                form.role.data,
                actor=who.who,
                must_change=True,
            )
        except ValidationFailed as exc:
            for p in exc.problems:
                getattr(form, p.field, form.username).errors.append(p.message)
        else:
            flash(
                f"User {form.username.data.strip().lower()} added; they choose their own password at first sign-in.",
                "ok",
            )
            return redirect(url_for("consoleusers.index"))
    return _page(form, 422)


@bp.route("/<username>/role", methods=["POST"])
@admin_required
def set_role(username: str) -> Any:
    """Make a user admin or read-only."""
    role = request.form.get("role", "")
    if role not in users.ROLES:
        abort(400, f"Unknown role {role!r}.")
    _change(username, "role", role, "role = %s", (role,))
    flash(f"{username} is now {role}.", "ok")
    return redirect(url_for("consoleusers.index"))


@bp.route("/<username>/disable", methods=["POST"])
@admin_required
def disable(username: str) -> Any:
    """Disable a user: every session of theirs ends at once."""
    _change(username, "disabled", True, "disabled = true, session_epoch = session_epoch + 1", ())
    flash(f"{username} is disabled; their sessions have ended.", "ok")
    return redirect(url_for("consoleusers.index"))


@bp.route("/<username>/enable", methods=["POST"])
@admin_required
def enable(username: str) -> Any:
    """Enable a disabled user again."""
    _change(username, "disabled", False, "disabled = false", ())
    flash(f"{username} is enabled.", "ok")
    return redirect(url_for("consoleusers.index"))


@bp.route("/<username>/password", methods=["POST"])
@admin_required
def reset_password(username: str) -> Any:
    """Give a user a new first password; they must change it at their next sign-in."""
    conn = get_conn()
    user = users.by_name(conn, username)
    if user is None:
        abort(404, f"No user {username}.")
    new = request.form.get("password", "")
    if why := passwords.weakness(new, username=username):
        flash(str(ValidationFailed([Problem(f"console user {username}", "password", why)])), "warn")
        return redirect(url_for("consoleusers.index"))
    who = actor()
    users.set_password(
        conn,
        current_app.extensions["console_hasher"],
        user,
        new,
        actor=who.who,
        must_change=True,
        remote_addr=who.remote_addr,
    )
    flash(f"{username} has a new first password and must change it at the next sign-in.", "ok")
    return redirect(url_for("consoleusers.index"))


def _change(username: str, field: str, value: Any, assignment: str, params: tuple) -> None:
    """Change one column of a user, audited; nobody locks themselves (or the last admin) out."""
    conn = get_conn()
    user = users.by_name(conn, username)
    if user is None:
        abort(404, f"No user {username}.")
    if user.id == g.user.id:
        abort(403, "You cannot change your own role or disable yourself; ask another admin.")
    who = actor()
    with conn.transaction():
        conn.execute(f"UPDATE console_users SET {assignment} WHERE id = %s", (*params, user.id))
        if _admins(conn) == 0:
            raise _Refused()
        before = user.role if field == "role" else user.disabled
        audit.record(conn, who.who, "update", "console_user", username, {field: [before, value]}, who.remote_addr)


class _Refused(Exception):
    """No admin would be left."""


def _admins(conn: psycopg.Connection) -> int:
    return conn.execute("SELECT count(*) AS n FROM console_users WHERE role = 'admin' AND NOT disabled").fetchone()["n"]


@bp.errorhandler(_Refused)
def _no_admin_left(exc: _Refused) -> Any:
    return render_template(
        "error.html", code=409, message="That would leave no enabled admin; nothing was changed."
    ), 409
