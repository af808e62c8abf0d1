# SPDX-License-Identifier: GPL-3.0-or-later
"""The CA's public material for phones and the hub: `/pki/<file>`, no sign-in.

Phones fetch the fleet root (to trust SIP-TLS and provisioning) and the revocation list; the hub fetches
the CRL through the tunnel. Only the fixed names of `appliance.pki.published` are served, from the CA's
`public/` folder: nothing here can reach a key. `appliance pki serve-http` serves the same over plain HTTP.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Blueprint, abort, current_app, send_file

from appliance.pki.published import MAX_AGE_S, PUBLISHED, listing
from appliance.pki.store import CaStore

bp = Blueprint("pki_public", __name__, url_prefix="/pki")


def public_dir() -> Path:
    """Return the appliance CA's public/ folder (pki.dir of the configuration)."""
    return CaStore.appliance(Path(current_app.config["APPLIANCE_CONFIG"]["pki"]["dir"])).public_dir


@bp.route("/<name>")
def published(name: str) -> Any:
    """Serve one published file: the fleet root, the chain, the CRL (DER or PEM)."""
    if name not in PUBLISHED:
        abort(404, f"/pki/ serves only {listing()}.")
    path = public_dir() / name
    if not path.is_file():
        abort(404, f"{name} is not published yet (the CA has not made it).")
    return send_file(path, mimetype=PUBLISHED[name], max_age=MAX_AGE_S, download_name=name)
