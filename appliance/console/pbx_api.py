# SPDX-License-Identifier: GPL-3.0-or-later
"""Recordings, the owner's key and call tracking in the REST API, and their part of the OpenAPI document.

The PBX objects themselves (forwards, schedules, mailboxes, ivrs, groups, queues) are served by api.py
from the object table; these are the routes that are not objects.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from flask import Response, g, jsonify, request, send_file

from appliance.console import objects, recfiles, recordings, tracking
from appliance.console.api import QUERY_PARAMETERS, _body, _configuration, bp, error
from appliance.console.apply import apply_configuration
from appliance.console.db import get_conn
from appliance.model.validate import Problem, ValidationFailed

QUERY_PARAMETERS["api.tracking_stats"] = set(tracking.PARAMETERS)


@bp.route("/recordings", methods=["GET"], endpoint="recordings_list")
def recordings_list() -> Response:
    """List the encrypted recordings (newest first) with their calls, and the key they are sealed to."""
    conn = get_conn()
    items = recfiles.listing(conn, recordings.recordings_root())
    key = objects.snapshot(conn).site.recording_key
    return jsonify(items=[r.public() for r in items], recording_key=key)


@bp.route("/recordings/<day>/<file>", methods=["GET"], endpoint="recordings_download")
def recordings_download(day: str, file: str) -> Any:
    """Send one recording exactly as stored (age-encrypted)."""
    path = recfiles.path_of(recordings.recordings_root(), day, file)
    if path is None:
        return error(404, "no such recording")
    return send_file(path, mimetype="application/octet-stream", as_attachment=True, download_name=file)


@bp.route("/recording-key", methods=["PUT"], endpoint="recording_key_set")
def recording_key_set() -> Response:
    """Register (or, with "", clear) the owner's public key."""
    data, bad = _body()
    if bad:
        return bad
    if not isinstance(data, dict) or set(data) != {"recording_key"} or not isinstance(data["recording_key"], str):
        problem = Problem("site", "recording_key", 'send {"recording_key": "age1..."}')
        return error(400, "the request does not match the schema", [problem])
    if len(data["recording_key"]) > 200 or "\x00" in data["recording_key"]:
        return error(400, "the request does not match the schema", [Problem("site", "recording_key", "not a key")])
    conn = get_conn()
    who = objects.Actor(f"token:{g.token.name}", request.remote_addr or "")
    try:
        recordings.set_key(conn, data["recording_key"].strip(), who)
    except ValidationFailed as exc:
        if any(p.field == "managed_by" for p in exc.problems):
            return error(403, "managed by Ansible: change it in the fleet inventory", exc.problems)
        return error(422, "refused; nothing was saved", exc.problems)
    key = objects.snapshot(conn).site.recording_key
    return jsonify(recording_key=key, configuration=_configuration(apply_configuration(conn)))


@bp.route("/tracking", methods=["GET"], endpoint="tracking_stats")
def tracking_stats() -> Response:
    """Return calls, answered calls and talk time per tag, in total and per day."""
    q, errors = tracking.parse(request.args, tracking._today(), blank_is_default=False)
    if errors:
        return error(400, "bad range", [Problem("tracking", k, v) for k, v in errors.items()])
    data = tracking.report(get_conn(), q)

    def plain(row: Any) -> dict[str, Any]:
        out = asdict(row)
        out["day"] = row.day.isoformat() if row.day else None
        return out

    return jsonify(
        {
            "from": q["from"].isoformat(),
            "to": q["to"].isoformat(),
            "tag": q["tag"],
            "timezone": data["timezone"],
            "totals": [plain(r) for r in data["totals"]],
            "daily": [plain(r) for r in data["daily"]],
        }
    )


# -- OpenAPI ------------------------------------------------------------------------------------------


def _stats_row() -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "tag": {"type": "string"},
            "day": {"type": "string", "nullable": True, "description": "YYYY-MM-DD; null in totals"},
            "calls": {"type": "integer"},
            "answered": {"type": "integer"},
            "total_seconds": {"type": "integer", "description": "talk time of the answered calls"},
            "average_seconds": {"type": "number"},
        },
        "required": ["tag", "day", "calls", "answered", "total_seconds", "average_seconds"],
        "additionalProperties": False,
    }


def schemas() -> dict[str, Any]:
    """Return the component schemas of recordings and tracking."""
    text = {"type": "string"}
    return {
        "Recording": {
            "type": "object",
            "properties": {
                "day": text,
                "file": text,
                "call_uuid": {"type": "string", "description": "the call's A-leg UUID; empty if the name is not one"},
                "bytes": {"type": "integer"},
                "modified": text,
                "cdr": {
                    "type": "object",
                    "nullable": True,
                    "description": "the call, when its CDR is stored",
                    "properties": {
                        "call_type": text,
                        "caller_number": text,
                        "destination": text,
                        "started_at": text,
                        "billsec": {"type": "integer"},
                    },
                    "required": ["call_type", "caller_number", "destination", "started_at", "billsec"],
                    "additionalProperties": False,
                },
            },
            "required": ["day", "file", "call_uuid", "bytes", "modified", "cdr"],
            "additionalProperties": False,
        },
        "TagStats": _stats_row(),
    }


def paths(api: str, ref, json_response, errors) -> dict[str, Any]:
    """Return the paths of recordings and tracking; the helpers come from openapi.py."""
    date = {"type": "string", "format": "date"}
    return {
        f"{api}/recordings": {
            "get": {
                "operationId": "list_recordings",
                "summary": "List the encrypted recordings, newest first",
                "tags": ["recordings"],
                "responses": {
                    "200": json_response(
                        {
                            "type": "object",
                            "properties": {
                                "items": {"type": "array", "items": ref("Recording")},
                                "recording_key": {"type": "string", "description": "the owner's age public key"},
                            },
                            "required": ["items", "recording_key"],
                            "additionalProperties": False,
                        },
                        f"At most {recfiles.LIMIT} recordings.",
                    ),
                    **errors(400, 401, 403),
                },
            },
        },
        f"{api}/recordings/{{day}}/{{file}}": {
            "parameters": [
                {"name": "day", "in": "path", "required": True, "schema": {"type": "string"}},
                {"name": "file", "in": "path", "required": True, "schema": {"type": "string"}},
            ],
            "get": {
                "operationId": "download_recording",
                "summary": "Download a recording as stored: age-encrypted to the owner's key",
                "tags": ["recordings"],
                "responses": {
                    "200": {
                        "description": "The encrypted file (age-encryption.org/v1).",
                        "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
                    },
                    **errors(400, 401, 403, 404),
                },
            },
        },
        f"{api}/recording-key": {
            "put": {
                "operationId": "set_recording_key",
                "summary": "Register the owner's public key (age1...); an empty string clears it",
                "tags": ["recordings"],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {"recording_key": {"type": "string", "maxLength": 200}},
                                "required": ["recording_key"],
                                "additionalProperties": False,
                            }
                        }
                    },
                },
                "responses": {
                    "200": json_response(
                        {
                            "type": "object",
                            "properties": {"recording_key": {"type": "string"}, "configuration": ref("Configuration")},
                            "required": ["recording_key", "configuration"],
                            "additionalProperties": False,
                        },
                        "Saved.",
                    ),
                    **errors(400, 401, 403, 415, 422),
                },
            },
        },
        f"{api}/tracking": {
            "get": {
                "operationId": "tracking_stats",
                "summary": "Calls, answered calls and talk time per tracking tag, in total and per day",
                "tags": ["tracking"],
                "parameters": [
                    {"name": "from", "in": "query", "required": False, "schema": date, "description": "first day"},
                    {"name": "to", "in": "query", "required": False, "schema": date, "description": "last day"},
                    {"name": "tag", "in": "query", "required": False, "schema": {"type": "string", "maxLength": 64}},
                ],
                "responses": {
                    "200": json_response(
                        {
                            "type": "object",
                            "properties": {
                                "from": date,
                                "to": date,
                                "tag": {"type": "string", "nullable": True},
                                "timezone": {"type": "string"},
                                "totals": {"type": "array", "items": ref("TagStats")},
                                "daily": {"type": "array", "items": ref("TagStats")},
                            },
                            "required": ["from", "to", "tag", "timezone", "totals", "daily"],
                            "additionalProperties": False,
                        },
                        "Days in the site's time zone; without from/to the last 30 days.",
                    ),
                    **errors(400, 401, 403),
                },
            },
        },
    }
