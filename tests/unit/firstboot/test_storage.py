# SPDX-License-Identifier: GPL-3.0-or-later
"""The data volume's boot-time configuration: crypttab and fstab lines, keys, the mode file."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from appliance.firstboot import storage

UUID = "0b9e5c1a-3f5e-4a55-9c1e-2a4d1b7e9f00"


def test_crypttab_lines_for_both_modes():
    keyfile = Path("/etc/appliance/storage/data.key")
    assert storage.crypttab_line("appliance-data", UUID, "lab", keyfile) == (
        f"appliance-data UUID={UUID} /etc/appliance/storage/data.key luks,discard,nofail\n"
    )
    assert storage.crypttab_line("appliance-data", UUID, "tpm2", keyfile) == (
        f"appliance-data UUID={UUID} none luks,discard,nofail,tpm2-device=auto\n"
    )


def test_fstab_line_mounts_the_mapping_at_the_data_directory():
    line = storage.fstab_line("/dev/mapper/appliance-data", Path("/var/lib/appliance"))
    fields = line.split()
    assert fields[:3] == ["/dev/mapper/appliance-data", "/var/lib/appliance", "ext4"]
    assert "nofail" in fields[3]
    assert fields[4:] == ["0", "2"]


def test_ensure_line_appends_once_and_keeps_the_rest(tmp_path: Path):
    fstab = tmp_path / "fstab"
    fstab.write_text("# /etc/fstab: static file system information.\nUUID=abc / ext4 errors=remount-ro 0 1")
    line = storage.fstab_line("/dev/mapper/appliance-data", Path("/var/lib/appliance"))
    assert storage.ensure_line(fstab, line, 1) is True
    assert storage.ensure_line(fstab, line, 1) is False  # a resumed run changes nothing
    assert fstab.read_text() == (
        "# /etc/fstab: static file system information.\nUUID=abc / ext4 errors=remount-ro 0 1\n" + line
    )


def test_ensure_line_replaces_the_line_with_the_same_key(tmp_path: Path):
    crypttab = tmp_path / "crypttab"
    crypttab.write_text(
        "# <target> <source> <key> <options>\nappliance-data UUID=old none luks\nother UUID=x none luks\n"
    )
    crypttab.chmod(0o600)
    line = storage.crypttab_line("appliance-data", UUID, "tpm2", Path("/k"))
    assert storage.ensure_line(crypttab, line, 0) is True
    assert crypttab.read_text().splitlines() == [
        "# <target> <source> <key> <options>",
        line.rstrip("\n"),
        "other UUID=x none luks",
    ]
    assert stat.S_IMODE(crypttab.stat().st_mode) == 0o600


def test_ensure_line_creates_a_missing_file(tmp_path: Path):
    crypttab = tmp_path / "crypttab"
    line = storage.crypttab_line("appliance-data", UUID, "lab", Path("/k"))
    assert storage.ensure_line(crypttab, line, 0)
    assert crypttab.read_text() == line


def test_the_key_is_random_hex_without_newline_root_only_and_never_replaced(tmp_path: Path):
    path = tmp_path / "storage" / "data.key"
    key = storage.write_key(path)
    assert len(key) == 128 and int(key, 16) >= 0
    assert path.read_text() == key
    assert stat.S_IMODE(path.stat().st_mode) == 0o400
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert storage.write_key(path) == key


def test_auto_mode_uses_the_tpm_when_there_is_one(tmp_path: Path):
    tpm = tmp_path / "tpmrm0"
    assert storage.choose_mode("auto", tpm) == "lab"
    assert storage.choose_mode("lab", tpm) == "lab"
    with pytest.raises(RuntimeError, match="no usable TPM2"):
        storage.choose_mode("tpm2", tpm)
    tpm.touch()
    assert storage.choose_mode("auto", tpm) == "tpm2"


def test_the_mode_file_flags_lab_mode_loudly_and_reads_back(tmp_path: Path):
    text = storage.mode_file_text("lab", Path("/etc/appliance/storage/data.key"))
    assert text.startswith("mode=lab\n")
    assert "LAB MODE" in text and "keyfile=/etc/appliance/storage/data.key" in text
    (tmp_path / storage.MODE_FILE).write_text(text)
    assert storage.read_mode(tmp_path) == "lab"
    (tmp_path / storage.MODE_FILE).write_text(storage.mode_file_text("tpm2", Path("/k")))
    assert storage.read_mode(tmp_path) == "tpm2"
    assert storage.read_mode(tmp_path / "nothing") is None


def test_the_recovery_key_hook_writes_a_root_only_file(tmp_path: Path, caplog):
    path = storage.escrow_recovery_key("abcd-efgh", "", tmp_path / "recovery")
    assert path.read_text() == "abcd-efgh\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "copy it somewhere safe" in caplog.text
