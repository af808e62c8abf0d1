# SPDX-License-Identifier: GPL-3.0-or-later
"""The REST API under /api/v1: the console's objects and CDRs as JSON, for bearer tokens with scopes.

The same operations as the pages (objects: the Store, audit row, one transaction) and the same
refusals, as {"error", "problems": [{"obj", "field", "message"}]}. Described by /api/v1/openapi.json.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from flask import Blueprint, Response, g, jsonify, request, url_for

from appliance.console import cdrquery, objects, openapi, tokens
from appliance.console.apply import Applied, apply_configuration
from appliance.console.db import get_conn
from appliance.console.schema import KINDS, Kind, coerce, public
from appliance.model.validate import Problem, ValidationFailed

log = logging.getLogger(__name__)

bp = Blueprint("api", __name__, url_prefix="/api/v1")

SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
MAX_PER_PAGE = cdrquery.MAX_PER_PAGE
CDR_PARAMETERS = ("from", "to", "number", "call_type", "tag", "page", "per_page")


def error(status: int, message: str, problems: list[Problem] = (), headers: dict[str, str] | None = None) -> Response:
    """Return a JSON error: what went wrong and, for refusals, every problem by object and field."""
    response = jsonify(error=message, problems=[dataclasses.asdict(p) for p in problems])
    response.status_code = status
    response.headers.update(headers or {})
    return response


@bp.before_request
def authenticate() -> Response | None:
    """Accept only a valid bearer token with the scope the method needs; the document is public."""
    if request.endpoint == "api.openapi_document":
        return None
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return error(401, "send a token: Authorization: Bearer <token>", headers={"WWW-Authenticate": "Bearer"})
    found = tokens.verify(get_conn(), token.strip())
    if found is None:
        log.warning("API request with an unknown or revoked token from %s", request.remote_addr)
        return error(401, "unknown or revoked token", headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
    needed = "read" if request.method in SAFE_METHODS else "write"
    if not found.allows(needed):
        return error(
            403,
            f"this token lacks the {needed!r} scope",
            headers={"WWW-Authenticate": f'Bearer error="insufficient_scope", scope="{needed}"'},
        )
    g.token = found
    # A mistyped filter (?tags= for ?tag=) must not quietly return everything.
    unknown = sorted(set(request.args) - _query_parameters(request.endpoint or ""))
    if unknown:
        return error(400, "unknown query parameters", [Problem("request", n, "no such parameter") for n in unknown])
    return None


# Query parameters of routes other modules add (endpoint -> names); everything else takes none.
QUERY_PARAMETERS: dict[str, set[str]] = {}


def _query_parameters(endpoint: str) -> set[str]:
    if endpoint == "api.cdrs":
        return set(CDR_PARAMETERS)
    if endpoint in QUERY_PARAMETERS:
        return QUERY_PARAMETERS[endpoint]
    return {"secrets"} if endpoint.endswith("_get") else set()


@bp.route("/openapi.json")
def openapi_document() -> Response:
    """Serve the OpenAPI 3 description of this API."""
    return jsonify(openapi.document())


def _actor() -> objects.Actor:
    return objects.Actor(f"token:{g.token.name}", request.remote_addr or "")


def _body() -> tuple[Any, Response | None]:
    if not request.is_json:
        return None, error(415, "send the body as application/json")
    data = request.get_json(silent=True)
    if data is None:
        return None, error(400, "the body is not valid JSON")
    return data, None


def _refused(exc: ValidationFailed) -> Response:
    if objects.refused_as_managed(exc):
        return error(403, "managed by Ansible: change it in the fleet inventory", exc.problems)
    return error(422, "refused; nothing was saved", exc.problems)


def _configuration(applied: Applied) -> dict[str, Any]:
    return {"applied": applied.ok and applied.live, "live": applied.live, "message": applied.message}


def _flag(name: str) -> tuple[bool, Response | None]:
    raw = request.args.get(name, "false").lower()
    if raw not in ("true", "false"):
        return False, error(400, f"{name} must be true or false")
    return raw == "true", None


def _list(kind: Kind) -> Response:
    snap = objects.snapshot(get_conn())
    return jsonify(items=[public(kind, o) for o in objects.items(snap, kind)])


def _get(kind: Kind, key: str) -> Response:
    show, bad = _flag("secrets")
    if bad:
        return bad
    if show and not g.token.allows("write"):
        return error(403, "secrets need a token with the 'write' scope")
    obj = objects.find(objects.snapshot(get_conn()), kind, key)
    if obj is None:
        return error(404, f"no {kind.label(key)}")
    return jsonify(public(kind, obj, show))


def _create(kind: Kind) -> Response:
    data, bad = _body()
    if bad:
        return bad
    raw = data.get(kind.key.name) if isinstance(data, dict) and not kind.key.readonly else None
    # Name the object in problems even when its key has the wrong type (150 rather than "150").
    key = raw if isinstance(raw, str) else str(raw) if isinstance(raw, int) and not isinstance(raw, bool) else ""
    values, problems = coerce(kind, key, data, creating=True)
    if problems:
        return error(400, "the request does not match the schema", problems)
    conn = get_conn()
    try:
        obj = objects.create(conn, kind, values, _actor())
    except ValidationFailed as exc:
        return _refused(exc)
    # Created credentials are returned once, to whoever created them (write scope).
    response = jsonify(item=public(kind, obj, True), configuration=_configuration(apply_configuration(conn)))
    response.status_code = 201
    response.headers["Location"] = url_for(f"api.{kind.name}_get", key=objects.key_of(kind, obj))
    return response


def _update(kind: Kind, key: str) -> Response:
    conn = get_conn()
    obj = objects.find(objects.snapshot(conn), kind, key)
    if obj is None:
        return error(404, f"no {kind.label(key)}")
    if obj.managed_by == "ansible":
        return error(403, "managed by Ansible: change it in the fleet inventory")
    data, bad = _body()
    if bad:
        return bad
    values, problems = coerce(kind, key, data, creating=False)
    if problems:
        return error(400, "the request does not match the schema", problems)
    try:
        obj = objects.update(conn, kind, key, values, _actor())
    except ValidationFailed as exc:
        return _refused(exc)
    return jsonify(item=public(kind, obj), configuration=_configuration(apply_configuration(conn)))


def _delete(kind: Kind, key: str) -> Response:
    conn = get_conn()
    obj = objects.find(objects.snapshot(conn), kind, key)
    if obj is None:
        return error(404, f"no {kind.label(key)}")
    try:
        objects.remove(conn, kind, key, _actor())
    except ValidationFailed as exc:
        return _refused(exc)
    return jsonify(deleted=key, configuration=_configuration(apply_configuration(conn)))


def _register(kind: Kind) -> None:
    base = f"/{kind.plural}"
    bp.add_url_rule(base, f"{kind.name}_list", lambda: _list(kind), methods=["GET"])
    bp.add_url_rule(base, f"{kind.name}_create", lambda: _create(kind), methods=["POST"])
    bp.add_url_rule(f"{base}/<key>", f"{kind.name}_get", lambda key: _get(kind, key), methods=["GET"])
    bp.add_url_rule(f"{base}/<key>", f"{kind.name}_update", lambda key: _update(kind, key), methods=["PATCH"])
    bp.add_url_rule(f"{base}/<key>", f"{kind.name}_delete", lambda key: _delete(kind, key), methods=["DELETE"])


for _kind in KINDS.values():
    _register(_kind)


@bp.route("/cdrs")
def cdrs() -> Response:
    """Search CDRs: the console's filter, newest first, page by page."""
    f, errors = cdrquery.parse_filter(request.args, blank_is_default=False)
    page = _int_arg("page", 1, 1, 100_000, errors)
    per_page = _int_arg("per_page", 50, 1, MAX_PER_PAGE, errors)
    if errors:
        return error(400, "bad search", [Problem("cdr search", k, v) for k, v in errors.items()])
    rows, has_next = cdrquery.search(get_conn(), f, page, per_page)
    return jsonify(items=[cdrquery.public(r) for r in rows], page=page, per_page=per_page, has_next=has_next)


def _int_arg(name: str, default: int, low: int, high: int, errors: dict[str, str]) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        errors[name] = "must be an integer"
        return default
    if not low <= value <= high:
        errors[name] = f"must be between {low} and {high}"
    return value


# Routes of other areas, added to this blueprint before it is registered (one line each).
from appliance.console import pbx_api, webhooks_api  # noqa: E402, F401
