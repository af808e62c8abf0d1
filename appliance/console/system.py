# SPDX-License-Identifier: GPL-3.0-or-later
"""The box itself (the `system` blueprint): site settings, network and WireGuard, certificates, storage."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

import psycopg
from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_wtf import FlaskForm
from wtforms import BooleanField, IntegerField, StringField
from wtforms.validators import InputRequired, Length, NumberRange, Optional

from appliance.console import audit, clock, health, healthview, objects
from appliance.console.apply import apply_configuration
from appliance.console.auth import actor, admin_required
from appliance.console.db import get_conn
from appliance.console.forms import EmptyForm
from appliance.model import Site
from appliance.model.validate import Problem, ValidationFailed
from appliance.pki import crl, renewal
from appliance.pki.errors import PkiError
from appliance.pki.store import CaStore
from appliance.store.repo import Store
from appliance.vpn import model as vpn_model

log = logging.getLogger(__name__)

bp = Blueprint("system", __name__, url_prefix="/system")

# Site settings on the settings page, in order, with a few words each; network ones are on both pages.
SETTINGS = {
    "domain": "SIP domain phones register to",
    "company_name": "",
    "company_number": "presented on outbound calls with company presentation (E.164)",
    "codecs": "comma-separated, in order of preference",
    "ring_seconds": "how long an extension rings before voicemail or failover",
    "tls_enabled": "SIP over TLS (port below) with SRTP",
    "max_outside_calls": "toll-fraud guard: concurrent calls out per extension",
    "outside_routes": "toll-fraud guard: outbound routes extensions may use ('*' or names)",
    "lan_ip": "the office LAN address phones use",
    "trunk_ip": "the address carrier trunks use (the tunnel)",
    "internal_sip_port": "",
    "internal_tls_port": "",
    "external_sip_port": "carrier side",
    "rtp_start": "first RTP (media) port",
    "rtp_end": "last RTP port",
}
NETWORK = ("lan_ip", "trunk_ip", "internal_sip_port", "internal_tls_port", "external_sip_port", "rtp_start", "rtp_end")
REVOKE_REASONS = ("keyCompromise", "superseded", "cessationOfOperation", "affiliationChanged")


def _site_form(site: Site, formdata: Any = None) -> FlaskForm:
    """Build the settings form from the Site dataclass, so a new setting appears by itself."""

    class SiteForm(FlaskForm):
        pass

    types = {f.name: f.type for f in dataclasses.fields(Site)}
    for name, help_text in SETTINGS.items():
        label = name.replace("_", " ").replace("sip", "SIP").replace("tls", "TLS").replace("rtp", "RTP").capitalize()
        kind = types[name]
        if kind in (bool, "bool"):
            field = BooleanField(label, description=help_text)
        elif kind in (int, "int"):
            field = IntegerField(label, validators=[InputRequired(), NumberRange(0, 65535)], description=help_text)
        else:
            field = StringField(label, validators=[Optional(), Length(max=200)], description=help_text)
        setattr(SiteForm, name, field)
    form = SiteForm(formdata=formdata) if formdata is not None else SiteForm(obj=site)
    return form


@bp.route("/")
def settings() -> Any:
    """Show the site settings (a form for admins unless Ansible manages them)."""
    site = objects.snapshot(get_conn()).site
    return render_template("system/settings.html", form=_site_form(site), site=site)


@bp.route("/", methods=["POST"])
@admin_required
def save_settings() -> Any:
    """Change the site settings: validated whole, audited in the same transaction, then applied."""
    conn = get_conn()
    site = objects.snapshot(conn).site
    if site.managed_by == "ansible":
        abort(403, "Managed by Ansible: read-only here. Change it in the fleet inventory.")
    form = _site_form(site, request.form)
    if form.validate_on_submit():
        changes = {n: form[n].data if form[n].data is not None else "" for n in SETTINGS}
        changes = {n: v.strip() if isinstance(v, str) else v for n, v in changes.items()}
        try:
            _update_site(conn, site, changes)
        except ValidationFailed as exc:
            for p in exc.problems:
                target = form[p.field] if p.field in SETTINGS else form["domain"]
                target.errors = [*target.errors, p.message if p.obj == "site" else f"{p.obj}: {p.message}"]
        else:
            flash(f"Settings saved; {apply_configuration(conn).message}.", "ok")
            return redirect(url_for("system.settings"))
    return render_template("system/settings.html", form=form, site=site), 422


def _update_site(conn: psycopg.Connection, before: Site, changes: dict[str, Any]) -> None:
    who = actor()
    old = {n: getattr(before, n) for n in SETTINGS}
    try:
        with conn.transaction():
            Store(conn, actor="console").update_site(**changes)
            summary = audit.diff(old, changes, ())
            if summary:
                audit.record(conn, who.who, "update", "site", "site", summary, who.remote_addr)
    except (psycopg.errors.IntegrityError, psycopg.errors.DataError) as exc:
        field = exc.diag.column_name or "domain"
        raise ValidationFailed([Problem("site", field, exc.diag.message_primary or str(exc))]) from None


@bp.route("/network")
def network() -> Any:
    """Show the addresses and ports, and the WireGuard tunnel: state and the peer configuration."""
    cfg = current_app.config["APPLIANCE_CONFIG"]
    site = objects.snapshot(get_conn()).site
    tunnel, problems, public_key = None, [], ""
    data = dict(cfg.get("vpn") or {})
    if data:
        try:
            tunnel = vpn_model.parse(data, Path("/etc/appliance"), "vpn")
        except ValidationFailed as exc:
            problems = [str(p) for p in exc.problems]
        except (OSError, ValueError) as exc:
            problems = [str(exc)]
        if tunnel is not None:
            public_key = _public_key(tunnel.private_key_file)
    return render_template(
        "system/network.html",
        site=site,
        fields=NETWORK,
        tunnel=tunnel,
        problems=problems,
        public_key=public_key,
        tile=healthview.tunnel_tile(),
    )


def _public_key(private_key_file: Path) -> str:
    from appliance.vpn import keys

    try:
        return keys.public_key(private_key_file)
    except Exception as exc:  # a key not yet made (first boot) or unreadable by the console's user
        log.info("tunnel public key unavailable: %s", exc)
        return ""


def _ca() -> CaStore:
    return CaStore.appliance(Path(current_app.config["APPLIANCE_CONFIG"]["pki"]["dir"]))


@bp.route("/certificates")
def certificates() -> Any:
    """List the CA's certificates with their state and expiry; admins renew or revoke them."""
    store, now = _ca(), clock.now()
    rows, error = [], ""
    if store.dir.is_dir():
        try:
            index = store.load()
        except (OSError, ValueError, PkiError) as exc:
            error = str(exc)
        else:
            for r in sorted(index.records, key=lambda r: r.not_after, reverse=True):
                rows.append({"record": r, "status": renewal.status(r, now), "days": (r.not_after - now).days})
    tile = health.certificates(store.dir, clock.now)
    return render_template(
        "system/certificates.html", rows=rows, error=error, tile=tile, form=EmptyForm(), reasons=REVOKE_REASONS
    )


@bp.route("/certificates/<serial>/renew", methods=["POST"])
@admin_required
def renew(serial: str) -> Any:
    """Issue a certificate's successor now."""
    cfg = current_app.config["APPLIANCE_CONFIG"]
    try:
        new = renewal.renew(_ca(), serial, now=clock.now(), crl_url=cfg["pki"].get("crl_url") or None)
    except (PkiError, KeyError, ValueError) as exc:
        flash(f"Certificate {serial} not renewed: {exc}", "warn")
        return redirect(url_for("system.certificates")), 303
    _audit_pki("update", serial, {"renewed_as": new.serial})
    flash(
        f"Certificate {serial} renewed as {new.serial}. Services pick it up at their next reload "
        "(`appliance pki renew` also exports it to FreeSWITCH).",
        "ok",
    )
    return redirect(url_for("system.certificates")), 303


@bp.route("/certificates/<serial>/revoke", methods=["POST"])
@admin_required
def revoke(serial: str) -> Any:
    """Revoke a certificate and publish the CRL."""
    reason = request.form.get("reason") or None
    if reason is not None and reason not in REVOKE_REASONS:
        abort(400, f"Unknown revocation reason {reason!r}.")
    try:
        record = crl.revoke(_ca(), serial, now=clock.now(), reason=reason)
    except (PkiError, KeyError, ValueError) as exc:
        flash(f"Certificate {serial} not revoked: {exc}", "warn")
        return redirect(url_for("system.certificates")), 303
    _audit_pki("delete", serial, {"revoked": record.profile, "reason": reason or ""})
    flash(f"Certificate {serial} revoked; the CRL lists it now.", "ok")
    return redirect(url_for("system.certificates")), 303


def _audit_pki(action: str, serial: str, summary: dict[str, Any]) -> None:
    who = actor()
    audit.record(get_conn(), who.who, action, "certificate", serial, summary, who.remote_addr)


@bp.route("/storage")
def storage() -> Any:
    """Show the data volume: mounted, encrypted, unlock mode, space."""
    source = healthview.storage_source()
    return render_template("system/storage.html", tile=health.storage(source), source=source)
