# SPDX-License-Identifier: GPL-3.0-or-later
"""The storage source against a fake /proc/mounts and sysfs: mounted, encrypted, free space, mode."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from appliance.metrics.storage import StorageSource, find_mount, is_dm_crypt


def _sysfs(root: Path, number: str, uuid: str | None, slaves: dict[str, str | None] | None = None) -> Path:
    """Make /sys/dev/block/<number> with an optional dm/uuid and slaves, each a device with its own uuid."""
    node = root / "devices" / number.replace(":", "_")
    node.mkdir(parents=True)
    if uuid is not None:
        (node / "dm").mkdir()
        (node / "dm" / "uuid").write_text(uuid + "\n")
    for name, slave_uuid in (slaves or {}).items():
        (node / "slaves").mkdir(exist_ok=True)
        target = _sysfs(root, name, slave_uuid)
        (node / "slaves" / name).symlink_to(target)
    (root / "dev" / "block").mkdir(parents=True, exist_ok=True)
    (root / "dev" / "block" / number).symlink_to(node)
    return node


@pytest.fixture
def data(tmp_path) -> Path:
    mount = tmp_path / "var lib appliance"  # a space, escaped as \040 in /proc/mounts
    mount.mkdir()
    return mount


def _source(tmp_path: Path, data: Path, mounts: str, number: tuple[int, int] | None) -> StorageSource:
    (tmp_path / "mounts").write_text(mounts)
    return StorageSource(
        data,
        data / ".storage-mode",
        proc_mounts=tmp_path / "mounts",
        sys_root=tmp_path / "sys",
        device_number=lambda device: number if device == "/dev/mapper/appliance-data" else None,
    )


def _values(source: StorageSource) -> dict[str, tuple[dict, float]]:
    return {f.name: (f.samples[0].labels, f.samples[0].value) for f in source.collect()}


def _mounts(data: Path) -> str:
    escaped = str(data).replace(" ", "\\040")
    return (
        "/dev/sda2 / ext4 rw,relatime 0 0\n"
        f"/dev/mapper/appliance-data {escaped} ext4 rw,nosuid,nodev,noatime 0 0\n"
        "proc /proc proc rw 0 0\n"
    )


def test_a_luks_volume_is_mounted_and_encrypted(tmp_path, data):
    _sysfs(tmp_path / "sys", "253:0", "CRYPT-LUKS2-8d5a0b3c-appliance-data")
    (data / ".storage-mode").write_text("luks2-tang\n")
    values = _values(_source(tmp_path, data, _mounts(data), (253, 0)))
    assert values["appliance_storage_mounted"] == ({"mountpoint": str(data)}, 1)
    assert values["appliance_storage_encrypted"] == ({"mountpoint": str(data)}, 1)
    assert values["appliance_storage_mode_info"] == ({"mode": "luks2-tang"}, 1)
    vfs = os.statvfs(data)
    assert values["appliance_storage_size_bytes"][1] == vfs.f_blocks * vfs.f_frsize > 0
    assert 0 < values["appliance_storage_free_bytes"][1] <= values["appliance_storage_size_bytes"][1]


def test_lvm_on_luks_counts_as_encrypted(tmp_path):
    _sysfs(tmp_path / "sys", "253:1", "LVM-abcdef", slaves={"253:0": "CRYPT-LUKS2-1234-crypt"})
    assert is_dm_crypt((253, 1), tmp_path / "sys")


def test_a_plain_partition_or_plain_dm_device_is_not_encrypted(tmp_path, data):
    _sysfs(tmp_path / "sys", "8:3", None)
    _sysfs(tmp_path / "sys", "253:2", "LVM-abcdef", slaves={"8:4": None})
    assert not is_dm_crypt((8, 3), tmp_path / "sys")
    assert not is_dm_crypt((253, 2), tmp_path / "sys")
    values = _values(_source(tmp_path, data, _mounts(data), (8, 3)))
    assert (values["appliance_storage_mounted"][1], values["appliance_storage_encrypted"][1]) == (1, 0)


def test_an_unmounted_volume_is_neither_mounted_nor_encrypted(tmp_path, data):
    values = _values(_source(tmp_path, data, "/dev/sda2 / ext4 rw 0 0\n", (253, 0)))
    assert (values["appliance_storage_mounted"][1], values["appliance_storage_encrypted"][1]) == (0, 0)
    assert values["appliance_storage_mode_info"] == ({"mode": "none"}, 1)


def test_the_last_mount_on_a_mount_point_wins():
    mounts = "/dev/sdb1 /data ext4 rw 0 0\n/dev/mapper/x /data ext4 rw 0 0\n"
    assert find_mount("/data", mounts).device == "/dev/mapper/x"
    assert find_mount("/other", mounts) is None


def test_a_strange_marker_cannot_make_a_wild_label(tmp_path, data):
    (data / ".storage-mode").write_text('luks2 "tpm2"\nsecond line\n' + "x" * 200)
    mode = _values(_source(tmp_path, data, "", None))["appliance_storage_mode_info"][0]["mode"]
    assert mode == "luks2__tpm2_"


def test_without_a_dev_node_the_mounted_filesystems_own_device_is_read(tmp_path, data):
    # The exporter and the console run with PrivateDevices=: /dev/mapper is empty for them. The image
    # showed the LUKS volume as not encrypted until the mount point's own st_dev was read instead.
    dev = os.stat(data).st_dev
    if not os.major(dev):
        pytest.skip(f"{data} is on an anonymous device (major 0): nothing to look up in sysfs")
    _sysfs(tmp_path / "sys", f"{os.major(dev)}:{os.minor(dev)}", "CRYPT-LUKS2-8d5a0b3c-appliance-data")
    values = _values(_source(tmp_path, data, _mounts(data), None))  # no node to stat
    assert values["appliance_storage_encrypted"] == ({"mountpoint": str(data)}, 1)
