# SPDX-License-Identifier: GPL-3.0-or-later
"""One PostgreSQL connection per request, opened on first use and closed when the request ends."""

from __future__ import annotations

import psycopg
from flask import Flask, current_app, g

from appliance.store.db import connect


def get_conn() -> psycopg.Connection:
    """Return this request's connection (autocommit: every change runs in its own explicit transaction)."""
    if "conn" not in g:
        g.conn = connect(current_app.config["DATABASE_DSN"], autocommit=True)
    return g.conn


def close_conn(exc: BaseException | None = None) -> None:
    """Close this request's connection, if one was opened."""
    conn = g.pop("conn", None)
    if conn is not None:
        conn.close()


def init_app(app: Flask) -> None:
    """Register the connection's teardown."""
    app.teardown_appcontext(close_conn)
