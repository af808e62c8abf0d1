# SPDX-License-Identifier: GPL-3.0-or-later
"""Helpers for the PBX feature pages: a list page made from the object table, with chosen columns."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg
from flask import Blueprint

from appliance.console import crud
from appliance.console.schema import Kind


def register(
    bp: Blueprint,
    kind: Kind,
    heading: str,
    columns: tuple[str, ...],
    intro: str = "",
    extra: Callable[[psycopg.Connection], dict[str, Any]] | None = None,
) -> None:
    """Add kind's pages to bp; its list shows these columns (the first links to the object)."""

    def list_extra(conn: psycopg.Connection) -> dict[str, Any]:
        out = {"heading": heading, "columns": columns, "intro": intro, "extra_columns": (), "extra_cells": None}
        out.update(extra(conn) if extra else {})
        return out

    crud.register(bp, kind, "pbx/list.html", list_extra=list_extra)
