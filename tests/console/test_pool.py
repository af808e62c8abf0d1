# SPDX-License-Identifier: GPL-3.0-or-later
"""The console's connection pool: idle connections reused, anything else closed, pages still right."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from appliance.console import create_app
from appliance.console.pool import ConnectionPool
from tests.console.conftest import ADMIN_PASSWORD, HttpsClient, make_user, sign_in
from tests.console.test_dashboard import add_cdr


def backend_pid(conn) -> int:
    return conn.execute("SELECT pg_backend_pid() AS pid").fetchone()["pid"]


def test_an_idle_connection_is_reused(dsn):
    pool = ConnectionPool(dsn, 2)
    first = pool.get()
    pid = backend_pid(first)
    pool.put(first)
    again = pool.get()
    assert again is first and backend_pid(again) == pid
    pool.put(again)
    pool.close()
    assert first.closed


def test_a_connection_left_in_a_transaction_is_closed_not_kept(dsn):
    pool = ConnectionPool(dsn, 2)
    conn = pool.get()
    conn.execute("BEGIN")
    conn.execute("SELECT 1")
    pool.put(conn)
    assert conn.closed
    assert pool.get() is not conn


def test_no_more_than_size_idle_connections(dsn):
    pool = ConnectionPool(dsn, 1)
    a, b = pool.get(), pool.get()
    pool.put(a)
    pool.put(b)
    assert not a.closed and b.closed
    pool.close()


def test_a_connection_that_died_while_idle_is_replaced(dsn, conn):
    pool = ConnectionPool(dsn, 2)
    victim = pool.get()
    pid = backend_pid(victim)
    pool.put(victim)
    conn.execute("SELECT pg_terminate_backend(%s)", (pid,))
    fresh = pool.get()
    assert fresh is not victim and backend_pid(fresh) != pid
    pool.put(fresh)
    pool.close()


@pytest.fixture
def pooled_app(app_config):
    application = create_app({**app_config, "DATABASE_POOL_SIZE": 2})
    application.test_client_class = HttpsClient
    yield application
    application.extensions["console_pool"].close()


def test_pages_share_one_backend_through_the_pool(pooled_app, db):
    make_user(db, "admin", ADMIN_PASSWORD)
    client = pooled_app.test_client()
    assert sign_in(client, "admin", ADMIN_PASSWORD).status_code == 302
    for _ in range(3):
        assert client.get("/cdrs/").status_code == 200
    pool = pooled_app.extensions["console_pool"]
    assert len(pool._idle) == 1  # one request at a time: one connection, kept, never a second
    pids = db.execute(
        "SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
    ).fetchone()["n"]
    assert pids == 1


def test_an_export_streams_through_the_pool_and_an_abandoned_one_gives_its_connection_back(pooled_app, db):
    now = datetime.now(UTC)
    for i in range(2500):
        add_cdr(db, now - timedelta(minutes=i), caller_number=f"+4930{i:07d}")
    make_user(db, "admin", ADMIN_PASSWORD)
    client = pooled_app.test_client()
    assert sign_in(client, "admin", ADMIN_PASSWORD).status_code == 302
    whole = client.get("/cdrs/export.csv").get_data(as_text=True).splitlines()
    assert len(whole) == 2501
    pool = pooled_app.extensions["console_pool"]
    # A download stopped after its first chunks: its cursor's transaction is rolled back, its connection kept.
    response = client.get("/cdrs/export.csv")
    chunks = response.response
    assert next(iter(chunks)).startswith(b"uuid,") and next(iter(chunks))
    response.close()
    assert len(pool._idle) == 1
    conn = pool.get()
    assert conn.info.transaction_status.name == "IDLE"
    pool.put(conn)
    assert client.get("/cdrs/").status_code == 200
