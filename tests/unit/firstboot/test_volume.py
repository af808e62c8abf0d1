# SPDX-License-Identifier: GPL-3.0-or-later
"""The data-volume step's order of commands, fresh and resumed, with the system tools faked.

Real LUKS needs device-mapper, which this machine lacks; the image boot test runs the real thing.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from appliance.firstboot import settings, storage, system, volume

DEVICE = "/dev/vda3"
UUID = "0b9e5c1a-3f5e-4a55-9c1e-2a4d1b7e9f00"


class FakeSystem:
    """Answer the commands the step runs; remember them in order."""

    def __init__(self, luks: bool, filesystem: bool):
        self.luks, self.filesystem = luks, filesystem
        self.calls: list[list[str]] = []

    def run(self, args, *, input_text=None, check=True, env=None, timeout=1800):
        args = list(args)
        self.calls.append(args)
        code, out = 0, ""
        if args[:2] == ["cryptsetup", "isLuks"]:
            code = 0 if self.luks else 1
        elif args[:2] == ["cryptsetup", "luksFormat"]:
            self.luks = True
        elif args[:2] == ["cryptsetup", "luksUUID"]:
            out = UUID + "\n"
        elif args[0] == "blkid":
            code, out = (0, "ext4\n") if self.filesystem else (2, "")
        elif args[0] == "mkfs.ext4":
            self.filesystem = True
        return subprocess.CompletedProcess(args, code, out, "")

    def names(self) -> list[str]:
        return [" ".join(c[:2]) if c[0] in ("cryptsetup", "systemctl") else c[0] for c in self.calls]


@pytest.fixture
def conf(tmp_path: Path) -> settings.Settings:
    raw = dict(settings.DEFAULTS)
    raw.update(
        data_dir=str(tmp_path / "data"),
        state_dir=str(tmp_path / "state"),
        keyfile=str(tmp_path / "etc-appliance" / "storage" / "data.key"),
        storage_mode="lab",
    )
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "fstab").write_text("UUID=abc / ext4 errors=remount-ro 0 1\n")
    return settings.from_dict(raw)


def test_a_fresh_device_is_formatted_opened_given_a_filesystem_and_mounted(conf, tmp_path, monkeypatch):
    fake = FakeSystem(luks=False, filesystem=False)
    monkeypatch.setattr(system, "run", fake.run)
    assert volume.set_up(conf, DEVICE, tmp_path / "etc") == "lab"
    # isLuks is asked more than once (the mode, the step, format's own guard): checks, not actions.
    assert [n for n in fake.names() if n != "cryptsetup isLuks"] == [
        "cryptsetup luksFormat",
        "cryptsetup open",
        "blkid",
        "mkfs.ext4",
        "cryptsetup luksUUID",
        "mount",
        "systemctl daemon-reload",
        "systemd-tmpfiles",
    ]
    fmt = next(c for c in fake.calls if c[:2] == ["cryptsetup", "luksFormat"])
    assert fmt[fmt.index("--type") + 1] == "luks2" and fmt[-1] == DEVICE
    assert fmt[fmt.index("--key-file") + 1] == str(conf.keyfile)
    assert conf.keyfile.stat().st_mode & 0o777 == 0o400
    assert (tmp_path / "etc" / "crypttab").read_text() == storage.crypttab_line(
        "appliance-data", UUID, "lab", conf.keyfile
    )
    assert "/dev/mapper/appliance-data" in (tmp_path / "etc" / "fstab").read_text()
    assert storage.read_mode(conf.data_dir) == "lab"


def test_a_resumed_run_never_formats_or_makes_a_filesystem_again(conf, tmp_path, monkeypatch):
    storage.write_key(conf.keyfile)
    fake = FakeSystem(luks=True, filesystem=True)
    monkeypatch.setattr(system, "run", fake.run)
    volume.set_up(conf, DEVICE, tmp_path / "etc")
    volume.set_up(conf, DEVICE, tmp_path / "etc")
    assert "cryptsetup luksFormat" not in fake.names()
    assert "mkfs.ext4" not in fake.names()
    assert (tmp_path / "etc" / "crypttab").read_text().count("appliance-data") == 1
    assert (tmp_path / "etc" / "fstab").read_text().count("/dev/mapper/appliance-data") == 1


def test_a_probe_error_stops_before_mkfs(conf, tmp_path, monkeypatch):
    fake = FakeSystem(luks=True, filesystem=False)
    original = fake.run

    def failing_blkid(args, **kw):
        result = original(args, **kw)
        return subprocess.CompletedProcess(args, 4, "", "") if args[0] == "blkid" else result

    storage.write_key(conf.keyfile)
    monkeypatch.setattr(system, "run", failing_blkid)
    with pytest.raises(RuntimeError, match="not making a filesystem"):
        volume.set_up(conf, DEVICE, tmp_path / "etc")
    assert "mkfs.ext4" not in fake.names()


def test_format_refuses_a_device_with_a_luks_header(monkeypatch):
    fake = FakeSystem(luks=True, filesystem=True)
    monkeypatch.setattr(system, "run", fake.run)
    with pytest.raises(RuntimeError, match="refusing to format"):
        storage.format_luks(DEVICE, Path("/k"), "appliance-data")
