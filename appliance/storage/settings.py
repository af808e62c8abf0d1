# SPDX-License-Identifier: GPL-3.0-or-later
"""The storage settings: /etc/appliance/storage.yml (written by the cryptstore role) over the defaults."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from appliance.config import ConfigError

DEFAULT_PATH = Path("/etc/appliance/storage.yml")

DEFAULTS: dict[str, Any] = {
    "luks_name": "appliance-data",
    # The LUKS2 header's label (first boot's data_label): how a Tang box's volume is found.
    "data_label": "appliance-data",
    "data_dir": "/var/lib/appliance",
    "keyfile": "/etc/appliance/storage/data.key",
    # Tang servers (Clevis) for boxes without a TPM2: [{url: http://..., thp: <thumbprint>}]. An
    # empty thp trusts the server's advertisement on first use (the test's and a lab's choice only).
    "tang_servers": [],
    # How long boot waits for a Tang server (the network may come up late).
    "tang_wait": 60,
    # The fleet's escrow public key (age X25519, age1...): the recovery key is sealed to it, and
    # only the hub, holding the private half, can open it. Empty: the key stays in a root-only file.
    "escrow_public_key": "",
    # On the root filesystem: the sealed recovery key is useless without the hub's private key.
    "escrow_dir": "/var/lib/appliance-storage/escrow",
    "status_file": "/run/appliance/storage.json",
    # FreeSWITCH's survival configuration (root filesystem), used when the volume stays locked.
    "survival_dir": "/var/lib/appliance-storage/survival",
    "fsconf_current": "/var/lib/appliance/fsconf/current",
}


class StorageSettingsError(ConfigError):
    """A storage setting that cannot be used; the message names it."""


@dataclass(frozen=True)
class TangServer:
    """One Tang server: its URL and the thumbprint of its signing key (empty: trust on first use)."""

    url: str
    thp: str = ""

    def clevis_config(self) -> dict[str, str]:
        """Return the JSON configuration `clevis encrypt tang` takes."""
        return {"url": self.url, "thp": self.thp} if self.thp else {"url": self.url}


@dataclass(frozen=True)
class StorageSettings:
    """The storage settings, checked and typed."""

    luks_name: str
    data_label: str
    data_dir: Path
    keyfile: Path
    tang_servers: tuple[TangServer, ...]
    tang_wait: float
    escrow_public_key: str
    escrow_dir: Path
    status_file: Path
    survival_dir: Path
    fsconf_current: Path


def load(path: Path = DEFAULT_PATH) -> StorageSettings:
    """Return the settings from path over the defaults (the defaults alone if path is missing)."""
    raw = copy.deepcopy(DEFAULTS)
    if path.is_file():
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise StorageSettingsError(f"{path}: not valid YAML: {exc}") from None
        if not isinstance(data, dict):
            raise StorageSettingsError(f"{path}: the top level must be a mapping")
        unknown = set(data) - set(DEFAULTS)
        if unknown:
            raise StorageSettingsError(f"{path}: unknown settings {sorted(unknown)}; known: {sorted(DEFAULTS)}")
        raw.update(data)
    return from_dict(raw, str(path))


def from_dict(raw: dict[str, Any], where: str = "storage settings") -> StorageSettings:
    """Check and type a settings mapping; errors name the setting."""
    servers = []
    for i, entry in enumerate(raw["tang_servers"] or ()):
        if not isinstance(entry, dict) or not str(entry.get("url", "")).startswith(("http://", "https://")):
            raise StorageSettingsError(f"{where}: tang_servers[{i}]: needs url: http(s)://host:port")
        servers.append(TangServer(str(entry["url"]), str(entry.get("thp") or "")))
    key = str(raw["escrow_public_key"] or "").strip()
    if key:
        from appliance.storage import escrow

        try:
            escrow.check_public_key(key, f"{where}: escrow_public_key")
        except escrow.EscrowError as exc:
            raise StorageSettingsError(str(exc)) from None
    return StorageSettings(
        luks_name=str(raw["luks_name"]),
        data_label=str(raw["data_label"]),
        data_dir=Path(raw["data_dir"]),
        keyfile=Path(raw["keyfile"]),
        tang_servers=tuple(servers),
        tang_wait=float(raw["tang_wait"]),
        escrow_public_key=key,
        escrow_dir=Path(raw["escrow_dir"]),
        status_file=Path(raw["status_file"]),
        survival_dir=Path(raw["survival_dir"]),
        fsconf_current=Path(raw["fsconf_current"]),
    )
