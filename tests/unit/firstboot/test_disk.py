# SPDX-License-Identifier: GPL-3.0-or-later
"""Partition planning: recorded sfdisk tables, and the real sfdisk and growpart on disk image files."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from appliance.firstboot import disk

MIB = 2**20
GIB = 2**30
SECTORS_PER_GIB = GIB // 512

# An x86_64 image (ESP + 1 GiB root) written to an 8 GiB disk, backup GPT header relocated.
GPT = {
    "label": "gpt",
    "device": "/dev/vda",
    "unit": "sectors",
    "firstlba": 2048,
    "lastlba": 16777182,
    "sectorsize": 512,
    "partitions": [
        {"node": "/dev/vda1", "start": 2048, "size": 1048576, "type": "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"},
        {"node": "/dev/vda2", "start": 1050624, "size": 2097152, "type": disk.GPT_LINUX, "name": "root"},
    ],
}
# A Raspberry Pi image (FAT firmware + 600 MiB root) written to a 16 GiB card.
DOS = {
    "label": "dos",
    "device": "/dev/mmcblk0",
    "unit": "sectors",
    "sectorsize": 512,
    "partitions": [
        {"node": "/dev/mmcblk0p1", "start": 8192, "size": 524288, "type": "c"},
        {"node": "/dev/mmcblk0p2", "start": 532480, "size": 1228800, "type": "83"},
    ],
}


def test_partition_device_names():
    assert disk.partition_device("/dev/vda", 3) == "/dev/vda3"
    assert disk.partition_device("/dev/sda", 3) == "/dev/sda3"
    assert disk.partition_device("/dev/mmcblk0", 3) == "/dev/mmcblk0p3"
    assert disk.partition_device("/dev/nvme0n1", 3) == "/dev/nvme0n1p3"


def test_gpt_root_grows_to_its_planned_size_and_data_takes_the_rest():
    plan = disk.plan(GPT, 2, 8 * SECTORS_PER_GIB, 4 * GIB, 1 * GIB)
    root_start = 1050624
    assert plan.root_end == root_start + 4 * SECTORS_PER_GIB - 1
    assert plan.data_start == plan.root_end + 1
    assert plan.data_start % (MIB // 512) == 0
    assert plan.data_start + plan.data_size - 1 <= GPT["lastlba"]
    assert plan.data_size % (MIB // 512) == 0
    assert plan.data_size * 512 > 3 * GIB  # 8 GiB - ESP - 4 GiB root
    assert plan.sfdisk_line("appliance-data") == (
        f"start={plan.data_start}, size={plan.data_size}, type={disk.GPT_LINUX}, name=appliance-data\n"
    )


def test_dos_card_gets_a_third_primary_partition():
    plan = disk.plan(DOS, 2, 16 * SECTORS_PER_GIB, 4 * GIB, 1 * GIB)
    assert plan.label == "dos"
    assert plan.data_start == 532480 + 4 * SECTORS_PER_GIB
    assert plan.data_start + plan.data_size <= 16 * SECTORS_PER_GIB
    assert plan.sfdisk_line("ignored") == f"start={plan.data_start}, size={plan.data_size}, type=83\n"


def test_a_small_disk_shrinks_the_planned_root_but_keeps_the_minimum_data_size(caplog):
    table = json.loads(json.dumps(GPT))
    table["lastlba"] = 4 * SECTORS_PER_GIB - 34
    plan = disk.plan(table, 2, 4 * SECTORS_PER_GIB, 4 * GIB, 1 * GIB)
    assert plan.data_size * 512 >= 1 * GIB
    assert plan.root_end < 1050624 + 4 * SECTORS_PER_GIB - 1
    assert "the disk is small" in caplog.text


def test_a_root_larger_than_planned_never_shrinks():
    table = json.loads(json.dumps(GPT))
    table["partitions"][1]["size"] = 5 * SECTORS_PER_GIB
    plan = disk.plan(table, 2, 8 * SECTORS_PER_GIB, 4 * GIB, 1 * GIB)
    assert plan.root_end == 1050624 + 5 * SECTORS_PER_GIB - 1


def test_a_disk_without_room_for_the_data_volume_is_refused():
    table = json.loads(json.dumps(GPT))
    table["lastlba"] = 3 * SECTORS_PER_GIB // 2
    with pytest.raises(disk.PlanError, match="needs at least 1024 MiB"):
        disk.plan(table, 2, 3 * SECTORS_PER_GIB // 2 + 34, 4 * GIB, 1 * GIB)


def test_an_existing_data_partition_is_found_and_never_planned_again():
    table = json.loads(json.dumps(GPT))
    table["partitions"].append({"node": "/dev/vda3", "start": 9439232, "size": 7335936, "name": "appliance-data"})
    assert disk.data_partition_after(table, 2)["node"] == "/dev/vda3"
    assert disk.data_partition_after(GPT, 2) is None
    with pytest.raises(disk.PlanError, match="already follows"):
        disk.plan(table, 2, 8 * SECTORS_PER_GIB, 4 * GIB, 1 * GIB)


def test_a_full_mbr_is_refused():
    table = json.loads(json.dumps(DOS))
    table["partitions"] += [
        {"node": "/dev/mmcblk0p3", "start": 100, "size": 10, "type": "83"},
        {"node": "/dev/mmcblk0p4", "start": 200, "size": 10, "type": "83"},
    ]
    with pytest.raises(disk.PlanError, match="four primary"):
        disk.plan(table, 2, 16 * SECTORS_PER_GIB, 4 * GIB, 1 * GIB)


def test_root_partition_is_found_through_sysfs(tmp_path: Path):
    part = tmp_path / "devices" / "pci0000:00" / "virtio2" / "block" / "vda" / "vda2"
    part.mkdir(parents=True)
    (part / "partition").write_text("2\n")
    (tmp_path / "dev" / "block").mkdir(parents=True)
    (tmp_path / "dev" / "block" / "254:2").symlink_to(part)
    root = disk.root_partition(tmp_path, os.makedev(254, 2))
    assert root == disk.RootPartition(disk="/dev/vda", number=2, device="/dev/vda2")


def test_a_root_that_is_not_a_partition_is_refused(tmp_path: Path):
    whole = tmp_path / "devices" / "virtual" / "block" / "vda"
    whole.mkdir(parents=True)
    (tmp_path / "dev" / "block").mkdir(parents=True)
    (tmp_path / "dev" / "block" / "254:0").symlink_to(whole)
    with pytest.raises(disk.PlanError, match="not a partition"):
        disk.root_partition(tmp_path, os.makedev(254, 0))


needs_tools = pytest.mark.skipif(
    not (shutil.which("sfdisk") and shutil.which("growpart")),
    reason="sfdisk (fdisk) and growpart (cloud-guest-utils) are needed",
)


def _sfdisk(image: Path, script: str) -> None:
    subprocess.run(["sfdisk", "-q", str(image)], input=script, text=True, check=True, capture_output=True)


def _table(image: Path) -> dict:
    return json.loads(subprocess.run(["sfdisk", "--json", str(image)], capture_output=True, check=True).stdout)[
        "partitiontable"
    ]


@needs_tools
def test_the_plan_applied_by_sfdisk_and_growpart_to_an_image_written_to_a_larger_disk(tmp_path: Path):
    image = tmp_path / "disk.img"
    with image.open("wb") as fh:
        fh.truncate(2 * GIB)
    _sfdisk(image, "label: gpt\nstart=2048, size=512MiB, type=U\nsize=1GiB, type=L, name=root\n")
    with image.open("r+b") as fh:
        fh.truncate(8 * GIB)  # `dd` of the image onto a larger disk: the backup GPT header is now mid-disk
    subprocess.run(["sfdisk", "--relocate", "gpt-bak-std", str(image)], check=True, capture_output=True)
    table = _table(image)
    plan = disk.plan(table, 2, 8 * SECTORS_PER_GIB, 4 * GIB, 1 * GIB)
    subprocess.run(
        ["sfdisk", "--append", "--no-reread", "--no-tell-kernel", str(image)],
        input=plan.sfdisk_line("appliance-data"),
        text=True,
        check=True,
        capture_output=True,
    )
    data = disk.data_partition_after(_table(image), 2)
    assert data is not None
    assert (data["start"], data["size"], data["name"]) == (plan.data_start, plan.data_size, "appliance-data")
    subprocess.run(["growpart", str(image), "2"], check=True, capture_output=True)
    root = disk.find_partition(_table(image), 2)
    assert root["start"] + root["size"] - 1 == plan.root_end
    again = subprocess.run(["growpart", str(image), "2"], capture_output=True, text=True)
    assert again.returncode == 1 and "NOCHANGE" in again.stdout  # what grow_root treats as done
