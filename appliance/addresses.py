# SPDX-License-Identifier: GPL-3.0-or-later
"""Predicates on address text, shared by validation, rendering and the firewall."""

from __future__ import annotations

import ipaddress


def is_ip(value: str) -> bool:
    """Say whether value is one IPv4 or IPv6 address."""
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def is_network(value: str) -> bool:
    """Say whether value is an address or a network (host bits allowed)."""
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        return False
    return True
