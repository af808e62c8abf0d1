# SPDX-License-Identifier: GPL-3.0-or-later
"""Load an image definition: images/common.yml merged with images/<target>.yml."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from images import DEFINITIONS

TARGETS = ("x86_64", "rpi")


@dataclass(frozen=True)
class Target:
    """Everything the builder needs to know about one target."""

    name: str
    description: str
    arch: str
    suite: str
    snapshot: str
    mirror: str
    security_mirror: str
    runtime_mirror: str
    runtime_security_mirror: str
    components: tuple[str, ...]
    variant: str
    packages: tuple[str, ...]
    dpkg_exclude: tuple[str, ...]
    dpkg_include: tuple[str, ...]
    dpkg_exclude_product: tuple[str, ...]
    loader: str
    cmdline: str
    table: str
    boot_size_mib: int
    boot_label: str
    boot_mount: str
    root_label: str
    root_headroom_mib: int
    imager: dict = field(default_factory=dict)


def load(name: str, definitions: Path = DEFINITIONS) -> Target:
    """Return the target `name`, or raise ValueError naming the known ones."""
    if name not in TARGETS:
        raise ValueError(f"unknown target {name!r}: choose one of {', '.join(TARGETS)}")
    common = yaml.safe_load((definitions / "common.yml").read_text())
    own = yaml.safe_load((definitions / f"{name}.yml").read_text())
    debian = common["debian"]
    boot, disk = own["boot"], own["disk"]
    return Target(
        name=own["name"],
        description=own["description"],
        arch=own["arch"],
        suite=debian["suite"],
        snapshot=str(debian.get("snapshot") or ""),
        mirror=debian["mirror"],
        security_mirror=debian["security_mirror"],
        runtime_mirror=debian["runtime_mirror"],
        runtime_security_mirror=debian["runtime_security_mirror"],
        components=tuple(own.get("components", debian["components"])),
        variant=common["variant"],
        # the target's packages after the common ones, duplicates dropped, order kept (it is part of the key)
        packages=tuple(dict.fromkeys([*common["packages"], *own.get("packages", [])])),
        dpkg_exclude=tuple(common.get("dpkg_exclude", [])),
        dpkg_include=tuple(common.get("dpkg_include", [])),
        dpkg_exclude_product=tuple(common.get("dpkg_exclude_product", [])),
        loader=boot["loader"],
        cmdline=boot.get("cmdline", ""),
        table=disk["table"],
        boot_size_mib=int(disk["boot_partition"]["size_mib"]),
        boot_label=disk["boot_partition"]["label"],
        boot_mount=disk["boot_partition"]["mount"],
        root_label=disk["root_label"],
        root_headroom_mib=int(disk["root_headroom_mib"]),
        imager=own.get("imager", {}),
    )
