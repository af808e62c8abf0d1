# SPDX-License-Identifier: GPL-3.0-or-later
"""Console fixtures: the app on a fresh database, an injected clock, HTTPS test clients per role."""

from __future__ import annotations

import copy
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from appliance import config as configuration
from appliance.console import create_app, tokens, users
from appliance.console.passwords import hasher
from appliance.pki import intermediate
from appliance.pki.issue import issue
from appliance.pki.root import create_root, sign_intermediate
from appliance.pki.store import CaStore
from appliance.store.db import connect

BASE = "https://localhost"
# Cheap argon2 parameters: the tests check the flow, not the cost (production uses the library's defaults).
ARGON2_FAST = {"time_cost": 1, "memory_cost": 1024, "parallelism": 1}
ADMIN_PASSWORD = "Correct-Horse-Battery-9"
READONLY_PASSWORD = "Readonly-Staple-Lamp-42"
T0 = datetime(2030, 6, 3, 12, 30, tzinfo=UTC)

_CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="csrf_token"')


class FakeClock:
    """A clock that only moves when told to."""

    def __init__(self, now: datetime = T0):
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class HttpsClient(FlaskClient):
    """A test client that talks HTTPS to the console and sends a same-origin Referer, like a browser."""

    def open(self, *args: Any, **kwargs: Any):
        if args and isinstance(args[0], str):
            kwargs.setdefault("base_url", BASE)
            headers = dict(kwargs.pop("headers", None) or {})
            headers.setdefault("Referer", f"{BASE}/")
            kwargs["headers"] = headers
        return super().open(*args, **kwargs)


def csrf_token(client: FlaskClient, url: str = "/auth/signin") -> str:
    """Return the CSRF token from a page's form (the token belongs to the client's session)."""
    page = client.get(url).get_data(as_text=True)
    match = _CSRF.search(page)
    assert match, f"no CSRF token on {url}"
    return match.group(1) or match.group(2)


def sign_in(client: FlaskClient, username: str, password: str):
    """Sign in through the form; return the response."""
    token = csrf_token(client)
    return client.post("/auth/signin", data={"csrf_token": token, "username": username, "password": password})


def post(client: FlaskClient, url: str, data: dict[str, Any] | None = None, form_url: str | None = None):
    """POST a form with a valid CSRF token taken from form_url (default: the dashboard)."""
    return client.post(url, data={"csrf_token": csrf_token(client, form_url or "/"), **(data or {})})


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def console_config(dsn: str, clock: FakeClock) -> dict[str, Any]:
    """Return a test configuration for create_app: this database, this clock, no live FreeSWITCH."""
    cfg = copy.deepcopy(configuration.DEFAULTS)
    cfg["database"]["dsn"] = dsn
    return {
        "TESTING": True,
        "SECRET_KEY": "test-secret-key-not-for-production",
        "DATABASE_DSN": dsn,
        "APPLIANCE_CONFIG": cfg,
        "CLOCK": clock,
        "ARGON2": ARGON2_FAST,
        "FREESWITCH_LIVE": False,
    }


@pytest.fixture
def app_config(dsn, clock) -> dict[str, Any]:
    return console_config(dsn, clock)


@pytest.fixture
def app(app_config) -> Flask:
    application = create_app(app_config)
    application.test_client_class = HttpsClient
    return application


@pytest.fixture
def db(dsn):
    """Return an autocommit connection to the test database, for arranging and checking."""
    with connect(dsn, autocommit=True) as conn:
        yield conn


def make_user(db, username: str, password: str, role: str = "admin", must_change: bool = False) -> users.User:
    return users.create(db, hasher(ARGON2_FAST), username, password, role, actor="test", must_change=must_change)


@pytest.fixture
def client(app) -> FlaskClient:
    """A client that is not signed in."""
    return app.test_client()


@pytest.fixture
def admin(app, db) -> FlaskClient:
    """A client signed in as an admin who already chose a password."""
    make_user(db, "admin", ADMIN_PASSWORD)
    c = app.test_client()
    assert sign_in(c, "admin", ADMIN_PASSWORD).status_code == 302
    return c


@pytest.fixture
def readonly(app, db) -> FlaskClient:
    """A client signed in as a read-only user."""
    make_user(db, "viewer", READONLY_PASSWORD, role="readonly")
    c = app.test_client()
    assert sign_in(c, "viewer", READONLY_PASSWORD).status_code == 302
    return c


def bearer(db, name: str = "script", scopes: tuple[str, ...] = ("read", "write")) -> dict[str, str]:
    """Create an API token; return the Authorization header that carries it."""
    return {"Authorization": f"Bearer {tokens.create(db, name, list(scopes), actor='test')}"}


def seed_pbx(db) -> None:
    """Add a small office: console and Ansible extensions, a device, a trunk, a DID, a route."""
    from appliance.store.repo import Store

    console, ansible = Store(db, actor="console"), Store(db, actor="ansible")
    console.add_extension("101", "Alice", caller_id_number="+4930123456101")
    console.add_extension("102", "Bob")
    ansible.add_extension("201", "Fleet Desk")
    console.add_device("desk-101", "sip_phone", [{"port": 1, "extension": "101"}], mac="00:11:22:aa:bb:cc")
    console.add_trunk("carrier", "sip.carrier.example", username="acct", password="Trunk-Pass-123")
    ansible.add_trunk("fleet-trunk", "sip.fleet.example")
    console.add_number("+4930123456", "101", tracking_tag="spring-flyer", trunk="carrier")
    console.add_route("national", ["0ZXXXXXXXX."], ["carrier"])


@pytest.fixture
def ca_app(app_config, clock, tmp_path):
    """An app whose appliance CA has an intermediate under a test root and a console certificate."""
    clock.now = datetime.now(UTC)  # the CA's certificates are made for the real now
    root = create_root("System Test Root", tmp_path / "hub")
    store = CaStore.appliance(tmp_path / "ca")
    csr = intermediate.create_request(store, "system test appliance CA")
    intermediate.install(store, sign_intermediate(root, csr, ["localhost"], ["127.0.0.1"], 30), root.cert)
    leaf = issue(store, "console", ["localhost", "127.0.0.1"], now=clock.now)
    app_config["APPLIANCE_CONFIG"]["pki"]["dir"] = str(store.dir)
    app = create_app(app_config)
    app.test_client_class = HttpsClient
    return app, store, leaf
