# SPDX-License-Identifier: GPL-3.0-or-later
"""Seconds until each certificate in use expires: the appliance CA's leaves, its intermediate and the root."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

from prometheus_client.core import GaugeMetricFamily, Metric

from appliance.pki import keys, renewal
from appliance.pki.store import CaStore, serial_text


class CertificateSource:
    """Read the CA's index (and its own certificates) at scrape time; nothing is cached between scrapes."""

    name = "certificates"

    def __init__(self, pki_dir: str | Path, clock: Callable[[], datetime] = lambda: datetime.now(UTC)):
        self.store = CaStore.appliance(Path(pki_dir))
        self.clock = clock

    def collect(self) -> Iterator[Metric]:
        """Yield one expiry sample per current certificate (negative once expired)."""
        family = GaugeMetricFamily(
            "appliance_certificate_expiry_seconds",
            "Seconds until the certificate's notAfter (negative once expired), for every certificate in use.",
            labels=["profile", "serial"],
        )
        # A CA directory that was never set up has nothing to expire; that is not an error.
        if self.store.dir.is_dir():
            now = self.clock()
            # current(): neither revoked nor renewed. Expired ones stay in, so the alert keeps firing.
            for record in renewal.current(self.store.load()):
                family.add_metric([record.profile, record.serial], (record.not_after - now).total_seconds())
            for kind, path in (("intermediate", self.store.cert_path), ("root", self.store.root_path)):
                if path.is_file():
                    cert = keys.read_cert(path)
                    seconds = (cert.not_valid_after_utc - now).total_seconds()
                    family.add_metric([kind, serial_text(cert.serial_number)], seconds)
        yield family
