# SPDX-License-Identifier: GPL-3.0-or-later
"""Webhooks in the REST API (/api/v1/webhooks) and their part of the OpenAPI document."""

from __future__ import annotations

from typing import Any

from flask import Response, g, jsonify, request, url_for

from appliance.console.api import bp, error
from appliance.console.db import get_conn
from appliance.model.validate import Problem, ValidationFailed
from appliance.webhooks import store
from appliance.webhooks.events import EVENT_TYPES

_FIELDS = {"name", "url", "secret", "events"}


def _public(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": row["name"],
        "url": row["url"],
        "events": list(row["events"]),
        "enabled": row["enabled"],
        "managed_by": row["managed_by"],
        "created_at": row["created_at"].isoformat(),
    }


def _delivery(row: dict[str, Any]) -> dict[str, Any]:
    def when(value: Any) -> str | None:
        return value.isoformat() if value else None

    return {
        "event_id": str(row["event_id"]),
        "event_type": row["event_type"],
        "created_at": row["created_at"].isoformat(),
        "attempts": row["attempts"],
        "delivered_at": when(row["delivered_at"]),
        "gave_up_at": when(row["gave_up_at"]),
        "next_attempt_at": None if row["delivered_at"] or row["gave_up_at"] else when(row["next_attempt_at"]),
        "last_status": row["last_status"],
        "last_error": row["last_error"],
    }


@bp.route("/webhooks", methods=["GET"], endpoint="webhooks_list")
def webhooks_list() -> Response:
    """List the webhooks (never their secrets)."""
    return jsonify(items=[_public(r) for r in store.all_webhooks(get_conn())])


@bp.route("/webhooks", methods=["POST"], endpoint="webhooks_create")
def webhooks_create() -> Response:
    """Register a webhook; its secret (given or generated) is returned this once."""
    if not request.is_json:
        return error(415, "send the body as application/json")
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        return error(400, "the body is not a JSON object")
    obj = f"webhook {data.get('name', '')}"
    problems = [Problem(obj, k, "unknown field") for k in sorted(set(data) - _FIELDS)]
    for key in ("name", "url"):
        if not isinstance(data.get(key), str):
            problems.append(Problem(obj, key, "required, a string"))
    if "secret" in data and not isinstance(data["secret"], str):
        problems.append(Problem(obj, "secret", "must be a string"))
    events = data.get("events", list(EVENT_TYPES))
    if not isinstance(events, list) or not all(isinstance(e, str) for e in events):
        problems.append(Problem(obj, "events", "must be a list of strings"))
    if problems:
        return error(400, "the request does not match the schema", problems)
    try:
        row, secret = store.create(
            get_conn(),
            data["name"],
            data["url"],
            events,
            data.get("secret", ""),
            actor=f"token:{g.token.name}",
            remote_addr=request.remote_addr or "",
        )
    except ValidationFailed as exc:
        return error(422, "refused; nothing was saved", exc.problems)
    response = jsonify(item=_public(row), secret=secret)
    response.status_code = 201
    response.headers["Location"] = url_for("api.webhooks_show", name=row["name"])
    return response


@bp.route("/webhooks/<name>", methods=["GET"], endpoint="webhooks_show")
def webhooks_show(name: str) -> Response:
    """Show a webhook and its latest deliveries."""
    conn = get_conn()
    row = store.get(conn, name)
    if row is None:
        return error(404, f"no webhook {name}")
    return jsonify(item=_public(row), deliveries=[_delivery(d) for d in store.recent_deliveries(conn, name)])


@bp.route("/webhooks/<name>", methods=["DELETE"], endpoint="webhooks_delete")
def webhooks_delete(name: str) -> Response:
    """Remove a webhook and its pending deliveries."""
    conn = get_conn()
    row = store.get(conn, name)
    if row is None:
        return error(404, f"no webhook {name}")
    if row["managed_by"] == "ansible":
        return error(403, "managed by Ansible: change it in the fleet inventory")
    store.remove(conn, name, actor=f"token:{g.token.name}", remote_addr=request.remote_addr or "")
    return jsonify(deleted=name)


# -- the OpenAPI part ---------------------------------------------------------------------------------
def schemas() -> dict[str, Any]:
    """Return the component schemas of webhooks."""
    events = {"type": "array", "items": {"type": "string", "enum": list(EVENT_TYPES)}}
    time = {"type": "string", "nullable": True}
    return {
        "Webhook": {
            "type": "object",
            "properties": {
                "name": {"type": "string"},
                "url": {"type": "string"},
                "events": events,
                "enabled": {"type": "boolean"},
                "managed_by": {"type": "string", "enum": ["console", "ansible"]},
                "created_at": {"type": "string"},
            },
            "required": ["name", "url", "events", "enabled", "managed_by", "created_at"],
            "additionalProperties": False,
        },
        "WebhookCreate": {
            "type": "object",
            "properties": {
                "name": {"type": "string", "maxLength": 63, "pattern": store.NAME_RE.pattern},
                "url": {"type": "string", "maxLength": store.MAX_URL, "description": "http:// or https:// URL"},
                "secret": {"type": "string", "maxLength": 200, "description": "at least 16 characters; empty: made"},
                "events": {**events, "minItems": 1, "maxItems": len(EVENT_TYPES), "default": list(EVENT_TYPES)},
            },
            "required": ["name", "url"],
            "additionalProperties": False,
        },
        "WebhookCreated": {
            "type": "object",
            "properties": {"item": {"$ref": "#/components/schemas/Webhook"}, "secret": {"type": "string"}},
            "required": ["item", "secret"],
            "additionalProperties": False,
        },
        "WebhookDelivery": {
            "type": "object",
            "properties": {
                "event_id": {"type": "string"},
                "event_type": {"type": "string"},
                "created_at": {"type": "string"},
                "attempts": {"type": "integer"},
                "delivered_at": time,
                "gave_up_at": time,
                "next_attempt_at": time,
                "last_status": {"type": "integer", "nullable": True},
                "last_error": {"type": "string"},
            },
            "required": ["event_id", "event_type", "created_at", "attempts", "last_error"],
            "additionalProperties": False,
        },
    }


def paths(api: str, ref, json_response, errors) -> dict[str, Any]:
    """Return the paths of webhooks; the helpers come from openapi.py so both read alike."""
    name_param = {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}
    return {
        f"{api}/webhooks": {
            "get": {
                "operationId": "list_webhooks",
                "summary": "List webhooks for call events",
                "tags": ["webhooks"],
                "responses": {
                    "200": json_response(
                        {
                            "type": "object",
                            "properties": {"items": {"type": "array", "items": ref("Webhook")}},
                            "required": ["items"],
                            "additionalProperties": False,
                        },
                        "Every webhook, without secrets.",
                    ),
                    **errors(400, 401, 403),
                },
            },
            "post": {
                "operationId": "create_webhook",
                "summary": "Register a webhook (signed call events)",
                "tags": ["webhooks"],
                "requestBody": {"required": True, "content": {"application/json": {"schema": ref("WebhookCreate")}}},
                "responses": {
                    "201": {
                        **json_response(ref("WebhookCreated"), "Registered; the secret is shown this once."),
                        "headers": {"Location": {"schema": {"type": "string"}, "description": "its URL"}},
                    },
                    **errors(400, 401, 403, 415, 422),
                },
            },
        },
        f"{api}/webhooks/{{name}}": {
            "parameters": [name_param],
            "get": {
                "operationId": "get_webhook",
                "summary": "Show a webhook and its latest deliveries",
                "tags": ["webhooks"],
                "responses": {
                    "200": json_response(
                        {
                            "type": "object",
                            "properties": {
                                "item": ref("Webhook"),
                                "deliveries": {"type": "array", "items": ref("WebhookDelivery")},
                            },
                            "required": ["item", "deliveries"],
                            "additionalProperties": False,
                        },
                        "The webhook.",
                    ),
                    **errors(400, 401, 403, 404),
                },
            },
            "delete": {
                "operationId": "delete_webhook",
                "summary": "Remove a webhook and its pending deliveries",
                "tags": ["webhooks"],
                "responses": {
                    "200": json_response(
                        {
                            "type": "object",
                            "properties": {"deleted": {"type": "string"}},
                            "required": ["deleted"],
                            "additionalProperties": False,
                        },
                        "Removed.",
                    ),
                    **errors(400, 401, 403, 404),
                },
            },
        },
    }
