# SPDX-License-Identifier: GPL-3.0-or-later
"""The CA's public material for phones and the hub: `/pki/<file>`, no sign-in.

Phones fetch the fleet root (to trust SIP-TLS and provisioning) and the revocation list; the hub fetches
the CRL through the tunnel. Only the files `appliance.pki` publishes in its `public/` folder are served,
each by its fixed name: nothing here can reach a key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Blueprint, abort, current_app, send_file

from appliance.pki.store import CaStore

bp = Blueprint("pki_public", __name__, url_prefix="/pki")

PEM = "application/x-pem-file"
# Phones and browsers may cache these for a while; a new CRL is published long before the old one expires.
MAX_AGE_S = 300


def _published(store: CaStore) -> dict[str, str]:
    """Name -> media type of every file that may be served."""
    return {
        "root.pem": PEM,
        store.chain_path.name: PEM,
        store.crl_path.name: "application/pkix-crl",
        store.crl_pem_path.name: PEM,
    }


@bp.route("/<name>")
def published(name: str) -> Any:
    """Serve one published file: the fleet root, the chain, the CRL (DER or PEM)."""
    store = CaStore.appliance(Path(current_app.config["APPLIANCE_CONFIG"]["pki"]["dir"]))
    kinds = _published(store)
    if name not in kinds:
        abort(404, f"/pki/ serves only {', '.join(sorted(kinds))}.")
    path = store.public_dir / name
    if not path.is_file():
        abort(404, f"{name} is not published yet (the CA has not made it).")
    return send_file(path, mimetype=kinds[name], max_age=MAX_AGE_S, download_name=name)
