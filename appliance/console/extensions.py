# SPDX-License-Identifier: GPL-3.0-or-later
"""Extensions and the devices that ring them, with what each phone needs to provision itself."""

from __future__ import annotations

from flask import Blueprint

from appliance.console import crud
from appliance.console.schema import DEVICE, EXTENSION

bp = Blueprint("extensions", __name__)
crud.register(bp, EXTENSION, "extensions/extension_list.html")
crud.register(bp, DEVICE, "extensions/device_list.html")
