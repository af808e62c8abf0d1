# SPDX-License-Identifier: GPL-3.0-or-later
"""`/provision/<mac>.cfg` (Yealink) and `/provision/<mac>.json`: a phone fetches its own profile.

A phone proves itself with one of its own SIP accounts (HTTP Basic: user name and password of any of
its lines), the credentials the admin types into the phone once, or the ATA's first account. An unknown
MAC and a wrong password get the same 401, so the MAC addresses of the office cannot be probed, and
failures count against the sign-in limiter per address and per MAC. The profile holds SIP passwords:
it is never cached, and it is served over the console's HTTPS only.
"""

from __future__ import annotations

import hmac
from typing import Any

from flask import Blueprint, Response, abort, current_app, jsonify, request

from appliance.console import objects, pkipublic
from appliance.console.db import get_conn
from appliance.console.limiter import SignInLimiter
from appliance.provisioning import profile, render

bp = Blueprint("provisioning", __name__, url_prefix="/provision")
REALM = 'Basic realm="provisioning", charset="UTF-8"'


@bp.route("/<mac>.cfg")
def yealink(mac: str) -> Any:
    """The MAC-oriented configuration file a Yealink phone asks for."""
    found = _authenticated(mac)
    return _private(Response(render.yealink(found), mimetype="text/plain"))


@bp.route("/<mac>.json")
def as_json(mac: str) -> Any:
    """The same profile as JSON, the fleet root inline."""
    return _private(jsonify(render.as_json(_authenticated(mac))))


def _authenticated(mac: str) -> profile.Profile:
    limiter: SignInLimiter = current_app.extensions["console_limiter"]
    keys = (f"ip:{request.remote_addr}", f"mac:{profile.mac_key(mac) or mac}")
    wait = limiter.retry_after(*keys)
    if wait > 0:
        abort(
            Response(
                f"Too many failed attempts; try again in {int(wait) + 1} s.\n", 429, {"Retry-After": str(int(wait) + 1)}
            )
        )
    snap = objects.snapshot(get_conn())
    device = profile.find_device(snap, mac)
    auth = request.authorization
    if device is None or auth is None or not _owns(device, auth.username or "", auth.password or ""):
        if auth is not None:
            limiter.failed(*keys)
        abort(Response("A phone signs in with one of its own SIP accounts.\n", 401, {"WWW-Authenticate": REALM}))
    limiter.succeeded(*keys)
    return profile.for_device(snap, device, _root_pem())


def _owns(device, username: str, password: str) -> bool:
    """Whether the credentials are one of the device's lines (passwords compared in constant time)."""
    return any(
        line.sip_username == username and hmac.compare_digest(line.sip_password.encode(), password.encode())
        for line in device.lines
    )


def _root_pem() -> str:
    path = pkipublic.public_dir() / "root.pem"
    if not path.is_file():
        abort(503, "The CA has not published its root yet (first boot, or the data volume is locked).")
    return path.read_text(encoding="ascii")


def _private(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    return response
