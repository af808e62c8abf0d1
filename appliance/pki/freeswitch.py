# SPDX-License-Identifier: GPL-3.0-or-later
"""Give FreeSWITCH its TLS material: `agent.pem` and `cafile.pem` in its tls-cert-dir.

Sofia-SIP reads `agent.pem` with SSL_CTX_use_certificate_file (only the first certificate, the leaf) and
the private key from the same file, and uses `cafile.pem` to verify peers and to name acceptable client
CAs. So agent.pem is the SIP certificate, then the intermediate (harmless to Sofia, useful to tools that
read whole chains), then the key; cafile.pem is the intermediate and the fleet root, then any extra CA
bundles (the external profile verifies carriers' certificates against the same file).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

from appliance import files
from appliance.pki import clock, keys
from appliance.pki.errors import PkiError
from appliance.pki.store import CaStore

log = logging.getLogger(__name__)


def export_freeswitch(
    cert_dir: Path,
    store: CaStore,
    serial: str | None = None,
    *,
    extra_ca: Iterable[Path] = (),
    now: datetime | None = None,
) -> dict[str, Path]:
    """Write agent.pem (0600) and cafile.pem into cert_dir atomically; return their paths."""
    # Without a serial the newest valid sip certificate is used. As root the files take cert_dir's owner,
    # so FreeSWITCH, running as its own user, can read them.
    index = store.load()
    if serial is None:
        record = index.current("sip", clock.utc(now))
        if record is None:
            raise PkiError(
                "no valid sip certificate to give FreeSWITCH; issue one: appliance pki issue --profile sip --name HOST"
            )
    else:
        record = index.find(serial)
        if record.profile != "sip":
            raise PkiError(f"certificate {record.serial} has profile {record.profile!r}; FreeSWITCH takes a sip one")
    if record.revoked_at is not None:
        raise PkiError(f"certificate {record.serial} is revoked")
    intermediate = keys.cert_pem(store.ca_cert())
    agent = (
        keys.cert_pem(store.issued(record.serial)) + intermediate + keys.private_pem(store.issued_key(record.serial))
    )
    cafile = intermediate + keys.cert_pem(store.root_cert())
    for bundle in extra_ca:
        keys.read_certs(bundle)  # refuse a file that holds no certificate before FreeSWITCH does
        cafile += bundle.read_bytes().rstrip(b"\n") + b"\n"
    cert_dir.mkdir(parents=True, exist_ok=True)
    out = {"agent": cert_dir / "agent.pem", "cafile": cert_dir / "cafile.pem"}
    files.write_atomic(out["cafile"], cafile, 0o644, owner_of=cert_dir)
    files.write_atomic(out["agent"], agent, 0o600, owner_of=cert_dir)
    log.info("FreeSWITCH TLS material in %s now holds certificate %s", cert_dir, record.serial)
    return out
