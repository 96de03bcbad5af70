"""The conformance suite on resources a ``rest_api`` config often has: no primary key,
or ``append`` without incremental loading (what ``headwater new --from-rest-api``
makes of a resource that does not say otherwise). Their records are compared by
number where there is no key, and a second run that loads them again is reported as
not checkable, not failed. And on pagination that ends on a flag in the body
(``end_path``), which the simulator serves with a next link or cursor on every page."""

from __future__ import annotations

# imported before pytester's session, which removes the modules it imported itself
import dlt  # noqa: F401
import duckdb  # noqa: F401
import headwater.testing.simulator  # noqa: F401
import headwater_directory  # noqa: F401

SUITE = """
from headwater import hookimpl
from headwater.spec import Connector, OffsetPagination, Resource
from headwater.testing.conformance import ConformanceSuite

SCHEMA = "schemas/directory_users.json"
DECLARED = Connector(
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

"""

#: the suite of the connector declared as ``DECLARED`` by the text before it
SUITE_OF = """

class Declares:
    @hookimpl
    def headwater_connectors(self):
        return [DECLARED]


class TestConformance(ConformanceSuite):
    connector = DECLARED.name
    plugins = (Declares(),)
    records = 90
"""

CHECKS = (
    "test_every_record_extracted_exactly",
    "test_second_run_merges_or_loads_incrementally",
    "test_recovers_from_transient_faults",
)


def run_suite(pytester, declared: str, checks: tuple[str, ...]):
    """Run ``checks`` of the suite of the connector ``declared`` declares; they pass."""
    pytester.makepyfile(test_suite=declared + SUITE_OF)
    result = pytester.runpytest("-p", "no:cacheprovider", "-k", " or ".join(checks))
    passed = {
        r.nodeid.rsplit("::", 1)[1]
        for r in result.reprec.getreports("pytest_runtest_logreport")
        if r.when == "call" and r.passed
    }
    assert passed == set(checks), result.stdout.str()[-3000:]
    return result


def test_append_and_keyless_resources_pass_and_a_second_run_is_not_checkable(pytester):
    result = run_suite(pytester, SUITE, CHECKS)
    warned = [
        str(call.warning_message.message)
        for call in result.reprec.getcalls("pytest_warning_recorded")
    ]
    for name in ("logs", "entries"):
        assert any(w.startswith(f"{name} appends every record on each run") for w in warned), warned


END_FLAG = """
from headwater import hookimpl
from headwater.spec import Connector, CursorPagination, NextLinkPagination, Resource
from headwater.testing.conformance import ConformanceSuite

SCHEMA = "schemas/directory_users.json"
DECLARED = Connector(
    name="desk",
    package="headwater_directory",
    base_url="https://desk.test",
    resources=[
        Resource(
            name="tickets",
            path="/api/v2/incremental/tickets.json",
            schema=SCHEMA,
            data_selector="tickets",
            pagination=NextLinkPagination(next_path="next_page", end_path="end_of_stream"),
        ),
        Resource(
            name="users",
            path="/api/v2/incremental/users/cursor.json",
            schema=SCHEMA,
            data_selector="users",
            pagination=CursorPagination(
                cursor_path="after_cursor", page_size=40, end_path=("meta", "end_of_stream")
            ),
        ),
    ],
)
"""


def test_pages_ending_on_a_flag_in_the_body_pass(pytester):
    # Zendesk's exports: a link or cursor on every page, end_of_stream on the last; a
    # client that followed the link after it would read a page repeating it, and stop
    run_suite(pytester, END_FLAG, CHECKS[::2])
