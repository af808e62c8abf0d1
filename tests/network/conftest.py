# SPDX-License-Identifier: GPL-3.0-or-later
"""The network layer: hub and site namespaces per test, torn down even when the test fails."""

from __future__ import annotations

import pytest

from tests.network.fabric import Fabric, Fleet, build_fleet, missing_tools


@pytest.fixture
def fabric(tmp_path):
    """Two fresh namespaces joined by a fenced veth pair; skipped with one line without root or tools."""
    reason = missing_tools()
    if reason:
        pytest.skip(reason)
    made = Fabric(tmp_path)
    try:
        yield made.create()
    finally:
        made.close()


@pytest.fixture
def fleet(fabric) -> Fleet:
    """A hub with the site enrolled and both tunnels up."""
    return build_fleet(fabric)
