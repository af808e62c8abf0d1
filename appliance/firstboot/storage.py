# SPDX-License-Identifier: GPL-3.0-or-later
"""The encrypted data volume: LUKS2 with a per-device random key, unlocked unattended at boot.

Unlock, as well as the platform allows: TPM2 (systemd-cryptenroll) when /dev/tpmrm0 exists,
otherwise "lab mode", a keyfile on the root filesystem, which anyone holding the disk can use. Lab
mode is flagged in <data>/.storage-mode and logged loudly. Tang/Clevis (boxes without a TPM, e.g.
the Raspberry Pi) and escrow of the recovery key to the hub belong to the security stack: see the
`escrow_recovery_key` hook.

Nothing here ever formats a device that already has a LUKS header or a filesystem.
"""

from __future__ import annotations

import logging
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from appliance.firstboot import system

log = logging.getLogger(__name__)

TPM_DEVICE = Path("/dev/tpmrm0")
MODE_FILE = ".storage-mode"
RECOVERY_FILE = Path("/root/appliance-recovery-key")
LAB_BANNER = (
    "LAB MODE: the data volume's key is a file on the root filesystem ({keyfile}). Anyone holding this "
    "disk or card can read every secret, recording and CDR on it. Use a box with a TPM2 (or, once the "
    "security stack has it, a Tang server) for anything but a lab."
)


@dataclass(frozen=True)
class Volume:
    """The data volume: its partition, mapping name, mount point and filesystem label."""

    device: str
    name: str
    mountpoint: Path
    label: str

    @property
    def mapper(self) -> str:
        """Return the unlocked device."""
        return f"/dev/mapper/{self.name}"


def choose_mode(wanted: str, tpm_device: Path = TPM_DEVICE, tang: bool = False) -> str:
    """Return tpm2, tang or lab for the wanted mode (auto: TPM2 when the box has one, else Tang if configured)."""
    if wanted == "auto":
        return "tpm2" if tpm_device.exists() else "tang" if tang else "lab"
    if wanted == "tang" and not tang:
        raise RuntimeError("storage_mode is tang but no tang_servers are set in /etc/appliance/storage.yml")
    if wanted == "tpm2" and not tpm_device.exists():
        raise RuntimeError(f"storage_mode is tpm2 but {tpm_device} does not exist: this box has no usable TPM2")
    return wanted


def crypttab_line(name: str, luks_uuid: str, mode: str, keyfile: Path) -> str:
    """Return the /etc/crypttab line that unlocks the volume at boot without a person."""
    # nofail: a volume that cannot unlock must not stop the box from booting (phones keep calling
    # each other on the degraded box; the security stack reports it).
    if mode == "tpm2":
        return f"{name} UUID={luks_uuid} none luks,discard,nofail,tpm2-device=auto\n"
    return f"{name} UUID={luks_uuid} {keyfile} luks,discard,nofail\n"


def fstab_line(mapper: str, mountpoint: Path, device_timeout: str = "90s") -> str:
    """Return the /etc/fstab line that mounts the unlocked volume."""
    return f"{mapper} {mountpoint} ext4 defaults,noatime,nofail,x-systemd.device-timeout={device_timeout} 0 2\n"


def ensure_line(path: Path, line: str, field: int) -> bool:
    """Put line into the table file at path, replacing a line with the same value in column `field`.

    Comments and other lines stay as they are; returns whether the file changed.
    """
    key = line.split()[field]
    old = path.read_text(encoding="utf-8").splitlines(keepends=True) if path.exists() else []
    new: list[str] = []
    placed = False
    for existing in old:
        words = existing.split()
        if not existing.lstrip().startswith("#") and len(words) > field and words[field] == key:
            if not placed:
                new.append(line)
                placed = True
            continue
        new.append(existing)
    if not placed:
        if new and not new[-1].endswith("\n"):
            new[-1] += "\n"
        new.append(line)
    if new == old:
        return False
    tmp = path.with_name(f".{path.name}.firstboot")
    tmp.write_text("".join(new), encoding="utf-8")
    os.chmod(tmp, path.stat().st_mode & 0o7777 if path.exists() else 0o644)
    os.replace(tmp, path)
    return True


def write_key(path: Path) -> str:
    """Create a random key file (0400, its folder 0700) unless it exists; return the key."""
    # 64 random bytes as hex text: usable as a keyfile by cryptsetup and as $PASSWORD by systemd-cryptenroll.
    if path.exists():
        return path.read_text(encoding="ascii")
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    key = secrets.token_hex(64)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o400)
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(key)  # no newline: cryptsetup reads the whole file as the key
        fh.flush()
        os.fsync(fh.fileno())
    return key


def mode_file_text(mode: str, keyfile: Path) -> str:
    """Return the content of <data>/.storage-mode (read by people, the console and the tests)."""
    lines = [f"mode={mode}"]
    if mode == "lab":
        lines += [f"keyfile={keyfile}", "warning=" + LAB_BANNER.format(keyfile=keyfile)]
    else:
        lines += [f"unlock={mode}", "recovery_key=escrowed (appliance storage status)"]
    return "\n".join(lines) + "\n"


def read_mode(data_dir: Path) -> str | None:
    """Return the unlock mode recorded in <data>/.storage-mode, or None before the volume exists."""
    path = data_dir / MODE_FILE
    if not path.exists():
        return None
    first = path.read_text(encoding="utf-8").splitlines()[:1]
    return first[0].removeprefix("mode=") if first else None


def is_luks(device: str) -> bool:
    """Return whether device has a LUKS header."""
    return system.run(["cryptsetup", "isLuks", device], check=False).returncode == 0


def luks_uuid(device: str) -> str:
    """Return the LUKS header's UUID."""
    return system.output(["cryptsetup", "luksUUID", device])


def format_luks(device: str, keyfile: Path, label: str) -> None:
    """Create the LUKS2 header with the key in keyfile (refuses a device that has one)."""
    if is_luks(device):
        raise RuntimeError(f"{device} already has a LUKS header; refusing to format it")
    # The key is 512 random bits: a slow key-derivation function adds nothing but boot time on
    # small boards, so PBKDF2 at its minimum is used for this slot.
    system.run(
        ["cryptsetup", "luksFormat", "--batch-mode", "--type", "luks2", "--label", label,
         "--pbkdf", "pbkdf2", "--pbkdf-force-iterations", "1000", "--key-file", str(keyfile), device],
    )  # fmt: skip


def unlock(volume: Volume, keyfile: Path | None) -> None:
    """Open the volume unless it is open: with keyfile if given, else through the TPM2."""
    if Path(volume.mapper).exists():
        return
    if keyfile is not None and keyfile.exists():
        system.run(["cryptsetup", "open", "--key-file", str(keyfile), volume.device, volume.name])
    else:
        system.run(["/lib/systemd/systemd-cryptsetup", "attach", volume.name, volume.device, "-", "tpm2-device=auto"])


def make_filesystem(volume: Volume) -> None:
    """Create the ext4 filesystem unless the unlocked volume holds one already."""
    probe = system.run(["blkid", "-p", "-o", "value", "-s", "TYPE", volume.mapper], check=False)
    if probe.returncode == 0:
        log.info("%s holds a %s filesystem already", volume.mapper, probe.stdout.strip() or "(unknown)")
        return
    if probe.returncode != 2:
        # 2 is blkid's "nothing found"; anything else is an error, and guessing here could wipe data.
        raise RuntimeError(f"blkid could not probe {volume.mapper} (exit {probe.returncode}); not making a filesystem")
    system.run(["mkfs.ext4", "-q", "-L", volume.label, "-m", "1", volume.mapper])


def enrol_tpm2(device: str, key: str, pcrs: str) -> str:
    """Seal a key slot to the TPM2, add a recovery key, drop the initial key; return the recovery key."""
    env = {**os.environ, "PASSWORD": key}  # the initial key reaches systemd-cryptenroll in its environment only
    pcr_option = [f"--tpm2-pcrs={pcrs}"] if pcrs else ["--tpm2-pcrs="]
    system.run(["systemd-cryptenroll", "--tpm2-device=auto", *pcr_option, device], env=env)
    recovery = system.output_env(["systemd-cryptenroll", "--recovery-key", device], env)
    # The initial key lived only in /run; with TPM2 and recovery slots in place it goes.
    system.run(["systemd-cryptenroll", "--wipe-slot=password", device], env=env)
    return recovery


def escrow_recovery_key(recovery_key: str, hub_url: str, path: Path = RECOVERY_FILE, luks_uuid: str = "") -> Path:
    """Hand the recovery key to the hub: sealed to the fleet's escrow key, else a root-only file."""
    from appliance.storage import provision
    from appliance.storage import settings as storage_settings

    stored = storage_settings.load()
    if stored.escrow_public_key and luks_uuid:
        sealed = provision.escrow_recovery_key(stored, luks_uuid, recovery_key)
        if sealed is not None:
            return sealed
    # Without the fleet's escrow key nothing can be sealed for the hub: a person must copy the file
    # somewhere safe and delete it (it opens the volume without the TPM).
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(recovery_key.strip() + "\n")
    log.warning(
        "recovery key of the data volume written to %s%s: copy it somewhere safe and delete the file",
        path,
        f" (no escrow key is configured, so nothing is sealed for {hub_url}: set cryptstore_escrow_public_key)"
        if hub_url
        else "",
    )
    return path
