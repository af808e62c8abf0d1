# SPDX-License-Identifier: GPL-3.0-or-later
"""The CA first boot makes: standalone (a local root) or a request waiting for the hub."""

from __future__ import annotations

import shutil
import stat
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography import x509

from appliance.firstboot import ca
from appliance.pki import keys, names
from appliance.pki.store import CaStore

T0 = datetime(2030, 6, 1, 12, 0, tzinfo=UTC)
NETWORKS = ["10.0.0.0/8", "192.168.0.0/16"]


def _standalone(tmp_path: Path, addresses: list[str]) -> dict[str, str]:
    return ca.standalone(
        tmp_path / "pki",
        tmp_path / "pki-root",
        tmp_path / "tls",
        "appliance-1",
        ca.dns_names("appliance-1", ["local"]),
        NETWORKS,
        addresses,
        now=T0,
    )


def test_names_of_the_box():
    assert ca.dns_names("appliance-1", ["local", ".example.org.", ""]) == [
        "appliance-1",
        "appliance-1.local",
        "appliance-1.example.org",
    ]


def test_addresses_outside_the_permitted_networks_are_left_out(caplog):
    assert ca.permitted_addresses(["192.168.1.20", "203.0.113.9"], NETWORKS) == ["192.168.1.20"]
    assert "203.0.113.9 is outside" in caplog.text


def test_standalone_makes_root_intermediate_leaves_and_freeswitch_files(tmp_path: Path):
    done = _standalone(tmp_path, ["192.168.1.20"])
    store = CaStore.appliance(tmp_path / "pki")
    constraints = names.of(store.ca_cert())
    assert constraints.dns == ("appliance-1", "appliance-1.local")
    console = keys.read_cert(store.issued_path(done["console"]))
    san = console.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(n.value) for n in san] == ["appliance-1", "appliance-1.local", "192.168.1.20"]
    assert stat.S_IMODE((tmp_path / "tls" / "agent.pem").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "pki-root").stat().st_mode) == 0o700
    if shutil.which("openssl"):
        root_pem, leaf = tmp_path / "pki-root" / "root.pem", store.issued_path(done["sip"])
        args = ["openssl", "verify", "-attime", str(int(T0.timestamp())), "-CAfile", str(root_pem)]
        chain = subprocess.run([*args, "-untrusted", str(store.cert_path), str(leaf)], capture_output=True, text=True)
        assert chain.returncode == 0, chain.stdout + chain.stderr


def test_a_second_run_keeps_everything(tmp_path: Path):
    first = _standalone(tmp_path, ["192.168.1.20"])
    root_before = (tmp_path / "pki-root" / "root.pem").read_bytes()
    assert _standalone(tmp_path, ["192.168.1.20"]) == first
    assert (tmp_path / "pki-root" / "root.pem").read_bytes() == root_before


def test_a_run_interrupted_after_the_request_resumes_with_it(tmp_path: Path):
    csr_path = ca.request_for_hub(tmp_path / "pki", "appliance-1")
    request = csr_path.read_bytes()
    _standalone(tmp_path, [])
    cert = CaStore.appliance(tmp_path / "pki").ca_cert()
    csr = x509.load_pem_x509_csr(request)
    assert keys.same_key(cert.public_key(), csr.public_key())  # the pending request was signed, not a new one


def test_fleet_mode_only_makes_the_request(tmp_path: Path):
    csr = ca.request_for_hub(tmp_path / "pki", "appliance-1")
    assert csr.name == "intermediate.csr"
    assert ca.request_for_hub(tmp_path / "pki", "appliance-1") == csr  # a resumed run keeps it
    assert not (tmp_path / "pki" / "intermediate.pem").exists()


@pytest.mark.parametrize("bad", ["192.168.1.300", "not-an-ip"])
def test_bad_addresses_raise(bad):
    with pytest.raises(ValueError):
        ca.permitted_addresses([bad], NETWORKS)
