# SPDX-License-Identifier: GPL-3.0-or-later
"""The appliance's CA at first boot (appliance.pki): standalone with a local root, or a request for the hub.

Standalone mode (no hub configured): the box makes its own root CA in <data>/pki-root and signs
its intermediate with it, constrained to the box's own names and the private networks. The root
key then lives on the box, on the encrypted volume: weaker than a fleet root kept off the boxes,
but every TLS endpoint works at once. Fleet mode: only the intermediate's request is made; the
hub signs it at enrolment (`enrol`), and the certificates are issued once it is installed.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

from appliance.pki import clock, intermediate, issue, keys, root
from appliance.pki.freeswitch import export_freeswitch
from appliance.pki.store import CaStore

log = logging.getLogger(__name__)

ROOT_DIR_NAME = "pki-root"


def dns_names(hostname: str, domains: Iterable[str]) -> list[str]:
    """Return the box's DNS names: the bare host name, then <hostname>.<domain> for each domain."""
    return [hostname, *(f"{hostname}.{d.strip('.')}" for d in domains if d.strip("."))]


def permitted_addresses(addresses: Iterable[str], networks: Iterable[str]) -> list[str]:
    """Return the addresses that lie inside one of the networks (the ones a certificate may name)."""
    nets = [ipaddress.ip_network(n, strict=False) for n in networks]
    out = []
    for text in addresses:
        ip = ipaddress.ip_address(text)
        if any(ip.version == n.version and ip in n for n in nets):
            out.append(text)
        else:
            log.warning("address %s is outside %s: left out of the certificates", text, ", ".join(map(str, nets)))
    return out


def standalone(
    pki_dir: Path,
    root_dir: Path,
    cert_dir: Path,
    hostname: str,
    names: list[str],
    networks: list[str],
    addresses: list[str],
    *,
    extra_ca: Iterable[Path] = (),
    now: datetime | None = None,
) -> dict[str, str]:
    """Make (or keep) a local root, the intermediate, console and sip certificates, FreeSWITCH's files."""
    now = clock.utc(now)
    store = CaStore.appliance(pki_dir)
    if not store.cert_path.exists():
        local_root = _local_root(root_dir, hostname, now)
        csr = _request(store, hostname)
        cert = root.sign_intermediate(local_root, csr, names, networks, now=now)
        intermediate.install(store, cert, local_root.cert, now=now)
        log.info("standalone mode: intermediate signed by the local root in %s", root_dir)
    leaf_names = names + permitted_addresses(addresses, networks)
    issued = {}
    for profile in ("console", "sip"):
        current = store.load().current(profile, now)
        record = current or issue.issue(store, profile, leaf_names, now=now)
        issued[profile] = record.serial
    files = export_freeswitch(cert_dir, store, issued["sip"], extra_ca=extra_ca, now=now)
    return {**issued, **{k: str(v) for k, v in files.items()}}


def request_for_hub(pki_dir: Path, hostname: str) -> Path:
    """Make the intermediate's key and request for the hub (unless made already); return the request."""
    store = CaStore.appliance(pki_dir)
    if store.cert_path.exists():
        return store.cert_path
    _request(store, hostname)
    return intermediate.request_paths(store)[1]


def _local_root(root_dir: Path, hostname: str, now: datetime) -> root.RootCA:
    if (root_dir / "root.pem").exists():
        return root.load_root(root_dir)
    return root.create_root(f"{hostname} standalone root CA", root_dir, now=now)


def _request(store: CaStore, hostname: str):
    key_path, csr_path = intermediate.request_paths(store)
    if key_path.exists() and csr_path.exists():
        return keys.read_csr(csr_path)  # a resumed run: the pending request is still good
    return intermediate.create_request(store, f"{hostname} appliance CA", replace=key_path.exists())
