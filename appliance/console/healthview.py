# SPDX-License-Identifier: GPL-3.0-or-later
"""Gather the health tiles for a request: the app's configuration, ESL for the trunks, the clock.

Test hooks (app config): HEALTH_WG_STATUS (a vpn.health.status stand-in), HEALTH_SYS_CLASS_NET,
HEALTH_PROC_MOUNTS, HEALTH_SYS_ROOT, HEALTH_DEVICE_NUMBER and HEALTH_STATVFS (what the storage check reads).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from flask import current_app

from appliance.callcontrol.esl import EslClient, EslError, read_password
from appliance.console import clock, health
from appliance.console.freeswitch import worker
from appliance.metrics import settings as metrics_settings
from appliance.metrics.freeswitch import Gateway, parse_gateways
from appliance.metrics.storage import StorageSource, device_number
from appliance.model import Snapshot
from appliance.vpn import health as vpn_health

log = logging.getLogger(__name__)


def gateways() -> tuple[list[Gateway] | None, str]:
    """Return the gateways FreeSWITCH reports (None with the reason when it cannot be asked)."""
    if not current_app.config["FREESWITCH_LIVE"]:
        return None, "not connected to a live FreeSWITCH"
    cfg = current_app.config["APPLIANCE_CONFIG"]
    timeout = float(current_app.config["ESL_TIMEOUT"])

    def query() -> str:
        fs = cfg["freeswitch"]
        client = EslClient(fs["esl_host"], int(fs["esl_port"]), read_password(fs["esl_password_file"]), timeout)
        client.connect()
        try:
            return client.api("sofia xmlstatus gateway")
        finally:
            client.close()

    try:
        reply = worker().run(query, timeout * 3)
    except (EslError, OSError, ValueError, TimeoutError) as exc:
        log.warning("gateway status unavailable: %s", exc)
        return None, f"FreeSWITCH did not answer: {exc}"
    found = parse_gateways(reply)
    if found is None:
        return None, f"FreeSWITCH gave no gateway list: {reply.strip()[:80]}"
    return found, ""


def storage_source() -> StorageSource:
    """Return the storage check as the metrics exporter is configured."""
    conf = current_app.config
    metrics = metrics_settings.section(conf["APPLIANCE_CONFIG"])
    return StorageSource(
        metrics["data_mount"],
        metrics["storage_marker"],
        proc_mounts=Path(conf.get("HEALTH_PROC_MOUNTS", "/proc/mounts")),
        sys_root=Path(conf.get("HEALTH_SYS_ROOT", "/sys")),
        device_number=conf.get("HEALTH_DEVICE_NUMBER", device_number),
        statvfs=conf.get("HEALTH_STATVFS", os.statvfs),
    )


def tunnel_tile() -> health.Tile:
    """Return the tunnel's tile."""
    conf = current_app.config
    return health.tunnel(
        conf["APPLIANCE_CONFIG"],
        status=conf.get("HEALTH_WG_STATUS", vpn_health.status),
        sys_class_net=Path(conf.get("HEALTH_SYS_CLASS_NET", "/sys/class/net")),
    )


def tiles(snap: Snapshot) -> list[health.Tile]:
    """Return every health tile, in the dashboard's order."""
    cfg: dict[str, Any] = current_app.config["APPLIANCE_CONFIG"]
    found, why = gateways() if snap.trunks else (None, "")
    return [
        health.trunks([t.name for t in snap.trunks], found, why),
        tunnel_tile(),
        health.storage(storage_source()),
        health.certificates(cfg["pki"]["dir"], clock.now),
    ]
