# SPDX-License-Identifier: GPL-3.0-or-later
"""Filesystems built as files and a partitioned disk assembled from them, with no loop device or kpartx."""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from images.progress import BuildError, output

MIB = 2**20
SECTOR = 512

# GPT partition types: EFI system; Linux root for the architecture (discoverable partitions spec)
GPT_ESP = "C12A7328-F81F-11D2-BA4B-00A0C93EC3B8"
GPT_ROOT = {
    "amd64": "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709",
    "arm64": "B921B045-1DF0-41C3-AF44-4C6F280D3FAE",
}
MBR_FAT32_LBA = "c"
MBR_LINUX = "83"


@dataclass(frozen=True)
class Part:
    """One partition: the filesystem file that fills it and how the table describes it."""

    image: Path
    type: str
    name: str = ""
    uuid: str = ""
    bootable: bool = False

    @property
    def size(self) -> int:
        """Return the filesystem file's size in bytes."""
        return self.image.stat().st_size


def tree_size(path: Path) -> int:
    """Return the bytes a tree takes in 4 KiB blocks, counting hard links once (mkfs.ext4 -d's need)."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for dirpath, dirnames, filenames in os.walk(path):
        for name in dirnames + filenames:
            st = os.lstat(os.path.join(dirpath, name))
            if (st.st_dev, st.st_ino) in seen:
                continue
            seen.add((st.st_dev, st.st_ino))
            total += max(4096, -(-st.st_size // 4096) * 4096)
    return total


def root_size_mib(used: int, headroom_mib: int) -> int:
    """Return the root filesystem size: the files, ext4's overhead (~6%), and the headroom, in whole MiB."""
    return -(-int(used * 1.08) // MIB) + headroom_mib


def make_ext4(image: Path, size_mib: int, source: Path, label: str, fs_uuid: str) -> None:
    """Build an ext4 filesystem of `size_mib` from the tree `source` into the file `image`."""
    image.unlink(missing_ok=True)
    with image.open("wb") as f:
        f.truncate(size_mib * MIB)
    # -i 8192: enough inodes for a Python virtualenv in a small filesystem (resize2fs scales them later)
    # -m 1: a small reserve; the big data lives on the data volume
    output(
        ["mkfs.ext4", "-q", "-F", "-L", label, "-U", fs_uuid, "-i", "8192", "-m", "1", "-E", "nodiscard",
         "-d", source, image]
    )  # fmt: skip
    # a clean fsck proves the filesystem whole before it goes onto the disk
    proc = subprocess.run(["e2fsck", "-fn", str(image)], capture_output=True, text=True)
    if proc.returncode != 0:
        raise BuildError(f"e2fsck found problems in {image}:\n{proc.stdout}{proc.stderr}")


def fat_cluster_sectors(size_mib: int) -> int:
    """Return sectors per cluster giving FAT32 enough clusters (>= 65525, with margin) for `size_mib`."""
    sectors = size_mib * MIB // SECTOR
    spc = 8
    while spc > 1 and sectors // spc < 70000:
        spc //= 2
    return spc


def make_vfat(image: Path, size_mib: int, source: Path, label: str, volume_id: str) -> None:
    """Build a FAT32 filesystem of `size_mib` holding the tree `source`, with mtools (no mount)."""
    image.unlink(missing_ok=True)
    output(["mkfs.vfat", "-C", "-F", "32", "-S", str(SECTOR), "-s", str(fat_cluster_sectors(size_mib)),
            "-n", label, "-i", volume_id, image, str(size_mib * 1024)])  # fmt: skip
    entries = sorted(source.iterdir())
    if entries:
        env = {**os.environ, "MTOOLS_SKIP_CHECK": "1"}
        output(["mcopy", "-i", image, "-s", "-p", "-Q", "-m", *entries, "::/"], env=env)


def layout(parts: list[Part], align_mib: int) -> tuple[list[tuple[int, int]], int]:
    """Return each partition's (start, size) in sectors and the disk's size in bytes."""
    align = align_mib * MIB // SECTOR
    start = align
    placed = []
    for part in parts:
        sectors = -(-part.size // SECTOR)
        placed.append((start, sectors))
        start = -(-(start + sectors) // align) * align
    # room after the last partition for GPT's backup header (33 sectors), rounded to the alignment
    return placed, (start + align) * SECTOR


def sfdisk_script(table: str, disk_id: str, parts: list[Part], placed: list[tuple[int, int]]) -> str:
    """Return the sfdisk input describing the partition table."""
    lines = [f"label: {table}", f"label-id: {disk_id if table == 'gpt' else '0x' + disk_id}", "unit: sectors"]
    if table == "gpt":
        lines.append(f"first-lba: {placed[0][0]}")
    lines.append("")
    for part, (start, size) in zip(parts, placed, strict=True):
        fields = [f"start={start}", f"size={size}", f"type={part.type}"]
        if table == "gpt":
            if part.uuid:
                fields.append(f"uuid={part.uuid}")
            if part.name:
                fields.append(f'name="{part.name}"')
        elif part.bootable:
            fields.append("bootable")
        lines.append(", ".join(fields))
    return "\n".join(lines) + "\n"


def assemble(disk: Path, table: str, disk_id: str, parts: list[Part], align_mib: int = 1) -> int:
    """Write the partition table into a new sparse `disk` and copy each filesystem file to its place."""
    placed, disk_bytes = layout(parts, align_mib)
    disk.unlink(missing_ok=True)
    with disk.open("wb") as f:
        f.truncate(disk_bytes)
    script = sfdisk_script(table, disk_id, parts, placed)
    proc = subprocess.run(
        ["sfdisk", "--no-reread", "--no-tell-kernel", "-q", str(disk)], input=script, capture_output=True, text=True
    )
    if proc.returncode != 0:
        raise BuildError(f"sfdisk refused the table:\n{script}{proc.stderr}")
    for part, (start, _) in zip(parts, placed, strict=True):
        # conv=sparse skips zero blocks, so the disk stays as sparse as the filesystems (bmaptool maps it)
        output(["dd", f"if={part.image}", f"of={disk}", "bs=4M", f"seek={start * SECTOR}", "oflag=seek_bytes",
                "conv=notrunc,sparse", "status=none"])  # fmt: skip
    return disk_bytes


def read_table(disk: Path) -> dict:
    """Return `sfdisk --json` of a disk image (what the tests check)."""
    return json.loads(output(["sfdisk", "--json", disk]))["partitiontable"]
