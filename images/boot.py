# SPDX-License-Identifier: GPL-3.0-or-later
"""Make a root filesystem bootable: fstab, and GRUB on the ESP (x86_64) or raspi-firmware's files (rpi)."""

from __future__ import annotations

import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

from images.progress import BuildError
from images.rootfs import chroot_run
from images.target import Target

# GRUB modules built into BOOTX64.EFI: everything the boot needs, so no module directory is read from disk
GRUB_MODULES = [
    *("part_gpt", "part_msdos", "fat", "ext2", "search", "search_fs_uuid", "search_label", "configfile"),
    *("normal", "linux", "boot", "echo", "test", "gzio", "all_video", "efi_gop", "font", "serial", "terminal"),
    "sleep",
]
GRUB_BUILD_PACKAGES = ("grub-efi-amd64-bin", "grub-common")


@dataclass(frozen=True)
class Ids:
    """The identifiers a build gives its filesystems and partitions (new ones each build)."""

    root_uuid: str
    boot_volume_id: str  # FAT volume ID, 8 hex digits; shows as XXXX-XXXX
    disk_id: str  # GPT disk GUID, or the MBR id (8 hex digits)
    boot_partuuid: str
    root_partuuid: str

    @classmethod
    def new(cls, table: str) -> Ids:
        """Return fresh random identifiers."""
        return cls(
            root_uuid=str(uuid.uuid4()),
            boot_volume_id=uuid.uuid4().hex[:8].upper(),
            disk_id=str(uuid.uuid4()) if table == "gpt" else uuid.uuid4().hex[:8],
            boot_partuuid=str(uuid.uuid4()),
            root_partuuid=str(uuid.uuid4()),
        )

    @property
    def boot_fs_uuid(self) -> str:
        """Return the FAT volume ID as udev shows it (XXXX-XXXX)."""
        return f"{self.boot_volume_id[:4]}-{self.boot_volume_id[4:]}"


def fstab(target: Target, ids: Ids) -> str:
    """Return /etc/fstab: root and the boot partition (first boot adds the data volume)."""
    if target.table == "gpt":
        root, boot = f"UUID={ids.root_uuid}", f"UUID={ids.boot_fs_uuid}"
    else:  # raspi-firmware's cmdline.txt and Debian's Pi images go by label
        root, boot = f"LABEL={target.root_label}", f"LABEL={target.boot_label}"
    return (
        "# <file system> <mount point> <type> <options> <dump> <pass>\n"
        "# written by the image builder (images/boot.py); first boot adds the data volume\n"
        f"{root} / ext4 defaults,noatime,errors=remount-ro 0 1\n"
        f"{boot} {target.boot_mount} vfat defaults,noatime,umask=0077,nofail 0 2\n"
    )


def configure_defaults(rootdir: Path, target: Target) -> None:
    """Set what kernel hooks read before any package (re)installs a kernel or initramfs."""
    if target.loader == "raspi-firmware":
        # root by label (the card may be mmcblk0 or a USB disk); consoles fixed, not probed in the chroot;
        # CMA=0 leaves the size to the device tree (a cma= on the Pi 4 command line can stop it booting)
        (rootdir / "etc/default/raspi-firmware").write_text(
            "# written by the image builder (images/boot.py)\n"
            f'ROOTPART="LABEL={target.root_label}"\n'
            'CONSOLES="ttyS1,115200 tty0"\n'
            "CMA=0\n"
        )


def prepare(rootdir: Path, target: Target, ids: Ids, stage: Path, log: Path) -> None:
    """Write fstab and fill `stage` with the boot partition's files; /boot's mount point is left empty."""
    (rootdir / "etc/fstab").write_text(fstab(target, ids))
    if stage.exists():
        shutil.rmtree(stage)
    stage.mkdir(parents=True)
    if target.loader == "grub-efi":
        _grub_efi(rootdir, target, ids, stage, log)
    elif target.loader == "raspi-firmware":
        _raspi_firmware(rootdir, target, stage, log)
    else:
        raise BuildError(f"unknown boot loader {target.loader!r} in images/{target.name}.yml")
    mount_point = rootdir / target.boot_mount.lstrip("/")
    mount_point.mkdir(parents=True, exist_ok=True)
    mount_point.chmod(0o700)


def grub_cfg(target: Target, ids: Ids, kernel: str, initrd: str) -> str:
    """Return /boot/grub/grub.cfg: one entry booting the kernel symlinks, on screen and serial."""
    return f"""\
# written by the image builder (images/boot.py). It boots the /vmlinuz and /initrd.img symlinks, which
# Debian moves on each kernel upgrade, so it never needs regenerating (no update-grub on this system).
serial --unit=0 --speed=115200
terminal_input console serial
terminal_output console serial
set timeout=2
set default=0
menuentry "FreeSWITCH Carrier Appliance" {{
    search --no-floppy --fs-uuid --set=root {ids.root_uuid}
    linux {kernel} root=UUID={ids.root_uuid} {target.cmdline}
    initrd {initrd}
}}
menuentry "FreeSWITCH Carrier Appliance (previous kernel)" {{
    search --no-floppy --fs-uuid --set=root {ids.root_uuid}
    linux {kernel}.old root=UUID={ids.root_uuid} {target.cmdline}
    initrd {initrd}.old
}}
"""


def _grub_efi(rootdir: Path, target: Target, ids: Ids, stage: Path, log: Path) -> None:
    for link in ("vmlinuz", "initrd.img"):
        if not (rootdir / link).exists():
            raise BuildError(f"/{link} is missing in the root filesystem: is a linux-image package installed?")
    grub_dir = rootdir / "boot/grub"
    grub_dir.mkdir(parents=True, exist_ok=True)
    (grub_dir / "grub.cfg").write_text(grub_cfg(target, ids, "/vmlinuz", "/initrd.img"))
    # The embedded config only finds the root filesystem and hands over to its grub.cfg.
    (rootdir / "tmp/grub-embedded.cfg").write_text(
        f"search --no-floppy --fs-uuid --set=root {ids.root_uuid}\n"
        "set prefix=($root)/boot/grub\n"
        "configfile ($root)/boot/grub/grub.cfg\n"
    )
    chroot_run(
        rootdir,
        "grub-mkimage -O x86_64-efi -d /usr/lib/grub/x86_64-efi -p /boot/grub "
        f"-c /tmp/grub-embedded.cfg -o /tmp/BOOTX64.EFI {' '.join(GRUB_MODULES)}",
        log,
        what="grub-mkimage",
    )
    efi_boot = stage / "EFI/BOOT"
    efi_boot.mkdir(parents=True)
    shutil.move(rootdir / "tmp/BOOTX64.EFI", efi_boot / "BOOTX64.EFI")
    (rootdir / "tmp/grub-embedded.cfg").unlink()
    # GRUB's tools were needed only to make BOOTX64.EFI (36 MiB): nothing on the box regenerates it
    chroot_run(rootdir, f"dpkg --purge {' '.join(GRUB_BUILD_PACKAGES)}", log, what="dpkg --purge grub")


def _raspi_firmware(rootdir: Path, target: Target, stage: Path, log: Path) -> None:
    configure_defaults(rootdir, target)
    # regenerate config.txt and cmdline.txt (and copy the newest kernel, initrd and device trees)
    chroot_run(
        rootdir,
        "DEB_MAINT_PARAMS=configure /etc/kernel/postinst.d/z50-raspi-firmware",
        log,
        what="raspi-firmware kernel hook",
    )
    firmware = rootdir / target.boot_mount.lstrip("/")
    cmdline = (firmware / "cmdline.txt").read_text()
    if f"root=LABEL={target.root_label}" not in cmdline:
        raise BuildError(f"raspi-firmware wrote an unexpected cmdline.txt: {cmdline.strip()}")
    for entry in firmware.iterdir():
        shutil.move(entry, stage / entry.name)
