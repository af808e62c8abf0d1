# SPDX-License-Identifier: GPL-3.0-or-later
"""`appliance storage ...`: the data volume's status, the boot-time unlock, recovery, the hub's escrow opener."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from appliance.storage import escrow, status, survival, unlock
from appliance.storage import settings as storage_settings


def _settings(args: argparse.Namespace) -> storage_settings.StorageSettings:
    return storage_settings.load(args.storage_config)


def _status(args: argparse.Namespace, cfg: Any) -> Any:
    result = status.storage_status(_settings(args))
    if not getattr(args, "json", False):
        print(status.describe(result))
        return None
    return result


def _unlock(args: argparse.Namespace, cfg: Any) -> Any:
    s = _settings(args)
    if args.recovery_key_file:
        key = sys.stdin.read() if str(args.recovery_key_file) == "-" else args.recovery_key_file.read_text()
        return unlock.unlock_with_recovery(s, key)
    return unlock.run(s)


def _survival_refresh(args: argparse.Namespace, cfg: Any) -> Any:
    s = _settings(args)
    # An apply that lands while the copy is made would be missed by the path unit (it is busy running
    # this): copy again until `current` stayed put for a whole copy, at most three times.
    for _ in range(3):
        before = s.fsconf_current.resolve()
        made = survival.refresh(s.fsconf_current, s.survival_dir)
        if s.fsconf_current.resolve() == before:
            break
    return {"survival": str(made)}


def _escrow_open(args: argparse.Namespace, cfg: Any) -> Any:
    """Hub side: print the recovery key in a sealed file, with the fleet's escrow private key."""
    key = escrow.open_sealed(args.sealed.read_bytes(), args.identity.read_text(encoding="utf-8"))
    print(key)
    return None


def add_commands(group: Any, cmd: Any) -> None:
    """Add the storage commands to the `appliance storage` group (cmd is appliance.cli._cmd)."""

    def leaf(name: str, handler: Any, help_text: str) -> argparse.ArgumentParser:
        p = cmd(group, name, handler, help_text)
        p.add_argument("--storage-config", type=Path, default=storage_settings.DEFAULT_PATH)
        return p

    leaf("status", _status, "is the data volume unlocked, how, and what is wrong")
    u = leaf("unlock", _unlock, "unlock and mount now (what the boot unit runs), or with the recovery key")
    u.add_argument("--recovery-key-file", type=Path, help="file holding the recovery key ('-': standard input)")
    leaf("survival-refresh", _survival_refresh, "copy the live FreeSWITCH configuration for degraded boots")
    e = leaf("escrow-open", _escrow_open, "hub: print the recovery key sealed in a file")
    e.add_argument("sealed", type=Path, help="the box's <luks uuid>.age")
    e.add_argument("--identity", type=Path, required=True, help="the fleet's escrow private key (AGE-SECRET-KEY-1...)")
