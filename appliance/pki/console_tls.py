# SPDX-License-Identifier: GPL-3.0-or-later
"""Give the web console its TLS material: `chain.pem` (leaf + intermediate) and `key.pem` in a folder it owns.

The CA's private keys are root's (0600 in a 0700 folder) and the console runs as the service user, so
its unit copies the current console certificate and key, as root, into its runtime folder before each
start and reload (`appliance pki export-console`). The copy lives in /run: it never outlasts a boot.
"""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path

from appliance import files
from appliance.pki import clock, keys
from appliance.pki.errors import PkiError
from appliance.pki.store import CaStore, CertRecord

log = logging.getLogger(__name__)


def current_chain(store: CaStore, now: datetime | None = None) -> tuple[CertRecord, bytes]:
    """Return the current console certificate's record and its chain (leaf + intermediate, PEM)."""
    record = store.load().current("console", clock.utc(now))
    if record is None:
        raise PkiError(
            f"{store.dir}: no current console certificate; "
            "run `appliance pki issue --profile console --name <host name> --name <address>`"
        )
    # Browsers trust the fleet root only, so the server must send the intermediate too.
    return record, keys.cert_pem(store.issued(record.serial)) + keys.cert_pem(store.ca_cert())


def export_console(out_dir: Path, store: CaStore, now: datetime | None = None) -> dict[str, Path]:
    """Write chain.pem (0644) and key.pem (0600) of the current console certificate; return their paths.

    As root the files take out_dir's owner (the runtime folder systemd made for the console's user).
    """
    record, chain = current_chain(store, now)
    out = {"cert": out_dir / "chain.pem", "key": out_dir / "key.pem"}
    # The key first: a reload that finds the new chain must find its key as well.
    files.write_atomic(out["key"], keys.private_pem(store.issued_key(record.serial)), 0o600, owner_of=out_dir)
    files.write_atomic(out["cert"], chain, 0o644, owner_of=out_dir)
    log.info("console TLS material in %s now holds certificate %s", out_dir, record.serial)
    return out
