# SPDX-License-Identifier: GPL-3.0-or-later
"""The encrypted data volume seen from outside a booted image: storage settings put in, state read back.

Shared by the x86_64 security test and the Raspberry Pi Tang test, which check the same unlock paths.
"""

from __future__ import annotations

import base64
import json
import subprocess
import time
from pathlib import Path

from pyrage import x25519

from appliance.storage import escrow
from images.disk import SECTOR, read_table
from tests.image.conftest import Guest
from tests.unit.storage.tangd import Tang


def tang_settings(tang: Tang, escrow: x25519.Identity) -> dict:
    """Return storage.yml for a box without a TPM: Tang on the host (10.0.2.2 from QEMU) and the hub's escrow key."""
    return {
        "tang_servers": [{"url": f"http://10.0.2.2:{tang.port}", "thp": tang.thumbprint}],
        "tang_wait": 60,
        "escrow_public_key": str(escrow.to_public()),
        "escrow_dir": "/var/lib/appliance-storage/escrow",
        "survival_dir": "/var/lib/appliance-storage/survival",
    }


def put_settings(disk: Path, settings: dict, mnt: Path) -> None:
    """Write /etc/appliance/storage.yml into the image copy's root filesystem (a loop mount at its offset)."""
    parts = read_table(disk)["partitions"]
    root = max(parts, key=lambda p: p["size"])
    mnt.mkdir(parents=True, exist_ok=True)
    offset, size = root["start"] * SECTOR, root["size"] * SECTOR
    subprocess.run(["mount", "-o", f"loop,offset={offset},sizelimit={size}", str(disk), str(mnt)], check=True)
    try:
        (mnt / "etc" / "appliance" / "storage.yml").write_text(json.dumps(settings, indent=2) + "\n")
    finally:
        subprocess.run(["umount", str(mnt)], check=True)


def status(guest: Guest) -> dict:
    return json.loads(guest.out("appliance storage status --json"))


def luks_device(guest: Guest) -> str:
    """Return the LUKS partition (a Tang box has no crypttab line: found by its header's label)."""
    return guest.out('lsblk -rpno PATH,FSTYPE,LABEL | awk \'$2=="crypto_LUKS" && $3=="appliance-data" {print $1}\'')


def recovery_key(guest: Guest, identity: x25519.Identity) -> str:
    """Open the recovery key the box sealed to the escrow key (as the hub would), from the box's escrow file."""
    uuid = guest.out(f"cryptsetup luksUUID {luks_device(guest)}")
    sealed = guest.out(f"base64 -w0 /var/lib/appliance-storage/escrow/{uuid}.age")
    return escrow.open_sealed(base64.b64decode(sealed), str(identity))


def bound_to_tang(guest: Guest) -> list[str]:
    """Return what is wrong with a volume that first boot should have bound to Tang (empty: nothing)."""
    wrong = []
    mode = guest.out("cat /var/lib/appliance/.storage-mode")
    if not mode.startswith("mode=tang"):
        wrong.append(f"storage mode is {mode!r}")
    device = luks_device(guest)
    if not device:
        return [*wrong, "no LUKS partition labelled appliance-data: " + guest.out("lsblk -rpno PATH,FSTYPE,LABEL")]
    dump = json.loads(guest.out(f"cryptsetup luksDump --dump-json-metadata {device}"))
    kinds = sorted(t["type"] for t in dump["tokens"].values())
    if kinds != ["clevis", "systemd-recovery"]:
        wrong.append(f"tokens are {kinds}")
    if len(dump["keyslots"]) != 2:
        wrong.append(f"the initial key's slot should be gone: slots {sorted(dump['keyslots'])}")
    for path, what in (
        ("/var/lib/appliance-firstboot/initial.key", "the initial key"),
        ("/root/appliance-recovery-key", "a plaintext recovery key"),
    ):
        if guest.run(f"test -e {path}", check=False).returncode == 0:
            wrong.append(f"{what} is still at {path}")
    if guest.run("grep -q '^appliance-data ' /etc/crypttab", check=False).returncode == 0:
        wrong.append("/etc/crypttab has an appliance-data line")
    return wrong


def reboot(guest: Guest, timeout: float) -> None:
    """Reboot, wait for SSH on the new boot, then for the unlock unit to finish either way."""
    boot_id = guest.out("cat /proc/sys/kernel/random/boot_id")
    guest.run("systemctl reboot", check=False)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        proc = guest.run("cat /proc/sys/kernel/random/boot_id", check=False, timeout=60)
        if proc.returncode == 0 and proc.stdout.strip() not in ("", boot_id):
            break
        time.sleep(10)
    else:
        raise AssertionError("the appliance did not come back over SSH after the reboot")
    guest.run(
        "timeout 900 sh -c 'until systemctl show -P ActiveState appliance-storage-unlock.service"
        " | grep -qx -e active -e failed; do sleep 3; done'",
        timeout=960,
    )
