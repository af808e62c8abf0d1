# SPDX-License-Identifier: GPL-3.0-or-later
"""The web console and REST API: a Flask app factory, one blueprint per area (see docs/console.md).

Modules: `settings` (defaults), `db` (a connection per request), `security` (cookies, headers),
`passwords`, `users`, `limiter`, `tokens`, `audit`, `auth` (sign-in, roles), `schema` (the object
table behind forms, API checks and OpenAPI), `objects` (changes through the Store), `forms`, `crud`
(the object pages), `apply` (FreeSWITCH after a change), `freeswitch` (ESL worker, live state),
`chart`, `cdrquery`, the blueprints `dashboard`, `extensions`, `trunks`, `numbers`, `routes`, `cdrs`,
`access`, `api`, and `openapi`, `cli`, `serve`.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from flask import Flask, jsonify, render_template, request
from flask_wtf.csrf import CSRFError, CSRFProtect
from werkzeug.exceptions import HTTPException

from appliance import config as configuration
from appliance import secrets
from appliance.console import db, freeswitch, nav, passwords, security
from appliance.console.clock import system_now
from appliance.console.limiter import SignInLimiter
from appliance.console.settings import settings

log = logging.getLogger(__name__)

csrf = CSRFProtect()


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Create the console app from the appliance configuration, or from test_config when given."""
    app = Flask(__name__)
    app.config.from_mapping(_defaults())
    if test_config is None:
        app.config.from_mapping(_from_appliance_config(configuration.load()))
    else:
        app.config.from_mapping(test_config)
    app.config.update(security.cookie_settings(app.config["SESSION_HOURS"]))

    db.init_app(app)
    security.init_app(app)
    freeswitch.init_app(app)
    csrf.init_app(app)  # before the blueprints: a forged POST is refused before anything else looks at it
    clock = app.config["CLOCK"]
    app.extensions["console_limiter"] = SignInLimiter(
        lambda: clock().timestamp(), app.config["SIGNIN_MAX_FAILURES"], app.config["SIGNIN_LOCK_SECONDS"]
    )
    app.extensions["console_hasher"] = passwords.hasher(app.config.get("ARGON2"))

    from appliance.console import access, api, auth, cdrs, dashboard, extensions, numbers, routes, trunks

    for module in (auth, dashboard, extensions, trunks, numbers, routes, cdrs, access, api):
        app.register_blueprint(module.bp)
    from appliance.console import backups, consoleusers, pkipublic, system, webhooks

    for module in (webhooks, system, backups, consoleusers):  # areas added later: one entry here and one in nav.NAV
        app.register_blueprint(module.bp)
    app.register_blueprint(pkipublic.bp)  # no page: the CA's public files for phones and the hub
    from appliance.console import provisioning

    app.register_blueprint(provisioning.bp)  # no page: phones fetch their profiles with their own accounts
    from appliance.console import forwarding, menus, recordings, tracking, voicemail

    for module in (forwarding, menus, voicemail, recordings, tracking):  # the PBX features
        app.register_blueprint(module.bp)
    nav.init_app(app)
    csrf.exempt(api.bp)  # bearer tokens, never cookies: nothing for a forged cross-site request to ride on
    app.add_template_filter(_utc, "utc")
    _register_errors(app)
    return app


def _utc(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    """Format a timestamp in UTC, whatever the database session's time zone."""
    return value.astimezone(UTC).strftime(fmt) if value else ""


def _defaults() -> dict[str, Any]:
    return {
        "CLOCK": system_now,
        "FREESWITCH_LIVE": False,
        "APPLIANCE_CONFIG": configuration.DEFAULTS,
        "SIGNIN_MAX_FAILURES": 5,
        "SIGNIN_LOCK_SECONDS": 60,
        "SESSION_HOURS": 8,
        "ESL_TIMEOUT": 2.0,
        "MAX_CONTENT_LENGTH": 1024 * 1024,
        "ARGON2": None,
    }


def _from_appliance_config(cfg: dict[str, Any]) -> dict[str, Any]:
    """Translate /etc/appliance/config.yml (+ conf.d) into Flask settings; the signing key is made once."""
    console = settings(cfg)
    return {
        "SECRET_KEY": secrets.load_or_create(Path(console["secret_key_file"]), 64),
        "DATABASE_DSN": cfg["database"]["dsn"],
        "APPLIANCE_CONFIG": cfg,
        "FREESWITCH_LIVE": bool(console["freeswitch_live"]),
        "SIGNIN_MAX_FAILURES": int(console["signin_max_failures"]),
        "SIGNIN_LOCK_SECONDS": float(console["signin_lock_seconds"]),
        "SESSION_HOURS": float(console["session_hours"]),
        "ESL_TIMEOUT": float(console["esl_timeout"]),
        "DATABASE_POOL_SIZE": int(console["db_pool_size"]),
    }


def _register_errors(app: Flask) -> None:
    """Answer errors in JSON under /api/, as a page elsewhere."""

    @app.errorhandler(CSRFError)
    def csrf_error(exc: CSRFError) -> Any:
        log.warning("CSRF refusal from %s: %s", request.remote_addr, exc.description)
        return render_template(
            "error.html", code=400, message=f"The form was refused: {exc.description} Reload the page and try again."
        ), 400

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Any:
        if request.path.startswith("/api/"):
            response = exc.get_response()
            response.set_data(jsonify(error=exc.description or exc.name, problems=[]).get_data())
            response.content_type = "application/json"
            return response
        return render_template("error.html", code=exc.code, message=exc.description), exc.code or 500

    @app.errorhandler(Exception)
    def server_error(exc: Exception) -> Any:
        log.exception("unhandled error on %s %s", request.method, request.path)
        if request.path.startswith("/api/"):
            return jsonify(error="internal error; see the appliance's log", problems=[]), 500
        return render_template("error.html", code=500, message="Something went wrong; see the appliance's log."), 500
