# SPDX-License-Identifier: GPL-3.0-or-later
"""The boot disk: find the root partition, plan the data partition, grow the root filesystem.

The image's root partition is small. First boot appends the data partition at the planned
offset (sfdisk --append), then lets growpart fill the gap between the two with the root
partition and resize2fs grow the filesystem online. Planning is pure arithmetic over
`sfdisk --json` output, so it is tested on recorded tables.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from appliance.firstboot import system

log = logging.getLogger(__name__)

ALIGN = 1024 * 1024  # partitions start and end on MiB boundaries (SD cards and SSDs like that)
GPT_LINUX = "0FC63DAF-8483-4772-8E79-3D69D8477DE4"
GPT_BACKUP_SECTORS = 33  # the backup GPT header and entries at the end of the disk


class PlanError(RuntimeError):
    """The disk cannot hold the planned layout; the message says what is missing."""


@dataclass(frozen=True)
class RootPartition:
    """Where the root filesystem lives: /dev/<disk>, its partition number and device."""

    disk: str
    number: int
    device: str


@dataclass(frozen=True)
class Plan:
    """The data partition to append (in the disk's sectors) and what the root partition becomes."""

    label: str
    sector_size: int
    data_start: int
    data_size: int
    root_end: int  # last sector the root partition will cover once grown

    def sfdisk_line(self, name: str) -> str:
        """Return the sfdisk script line that creates the data partition."""
        if self.label == "gpt":
            return f"start={self.data_start}, size={self.data_size}, type={GPT_LINUX}, name={name}\n"
        return f"start={self.data_start}, size={self.data_size}, type=83\n"


def partition_device(disk: str, number: int) -> str:
    """Return the device of partition `number` of disk (/dev/vda 3 -> /dev/vda3, /dev/mmcblk0 3 -> ...p3)."""
    return f"{disk}p{number}" if disk[-1].isdigit() else f"{disk}{number}"


def root_partition(sys_root: Path = Path("/sys"), dev: int | None = None) -> RootPartition:
    """Return the partition holding / (found through sysfs from the device number of /)."""
    dev = os.stat("/").st_dev if dev is None else dev
    block = (sys_root / "dev" / "block" / f"{os.major(dev)}:{os.minor(dev)}").resolve()
    number_file = block / "partition"
    if not number_file.is_file():
        raise PlanError(f"/ is on {block.name}, which is not a partition; cannot grow it or add a data partition")
    number = int(number_file.read_text().strip())
    disk = block.parent.name
    return RootPartition(disk=f"/dev/{disk}", number=number, device=f"/dev/{block.name}")


def read_table(disk: str) -> dict[str, Any]:
    """Return `sfdisk --json disk`'s partition table."""
    return json.loads(system.output(["sfdisk", "--json", disk]))["partitiontable"]


def disk_sectors(disk: str, sector_size: int) -> int:
    """Return the disk's size in its own sectors."""
    return int(system.output(["blockdev", "--getsize64", disk])) // sector_size


def _number(node: str) -> int:
    digits = ""
    for char in reversed(node):
        if not char.isdigit():
            break
        digits = char + digits
    return int(digits)


def find_partition(table: dict[str, Any], number: int) -> dict[str, Any]:
    """Return partition `number` of the table."""
    for part in table.get("partitions", []):
        if _number(part["node"]) == number:
            return part
    raise PlanError(f"partition {number} is not in the partition table of {table.get('device', '?')}")


def data_partition_after(table: dict[str, Any], root_number: int) -> dict[str, Any] | None:
    """Return the first partition that starts after the root partition, if there is one."""
    root = find_partition(table, root_number)
    root_end = root["start"] + root["size"] - 1
    later = [p for p in table.get("partitions", []) if p["start"] > root_end]
    return min(later, key=lambda p: p["start"]) if later else None


def plan(table: dict[str, Any], root_number: int, total_sectors: int, root_size: int, data_min_size: int) -> Plan:
    """Plan the data partition after the root partition, which grows towards root_size bytes (never shrinks)."""
    sector = int(table.get("sectorsize", 512))
    align = ALIGN // sector
    label = table["label"]
    root = find_partition(table, root_number)
    if data_partition_after(table, root_number) is not None:
        raise PlanError("a partition already follows the root partition; nothing to plan")
    if label == "gpt":
        # lastlba is where the (possibly relocated) backup header leaves off; never beyond the disk.
        last_usable = min(int(table.get("lastlba", total_sectors - GPT_BACKUP_SECTORS - 1)), total_sectors - 34)
    elif label == "dos":
        if len(table.get("partitions", [])) >= 4:
            raise PlanError("the MBR partition table already has four primary partitions; no room for the data one")
        last_usable = total_sectors - 1
    else:
        raise PlanError(f"partition table type {label!r} is not supported (gpt or dos)")
    current_end = root["start"] + root["size"] - 1
    min_data = _round_up(data_min_size // sector, align)
    # The highest the root partition may end so that an aligned data partition of min size still fits.
    latest_root_end = _round_down(last_usable + 1 - min_data, align) - 1
    if latest_root_end < current_end:
        free = (last_usable - current_end) * sector
        raise PlanError(
            f"the disk has {free // 2**20} MiB after the root partition; the data volume needs at least "
            f"{data_min_size // 2**20} MiB (data_min_size): use a larger disk or card"
        )
    wanted_end = root["start"] + _round_up(root_size // sector, align) - 1
    root_end = max(current_end, min(wanted_end, latest_root_end))
    if root_end < wanted_end:
        log.warning(
            "the disk is small: the root partition gets %d MiB instead of the planned %d MiB",
            (root_end - root["start"] + 1) * sector // 2**20,
            root_size // 2**20,
        )
    data_start = _round_up(root_end + 1, align)
    data_size = _round_down(last_usable + 1 - data_start, align)
    return Plan(label=label, sector_size=sector, data_start=data_start, data_size=data_size, root_end=data_start - 1)


def _round_up(value: int, step: int) -> int:
    return -(-value // step) * step


def _round_down(value: int, step: int) -> int:
    return value // step * step


def create_data_partition(root: RootPartition, root_size: int, data_min_size: int, name: str) -> str:
    """Append the data partition unless one follows the root partition; return its device."""
    table = read_table(root.disk)
    existing = data_partition_after(table, root.number)
    if existing is not None:
        log.info("data partition %s exists already", existing["node"])
        return existing["node"]
    if table["label"] == "gpt":
        # A raw image written to a larger disk has its backup GPT header in the middle: move it to the end.
        system.run(["sfdisk", "--no-reread", "--no-tell-kernel", "--relocate", "gpt-bak-std", root.disk])
        table = read_table(root.disk)
    total = disk_sectors(root.disk, int(table.get("sectorsize", 512)))
    layout = plan(table, root.number, total, root_size, data_min_size)
    mib = layout.data_size * layout.sector_size // 2**20
    log.info("appending the data partition at sector %d, %d MiB", layout.data_start, mib)
    # The disk is in use (/ is on it): do not ask the kernel to re-read the whole table, add the one partition.
    script = layout.sfdisk_line(name)
    system.run(["sfdisk", "--append", "--no-reread", "--no-tell-kernel", root.disk], input_text=script)
    created = data_partition_after(read_table(root.disk), root.number)
    if created is None:
        raise PlanError(f"sfdisk reported success but no partition follows {root.device}")
    system.run(["partx", "--add", "--nr", str(_number(created["node"])), root.disk], check=False)
    system.run(["udevadm", "settle", "--timeout=30"], check=False)
    return created["node"]


def grow_root(root: RootPartition) -> None:
    """Grow the root partition up to the next partition, then its ext4 filesystem, both online."""
    result = system.run(["growpart", root.disk, str(root.number)], check=False)
    # growpart exits 1 with NOCHANGE when there is nothing to grow: a resumed run after the grow.
    if result.returncode != 0 and "NOCHANGE" not in result.stdout + result.stderr:
        raise system.CommandFailed(f"growpart {root.disk} {root.number}: {(result.stderr or result.stdout).strip()}")
    system.run(["resize2fs", root.device])
