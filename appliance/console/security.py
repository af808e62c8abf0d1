# SPDX-License-Identifier: GPL-3.0-or-later
"""Session cookie settings and the security headers on every response."""

from __future__ import annotations

from datetime import timedelta

from flask import Flask, Response, request

# No inline scripts or styles anywhere: every asset is a file the console serves itself.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)

HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    # same-origin, not no-referrer: Flask-WTF checks the Referer of HTTPS form posts (WTF_CSRF_SSL_STRICT).
    "Referrer-Policy": "same-origin",
    "Strict-Transport-Security": "max-age=63072000",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
}


def cookie_settings(session_hours: float) -> dict:
    """Return Flask's session cookie settings: HTTPS only, invisible to scripts, never sent cross-site."""
    return {
        # __Host- makes browsers refuse the cookie unless it is Secure, for "/" and without a Domain.
        "SESSION_COOKIE_NAME": "__Host-console",
        "SESSION_COOKIE_SECURE": True,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Strict",
        "PERMANENT_SESSION_LIFETIME": timedelta(hours=session_hours),
    }


def add_headers(response: Response) -> Response:
    """Add the security headers; pages and API answers may hold secrets, so nothing is cached."""
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    if request.endpoint != "static":
        response.headers.setdefault("Cache-Control", "no-store")
    return response


def init_app(app: Flask) -> None:
    """Register the headers on every response."""
    app.after_request(add_headers)
