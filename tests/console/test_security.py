# SPDX-License-Identifier: GPL-3.0-or-later
"""Security headers on every answer, assets served by the console itself, errors that say little."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import appliance.console
from tests.console.conftest import bearer

TEMPLATES = Path(appliance.console.__file__).parent / "templates"


def _assert_strict(headers) -> None:
    csp = headers["Content-Security-Policy"]
    assert csp.startswith("default-src 'self'")
    assert "'unsafe-inline'" not in csp and "'unsafe-eval'" not in csp
    assert "frame-ancestors 'none'" in csp and "object-src 'none'" in csp
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "same-origin"
    assert (
        headers["Strict-Transport-Security"].startswith("max-age=")
        and int(headers["Strict-Transport-Security"].split("=")[1]) >= 31536000
    )


@pytest.mark.parametrize("url", ["/auth/signin", "/", "/extensions/", "/cdrs/", "/no-such-page"])
def test_pages_carry_strict_headers(client, admin, url):
    for c in (client, admin):
        _assert_strict(c.get(url).headers)


def test_pages_are_not_cached(admin):
    assert admin.get("/extensions/").headers["Cache-Control"] == "no-store"


def test_api_answers_carry_strict_headers(client, db):
    response = client.get("/api/v1/extensions", headers=bearer(db))
    assert response.status_code == 200
    _assert_strict(response.headers)
    _assert_strict(client.get("/api/v1/extensions").headers)  # refusals too


def test_static_assets_are_served_and_cacheable(client):
    css = client.get("/static/console.css")
    assert css.status_code == 200 and css.mimetype == "text/css"
    assert "Cache-Control" not in css.headers or css.headers["Cache-Control"] != "no-store"
    _assert_strict(css.headers)


def test_no_inline_script_style_or_remote_asset_in_any_template():
    offenders = []
    for path in TEMPLATES.rglob("*.html"):
        text = path.read_text(encoding="utf-8")
        if (
            re.search(r"<script(?![^>]*\bsrc=)", text)
            or re.search(r"\sstyle=", text)
            or re.search(r"\son[a-z]+=", text)
        ):
            offenders.append(f"{path.name}: inline script, style or handler")
        if re.search(r"(src|href)=\"(https?:)?//", text):
            offenders.append(f"{path.name}: remote asset")
    assert offenders == []


def test_every_page_asset_is_local(admin):
    page = admin.get("/").get_data(as_text=True)
    for url in re.findall(r'(?:src|href)="([^"]+)"', page):
        assert url.startswith("/"), url
        if url.startswith("/static/"):
            assert admin.get(url).status_code == 200, url


def test_unhandled_errors_say_little(app_config, db):
    from appliance.console import create_app
    from tests.console.conftest import ADMIN_PASSWORD, HttpsClient, make_user, sign_in

    app = create_app(app_config)
    app.test_client_class = HttpsClient

    @app.route("/boom")
    def boom():
        raise RuntimeError("secret detail")

    @app.route("/api/v1/boom")
    def api_boom():
        raise RuntimeError("secret detail")

    make_user(db, "admin", ADMIN_PASSWORD)
    client = app.test_client()
    sign_in(client, "admin", ADMIN_PASSWORD)
    page = client.get("/boom")
    assert page.status_code == 500 and "secret detail" not in page.get_data(as_text=True)
    api = client.get("/api/v1/boom")
    assert api.status_code == 500 and api.is_json and "secret detail" not in api.get_data(as_text=True)
