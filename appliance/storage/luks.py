# SPDX-License-Identifier: GPL-3.0-or-later
"""The LUKS2 header's key slots and tokens, and the three ways to open it: TPM2, Tang (Clevis), keyfile."""

from __future__ import annotations

import json
import os
from pathlib import Path

from appliance.firstboot import system
from appliance.storage.settings import TangServer

TPM_DEVICE = Path("/dev/tpmrm0")


def tokens(device: str) -> list[str]:
    """Return the types of the header's tokens (systemd-tpm2, systemd-recovery, clevis, ...)."""
    dump = system.output(["cryptsetup", "luksDump", "--dump-json-metadata", device])
    return [t.get("type", "") for t in json.loads(dump).get("tokens", {}).values()]


def clevis_pins(device: str) -> list[str]:
    """Return the Clevis pins bound to the header (e.g. ["tang"])."""
    out = system.run(["clevis", "luks", "list", "-d", device], check=False).stdout
    # lines like: 1: tang '{"url":"http://10.0.2.2:7500"}'
    return [line.split()[1] for line in out.splitlines() if ":" in line and len(line.split()) > 1]


def bind_tang(device: str, key: str, servers: tuple[TangServer, ...]) -> None:
    """Add a key slot that any one of the Tang servers can unlock (Clevis, sss with threshold 1)."""
    if not servers:
        raise ValueError("no Tang server configured (tang_servers)")
    if len(servers) == 1:
        pin, config = "tang", servers[0].clevis_config()
    else:
        pin, config = "sss", {"t": 1, "pins": {"tang": [s.clevis_config() for s in servers]}}
    trust = [] if all(s.thp for s in servers) else ["-y"]  # -y: trust the advertisement (no thumbprint given)
    # -k -: the existing key comes on standard input, never on the command line or in the log
    system.run(["clevis", "luks", "bind", *trust, "-k", "-", "-d", device, pin, json.dumps(config)], input_text=key)


def add_recovery_key(device: str, key: str) -> str:
    """Add a systemd recovery key slot, opened by the existing key; return the recovery key."""
    env = {**os.environ, "PASSWORD": key}
    return system.output_env(["systemd-cryptenroll", "--recovery-key", device], env)


def remove_key(device: str, key: str) -> None:
    """Remove the key slot that key opens (the initial key, once the lasting slots exist)."""
    system.run(["cryptsetup", "luksRemoveKey", "--batch-mode", "--key-file", "-", device], input_text=key)


def open_tpm2(device: str, name: str) -> None:
    """Open through the TPM2 token; never ask a person (headless)."""
    system.run(
        ["/lib/systemd/systemd-cryptsetup", "attach", name, device, "-", "tpm2-device=auto,headless=true,discard"],
        timeout=120,
    )


def open_tang(device: str, name: str) -> None:
    """Open through the Clevis binding (asks the Tang server)."""
    system.run(["clevis", "luks", "unlock", "-d", device, "-n", name], timeout=60)


def open_keyfile(device: str, name: str, keyfile: Path) -> None:
    """Open with a keyfile (lab mode, or a recovery key written to a file in /run)."""
    system.run(["cryptsetup", "open", "--allow-discards", "--key-file", str(keyfile), device, name])


def key_opens(device: str, key: str) -> bool:
    """Return whether key opens a slot of the header, without opening the volume."""
    args = ["cryptsetup", "open", "--test-passphrase", "--key-file", "-", device]
    proc = system.run(args, input_text=key, check=False)
    return proc.returncode == 0


def find_device(name: str, label: str = "", crypttab: Path = Path("/etc/crypttab")) -> str:
    """Return the block device of mapping `name`: its crypttab line, else the LUKS header labelled `label`.

    A Tang box has no crypttab line (appliance-storage-unlock.service opens it); first boot labels the
    LUKS2 header with the data label.
    """
    if crypttab.exists():
        for line in crypttab.read_text(encoding="utf-8").splitlines():
            words = line.split()
            if len(words) >= 2 and not line.lstrip().startswith("#") and words[0] == name:
                source = words[1]
                if source.startswith("UUID="):
                    return f"/dev/disk/by-uuid/{source.removeprefix('UUID=')}"
                return source
    if label:
        out = system.run(["lsblk", "-rpno", "PATH,FSTYPE,LABEL"], check=False).stdout
        for row in out.splitlines():
            words = row.split()
            if len(words) == 3 and words[1] == "crypto_LUKS" and words[2] == label:
                return words[0]
    raise LookupError(f"{crypttab}: no line for {name}, and no LUKS header labelled {label!r}")
