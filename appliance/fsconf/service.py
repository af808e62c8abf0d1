# SPDX-License-Identifier: GPL-3.0-or-later
"""Wire the renderer to the appliance's configuration: runtime facts, ESL reload, one call to apply."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from appliance import secrets
from appliance.callcontrol.esl import EslClient
from appliance.fsconf.check import check
from appliance.fsconf.deploy import current_release, deploy
from appliance.fsconf.render import Runtime, render
from appliance.model import Snapshot


def runtime(cfg: dict[str, Any]) -> Runtime:
    """Return the machine-local facts for rendering; the ESL password is created on first use."""
    fs = cfg["freeswitch"]
    return Runtime(
        esl_password=secrets.load_or_create(Path(fs["esl_password_file"])),
        esl_port=int(fs["esl_port"]),
        outbound_socket_port=int(fs["outbound_socket_port"]),
        cert_dir=fs["cert_dir"],
        sounds_dir=fs["sounds_dir"],
        recordings_dir=fs["recordings_dir"],
        recording_staging_dir=fs.get("recording_staging_dir", "/run/appliance/recordings"),
        cdr_dir=cfg["cdr"]["freeswitch_dir"],
        voicemail_dir=fs.get("voicemail_dir", "/var/lib/appliance/voicemail"),
        volatile_db_dir=fs.get("volatile_db_dir") or None,
    )


def esl_reloader(cfg: dict[str, Any], rt: Runtime):
    """Return a callable that sends one API command to the running FreeSWITCH."""

    def send(command: str) -> str:
        client = EslClient(cfg["freeswitch"]["esl_host"], rt.esl_port, rt.esl_password)
        client.connect()
        try:
            return client.api(command, timeout=30)
        finally:
            client.close()

    return send


def render_only(cfg: dict[str, Any], snapshot: Snapshot, dest: Path) -> dict[str, str]:
    """Render and check into dest without touching the live configuration."""
    render(snapshot, runtime(cfg), dest)
    check(dest)
    return {"rendered": str(dest)}


def apply(cfg: dict[str, Any], snapshot: Snapshot, reload: bool = True) -> dict[str, str]:
    """Render, check, swap in atomically and (unless told not to) reload FreeSWITCH."""
    rt = runtime(cfg)
    root = Path(cfg["freeswitch"]["conf_root"])
    previous = current_release(root)
    release = deploy(snapshot, rt, root, reload=esl_reloader(cfg, rt) if reload else None)
    return {
        "release": release.name,
        "previous": previous.name if previous else "",
        "path": str(root / "current"),
    }
