# SPDX-License-Identifier: GPL-3.0-or-later
"""Open and mount the data volume at boot without a person, or boot degraded and say why.

Run by appliance-storage-unlock.service after first boot and the network, before the volume's mount
and the services that need it. Tries, in order, what the header and the box offer: the TPM2, the Tang
servers (for up to tang_wait seconds: the network may be late), the lab keyfile. Records the outcome in
the status file; on failure starts FreeSWITCH on its survival configuration.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from appliance.firstboot import system
from appliance.storage import luks, status, survival
from appliance.storage.settings import StorageSettings

log = logging.getLogger(__name__)

SURVIVAL_UNIT = "appliance-survival.service"


def mount(data_dir: Path, via_systemd: bool = False) -> None:
    """Mount the volume by its fstab line; via_systemd: through its mount unit, whose job may be waiting."""
    if os.path.ismount(data_dir):
        return
    if via_systemd:
        # Never at boot: the mount unit is ordered after the unlock unit, so waiting for it there would
        # wait for ourselves.
        unit = system.run(["systemd-escape", "-p", "--suffix=mount", str(data_dir)], check=False).stdout.strip()
        if unit:
            system.run(["systemctl", "start", unit], check=False, timeout=120)
    if not os.path.ismount(data_dir):
        system.run(["mount", str(data_dir)])


def _attempt(method: str, fn: Callable[[], None]) -> dict[str, str]:
    try:
        fn()
    except Exception as exc:  # any failure of one method is reported and the next is tried
        return {"method": method, "result": f"failed: {str(exc)[-300:]}"}
    return {"method": method, "result": "ok"}


def _tang_with_retries(device: str, name: str, wait: float, clock: Callable[[], float], pause: float) -> None:
    deadline = clock() + wait
    while True:
        try:
            luks.open_tang(device, name)
            return
        except Exception:
            if clock() >= deadline:
                raise
        time.sleep(pause)


def open_volume(
    settings: StorageSettings,
    device: str,
    tpm_device: Path = luks.TPM_DEVICE,
    clock: Callable[[], float] = time.monotonic,
    pause: float = 3.0,
) -> tuple[str, list[dict[str, str]]]:
    """Open the volume by the first method that works; return (method or "", what was tried)."""
    name = settings.luks_name
    if Path(f"/dev/mapper/{name}").exists():
        return "at-boot", [
            {"method": "at-boot", "result": "ok (opened before this service: by first boot, or by crypttab)"}
        ]
    kinds = luks.tokens(device)
    tried: list[dict[str, str]] = []
    plan: list[tuple[str, Callable[[], None]]] = []
    if "systemd-tpm2" in kinds:
        if tpm_device.exists():
            plan.append(("tpm2", lambda: luks.open_tpm2(device, name)))
        else:
            missing = f"failed: the volume has a TPM2 slot but {tpm_device} is missing"
            tried.append({"method": "tpm2", "result": missing})
    if "clevis" in kinds:
        plan.append(("tang", lambda: _tang_with_retries(device, name, settings.tang_wait, clock, pause)))
    if settings.keyfile.exists():
        plan.append(("keyfile", lambda: luks.open_keyfile(device, name, settings.keyfile)))
    for method, fn in plan:
        result = _attempt(method, fn)
        tried.append(result)
        if result["result"] == "ok":
            return method, tried
    return "", tried


def run(settings: StorageSettings, now: Callable[[], float] = time.time) -> dict[str, Any]:
    """Unlock and mount, or degrade; write and return the status record."""
    record: dict[str, Any] = {"checked_at": now(), "problems": [], "survival": False}
    try:
        device = luks.find_device(settings.luks_name, settings.data_label)
        method, tried = open_volume(settings, device)
    except (LookupError, OSError, system.CommandFailed) as exc:
        method, tried = "", [{"method": "header", "result": f"failed: {exc}"}]
    record.update(method=method, tried=tried)
    if method:
        try:
            mount(settings.data_dir)
        except system.CommandFailed as exc:
            record["problems"].append(f"unlocked but not mounted: {exc}")
            method = ""
    if method:
        record["state"] = status.UNLOCKED
        try:
            survival.refresh(settings.fsconf_current, settings.survival_dir)
        except (OSError, ValueError) as exc:
            record["problems"].append(f"survival configuration not refreshed: {exc}")
        status.write(settings.status_file, record)
        log.info("data volume unlocked (%s) and mounted at %s", method, settings.data_dir)
        return record
    record["state"] = status.DEGRADED
    record["problems"].append(
        "the data volume could not be unlocked ("
        + "; ".join(f"{t['method']}: {t['result']}" for t in tried)
        + "). Calls between phones work on the survival configuration; voicemail, recordings, the trunk, "
        "the console's data and CDR storage wait for the volume. Restore the TPM or the Tang server and "
        "reboot, or unlock with the escrowed recovery key: appliance storage unlock --recovery-key-file FILE"
    )
    if (settings.survival_dir / survival.CONF / "freeswitch.xml").exists():
        proc = system.run(["systemctl", "start", "--no-block", SURVIVAL_UNIT], check=False)
        record["survival"] = proc.returncode == 0
        if proc.returncode != 0:
            record["problems"].append(f"{SURVIVAL_UNIT} did not start: {proc.stderr.strip()[-300:]}")
    else:
        record["problems"].append(f"no survival configuration in {settings.survival_dir}: FreeSWITCH cannot start")
    status.write(settings.status_file, record)
    for line in record["problems"]:
        log.error("%s", line)
    return record


def unlock_with_recovery(settings: StorageSettings, recovery_key: str) -> dict[str, Any]:
    """Open the volume with the escrowed recovery key (a person's action), mount it, bring the services back."""
    device = luks.find_device(settings.luks_name, settings.data_label)
    if not luks.key_opens(device, recovery_key.strip()):
        raise RuntimeError(f"the recovery key does not open {device}: no key slot matches it")
    name = settings.luks_name
    if not Path(f"/dev/mapper/{name}").exists():
        args = ["cryptsetup", "open", "--allow-discards", "--key-file", "-", device, name]
        system.run(args, input_text=recovery_key.strip())
    system.run(["systemctl", "stop", SURVIVAL_UNIT], check=False)
    mount(settings.data_dir, via_systemd=True)
    # the services that need the volume failed or waited at boot: start what the box normally runs
    system.run(["systemctl", "start", "--no-block", "multi-user.target"], check=False)
    record = {
        "checked_at": time.time(),
        "state": status.UNLOCKED,
        "method": "recovery-key",
        "tried": [{"method": "recovery-key", "result": "ok"}],
        "problems": ["unlocked by hand with the recovery key: fix the TPM or Tang server before the next reboot"],
        "survival": False,
    }
    status.write(settings.status_file, record)
    return record
