# SPDX-License-Identifier: GPL-3.0-or-later
"""The box's health for the dashboard and the system pages: trunks, tunnel, storage, certificates.

Each check reuses what the metrics exporter reads (appliance.metrics), so the console and the fleet's
Prometheus never disagree. A check returns a Tile: a state (ok, warn, bad, unknown), a headline and
details; a check that cannot run says why instead of failing the page.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from appliance.metrics.certificates import CertificateSource
from appliance.metrics.freeswitch import Gateway
from appliance.metrics.storage import StorageSource
from appliance.metrics.wireguard import tunnel_from_config
from appliance.pki.errors import PkiError
from appliance.vpn import health as vpn_health

log = logging.getLogger(__name__)

CERT_WARN_DAYS = 7  # service certificates (30 days) renew with 10 left: under 7 means renewal is failing
CERT_BAD_DAYS = 2
_RANK = {"ok": 0, "unknown": 1, "warn": 2, "bad": 3}


@dataclass(frozen=True)
class Item:
    """One line of a tile: what, its state and a few words."""

    name: str
    state: str
    text: str


@dataclass(frozen=True)
class Tile:
    """One health area."""

    key: str
    title: str
    state: str
    headline: str
    items: list[Item] = field(default_factory=list)


def worst(states: Iterable[str]) -> str:
    """Return the worst of some states (ok when there are none)."""
    return max(states, key=_RANK.__getitem__, default="ok")


# -- trunks -------------------------------------------------------------------------------------------
def trunks(names: list[str], gateways: list[Gateway] | None, error: str = "") -> Tile:
    """Judge each configured trunk by its gateway as `sofia xmlstatus gateway` reports it."""
    if not names:
        return Tile("trunks", "Trunks", "unknown", "no trunk configured")
    if gateways is None:
        return Tile(
            "trunks", "Trunks", "unknown", error or "FreeSWITCH not asked", [Item(n, "unknown", "?") for n in names]
        )
    by_name = {g.name: g for g in gateways}
    items = []
    for name in names:
        gw = by_name.get(name)
        if gw is None:
            items.append(Item(name, "bad", "not loaded in FreeSWITCH"))
        else:
            items.append(Item(name, "ok" if gw.up else "bad", f"{gw.state.lower()}, {gw.status.lower()}"))
    up = sum(1 for i in items if i.state == "ok")
    return Tile("trunks", "Trunks", worst(i.state for i in items), f"{up} of {len(items)} up", items)


# -- tunnel -------------------------------------------------------------------------------------------
StatusFn = Callable[[str, dict[str, str]], dict[str, dict[str, Any]]]


def tunnel(
    cfg: dict[str, Any], status: StatusFn = vpn_health.status, sys_class_net: Path = Path("/sys/class/net")
) -> Tile:
    """Judge the WireGuard tunnel by each peer's handshake age."""
    found = tunnel_from_config(cfg, None)
    if found is None:
        return Tile("tunnel", "Tunnel", "unknown", "no tunnel configured (not enrolled with a hub)")
    ifname, names = found
    if not (sys_class_net / ifname).exists():
        return Tile("tunnel", "Tunnel", "bad", f"interface {ifname} is down")
    try:
        peers = status(ifname, names)
    except Exception as exc:  # wg needs CAP_NET_ADMIN; a console without it still shows the rest
        log.warning("tunnel status unavailable: %s", exc)
        return Tile("tunnel", "Tunnel", "unknown", f"cannot read {ifname}: {exc}")
    items = []
    for key, peer in sorted(peers.items()):
        age = peer.get("handshake_age")
        state = {"up": "ok", "stale": "warn"}.get(peer["state"], "bad")
        text = "never completed a handshake" if age is None else f"handshake {_age(age)} ago"
        items.append(Item(peer.get("name") or key[:12] + "…", state, text))
    if not items:
        return Tile("tunnel", "Tunnel", "bad", f"{ifname} has no peer")
    up = sum(1 for i in items if i.state == "ok")
    return Tile("tunnel", "Tunnel", worst(i.state for i in items), f"{ifname}: {up} of {len(items)} peers up", items)


def _age(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.0f} h"
    return f"{seconds / 86400:.0f} days"


# -- storage ------------------------------------------------------------------------------------------
def storage(source: StorageSource) -> Tile:
    """Judge the data volume: mounted, encrypted, space left, and how it unlocks."""
    try:
        samples = {m.name: m.samples for m in source.collect()}
    except OSError as exc:
        return Tile("storage", "Storage", "unknown", f"cannot read the mounts: {exc}")
    value = lambda name: samples[name][0].value if samples.get(name) else None  # noqa: E731
    mounted, encrypted = value("appliance_storage_mounted"), value("appliance_storage_encrypted")
    free, size = value("appliance_storage_free_bytes"), value("appliance_storage_size_bytes")
    mode = samples["appliance_storage_mode_info"][0].labels["mode"]
    items = [
        Item(
            "mounted",
            "ok" if mounted else "bad",
            source.mountpoint if mounted else f"{source.mountpoint} is not a mount",
        ),
        Item(
            "encrypted", "ok" if encrypted else "bad", "LUKS (dm-crypt)" if encrypted else "not on an encrypted device"
        ),
        Item("unlock mode", "ok" if mode != "none" else "warn", mode if mode != "none" else "no storage marker"),
    ]
    if free is not None and size:
        share = free / size
        items.append(
            Item(
                "free", "ok" if share > 0.15 else "warn" if share > 0.05 else "bad", f"{_bytes(free)} of {_bytes(size)}"
            )
        )
    state = worst(i.state for i in items)
    headline = "encrypted and mounted" if mounted and encrypted else "not mounted" if not mounted else "not encrypted"
    return Tile("storage", "Storage", state, headline, items)


def _bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return ""


# -- certificates -------------------------------------------------------------------------------------
def certificates(pki_dir: str | Path, clock: Callable[[], datetime]) -> Tile:
    """Judge every certificate in use by the time left before it expires."""
    try:
        samples = [s for m in CertificateSource(pki_dir, clock).collect() for s in m.samples]
    except (OSError, ValueError, PkiError) as exc:
        return Tile("certificates", "Certificates", "unknown", f"cannot read the CA in {pki_dir}: {exc}")
    if not samples:
        return Tile("certificates", "Certificates", "unknown", "no certificates issued yet")
    items = []
    for s in sorted(samples, key=lambda s: s.value):
        days = s.value / 86400
        state = "bad" if days < CERT_BAD_DAYS else "warn" if days < CERT_WARN_DAYS else "ok"
        text = f"expired {-days:.0f} days ago" if days < 0 else f"{days:.0f} days left"
        serial = s.labels["serial"]
        items.append(
            Item(
                f"{s.labels['profile']} {serial[:10]}…" if len(serial) > 12 else f"{s.labels['profile']} {serial}",
                state,
                text,
            )
        )
    soonest = items[0]
    return Tile("certificates", "Certificates", worst(i.state for i in items), f"soonest: {soonest.text}", items)
