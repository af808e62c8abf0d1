# SPDX-License-Identifier: GPL-3.0-or-later
"""List, show, create, edit and delete pages for one object kind, added to that area's blueprint.

Every write goes through objects (the Store, whole-model validation, audit row, one transaction);
a refusal comes back as problems that are put next to their form field, and nothing is saved.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import psycopg
from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for

from appliance.console import audit, forms, objects
from appliance.console.apply import apply_configuration
from appliance.console.auth import actor, admin_required
from appliance.console.db import get_conn
from appliance.console.schema import Kind, public
from appliance.model import Snapshot
from appliance.model.validate import ValidationFailed
from appliance.provisioning.profile import mac_key

log = logging.getLogger(__name__)

MANAGED_NOTE = "Managed by Ansible: read-only here. Change it in the fleet inventory."


ListExtra = Callable[[psycopg.Connection], dict[str, Any]]


def register(bp: Blueprint, kind: Kind, list_template: str, list_extra: ListExtra | None = None) -> None:
    """Add the pages of kind under /<plural>/ to bp (endpoints <kind>_list, _detail, _new, _edit, ...)."""
    base, name = f"/{kind.plural}", kind.name

    def list_view() -> Any:
        conn = get_conn()
        snap = objects.snapshot(conn)
        rows = [public(kind, o) for o in objects.items(snap, kind)]
        extra = list_extra(conn) if list_extra else {}
        return render_template(list_template, kind=kind, rows=rows, snap=snap, **extra)

    def detail_view(key: str) -> Any:
        return _detail(kind, key, secrets=False)

    @admin_required
    def credentials_view(key: str) -> Any:
        log.info("%s viewed the credentials of %s", g.user.username, kind.label(key))
        return _detail(kind, key, secrets=True)

    @admin_required
    def new_view() -> Any:
        return _edit(kind, None)

    @admin_required
    def edit_view(key: str) -> Any:
        return _edit(kind, key)

    @admin_required
    def delete_view(key: str) -> Any:
        return _delete(kind, key)

    bp.add_url_rule(f"{base}/", f"{name}_list", list_view)
    bp.add_url_rule(f"{base}/new", f"{name}_new", new_view, methods=["GET", "POST"])
    bp.add_url_rule(f"{base}/<key>", f"{name}_detail", detail_view)
    bp.add_url_rule(f"{base}/<key>/credentials", f"{name}_credentials", credentials_view, methods=["POST"])
    bp.add_url_rule(f"{base}/<key>/edit", f"{name}_edit", edit_view, methods=["GET", "POST"])
    bp.add_url_rule(f"{base}/<key>/delete", f"{name}_delete", delete_view, methods=["GET", "POST"])


def _find(kind: Kind, key: str) -> tuple[Snapshot, Any]:
    snap = objects.snapshot(get_conn())
    obj = objects.find(snap, kind, key)
    if obj is None:
        abort(404, f"There is no {kind.label(key)}.")
    return snap, obj


def _detail(kind: Kind, key: str, secrets: bool) -> Any:
    snap, obj = _find(kind, key)
    return render_template(
        "crud/detail.html",
        kind=kind,
        key=key,
        data=public(kind, obj, secrets),
        managed=obj.managed_by == "ansible",
        note=MANAGED_NOTE,
        accounts=_accounts(kind, snap, obj, secrets),
        provision_url=_provision_url(kind, snap, obj),
        secrets=secrets,
        history=audit.recent(get_conn(), 10, kind.name, key),
    )


def _accounts(kind: Kind, snap: Snapshot, obj: Any, secrets: bool) -> list[dict[str, Any]]:
    """Return what a phone needs to register each SIP account of an extension or device."""
    site = snap.site
    transports = [("udp", site.internal_sip_port), ("tcp", site.internal_sip_port)]
    if site.tls_enabled:
        transports.append(("tls", site.internal_tls_port))
    common = {"server": site.lan_ip, "domain": site.domain, "transports": transports}
    if kind.name == "extension":
        accounts = [{"label": f"extension {obj.number}", "username": obj.number, "password": obj.sip_password}]
    elif kind.name == "device":
        accounts = [
            {
                "label": f"port {ln.port} (extension {ln.extension})",
                "username": ln.sip_username,
                "password": ln.sip_password,
            }
            for ln in obj.lines
        ]
    else:
        return []
    for account in accounts:
        account.update(common)
        if not secrets:
            account["password"] = None
    return accounts


def _provision_url(kind: Kind, snap: Snapshot, obj: Any) -> str | None:
    """Where a device with a MAC address fetches its profile (docs/provisioning.md)."""
    key = mac_key(obj.mac or "") if kind.name == "device" else None
    return f"https://{snap.site.lan_ip}/provision/{key}.cfg" if key else None


def _edit(kind: Kind, key: str | None) -> Any:
    """Create (key None) or edit an object: show the form, save it whole or show why not."""
    editing = key is not None
    initial: dict[str, Any] = {f.name: f.default for f in kind.fields}
    if editing:
        _, obj = _find(kind, key)
        if obj.managed_by == "ansible":
            return _managed(kind, key)
        initial = public(kind, obj)
    form = forms.object_form(kind, editing, data=None if request.method == "POST" else initial)
    general: list[str] = []
    if form.validate_on_submit() and (values := forms.values(kind, form, editing)) is not None:
        target = key if editing else str(values.get(kind.key.name, ""))
        try:
            if editing:
                saved = objects.update(get_conn(), kind, target, values, actor())
            else:
                saved = objects.create(get_conn(), kind, values, actor())
        except ValidationFailed as exc:
            general = forms.attach_problems(kind, target, form, exc.problems)
        else:
            target = objects.key_of(kind, saved)  # a forwarding rule's key follows its fields
            _after_change(kind, target, "saved")
            return redirect(url_for(f".{kind.name}_detail", key=target))
    status = 422 if request.method == "POST" else 200
    return render_template("crud/form.html", kind=kind, key=key, form=form, general=general), status


def _delete(kind: Kind, key: str) -> Any:
    _, obj = _find(kind, key)
    if obj.managed_by == "ansible":
        return _managed(kind, key)
    form = forms.EmptyForm()
    general: list[str] = []
    if form.validate_on_submit():
        try:
            objects.remove(get_conn(), kind, key, actor())
        except ValidationFailed as exc:
            general = [str(p) for p in exc.problems]
        else:
            _after_change(kind, key, "removed")
            return redirect(url_for(f".{kind.name}_list"))
    status = 422 if request.method == "POST" else 200
    return render_template("crud/delete.html", kind=kind, key=key, form=form, general=general), status


def _managed(kind: Kind, key: str) -> Any:
    return render_template("crud/managed.html", kind=kind, key=key, note=MANAGED_NOTE), 403


def _after_change(kind: Kind, key: str, verb: str) -> None:
    applied = apply_configuration(get_conn())
    flash(f"{kind.title} {key} {verb}; {applied.message}.", "ok" if applied.ok else "warn")
