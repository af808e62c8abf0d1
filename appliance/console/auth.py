# SPDX-License-Identifier: GPL-3.0-or-later
"""Sign in, sign out, change the password; who may see and change what (the `auth` blueprint)."""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Callable
from typing import Any

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)

from appliance.console import passwords, users
from appliance.console.db import get_conn
from appliance.console.forms import PasswordForm, SignInForm
from appliance.console.limiter import SignInLimiter
from appliance.console.objects import Actor

log = logging.getLogger(__name__)

bp = Blueprint("auth", __name__, url_prefix="/auth")

# Reachable without signing in. The API authenticates with its own bearer tokens.
# The CA's public files (phones, the hub); phones' profiles, which check the phone's own credentials.
PUBLIC_ENDPOINTS = {"auth.signin", "static", "pki_public.published", "provisioning.yealink", "provisioning.as_json"}
# Reachable while a password change is forced, and by read-only users with POST.
SELF_SERVICE = {"auth.password", "auth.signout"}
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


def limiter() -> SignInLimiter:
    """Return the app's sign-in limiter."""
    return current_app.extensions["console_limiter"]


def actor() -> Actor:
    """Return whoever is signed in, as the audit log names them."""
    return Actor(f"user:{g.user.username}", request.remote_addr or "")


def is_api_request() -> bool:
    """Return whether this request is for the REST API (bearer tokens, JSON errors)."""
    return request.path.startswith("/api/")


def admin_required(view: Callable[..., Any]) -> Callable[..., Any]:
    """Refuse a view (even its GET, e.g. an edit form) to read-only users with 403."""

    @functools.wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if g.user is None or not g.user.is_admin:
            abort(403, "Read-only users cannot change anything.")
        return view(*args, **kwargs)

    return wrapped


@bp.before_app_request
def load_user() -> None:
    """Put the signed-in user in g.user; a session from before a password change is ended."""
    g.user = None
    if is_api_request() or request.endpoint == "static":
        return
    uid = session.get("uid")
    if uid is None:
        return
    user = users.get(get_conn(), uid)
    if user is None or user.disabled or session.get("epoch") != user.session_epoch:
        session.clear()
        return
    g.user = user


@bp.before_app_request
def require_sign_in() -> Any:
    """Send strangers to the sign-in page, force the first password change, refuse read-only writes."""
    endpoint = request.endpoint or ""
    if is_api_request() or endpoint in PUBLIC_ENDPOINTS or request.routing_exception is not None:
        return None
    if g.user is None:
        target = request.full_path.rstrip("?") if request.method == "GET" else None
        return redirect(url_for("auth.signin", next=target))
    if g.user.must_change_password and endpoint not in SELF_SERVICE:
        return redirect(url_for("auth.password"))
    # Belt and braces: every view that writes is also marked admin_required.
    if request.method not in SAFE_METHODS and not g.user.is_admin and endpoint not in SELF_SERVICE:
        abort(403, "Read-only users cannot change anything.")
    return None


@bp.route("/signin", methods=["GET", "POST"])
def signin() -> Any:
    """Show the sign-in form; sign in, throttled per address and per user name."""
    form = SignInForm()
    error = None
    if form.validate_on_submit():
        username = form.username.data.strip().lower()
        keys = (f"ip:{request.remote_addr}", f"user:{username}")
        wait = limiter().retry_after(*keys)
        if wait > 0:
            return _locked(form, wait)
        ph = current_app.extensions["console_hasher"]
        user = users.authenticate(get_conn(), ph, username, form.password.data)
        if user is None:
            limiter().failed(*keys)
            log.warning("failed sign-in as %r from %s", username, request.remote_addr)
            error = "Wrong user name or password."
        else:
            limiter().succeeded(f"user:{username}")
            log.info("%s signed in from %s", username, request.remote_addr)
            session.clear()
            session.permanent = True
            session["uid"] = user.id
            session["epoch"] = user.session_epoch
            if user.must_change_password:
                return redirect(url_for("auth.password"))
            return redirect(_safe_next(request.args.get("next")) or url_for("dashboard.index"))
    return render_template("auth/signin.html", form=form, error=error)


def _locked(form: SignInForm, wait: float) -> Any:
    seconds = math.ceil(wait)
    log.warning("sign-in refused from %s: locked for %ss", request.remote_addr, seconds)
    error = f"Too many failed sign-ins. Try again in {seconds} seconds."
    response = current_app.make_response((render_template("auth/signin.html", form=form, error=error), 429))
    response.headers["Retry-After"] = str(seconds)
    return response


def _safe_next(target: str | None) -> str | None:
    # Only a path on this console: "//evil.example" and "https://..." would leave it.
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return None


@bp.route("/password", methods=["GET", "POST"])
def password() -> Any:
    """Change one's own password (forced at the first sign-in)."""
    form = PasswordForm()
    user = g.user
    if form.validate_on_submit():
        keys = (f"ip:{request.remote_addr}", f"user:{user.username}")
        wait = limiter().retry_after(*keys)
        ph = current_app.extensions["console_hasher"]
        if wait > 0:
            form.current.errors = [f"too many wrong passwords; try again in {math.ceil(wait)} seconds"]
        elif not passwords.verify(ph, user.password_hash, form.current.data):
            # A stolen session must not become a way to guess the password.
            limiter().failed(*keys)
            form.current.errors = ["is not your current password"]
        elif why := passwords.weakness(form.new.data, username=user.username, current=form.current.data):
            form.new.errors = [why]
        elif form.new.data != form.confirm.data:
            form.confirm.errors = ["does not match the new password"]
        else:
            who = actor()
            updated = users.set_password(
                get_conn(), ph, user, form.new.data, actor=who.who, remote_addr=who.remote_addr
            )
            session["epoch"] = updated.session_epoch
            flash("Password changed.", "ok")
            return redirect(url_for("dashboard.index"))
        return render_template("auth/password.html", form=form, forced=user.must_change_password), 422
    return render_template("auth/password.html", form=form, forced=user.must_change_password)


@bp.route("/signout", methods=["POST"])
def signout() -> Any:
    """End the session (CSRFProtect checked the form's token before this runs)."""
    session.clear()
    return redirect(url_for("auth.signin"))
