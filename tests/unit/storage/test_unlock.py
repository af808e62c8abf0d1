# SPDX-License-Identifier: GPL-3.0-or-later
"""The boot-time unlock's order of methods, its degraded outcome and the status people and the console read."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from appliance.firstboot import system
from appliance.storage import luks, status, unlock
from appliance.storage.settings import from_dict


@pytest.fixture
def settings(tmp_path):
    return from_dict(
        {
            "luks_name": "appliance-test-data",
            "data_label": "appliance-test-data",
            "data_dir": str(tmp_path / "data"),
            "keyfile": str(tmp_path / "data.key"),
            "tang_servers": [{"url": "http://10.0.2.2:7500"}],
            "tang_wait": 0,
            "escrow_public_key": "",
            "escrow_dir": str(tmp_path / "escrow"),
            "status_file": str(tmp_path / "run" / "storage.json"),
            "survival_dir": str(tmp_path / "survival"),
            "fsconf_current": str(tmp_path / "data" / "fsconf" / "current"),
        }
    )


@pytest.fixture
def calls(monkeypatch):
    """Record system commands instead of running them (mount, systemctl)."""
    made: list[list[str]] = []

    def fake_run(args, **kwargs):
        made.append(list(args))
        return subprocess.CompletedProcess(args, 0, "", "")

    monkeypatch.setattr(system, "run", fake_run)
    monkeypatch.setattr(luks, "find_device", lambda name, label: "/dev/vda3")
    return made


def _methods(monkeypatch, tokens, results):
    order: list[str] = []

    def attempt(method):
        def fn(*args, **kwargs):
            order.append(method)
            if results.get(method) != "ok":
                raise system.CommandFailed(f"{method} said no")

        return fn

    monkeypatch.setattr(luks, "tokens", lambda device: tokens)
    for method in ("tpm2", "tang", "keyfile"):
        monkeypatch.setattr(luks, f"open_{method}", attempt(method))
    return order


def test_without_the_tpm_tang_opens_the_volume_and_the_status_says_so(settings, calls, monkeypatch, tmp_path):
    order = _methods(monkeypatch, ["systemd-tpm2", "clevis", "systemd-recovery"], {"tang": "ok"})
    record = unlock.run(settings)
    assert order == ["tang"]  # no /dev/tpmrm0 here: the TPM2 slot is reported, not tried
    assert record["state"] == status.UNLOCKED and record["method"] == "tang"
    assert ["mount", str(settings.data_dir)] in calls
    assert not any(c[:2] == ["systemd-escape", "-p"] for c in calls)  # at boot: never through the mount unit
    saved = json.loads(settings.status_file.read_text())
    assert saved["tried"][0] == {
        "method": "tpm2",
        "result": f"failed: the volume has a TPM2 slot but {luks.TPM_DEVICE} is missing",
    }


def test_when_nothing_opens_the_box_boots_degraded_on_the_survival_config(settings, calls, monkeypatch):
    order = _methods(monkeypatch, ["clevis", "systemd-recovery"], {})
    conf = settings.survival_dir / "conf"
    conf.mkdir(parents=True)
    (conf / "freeswitch.xml").write_text("<document/>")
    record = unlock.run(settings)
    assert order == ["tang"]
    assert record["state"] == status.DEGRADED and record["method"] == ""
    assert ["systemctl", "start", "--no-block", unlock.SURVIVAL_UNIT] in calls
    assert not any(c[0] == "mount" for c in calls)
    shown = status.storage_status(settings)
    assert shown["state"] == "degraded" and shown["survival"] is True and not shown["mounted"]
    assert any("could not be unlocked" in p and "tang: failed: tang said no" in p for p in shown["problems"])
    assert "PROBLEM: the data volume could not be unlocked" in status.describe(shown)


def test_degraded_without_a_survival_config_says_freeswitch_cannot_start(settings, calls, monkeypatch):
    _methods(monkeypatch, ["clevis"], {})
    record = unlock.run(settings)
    assert not any(c[:2] == ["systemctl", "start"] for c in calls)
    assert any("no survival configuration" in p for p in record["problems"])


def test_the_lab_keyfile_is_the_last_resort_and_flagged(settings, calls, monkeypatch):
    settings.keyfile.write_text("k")
    order = _methods(monkeypatch, ["clevis"], {"keyfile": "ok"})
    record = unlock.run(settings)
    assert order == ["tang", "keyfile"] and record["method"] == "keyfile"
    shown = status.storage_status(settings)
    assert shown["lab_mode"] is True and any(p.startswith("LAB MODE") for p in shown["problems"])


def test_no_record_means_the_unlock_never_ran(settings):
    shown = status.storage_status(settings)
    assert shown["state"] == "unknown"
    assert "has not run this boot" in shown["problems"][0]


def test_the_device_comes_from_crypttab_else_from_the_luks_label(tmp_path, monkeypatch):
    tab = tmp_path / "crypttab"
    tab.write_text("# comment\nappliance-data UUID=abcd none luks,discard,nofail\n")
    assert luks.find_device("appliance-data", "appliance-data", tab) == "/dev/disk/by-uuid/abcd"
    rows = "/dev/vda1 vfat EFI\n/dev/vda3 crypto_LUKS appliance-data\n/dev/vda2 ext4 root\n"
    monkeypatch.setattr(system, "run", lambda args, **kw: subprocess.CompletedProcess(args, 0, rows, ""))
    assert luks.find_device("tang-box", "appliance-data", tab) == "/dev/vda3"
    with pytest.raises(LookupError, match="no line for other, and no LUKS header labelled 'nope'"):
        luks.find_device("other", "nope", tab)


def test_status_file_is_replaced_atomically(tmp_path):
    path = Path(tmp_path / "run" / "storage.json")
    status.write(path, {"state": "unlocked"})
    status.write(path, {"state": "degraded"})
    assert json.loads(path.read_text()) == {"state": "degraded"}
    assert [p.name for p in path.parent.iterdir()] == ["storage.json"]


def test_a_wrong_recovery_key_is_refused_before_anything_changes(settings, calls, monkeypatch):
    monkeypatch.setattr(luks, "key_opens", lambda device, key: key == "right-key")
    with pytest.raises(RuntimeError, match="does not open /dev/vda3"):
        unlock.unlock_with_recovery(settings, "wrong-key\n")
    assert calls == [] and not settings.status_file.exists()
    record = unlock.unlock_with_recovery(settings, "right-key\n")
    assert record["method"] == "recovery-key"
    opened = next(c for c in calls if c[:2] == ["cryptsetup", "open"])
    assert "right-key" not in opened  # the key went on standard input, never on the command line
    assert ["systemctl", "stop", unlock.SURVIVAL_UNIT] in calls
    assert ["systemctl", "start", "--no-block", "multi-user.target"] in calls
