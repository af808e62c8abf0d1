# SPDX-License-Identifier: GPL-3.0-or-later
"""Disk assembly: two small filesystem files placed into GPT and MBR disks, checked with sfdisk --json."""

from __future__ import annotations

import shutil
import struct
import subprocess
import uuid

import pytest

from images import disk
from images.disk import MIB, Part, assemble, layout, read_table, sfdisk_script

needs_tools = pytest.mark.skipif(
    any(shutil.which(t) is None for t in ("mkfs.ext4", "mkfs.vfat", "mcopy", "sfdisk")),
    reason="e2fsprogs, dosfstools, mtools or fdisk not installed (make image-deps): disk tests skipped",
)


@pytest.fixture
def filesystems(tmp_path):
    """A 40 MiB FAT32 with EFI/BOOT/BOOTX64.EFI and an 8 MiB ext4 with a few files."""
    boot_src, root_src = tmp_path / "boot", tmp_path / "root"
    (boot_src / "EFI/BOOT").mkdir(parents=True)
    (boot_src / "EFI/BOOT/BOOTX64.EFI").write_bytes(b"MZ" + b"\0" * 1000)
    (root_src / "etc").mkdir(parents=True)
    (root_src / "etc/hostname").write_text("appliance\n")
    (root_src / "etc/hosts").hardlink_to(root_src / "etc/hostname")
    boot, root = tmp_path / "boot.vfat", tmp_path / "root.ext4"
    root_uuid = str(uuid.uuid4())
    disk.make_vfat(boot, 40, boot_src, "ESP", "1234ABCD")
    disk.make_ext4(root, 8, root_src, "approot", root_uuid)
    return boot, root, root_uuid


def test_layout_aligns_every_partition_and_leaves_room_for_the_backup_gpt(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.write_bytes(b"\0" * (3 * MIB + 1))
    b.write_bytes(b"\0" * MIB)
    placed, size = layout([Part(a, "x"), Part(b, "y")], align_mib=1)
    assert placed == [(2048, 6145), (10240, 2048)]
    assert size == (10240 + 2048 + 2048) * 512
    placed4, _ = layout([Part(a, "x"), Part(b, "y")], align_mib=4)
    assert [start % 8192 for start, _ in placed4] == [0, 0]


def test_sfdisk_script_for_mbr_marks_the_firmware_partition_bootable(tmp_path):
    a = tmp_path / "a"
    a.write_bytes(b"\0" * MIB)
    script = sfdisk_script(
        "dos", "1a2b3c4d", [Part(a, "c", bootable=True), Part(a, "83")], [(8192, 2048), (16384, 2048)]
    )
    assert "label: dos" in script and "label-id: 0x1a2b3c4d" in script
    assert "start=8192, size=2048, type=c, bootable" in script
    assert "start=16384, size=2048, type=83\n" in script


@needs_tools
def test_gpt_disk_from_two_filesystem_files(tmp_path, filesystems):
    boot, root, root_uuid = filesystems
    disk_id, esp_uuid, root_partuuid = (str(uuid.uuid4()) for _ in range(3))
    image = tmp_path / "disk.img"
    parts = [
        Part(boot, disk.GPT_ESP, "ESP", esp_uuid),
        Part(root, disk.GPT_ROOT["amd64"], "approot", root_partuuid),
    ]
    size = assemble(image, "gpt", disk_id, parts, align_mib=1)
    assert image.stat().st_size == size

    table = read_table(image)
    assert table["label"] == "gpt"
    assert table["id"].lower() == disk_id
    p1, p2 = table["partitions"]
    assert (p1["start"], p1["type"], p1["uuid"].lower(), p1["name"]) == (2048, disk.GPT_ESP, esp_uuid, "ESP")
    assert p1["size"] == 40 * MIB // 512
    assert (p2["type"], p2["uuid"].lower(), p2["name"]) == (disk.GPT_ROOT["amd64"], root_partuuid, "approot")
    assert p2["start"] == 2048 + 40 * 2048 and p2["size"] == 8 * MIB // 512

    # each partition holds its filesystem byte for byte
    data = image.read_bytes()
    assert data[p1["start"] * 512 : p1["start"] * 512 + boot.stat().st_size] == boot.read_bytes()
    assert data[p2["start"] * 512 : p2["start"] * 512 + root.stat().st_size] == root.read_bytes()
    magic = struct.unpack_from("<H", data, p2["start"] * 512 + 1024 + 56)[0]
    assert magic == 0xEF53
    # and the filesystem's own identity survived: blkid reads UUID and label at the partition's offset
    probe = subprocess.run(
        ["blkid", "-p", "-O", str(p2["start"] * 512), "-o", "export", str(image)], capture_output=True, text=True
    ).stdout
    assert f"UUID={root_uuid}" in probe and "LABEL=approot" in probe


@needs_tools
def test_mbr_disk_for_the_pi(tmp_path, filesystems):
    boot, root, _ = filesystems
    image = tmp_path / "pi.img"
    parts = [Part(boot, disk.MBR_FAT32_LBA, bootable=True), Part(root, disk.MBR_LINUX)]
    assemble(image, "dos", "1a2b3c4d", parts, align_mib=4)
    table = read_table(image)
    assert table["label"] == "dos" and table["id"] == "0x1a2b3c4d"
    p1, p2 = table["partitions"]
    assert (p1["start"], p1["type"], p1.get("bootable")) == (8192, "c", True)
    assert p2["type"] == "83" and p2["start"] % 8192 == 0


@needs_tools
def test_fat_holds_the_files_and_ext4_is_clean(tmp_path, filesystems):
    boot, root, _ = filesystems
    listing = subprocess.run(
        ["mdir", "-i", str(boot), "-b", "::/EFI/BOOT"], capture_output=True, text=True, env={"MTOOLS_SKIP_CHECK": "1"}
    ).stdout
    assert "BOOTX64.EFI" in listing
    assert subprocess.run(["e2fsck", "-fn", str(root)], capture_output=True).returncode == 0
    out = subprocess.run(["debugfs", "-R", "stat /etc/hosts", str(root)], capture_output=True, text=True).stdout
    assert "Links: 2" in out  # hard links stay hard links


def test_root_size_has_overhead_and_headroom():
    assert disk.root_size_mib(100 * MIB, 384) == 108 + 384


def test_fat_cluster_size_keeps_fat32_valid():
    for size in (40, 64, 256, 512):
        spc = disk.fat_cluster_sectors(size)
        assert size * MIB // 512 // spc >= 65525
