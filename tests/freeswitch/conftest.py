# SPDX-License-Identifier: GPL-3.0-or-later
"""The live layer: real FreeSWITCH and sipp. Skipped, with one line, where either is missing."""

from __future__ import annotations

import pytest

from appliance.devstack.freeswitch import NOT_FOUND, find_freeswitch
from tests.conftest import new_database
from tests.harness import sipp
from tests.harness.office import Office


@pytest.fixture(autouse=True)
def _needs_freeswitch():
    if find_freeswitch() is None:
        pytest.skip(f"{NOT_FOUND}: live call tests skipped")
    if not sipp.available():
        pytest.skip("sipp not installed (apt-get install sip-tester): live call tests skipped")


def _office(pg_cluster, tmp_path_factory, name: str):
    office = Office(tmp_path_factory.mktemp(name), new_database(pg_cluster))
    office.populate()
    try:
        yield office.start()
    finally:
        office.close()


@pytest.fixture(scope="module")
def office(pg_cluster, tmp_path_factory):
    """A running office shared by the tests of one module (they must leave it as they found it)."""
    if find_freeswitch() is None or not sipp.available():
        pytest.skip(f"{NOT_FOUND}: live call tests skipped")
    yield from _office(pg_cluster, tmp_path_factory, "office")


@pytest.fixture
def own_office(pg_cluster, tmp_path_factory):
    """A running office for one test that stops or restarts parts of it."""
    yield from _office(pg_cluster, tmp_path_factory, "own-office")
