# SPDX-License-Identifier: GPL-3.0-or-later
"""Outbound routes: dial patterns, trunks in failover order, caller-ID presentation."""

from __future__ import annotations

from flask import Blueprint

from appliance.console import crud
from appliance.console.schema import ROUTE

bp = Blueprint("routes", __name__)
crud.register(bp, ROUTE, "routes/list.html")
