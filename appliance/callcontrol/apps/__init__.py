# SPDX-License-Identifier: GPL-3.0-or-later
"""Outbound-socket call flows, one module each; a module registers its flow with @flow("name")."""

from __future__ import annotations

import importlib
import pkgutil


def load_all() -> list[str]:
    """Import every flow module in this package (registering its flows); return their names."""
    names = []
    for module in pkgutil.iter_modules(__path__):
        if not module.name.startswith("_"):
            importlib.import_module(f"{__name__}.{module.name}")
            names.append(module.name)
    return names
