# SPDX-License-Identifier: GPL-3.0-or-later
"""Shared fixtures: a throwaway PostgreSQL cluster per session, a fresh migrated database per test."""

from __future__ import annotations

import itertools

import psycopg
import pytest

from appliance.devstack.pgcluster import PgCluster, find_bindir
from appliance.store.db import connect
from appliance.store.migrate import migrate

_counter = itertools.count()


@pytest.fixture(scope="session")
def pg_cluster():
    """Start one PostgreSQL cluster on a free loopback port for the whole session."""
    if find_bindir() is None:
        pytest.skip("PostgreSQL server not installed (apt-get install postgresql): store tests skipped")
    cluster = PgCluster().start()
    with connect(cluster.dsn.replace("dbname=appliance", "dbname=postgres"), autocommit=True) as conn:
        conn.execute("CREATE DATABASE appliance_template")
    with connect(cluster.dsn.replace("dbname=appliance", "dbname=appliance_template")) as conn:
        migrate(conn)
    yield cluster
    cluster.destroy()


def new_database(cluster: PgCluster) -> str:
    """Create a database with every migration applied; return its DSN."""
    name = f"t_{next(_counter)}"
    with psycopg.connect(cluster.dsn.replace("dbname=appliance", "dbname=postgres"), autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name} TEMPLATE appliance_template")
    return cluster.dsn.replace("dbname=appliance", f"dbname={name}")


@pytest.fixture
def dsn(pg_cluster) -> str:
    """Return the DSN of a new database with every migration applied."""
    return new_database(pg_cluster)


@pytest.fixture
def conn(dsn):
    """Return an open connection to a fresh migrated database."""
    with connect(dsn, autocommit=True) as c:
        yield c
