# SPDX-License-Identifier: GPL-3.0-or-later
"""The `appliance recording` commands: make the owner's key pair, register its public half, decrypt.

`keygen` and `decrypt` run on the owner's own machine: the private key never has to touch the
appliance. `set-key` registers the public key on the appliance; `list` shows what was recorded.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from appliance.recording import crypto


def _keygen(args: argparse.Namespace, cfg: dict[str, Any]) -> dict[str, str]:
    try:
        public = crypto.generate_key_file(args.out)
    except crypto.RecordingKeyError as exc:
        raise RuntimeError(str(exc)) from None
    return {
        "private_key_file": str(args.out),
        "public_key": public,
        "next": f"on the appliance: appliance recording set-key {public}",
    }


def _decrypt(args: argparse.Namespace, cfg: dict[str, Any]) -> dict[str, str]:
    if Path(args.output).exists():
        raise RuntimeError(f"{args.output}: already exists; refusing to overwrite")
    try:
        crypto.decrypt_file(args.input, args.output, args.key)
    except crypto.RecordingKeyError as exc:
        raise RuntimeError(str(exc)) from None
    return {"decrypted": str(args.output)}


def _set_key(args: argparse.Namespace, cfg: dict[str, Any]) -> dict[str, str]:
    from appliance.store.db import connect
    from appliance.store.repo import Store

    with connect(cfg["database"]["dsn"], autocommit=True) as conn:
        site = Store(conn, actor=args.managed_by).update_site(recording_key=args.public_key)
    return {"recording_key": site.recording_key}


def _list(args: argparse.Namespace, cfg: dict[str, Any]) -> list[dict[str, Any]]:
    root = Path(cfg["freeswitch"]["recordings_dir"])
    return [
        {"day": p.parent.name, "file": p.name, "bytes": p.stat().st_size}
        for p in sorted(root.glob(f"*/*{crypto.SUFFIX}"))
    ]


def add_commands(sub, cmd: Callable[..., argparse.ArgumentParser]) -> None:
    """Add the `appliance recording` actions; cmd(sub, name, handler, help) makes one (appliance.cli._cmd)."""
    p = cmd(sub, "keygen", _keygen, "make the owner's key pair (run it on the owner's machine, not the appliance)")
    p.add_argument("--out", type=Path, required=True, help="private key file to create (mode 0600)")
    p = cmd(sub, "decrypt", _decrypt, "decrypt a recording with the owner's private key file")
    p.add_argument("--key", type=Path, required=True, help="the owner's private key file (from keygen or age-keygen)")
    p.add_argument("input", type=Path, help="an encrypted recording (.wav.age)")
    p.add_argument("output", type=Path, help="where to write the audio (must not exist)")
    p = cmd(sub, "set-key", _set_key, "register the owner's public key; recordings are encrypted to it")
    p.add_argument("public_key", help="age1... (printed by keygen)")
    cmd(sub, "list", _list, "list the encrypted recordings in the data directory")
