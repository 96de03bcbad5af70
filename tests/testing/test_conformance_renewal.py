"""The conformance suite's token-renewal check: a run too short to outlive a token
(the suite's ``records`` lowered) is reported as not checkable, with the fix; a client
that never renews still fails it."""

from __future__ import annotations

# imported before pytester's session, which removes the modules it imported itself
import dlt  # noqa: F401
import duckdb  # noqa: F401
import headwater.testing.simulator  # noqa: F401
import headwater_directory  # noqa: F401

SUITES = """
import pytest
from headwater.http import authenticators
from headwater.testing.conformance import ConformanceSuite
from headwater_directory import hooks


class TestFewRecords(ConformanceSuite):
    connector = "directory"
    plugins = (hooks,)
    records = 120


def _never_renew(self, *, stale=None):
    with self._lock:
        if self._token is None:
            self._obtain(self._clock())
        return self._token


class TestNeverRenews(ConformanceSuite):
    connector = "directory"
    plugins = (hooks,)

    @pytest.fixture(autouse=True)
    def _old_client(self, monkeypatch):
        monkeypatch.setattr(authenticators._RenewingAuthenticator, "token", _never_renew)
"""


def test_a_run_too_short_to_outlive_a_token_is_not_checkable_and_says_why(pytester):
    pytester.makepyfile(test_renewal=SUITES)
    result = pytester.runpytest("-p", "no:cacheprovider", "-k", "test_token_renewed_mid_run")
    outcome = {
        r.nodeid.split("::")[1]: (r.outcome, r.longrepr)
        for r in result.reprec.getreports("pytest_runtest_logreport")
        if r.when == "call" or r.skipped
    }
    state, why = outcome["TestFewRecords"]
    assert state == "skipped", result.stdout.str()[-3000:]
    assert why[2].startswith("Skipped: not checkable: the run made only "), why
    assert "too few to outlive a 0.3 s token; raise the suite's records (now 120)" in why[2]
    assert outcome["TestNeverRenews"][0] == "failed"
