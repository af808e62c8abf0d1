# SPDX-License-Identifier: GPL-3.0-or-later
"""The internal CA: fleet root, a name-constrained intermediate per appliance, service and phone certificates.

One job per module: `keys` (keys and PEM files), `files` (atomic writes), `clock` (injected time),
`errors`, `extensions` (shared X.509 extensions), `names` (name constraints), `profiles` (what each kind
of certificate may be), `root` (the fleet root, off the appliance), `intermediate` (the appliance's own
CA), `store` (the CA directory and its index), `issue`, `renewal`, `crl` (revocation), `freeswitch`
(FreeSWITCH's tls-cert-dir), `published` (the names a public/ folder may serve), `httppublish` (serving
them over plain HTTP) and `cli` (`appliance pki ...`).
See docs/pki.md.
"""
