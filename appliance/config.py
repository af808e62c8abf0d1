# SPDX-License-Identifier: GPL-3.0-or-later
"""Layered configuration: defaults, then config.yml, then conf.d/*.yml in order, then overrides.

Ansible writes only its own drop-in under conf.d/, so a local edit and the fleet never fight.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import yaml

DEFAULT_PATH = Path("/etc/appliance/config.yml")

DEFAULTS: dict[str, Any] = {
    "database": {"dsn": "host=/run/postgresql dbname=appliance user=appliance"},
    "freeswitch": {
        "conf_root": "/var/lib/appliance/fsconf",
        "esl_host": "127.0.0.1",
        "esl_port": 8021,
        "esl_password_file": "/var/lib/appliance/secrets/esl_password",
        "outbound_socket_port": 8084,
        "cert_dir": "/var/lib/appliance/tls",
        "sounds_dir": "/usr/share/freeswitch/sounds",
        "recordings_dir": "/var/lib/appliance/recordings",
        # FreeSWITCH records here, in RAM (tmpfs); only encrypted copies reach recordings_dir.
        "recording_staging_dir": "/run/appliance/recordings",
        "voicemail_dir": "/var/lib/appliance/voicemail",
        # Registrations and live channels (SQLite, written on every call) in RAM: see fsconf.render.Runtime.
        "volatile_db_dir": "/run/appliance/freeswitch-db",
    },
    # freeswitch_dir: where FreeSWITCH writes CDR files; spool_dir: the listener's own spool.
    "cdr": {"spool_dir": "/var/spool/appliance/cdr", "freeswitch_dir": "/var/spool/appliance/fs-cdr"},
    "pki": {"dir": "/var/lib/appliance/pki", "crl_url": "", "freeswitch_extra_ca": []},
    # The WireGuard tunnel's desired state (appliance.vpn.model); empty until enrolled.
    "vpn": {},
    # The nftables policy and the SIP ban daemon (appliance.firewall; docs/firewall.md).
    "firewall": {},
    # The local web console and REST API (appliance.console.settings holds its defaults).
    "console": {},
    # Configuration backups (appliance.backup): where `appliance backup create` writes them.
    "backup": {"dir": "/var/lib/appliance/backups"},
    # Signed webhooks for call events (appliance.webhooks.daemon holds its defaults).
    "webhooks": {},
    # The Prometheus exporter; listen_address "tunnel" means the WireGuard address (appliance.metrics).
    "metrics": {
        "listen_address": "127.0.0.1",
        "port": 9478,
        "poll_seconds": 5.0,
        "data_mount": "/var/lib/appliance",
        "storage_marker": "/var/lib/appliance/.storage-mode",
    },
}


class ConfigError(ValueError):
    """A configuration file that cannot be used; the message names the file."""


def load(path: Path | None = None, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Return the merged configuration."""
    path = path or Path(os.environ.get("APPLIANCE_CONFIG", DEFAULT_PATH))
    config = copy.deepcopy(DEFAULTS)
    layers = [path, *sorted((path.parent / "conf.d").glob("*.yml"))]
    for layer in layers:
        if layer.is_file():
            _merge(config, _read(layer))
    _merge(config, overrides or {})
    return config


def _read(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of sections")
    unknown = set(data) - set(DEFAULTS)
    if unknown:
        raise ConfigError(f"{path}: unknown sections {sorted(unknown)}; known: {sorted(DEFAULTS)}")
    return data


def _merge(into: dict[str, Any], layer: dict[str, Any]) -> None:
    for key, value in layer.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = value
