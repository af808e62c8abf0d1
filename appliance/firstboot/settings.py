# SPDX-License-Identifier: GPL-3.0-or-later
"""First boot's settings: defaults, then /etc/appliance/firstboot.yml (written by the firstboot role)."""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from appliance.config import ConfigError

DEFAULT_PATH = Path("/etc/appliance/firstboot.yml")

DEFAULTS: dict[str, Any] = {
    "data_dir": "/var/lib/appliance",
    # On the root filesystem: readable when the data volume is not.
    "state_dir": "/var/lib/appliance-firstboot",
    "root_size": "4GiB",
    "data_min_size": "1GiB",
    "data_device": "",
    "storage_mode": "auto",
    "tpm2_pcrs": "7",
    "luks_name": "appliance-data",
    "data_label": "appliance-data",
    "keyfile": "/etc/appliance/storage/data.key",
    "hostname": "",
    "hostname_prefix": "appliance",
    "hub_url": "",
    "console_port": 443,
    "pki_domains": ["local"],
    "pki_networks": ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"],
    "site": {},
    "postgresql": {"version": "15", "cluster": "main", "database": "appliance", "owner": "appliance"},
    "service_group": "appliance",
}

_UNITS = {"": 1, "K": 1000, "M": 1000**2, "G": 1000**3, "T": 1000**4}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(i?)B?\s*$", re.IGNORECASE)


class SettingsError(ConfigError):
    """A first-boot setting that cannot be used; the message names it."""


@dataclass(frozen=True)
class Settings:
    """First boot's settings, checked and typed."""

    data_dir: Path
    state_dir: Path
    root_size: int
    data_min_size: int
    data_device: str
    storage_mode: str
    tpm2_pcrs: str
    luks_name: str
    data_label: str
    keyfile: Path
    hostname: str
    hostname_prefix: str
    hub_url: str
    console_port: int
    pki_domains: tuple[str, ...]
    pki_networks: tuple[str, ...]
    site: dict[str, Any] = field(default_factory=dict)
    postgresql: dict[str, str] = field(default_factory=dict)
    service_group: str = "appliance"

    @property
    def standalone(self) -> bool:
        """Whether no fleet hub is configured (the box makes its own root CA)."""
        return not self.hub_url


def parse_size(text: str | int) -> int:
    """Return a size in bytes from 4GiB, 512MiB, 1G (decimal) or a plain number of bytes."""
    if isinstance(text, int):
        return text
    match = _SIZE.match(str(text))
    if not match:
        raise SettingsError(f"{text!r} is not a size (e.g. 4GiB, 512MiB)")
    number, unit, binary = match.groups()
    unit = unit.upper()
    scale = 1024 ** "KMGT".index(unit) * 1024 if binary and unit else _UNITS[unit]
    return int(float(number) * scale)


def load(path: Path = DEFAULT_PATH) -> Settings:
    """Return the settings from path over the defaults (the defaults alone if path is missing)."""
    raw = copy.deepcopy(DEFAULTS)
    if path.is_file():
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise SettingsError(f"{path}: not valid YAML: {exc}") from None
        if not isinstance(data, dict):
            raise SettingsError(f"{path}: the top level must be a mapping")
        unknown = set(data) - set(DEFAULTS)
        if unknown:
            raise SettingsError(f"{path}: unknown settings {sorted(unknown)}; known: {sorted(DEFAULTS)}")
        for key, value in data.items():
            raw[key] = {**raw[key], **(value or {})} if isinstance(raw[key], dict) else value
    return from_dict(raw)


def from_dict(raw: dict[str, Any]) -> Settings:
    """Check and type a settings mapping."""
    mode = str(raw["storage_mode"])
    if mode not in ("auto", "tpm2", "tang", "lab"):
        raise SettingsError(f"storage_mode: {mode!r} is not one of auto, tpm2, tang, lab")
    return Settings(
        data_dir=Path(raw["data_dir"]),
        state_dir=Path(raw["state_dir"]),
        root_size=parse_size(raw["root_size"]),
        data_min_size=parse_size(raw["data_min_size"]),
        data_device=str(raw["data_device"] or ""),
        storage_mode=mode,
        tpm2_pcrs=str(raw["tpm2_pcrs"] or ""),
        luks_name=str(raw["luks_name"]),
        data_label=str(raw["data_label"]),
        keyfile=Path(raw["keyfile"]),
        hostname=str(raw["hostname"] or ""),
        hostname_prefix=str(raw["hostname_prefix"] or "appliance"),
        hub_url=str(raw["hub_url"] or ""),
        console_port=int(raw["console_port"]),
        pki_domains=tuple(str(d) for d in raw["pki_domains"] or ()),
        pki_networks=tuple(str(n) for n in raw["pki_networks"] or ()),
        site=dict(raw["site"] or {}),
        postgresql={k: str(v) for k, v in (raw["postgresql"] or {}).items()},
        service_group=str(raw["service_group"]),
    )
