# SPDX-License-Identifier: GPL-3.0-or-later
"""A fleet root and one appliance's installed intermediate, made at run time on an injected clock."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from appliance.pki import intermediate, keys
from appliance.pki.root import RootCA, create_root, sign_intermediate
from appliance.pki.store import CaStore

# Every test runs at this moment (openssl gets it through -attime); nothing depends on the real clock.
T0 = datetime(2030, 6, 1, 12, 0, tzinfo=UTC)
DNS = ["pbx1.example.org"]
IPS = ["192.168.1.0/24", "10.8.0.2"]


@dataclass
class Hierarchy:
    """The fleet root (on the 'hub') and the appliance's CA directory with its intermediate installed."""

    root: RootCA
    root_dir: Path
    store: CaStore

    @property
    def root_pem(self) -> Path:
        return self.root_dir / "root.pem"

    @property
    def intermediate_pem(self) -> Path:
        return self.store.cert_path


def make_hierarchy(base: Path, dns=DNS, ips=IPS, now: datetime = T0, days: int = 730) -> Hierarchy:
    """Create a root in base/hub and an installed intermediate in base/appliance."""
    root = create_root("Test Fleet Root CA", base / "hub", now=now)
    store = CaStore.appliance(base / "appliance")
    csr = intermediate.create_request(store, "pbx1 appliance CA")
    cert = sign_intermediate(root, csr, dns, ips, days, now=now)
    intermediate.install(store, cert, root.cert, now=now)
    return Hierarchy(root, base / "hub", store)


@pytest.fixture
def hierarchy(tmp_path) -> Hierarchy:
    """Return a fresh root and installed intermediate (DNS pbx1.example.org; IP 192.168.1.0/24, 10.8.0.2)."""
    return make_hierarchy(tmp_path)


@pytest.fixture
def openssl():
    """Return a function running `openssl verify` at T0 (or at=...) and returning (ok, output)."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl CLI not installed: chain verification tests skipped")

    def verify(h: Hierarchy, leaf: Path, *extra: str, at: datetime = T0) -> tuple[bool, str]:
        cmd = ["openssl", "verify", "-attime", str(int(at.timestamp())), "-CAfile", str(h.root_pem)]
        cmd += ["-untrusted", str(h.intermediate_pem), *extra, str(leaf)]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
        return proc.returncode == 0, proc.stdout + proc.stderr

    return verify


def write_pem(path: Path, cert) -> Path:
    """Write a certificate to path and return the path."""
    path.write_bytes(keys.cert_pem(cert))
    return path
