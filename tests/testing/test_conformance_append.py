"""The conformance suite on resources a ``rest_api`` config often has: no primary key,
or ``append`` without incremental loading (what ``headwater new --from-rest-api``
makes of a resource that does not say otherwise). Their records are compared by
number where there is no key, and a second run that loads them again is reported as
not checkable, not failed."""

from __future__ import annotations

# imported before pytester's session, which removes the modules it imported itself
import dlt  # noqa: F401
import headwater.testing.simulator  # noqa: F401
import headwater_directory  # noqa: F401

SUITE = """
from headwater import hookimpl
from headwater.spec import Connector, OffsetPagination, Resource
from headwater.testing.conformance import ConformanceSuite

SCHEMA = "schemas/directory_users.json"
LEDGER = Connector(
    name="ledger",
    package="headwater_directory",
    base_url="https://ledger.test",
    resources=[
        Resource(
            name="logs",
            path="/logs",
            schema=SCHEMA,
            data_selector="items",
            primary_key=None,
            write_disposition="append",
            pagination=OffsetPagination(limit=40),
        ),
        Resource(
            name="entries",
            path="/entries",
            schema=SCHEMA,
            data_selector="items",
            write_disposition="append",
            pagination=OffsetPagination(limit=40),
        ),
    ],
)


class Declares:
    @hookimpl
    def headwater_connectors(self):
        return [LEDGER]


class TestLedgerConformance(ConformanceSuite):
    connector = "ledger"
    plugins = (Declares(),)
    records = 90
"""

CHECKS = (
    "test_every_record_extracted_exactly",
    "test_second_run_merges_or_loads_incrementally",
    "test_recovers_from_transient_faults",
)


def test_append_and_keyless_resources_pass_and_a_second_run_is_not_checkable(pytester):
    pytester.makepyfile(test_ledger=SUITE)
    result = pytester.runpytest("-p", "no:cacheprovider", "-k", " or ".join(CHECKS))
    passed = {
        r.nodeid.rsplit("::", 1)[1]
        for r in result.reprec.getreports("pytest_runtest_logreport")
        if r.when == "call" and r.passed
    }
    assert passed == set(CHECKS), result.stdout.str()[-3000:]
    warned = [
        str(call.warning_message.message)
        for call in result.reprec.getcalls("pytest_warning_recorded")
    ]
    for name in ("logs", "entries"):
        assert any(w.startswith(f"{name} appends every record on each run") for w in warned), warned
