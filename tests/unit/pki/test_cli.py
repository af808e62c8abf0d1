# SPDX-License-Identifier: GPL-3.0-or-later
"""`appliance pki ...` end to end in a temporary directory, with --json output and a moved clock."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography import x509

from appliance import cli
from appliance.pki import cli as pki_cli

from .conftest import T0


class Box:
    """Run the `appliance` command in-process against files under one temporary directory."""

    def __init__(self, base: Path, capsys, monkeypatch):
        self.base = base
        self.capsys = capsys
        self.clock = T0
        self.config = base / "config.yml"
        self.config.write_text(f"freeswitch:\n  cert_dir: {base / 'tls'}\n")
        monkeypatch.setattr(pki_cli, "now", lambda: self.clock)

    def run(self, *argv: str) -> tuple[int, object, object]:
        """Return the exit status, the JSON printed on stdout and the JSON printed on stderr."""
        self.capsys.readouterr()
        rc = cli.main([*argv, "--json", "--config", str(self.config)])
        out, err = self.capsys.readouterr()
        return rc, json.loads(out) if out else None, json.loads(err) if err else None

    def ok(self, *argv: str):
        rc, out, err = self.run(*argv)
        assert rc == 0, err
        return out


@pytest.fixture
def box(tmp_path, capsys, monkeypatch) -> Box:
    return Box(tmp_path, capsys, monkeypatch)


def _set_up(box: Box) -> dict[str, str]:
    hub, dev = str(box.base / "hub"), str(box.base / "box")
    box.ok("pki", "init-root", "--root-dir", hub, "--cn", "CLI Fleet Root")
    request = box.ok("pki", "create-intermediate-request", "--pki-dir", dev, "--cn", "pbx1 appliance CA")
    signed = box.ok(
        "pki", "sign-intermediate", request["csr"], "--root-dir", hub,
        "--dns", "pbx1.example.org", "--ip", "192.168.1.0/24", "--ip", "10.8.0.2",
    )  # fmt: skip
    box.ok("pki", "install-intermediate", signed["cert"], "--root", f"{hub}/root.pem", "--pki-dir", dev)
    return {"hub": hub, "dev": dev, "intermediate": signed["serial"]}


def test_round_trip_from_root_to_freeswitch_files(box):
    hub = str(box.base / "hub")
    root = box.ok("pki", "init-root", "--root-dir", hub, "--cn", "CLI Fleet Root")
    assert root["subject"] == "CN=CLI Fleet Root" and len(root["sha256"].split(":")) == 32
    assert stat.S_IMODE(Path(root["key"]).stat().st_mode) == 0o600

    dev = str(box.base / "box")
    request = box.ok("pki", "create-intermediate-request", "--pki-dir", dev, "--cn", "pbx1 appliance CA")
    assert request["subject"] == "CN=pbx1 appliance CA"
    assert stat.S_IMODE(Path(request["key"]).stat().st_mode) == 0o600

    signed = box.ok(
        "pki", "sign-intermediate", request["csr"], "--root-dir", hub,
        "--dns", "pbx1.example.org", "--ip", "192.168.1.0/24", "--ip", "10.8.0.2",
    )  # fmt: skip
    assert signed["constraints"] == "DNS: pbx1.example.org; IP: 192.168.1.0/24, 10.8.0.2/32"
    [on_hub] = box.ok("pki", "list", "--root-dir", hub)
    assert (on_hub["serial"], on_hub["profile"]) == (signed["serial"], "intermediate")

    installed = box.ok("pki", "install-intermediate", signed["cert"], "--root", f"{hub}/root.pem", "--pki-dir", dev)
    assert installed["serial"] == signed["serial"]
    assert stat.S_IMODE((box.base / "box" / "intermediate.key").stat().st_mode) == 0o600

    sip = box.ok(
        "pki", "issue", "--profile", "sip", "--name", "pbx1.example.org", "--name", "192.168.1.10", "--pki-dir", dev
    )
    assert sip["names"] == ["pbx1.example.org", "192.168.1.10"]
    assert sip["freeswitch"] == {"agent": str(box.base / "tls/agent.pem"), "cafile": str(box.base / "tls/cafile.pem")}
    agent = x509.load_pem_x509_certificates((box.base / "tls/agent.pem").read_bytes())[0]
    assert f"{agent.serial_number:X}" == sip["serial"]
    assert stat.S_IMODE((box.base / "tls/agent.pem").stat().st_mode) == 0o600

    proc = subprocess.run(
        ["openssl", "verify", "-attime", str(int(T0.timestamp())), "-CAfile", f"{hub}/root.pem",
         "-untrusted", f"{dev}/intermediate.pem", "-crl_check", "-CRLfile", f"{dev}/public/intermediate.crl.pem",
         sip["cert"]],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_a_name_outside_the_constraints_is_refused_naming_it_and_the_constraints(box):
    paths = _set_up(box)
    rc, out, err = box.run("pki", "issue", "--profile", "console", "--name", "pbx1.example.org", "--name",
                           "www.example.com", "--pki-dir", paths["dev"])  # fmt: skip
    assert rc == 2 and out is None
    assert err["error"] == "refused"
    assert err["problems"] == [
        {
            "obj": "console certificate",
            "field": "name",
            "message": "'www.example.com' is outside the intermediate's name constraints "
            "(DNS: pbx1.example.org; IP: 192.168.1.0/24, 10.8.0.2/32)",
        }
    ]
    assert box.ok("pki", "list", "--pki-dir", paths["dev"]) == []


def test_renew_all_due_renews_only_what_is_past_two_thirds_and_refreshes_freeswitch(box):
    dev = _set_up(box)["dev"]
    sip = box.ok("pki", "issue", "--profile", "sip", "--name", "pbx1.example.org", "--pki-dir", dev)
    phone = box.ok("pki", "issue", "--profile", "phone", "--name", "phone-101.pbx1.example.org", "--pki-dir", dev)
    box.clock = T0 + timedelta(days=10)
    console = box.ok("pki", "issue", "--profile", "console", "--name", "pbx1.example.org", "--pki-dir", dev)

    box.clock = T0 + timedelta(days=21)
    statuses = {r["serial"]: r["status"] for r in box.ok("pki", "list", "--pki-dir", dev)}
    assert statuses == {sip["serial"]: "due", phone["serial"]: "valid", console["serial"]: "valid"}

    done = box.ok("pki", "renew", "--all-due", "--pki-dir", dev)
    [renewed] = done["renewed"]
    assert (renewed["old"], renewed["profile"]) == (sip["serial"], "sip")
    assert done["crl"] is not None  # the 7-day CRL from install was past half its life
    agent = x509.load_pem_x509_certificates((box.base / "tls/agent.pem").read_bytes())[0]
    assert f"{agent.serial_number:X}" == renewed["new"]

    current = {r["serial"] for r in box.ok("pki", "list", "--pki-dir", dev)}
    assert current == {renewed["new"], phone["serial"], console["serial"]}
    history = {r["serial"]: r["status"] for r in box.ok("pki", "list", "--all", "--pki-dir", dev)}
    assert history[sip["serial"]] == "superseded"
    assert box.ok("pki", "renew", "--all-due", "--pki-dir", dev)["renewed"] == []


def test_revoke_then_crl_lists_the_serial(box):
    dev = _set_up(box)["dev"]
    phone = box.ok("pki", "issue", "--profile", "phone", "--name", "phone-7.pbx1.example.org", "--pki-dir", dev)
    revoked = box.ok("pki", "revoke", phone["serial"], "--reason", "keyCompromise", "--pki-dir", dev)
    assert revoked["status"] == "revoked" and revoked["revoked_at"].startswith("2030-06-01")
    published = box.ok("pki", "crl", "--pki-dir", dev)
    assert published["revoked"] == [phone["serial"]]
    crl = x509.load_der_x509_crl(Path(published["crl"]).read_bytes())
    assert crl.get_revoked_certificate_by_serial_number(int(phone["serial"], 16)) is not None
    assert box.ok("pki", "list", "--pki-dir", dev) == []
    rc, _out, err = box.run("pki", "revoke", phone["serial"], "--pki-dir", dev)
    assert rc == 2 and "already revoked" in err["error"]


def test_the_root_revokes_an_intermediate_into_its_own_crl(box):
    paths = _set_up(box)
    box.ok("pki", "revoke", paths["intermediate"], "--root-dir", paths["hub"], "--reason", "cessationOfOperation")
    published = box.ok("pki", "crl", "--root-dir", paths["hub"])
    assert published["revoked"] == [paths["intermediate"]]
    assert published["crl"] == str(box.base / "hub" / "public" / "root.crl")


def test_clear_errors_for_missing_ca_and_missing_arguments(box):
    rc, _out, err = box.run("pki", "issue", "--profile", "sip", "--name", "pbx1.example.org",
                            "--pki-dir", str(box.base / "nothing"))  # fmt: skip
    assert rc == 2 and "create-intermediate-request" in err["error"]
    dev = _set_up(box)["dev"]
    rc, _out, err = box.run("pki", "renew", "--pki-dir", dev)
    assert rc == 2 and err["problems"][0]["message"] == "name one or more SERIALs, or give --all-due"
    rc, _out, err = box.run("pki", "issue", "--profile", "console", "--name", "pbx1.example.org", "--days", "90",
                            "--pki-dir", dev)  # fmt: skip
    assert rc == 2 and "allows 1 to 30 days" in err["error"]


def test_a_new_intermediate_key_reissues_every_current_certificate_under_it(box):
    paths = _set_up(box)
    dev, hub = paths["dev"], paths["hub"]
    sip = box.ok("pki", "issue", "--profile", "sip", "--name", "pbx1.example.org", "--pki-dir", dev)
    console = box.ok("pki", "issue", "--profile", "console", "--name", "pbx1.example.org", "--pki-dir", dev)
    box.clock = T0 + timedelta(days=1)
    request = box.ok("pki", "create-intermediate-request", "--pki-dir", dev, "--cn", "pbx1 appliance CA")
    signed = box.ok("pki", "sign-intermediate", request["csr"], "--root-dir", hub, "--dns", "pbx1.example.org")
    installed = box.ok("pki", "install-intermediate", signed["cert"], "--pki-dir", dev)
    assert len(installed["reissued"]) == 2
    history = {r["serial"]: r for r in box.ok("pki", "list", "--all", "--pki-dir", dev)}
    assert history[sip["serial"]]["status"] == history[console["serial"]]["status"] == "superseded"
    new_issuer = x509.load_pem_x509_certificate((box.base / "box" / "intermediate.pem").read_bytes())
    for serial in installed["reissued"]:
        leaf = x509.load_pem_x509_certificate((box.base / "box" / "issued" / f"{serial}.pem").read_bytes())
        leaf.verify_directly_issued_by(new_issuer)
    agent = x509.load_pem_x509_certificates((box.base / "tls/agent.pem").read_bytes())
    assert agent[1] == new_issuer and f"{agent[0].serial_number:X}" in installed["reissued"]


def test_building_the_appliance_parser_does_not_load_cryptography():
    code = "import sys, appliance.cli as c; c._parser(); print('cryptography' in sys.modules)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "False"
