# SPDX-License-Identifier: GPL-3.0-or-later
"""Carrier trunks."""

from __future__ import annotations

from flask import Blueprint

from appliance.console import crud
from appliance.console.schema import TRUNK

bp = Blueprint("trunks", __name__)
crud.register(bp, TRUNK, "trunks/list.html")
