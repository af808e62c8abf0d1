# SPDX-License-Identifier: GPL-3.0-or-later
"""Open PostgreSQL connections for the appliance."""

from __future__ import annotations

import psycopg
from psycopg.rows import dict_row


def connect(dsn: str, *, autocommit: bool = False) -> psycopg.Connection:
    """Open a connection whose rows come back as dicts."""
    return psycopg.connect(dsn, autocommit=autocommit, row_factory=dict_row, connect_timeout=5)
