# SPDX-License-Identifier: GPL-3.0-or-later
"""The API fuzzed from its own OpenAPI document (schemathesis): no server errors, every answer as documented.

Each operation gets valid (positive) and invalid (negative) requests; every schemathesis check runs
on each answer. The operations come from the document itself, so a new route is fuzzed as soon as
it is described. Driven through hypothesis directly: schemathesis' pytest plugin does not load
under this project's pytest. One database for the module: creating one per operation cost more
than the fuzzing.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, assume, given, settings
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

from appliance.console import create_app, openapi
from appliance.store.db import connect
from tests.conftest import new_database
from tests.console.conftest import FakeClock, bearer, console_config
from tests.console.test_pbx_pages import seed_features

# Small on purpose: 27 operations x 2 modes x this many examples must stay well within a minute.
MAX_EXAMPLES = 8
OPERATIONS = [r.ok().label for r in schemathesis.openapi.from_dict(openapi.document()).get_all_operations()]
# The document itself is public and takes no input: there is nothing to send it that is invalid.
CASES = [(label, GenerationMode.POSITIVE) for label in OPERATIONS] + [
    (label, GenerationMode.NEGATIVE) for label in OPERATIONS if label != "GET /api/v1/openapi.json"
]


@pytest.fixture(scope="module")
def fuzz_target(pg_cluster):
    """Return the console app on one seeded database, and a read-write token's headers."""
    dsn = new_database(pg_cluster)
    with connect(dsn, autocommit=True) as db:
        seed_features(db)  # something to read, change and fail to delete (PBX features included)
        headers = bearer(db, "fuzzer", ("read", "write"))
    app = create_app(console_config(dsn, FakeClock()))
    return schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app), headers


@pytest.mark.parametrize(("label", "mode"), CASES, ids=[f"{label} {mode.value}" for label, mode in CASES])
def test_api_answers_as_documented(fuzz_target, label, mode):
    schema, headers = fuzz_target
    method, path = label.split(" ", 1)
    operation = schema[path][method]

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def fuzz(case):
        # A query parameter whose value is an empty list is not sent at all, so such a "negative" case
        # reaches the server as a valid request (found: {'': []} beside valid parameters, answered 200).
        assume(not any(value == [] for value in (case.query or {}).values()))
        # Every check but one: "schema-valid data must be accepted" cannot hold for a store that refuses
        # cross-object conflicts (overlapping patterns, a DID to a missing extension) with 422.
        case.call_and_validate(headers=headers, excluded_checks=[positive_data_acceptance])

    fuzz()


def test_every_operation_is_fuzzed():
    # eleven object kinds (five + six PBX ones) x five operations, CDR search, the document, four webhook
    # operations, four of recordings and tracking
    assert len(OPERATIONS) == 11 * 5 + 2 + 4 + 4
    assert len(CASES) == 2 * len(OPERATIONS) - 1  # the document takes no input to break
