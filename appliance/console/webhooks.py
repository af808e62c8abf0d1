# SPDX-License-Identifier: GPL-3.0-or-later
"""Webhooks for call events (the `webhooks` blueprint): register a URL and secret, see deliveries."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_wtf import FlaskForm
from wtforms import PasswordField, SelectMultipleField, StringField
from wtforms.validators import InputRequired, Length
from wtforms.widgets import CheckboxInput, ListWidget

from appliance.console.auth import actor, admin_required
from appliance.console.db import get_conn
from appliance.console.forms import EmptyForm
from appliance.model.validate import ValidationFailed
from appliance.webhooks import signing, store
from appliance.webhooks.events import EVENT_TYPES

bp = Blueprint("webhooks", __name__, url_prefix="/webhooks")

EVENT_LABELS = {"call.start": "call starts", "call.answer": "call is answered", "call.hangup": "call ends"}


class WebhookForm(FlaskForm):
    name = StringField("Name", validators=[InputRequired(), Length(max=63)], description="e.g. crm")
    url = StringField(
        "URL", validators=[InputRequired(), Length(max=2000)], description="https://… where the events are posted"
    )
    secret = PasswordField(
        "Secret",
        validators=[Length(max=200)],
        description=f"signs every delivery; at least {signing.MIN_SECRET_LENGTH} characters, or empty to generate one",
    )
    events = SelectMultipleField(
        "Events",
        choices=[(e, EVENT_LABELS[e]) for e in EVENT_TYPES],
        default=list(EVENT_TYPES),
        widget=ListWidget(prefix_label=False),
        option_widget=CheckboxInput(),
    )


def _list_page(form: WebhookForm, status: int = 200) -> Any:
    return render_template(
        "webhooks/index.html", hooks=store.all_webhooks(get_conn()), form=form, labels=EVENT_LABELS
    ), status


@bp.route("/")
def index() -> Any:
    """List webhooks with their delivery counts; admins get the form to add one."""
    return _list_page(WebhookForm(formdata=None))


@bp.route("/", methods=["POST"])
@admin_required
def create() -> Any:
    """Register a webhook; show its secret once."""
    form = WebhookForm()
    if form.validate_on_submit():
        who = actor()
        try:
            row, secret = store.create(
                get_conn(),
                form.name.data.strip(),
                form.url.data.strip(),
                list(form.events.data or []),
                form.secret.data or "",
                actor=who.who,
                remote_addr=who.remote_addr,
            )
        except ValidationFailed as exc:
            for p in exc.problems:
                target = getattr(form, p.field, None)
                (target.errors if target is not None else form.name.errors).append(p.message)  # type: ignore[union-attr]
        else:
            return render_template("webhooks/created.html", hook=row, secret=secret, generated=not form.secret.data)
    return _list_page(form, 422)


@bp.route("/<name>")
def show(name: str) -> Any:
    """Show one webhook and its latest deliveries."""
    conn = get_conn()
    hook = store.get(conn, name)
    if hook is None:
        abort(404, f"No webhook {name}.")
    return render_template(
        "webhooks/show.html",
        hook=hook,
        deliveries=store.recent_deliveries(conn, name),
        labels=EVENT_LABELS,
        form=EmptyForm(),
        headers=(signing.TIMESTAMP_HEADER, signing.SIGNATURE_HEADER, signing.EVENT_ID_HEADER, signing.EVENT_HEADER),
    )


@bp.route("/<name>/delete", methods=["POST"])
@admin_required
def delete(name: str) -> Any:
    """Remove a webhook and its pending deliveries."""
    conn = get_conn()
    hook = store.get(conn, name)
    if hook is None:
        abort(404, f"No webhook {name}.")
    if hook["managed_by"] == "ansible":
        abort(403, "Managed by Ansible: read-only here. Change it in the fleet inventory.")
    who = actor()
    try:
        store.remove(conn, name, actor=who.who, remote_addr=who.remote_addr)
    except ValidationFailed as exc:
        flash(str(exc), "warn")
        return redirect(url_for("webhooks.show", name=name))
    flash(f"Webhook {name} removed.", "ok")
    return redirect(url_for("webhooks.index"))
