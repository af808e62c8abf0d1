# SPDX-License-Identifier: GPL-3.0-or-later
"""One PostgreSQL connection per request, opened on first use and closed when the request ends.

With DATABASE_POOL_SIZE > 0 (the box: console setting `db_pool_size`) the connection comes from, and
goes back to, a small pool instead (`pool.py`).
"""

from __future__ import annotations

import psycopg
from flask import Flask, current_app, g

from appliance.console.pool import ConnectionPool
from appliance.store.db import connect


def get_conn() -> psycopg.Connection:
    """Return this request's connection (autocommit: every change runs in its own explicit transaction)."""
    if "conn" not in g:
        pool = current_app.extensions.get("console_pool")
        g.conn = pool.get() if pool else connect(current_app.config["DATABASE_DSN"], autocommit=True)
    return g.conn


def close_conn(exc: BaseException | None = None) -> None:
    """Close this request's connection, if one was opened."""
    conn = g.pop("conn", None)
    if conn is None:
        return
    pool = current_app.extensions.get("console_pool")
    if pool:
        pool.put(conn)
    else:
        conn.close()


def init_app(app: Flask) -> None:
    """Register the connection's teardown, and the pool when one is configured."""
    size = int(app.config.get("DATABASE_POOL_SIZE", 0) or 0)
    if size > 0:
        app.extensions["console_pool"] = ConnectionPool(app.config["DATABASE_DSN"], size)
    app.teardown_appcontext(close_conn)
