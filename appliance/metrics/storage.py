# SPDX-License-Identifier: GPL-3.0-or-later
"""The data volume: mounted, encrypted (dm-crypt underneath), free space, and the storage mode marker.

Encryption is read from the kernel, not taken from the marker: the mount's block device, or any
device below it (LVM on LUKS), must be a dm-crypt mapping (`/sys/dev/block/M:m/dm/uuid` starting
with `CRYPT-`). The marker only says how the storage package set the volume up.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from prometheus_client.core import GaugeMetricFamily, Metric

_MARKER_TEXT = re.compile(r"[^A-Za-z0-9_.:+-]")
_MAX_DEPTH = 8  # dm stacks are two or three deep; a loop in a broken sysfs must still end


@dataclass(frozen=True)
class Mount:
    """One line of /proc/mounts."""

    device: str
    mountpoint: str
    fstype: str


def find_mount(mountpoint: str, mounts_text: str) -> Mount | None:
    """Return the mount at mountpoint (the last one, which hides any earlier), or None."""
    found = None
    for line in mounts_text.splitlines():
        fields = line.split()
        if len(fields) >= 3 and _unescape(fields[1]) == mountpoint:
            found = Mount(_unescape(fields[0]), mountpoint, fields[2])
    return found


def device_number(device: str) -> tuple[int, int] | None:
    """Return the (major, minor) of a block device node, or None if it is not one."""
    try:
        rdev = os.stat(device).st_rdev
    except OSError:
        return None
    return (os.major(rdev), os.minor(rdev)) if rdev else None


def mounted_device(mountpoint: str) -> tuple[int, int] | None:
    """Return the (major, minor) of the block device the filesystem at mountpoint lives on."""
    try:
        dev = os.stat(mountpoint).st_dev
    except OSError:
        return None
    # Major 0: an anonymous device (tmpfs, overlay, btrfs subvolume), never a dm-crypt mapping.
    return (os.major(dev), os.minor(dev)) if os.major(dev) else None


def is_dm_crypt(number: tuple[int, int], sys_root: Path = Path("/sys")) -> bool:
    """Tell whether the block device, or one it is stacked on, is a dm-crypt mapping."""
    return _crypt_below(sys_root / "dev" / "block" / f"{number[0]}:{number[1]}", 0)


def _crypt_below(node: Path, depth: int) -> bool:
    if depth > _MAX_DEPTH:
        return False
    try:
        if (node / "dm" / "uuid").read_text().startswith("CRYPT-"):
            return True
    except OSError:
        pass
    slaves = node / "slaves"
    try:
        below = list(slaves.iterdir())
    except OSError:
        return False
    return any(_crypt_below(slave, depth + 1) for slave in below)


def _unescape(field: str) -> str:
    """Undo /proc/mounts' octal escapes (a space is \\040)."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


class StorageSource:
    """Report whether the data volume is mounted and encrypted, how full it is and its mode."""

    name = "storage"

    def __init__(
        self,
        mountpoint: str | Path,
        marker: str | Path,
        proc_mounts: Path = Path("/proc/mounts"),
        sys_root: Path = Path("/sys"),
        device_number: Callable[[str], tuple[int, int] | None] = device_number,
        statvfs: Callable[[str], os.statvfs_result] = os.statvfs,
    ):
        self.mountpoint = str(mountpoint)
        self.marker = Path(marker)
        self.proc_mounts = proc_mounts
        self.sys_root = sys_root
        self.device_number = device_number
        self.statvfs = statvfs

    def collect(self) -> Iterator[Metric]:
        """Yield the volume's state."""
        mount = find_mount(self.mountpoint, self.proc_mounts.read_text())
        number = self.device_number(mount.device) if mount else None
        if mount and number is None:
            # The services run with PrivateDevices=: no /dev/mapper node to stat, but the mounted
            # filesystem still names its block device.
            number = mounted_device(self.mountpoint)
        encrypted = number is not None and is_dm_crypt(number, self.sys_root)
        labels = ["mountpoint"]
        yield _gauge(
            "appliance_storage_mounted", "1 if the data volume is mounted.", labels, self.mountpoint, mount is not None
        )
        yield _gauge(
            "appliance_storage_encrypted",
            "1 if the data volume is mounted from a dm-crypt (LUKS) device.",
            labels,
            self.mountpoint,
            encrypted,
        )
        if os.path.isdir(self.mountpoint):
            vfs = self.statvfs(self.mountpoint)
            yield _gauge(
                "appliance_storage_free_bytes",
                "Bytes free on the data volume for the appliance (not counting root's reserve).",
                labels,
                self.mountpoint,
                vfs.f_bavail * vfs.f_frsize,
            )
            yield _gauge(
                "appliance_storage_size_bytes",
                "Size of the data volume.",
                labels,
                self.mountpoint,
                vfs.f_blocks * vfs.f_frsize,
            )
        yield _gauge(
            "appliance_storage_mode_info",
            "The storage mode the storage package recorded in its marker file ('none' without a marker).",
            ["mode"],
            self._mode(),
            1,
        )

    def _mode(self) -> str:
        try:
            first = self.marker.read_text(encoding="utf-8", errors="replace").strip().splitlines()
        except (FileNotFoundError, NotADirectoryError):
            return "none"
        # The label is free text from a file: keep it short and tame so it cannot grow the series.
        return _MARKER_TEXT.sub("_", first[0].strip())[:64] if first else "none"


def _gauge(name: str, documentation: str, labels: list[str], label: str, value: float) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, documentation, labels=labels)
    family.add_metric([label], float(value))
    return family
