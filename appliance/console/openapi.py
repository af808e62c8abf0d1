# SPDX-License-Identifier: GPL-3.0-or-later
"""The OpenAPI 3 document of /api/v1, made from the same schema table that checks the requests."""

from __future__ import annotations

import functools
from typing import Any

from appliance.console import cdrquery
from appliance.console.schema import KINDS, MAX_LIST, Field, Kind
from appliance.model import MANAGERS

API = "/api/v1"
_ERRORS = {
    400: "The request does not match this document (types, choices, bounds, unknown fields or parameters).",
    401: "No token, or an unknown or revoked one.",
    403: "The token lacks the scope, or Ansible manages the object.",
    404: "No such object.",
    415: "The body is not application/json.",
    422: "Refused by validation; nothing was saved. Each problem names the object and field.",
}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*codes: int) -> dict[str, Any]:
    return {str(c): _json(_ref("Error"), _ERRORS[c]) for c in codes}


def _name(kind: Kind) -> str:
    return kind.title.replace(" ", "")


def _field_schema(f: Field, output: bool) -> dict[str, Any]:
    if f.type == "str":
        schema: dict[str, Any] = {"type": "string"}
        if f.choices:
            schema["enum"] = list(f.choices)
        elif not output:
            schema["maxLength"] = f.max_length
            if f.pattern:
                schema["pattern"] = f.pattern
    elif f.type == "int":
        schema = {"type": "integer", "minimum": f.minimum, "maximum": f.maximum}
    elif f.type == "bool":
        schema = {"type": "boolean"}
    elif f.type == "options":
        schema = {"type": "array", "items": _option_schema(output)}
        if not output:
            schema["maxItems"] = MAX_LIST
    elif f.type in ("strlist", "rows"):
        item = {"type": "string"} if output else {"type": "string", "maxLength": f.max_length}
        schema = {"type": "array", "items": item}
        if not output:
            schema["maxItems"] = MAX_LIST
    else:
        schema = {"type": "array", "items": _line_schema(output)}
        if not output:
            schema["maxItems"] = MAX_LIST
    description = f.label + (f": {f.help}" if f.help else "")
    if f.secret:
        description += " (secret: returned on creation and with ?secrets=true)"
    return {**schema, "description": description}


def _option_schema(output: bool) -> dict[str, Any]:
    text = {"type": "string"} if output else {"type": "string", "maxLength": 64}
    names = ("digits", "destination_kind", "destination")
    return {
        "type": "object",
        "properties": {n: dict(text) for n in names},
        "required": list(names),
        "additionalProperties": False,
    }


def _line_schema(output: bool) -> dict[str, Any]:
    props: dict[str, Any] = {
        "port": {"type": "integer", "minimum": 1, "maximum": 64},
        "extension": {"type": "string"} if output else {"type": "string", "maxLength": 64},
    }
    required = ["port", "extension"]
    if output:
        props["sip_username"] = {"type": "string"}
        props["sip_password"] = {"type": "string", "description": "secret: only with ?secrets=true"}
        required.append("sip_username")
    return {"type": "object", "properties": props, "required": required, "additionalProperties": False}


def _object_schemas(kind: Kind) -> dict[str, Any]:
    name = _name(kind)
    out_props = {f.name: _field_schema(f, True) for f in kind.fields}
    out_props["managed_by"] = {"type": "string", "enum": list(MANAGERS), "description": "who may change it"}
    return {
        name: {
            "type": "object",
            "properties": out_props,
            "required": [f.name for f in kind.fields if not f.secret] + ["managed_by"],
            "additionalProperties": False,
        },
        f"{name}Create": {
            "type": "object",
            "properties": {f.name: _field_schema(f, False) for f in kind.fields if not f.readonly},
            "required": [f.name for f in kind.fields if f.required],
            "additionalProperties": False,
        },
        f"{name}Update": {
            "type": "object",
            "description": "Only the fields to change; the key cannot change.",
            "properties": {f.name: _field_schema(f, False) for f in kind.fields if not f.key and not f.readonly},
            "additionalProperties": False,
        },
        f"{name}Written": {
            "type": "object",
            "properties": {"item": _ref(name), "configuration": _ref("Configuration")},
            "required": ["item", "configuration"],
            "additionalProperties": False,
        },
    }


def _object_paths(kind: Kind) -> dict[str, Any]:
    name, key = _name(kind), kind.key.name
    tag = kind.plural
    key_param = {"name": key, "in": "path", "required": True, "schema": {"type": "string"}}
    secrets_param = {
        "name": "secrets",
        "in": "query",
        "required": False,
        "description": "include passwords and PINs (needs the write scope)",
        "schema": {"type": "boolean", "default": False},
    }
    body = lambda schema: {"required": True, "content": {"application/json": {"schema": _ref(schema)}}}  # noqa: E731
    return {
        f"{API}/{kind.plural}": {
            "get": {
                "operationId": f"list_{kind.plural}",
                "summary": f"List {kind.plural}",
                "tags": [tag],
                "responses": {
                    "200": _json(
                        {
                            "type": "object",
                            "properties": {"items": {"type": "array", "items": _ref(name)}},
                            "required": ["items"],
                            "additionalProperties": False,
                        },
                        f"Every {kind.title.lower()}, without secrets.",
                    ),
                    **_errors(400, 401, 403),
                },
            },
            "post": {
                "operationId": f"create_{kind.name}",
                "summary": f"Create a {kind.title.lower()}",
                "tags": [tag],
                "requestBody": body(f"{name}Create"),
                "responses": {
                    "201": {
                        **_json(_ref(f"{name}Written"), "Created, with its generated credentials."),
                        "headers": {"Location": {"schema": {"type": "string"}, "description": "its URL"}},
                    },
                    **_errors(400, 401, 403, 415, 422),
                },
            },
        },
        f"{API}/{kind.plural}/{{{key}}}": {
            "parameters": [key_param],
            "get": {
                "operationId": f"get_{kind.name}",
                "summary": f"Show one {kind.title.lower()}",
                "tags": [tag],
                "parameters": [secrets_param],
                "responses": {"200": _json(_ref(name), "The object."), **_errors(400, 401, 403, 404)},
            },
            "patch": {
                "operationId": f"update_{kind.name}",
                "summary": f"Change fields of a {kind.title.lower()}",
                "tags": [tag],
                "requestBody": body(f"{name}Update"),
                "responses": {
                    "200": _json(_ref(f"{name}Written"), "Changed."),
                    **_errors(400, 401, 403, 404, 415, 422),
                },
            },
            "delete": {
                "operationId": f"delete_{kind.name}",
                "summary": f"Remove a {kind.title.lower()}",
                "tags": [tag],
                "responses": {
                    "200": _json(
                        {
                            "type": "object",
                            "properties": {"deleted": {"type": "string"}, "configuration": _ref("Configuration")},
                            "required": ["deleted", "configuration"],
                            "additionalProperties": False,
                        },
                        "Removed.",
                    ),
                    **_errors(400, 401, 403, 404, 422),
                },
            },
        },
    }


def _cdr_paths() -> dict[str, Any]:
    def query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
        return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}

    return {
        f"{API}/cdrs": {
            "get": {
                "operationId": "search_cdrs",
                "summary": "Search call detail records, newest first",
                "tags": ["cdrs"],
                "parameters": [
                    query("from", {"type": "string"}, "from this date (YYYY-MM-DD) or ISO date-time; UTC if naive"),
                    query("to", {"type": "string"}, "up to the end of this date, or before this ISO date-time"),
                    query("number", {"type": "string", "maxLength": 32}, "part of any number on the call"),
                    query("call_type", {"type": "string", "enum": list(cdrquery.CALL_TYPES)}, "call type"),
                    query("tag", {"type": "string", "maxLength": 64}, "tracking tag (campaign)"),
                    query("page", {"type": "integer", "minimum": 1, "maximum": 100_000, "default": 1}, "page"),
                    query(
                        "per_page",
                        {"type": "integer", "minimum": 1, "maximum": cdrquery.MAX_PER_PAGE, "default": 50},
                        "records per page",
                    ),
                ],
                "responses": {"200": _json(_ref("CdrPage"), "One page of records."), **_errors(400, 401, 403)},
            }
        }
    }


def _common_schemas() -> dict[str, Any]:
    nullable_time = {"type": "string", "nullable": True}
    cdr_props: dict[str, Any] = {c: {"type": "string"} for c in cdrquery.COLUMNS}
    cdr_props.update({"answered_at": nullable_time, "duration_s": {"type": "integer"}, "billsec": {"type": "integer"}})
    return {
        "Problem": {
            "type": "object",
            "properties": {"obj": {"type": "string"}, "field": {"type": "string"}, "message": {"type": "string"}},
            "required": ["obj", "field", "message"],
            "additionalProperties": False,
        },
        "Error": {
            "type": "object",
            "properties": {"error": {"type": "string"}, "problems": {"type": "array", "items": _ref("Problem")}},
            "required": ["error", "problems"],
            "additionalProperties": False,
        },
        "Configuration": {
            "type": "object",
            "description": "What became of FreeSWITCH's configuration after the change.",
            "properties": {
                "applied": {"type": "boolean"},
                "live": {"type": "boolean", "description": "this appliance applies changes itself"},
                "message": {"type": "string"},
            },
            "required": ["applied", "live", "message"],
            "additionalProperties": False,
        },
        "Cdr": {
            "type": "object",
            "properties": cdr_props,
            "required": list(cdrquery.COLUMNS),
            "additionalProperties": False,
        },
        "CdrPage": {
            "type": "object",
            "properties": {
                "items": {"type": "array", "items": _ref("Cdr")},
                "page": {"type": "integer"},
                "per_page": {"type": "integer"},
                "has_next": {"type": "boolean"},
            },
            "required": ["items", "page", "per_page", "has_next"],
            "additionalProperties": False,
        },
    }


@functools.cache
def document() -> dict[str, Any]:
    """Return the OpenAPI 3 document (built once; it only depends on the code)."""
    schemas = _common_schemas()
    paths: dict[str, Any] = {}
    for kind in KINDS.values():
        schemas.update(_object_schemas(kind))
        paths.update(_object_paths(kind))
    paths.update(_cdr_paths())
    from appliance.console import webhooks_api

    schemas.update(webhooks_api.schemas())
    paths.update(webhooks_api.paths(API, _ref, _json, _errors))
    from appliance.console import pbx_api

    schemas.update(pbx_api.schemas())
    paths.update(pbx_api.paths(API, _ref, _json, _errors))
    paths[f"{API}/openapi.json"] = {
        "get": {
            "operationId": "openapi",
            "summary": "This document",
            "security": [],
            "responses": {"200": {"description": "OpenAPI 3 document", "content": {"application/json": {}}}},
        }
    }
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "FreeSWITCH Carrier Appliance API",
            "version": "1",
            "description": (
                "Extensions, devices, trunks, inbound numbers, outbound routes and CDRs of one appliance. "
                "Authenticate with `Authorization: Bearer <token>` (`appliance console create-token`); "
                "scope `read` for GET, `write` for everything else. Refusals list every problem by object and "
                "field, and nothing of a refused change is saved."
            ),
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
    }
