# SPDX-License-Identifier: GPL-3.0-or-later
"""Role tests: a fresh chroot per test (tests/roles/chroots.py)."""

from __future__ import annotations

import pytest

from tests.roles import chroots


@pytest.fixture
def chroot(tmp_path):
    """Return a chroot with the host's /usr read-only, its own /etc, an appliance account and a stand-in command."""
    reason = chroots.missing()
    if reason:
        pytest.skip(f"{reason}: role test skipped")
    with chroots.chroot(tmp_path / "root") as root:
        yield root
