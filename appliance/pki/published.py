# SPDX-License-Identifier: GPL-3.0-or-later
"""The files a CA's `public/` folder may hold, by name, and how they are served.

The console (HTTPS, `appliance.console.pkipublic`) and the plain-HTTP publisher
(`appliance.pki.httppublish`) both look a requested name up in PUBLISHED and serve nothing else, so no
request can name a path: a key or the index is never one of these names. An appliance's folder holds
the `intermediate.*` files, the fleet root's (on the hub) the `root.*` ones.
"""

from __future__ import annotations

PEM = "application/x-pem-file"
CRL_DER = "application/pkix-crl"

# Name -> media type. DER CRLs are what phones fetch from a CRL distribution point (RFC 5280 4.2.1.13).
PUBLISHED: dict[str, str] = {
    "root.pem": PEM,
    "chain.pem": PEM,
    "intermediate.crl": CRL_DER,
    "intermediate.crl.pem": PEM,
    "root.crl": CRL_DER,
    "root.crl.pem": PEM,
}

# Phones and browsers may cache these for a while; a new CRL is published long before the old one expires.
MAX_AGE_S = 300


def listing() -> str:
    """Return the published names for an error message: 'chain.pem, intermediate.crl, ...'."""
    return ", ".join(sorted(PUBLISHED))
