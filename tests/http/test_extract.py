"""Retry policy (attempt counts, Retry-After) and response rules, through headwater.source()."""

from __future__ import annotations

import time

import headwater
import pytest
from headwater.errors import ResponseError
from headwater.run.dlt_errors import explain
from headwater.spec import ResponseRule, RetryPolicy, SinglePage
from helpers import Declares, connector, records, rows_of

URL = "https://api.test/items"
FAST = RetryPolicy(max_retries=3, backoff_factor=0, max_delay=0)


def run(headwater_plugins, conn):
    headwater_plugins(Declares(conn))
    return rows_of(headwater.source(conn.name))


def test_retries_then_succeeds(headwater_plugins, requests_mock):
    requests_mock.get(
        URL,
        [
            {"status_code": 503},
            {"status_code": 502},
            {"status_code": 429},
            {"json": {"data": records(2)}},
        ],
    )
    assert len(run(headwater_plugins, connector(retry=FAST, pagination=SinglePage()))) == 2
    assert requests_mock.call_count == 4


def test_attempts_are_max_retries_plus_one(headwater_plugins, requests_mock):
    requests_mock.get(URL, status_code=503)
    with pytest.raises(Exception) as err:
        run(headwater_plugins, connector(retry=FAST, pagination=SinglePage()))
    assert requests_mock.call_count == 4
    msg = str(explain(err.value))
    assert "HTTP 503" in msg and "after 4 attempts" in msg


def test_status_not_in_policy_is_not_retried(headwater_plugins, requests_mock):
    requests_mock.get(URL, status_code=500)
    policy = RetryPolicy(status_codes=(503,), max_retries=3, backoff_factor=0)
    with pytest.raises(Exception) as err:
        run(headwater_plugins, connector(retry=policy, pagination=SinglePage()))
    assert "HTTP 500" in str(explain(err.value))
    assert requests_mock.call_count == 1


def test_retry_after_is_honoured(headwater_plugins, requests_mock):
    requests_mock.get(
        URL,
        [{"status_code": 429, "headers": {"Retry-After": "1"}}, {"json": {"data": records(1)}}],
    )
    policy = RetryPolicy(max_retries=2, backoff_factor=0, max_delay=5)
    started = time.monotonic()
    run(headwater_plugins, connector(retry=policy, pagination=SinglePage()))
    # The policy alone would not wait at all; the 1 s came from the header.
    assert time.monotonic() - started >= 0.95


def test_ignore_rule_yields_nothing_and_warns(headwater_plugins, requests_mock, caplog):
    requests_mock.get(URL, status_code=404, json={"error": "gone"})
    conn = connector(
        rules=[ResponseRule(action="ignore", status_code=404)], pagination=SinglePage()
    )
    assert run(headwater_plugins, conn) == []
    assert "resource testapi.items: ignoring HTTP 404" in caplog.text


def test_body_rule_fails_a_200(headwater_plugins, requests_mock):
    requests_mock.get(URL, json={"data": [], "error": "quota exhausted"})
    conn = connector(
        rules=[ResponseRule(action="fail", contains="quota exhausted")], pagination=SinglePage()
    )
    with pytest.raises(Exception) as err:
        run(headwater_plugins, conn)
    known = explain(err.value)
    assert isinstance(known, ResponseError)
    assert "body containing 'quota exhausted' -> fail" in str(known)


def test_retry_rule(headwater_plugins, requests_mock):
    requests_mock.get(URL, [{"json": {"status": "warming up"}}, {"json": {"data": records(1)}}])
    conn = connector(
        retry=FAST,
        rules=[ResponseRule(action="retry", contains="warming up")],
        pagination=SinglePage(),
    )
    assert len(run(headwater_plugins, conn)) == 1
    assert requests_mock.call_count == 2


def test_headwater_response_rules_of_plugins_come_first(headwater_plugins, requests_mock):
    from headwater import hookimpl

    class IgnoreTeapots:
        @hookimpl
        def headwater_response_rules(self, connector, resource):
            return [ResponseRule(action="ignore", status_code=418)]

    requests_mock.get(URL, status_code=418)
    conn = connector(rules=[ResponseRule(action="fail", status_code=418)], pagination=SinglePage())
    headwater_plugins(Declares(conn), IgnoreTeapots())
    assert rows_of(headwater.source("testapi")) == []


def test_a_resource_rule_comes_before_the_connectors(headwater_plugins, requests_mock, caplog):
    requests_mock.get(URL, status_code=418)
    conn = connector(
        rules=[ResponseRule(action="fail", status_code=418)],
        response_rules=[ResponseRule(action="ignore", status_code=418)],
        pagination=SinglePage(),
    )
    assert run(headwater_plugins, conn) == []
    assert "resource testapi.items: ignoring HTTP 418" in caplog.text


def test_headwater_retry_policy_override(headwater_plugins, requests_mock):
    from headwater import hookimpl

    class Patient:
        @hookimpl
        def headwater_retry_policy(self, connector, resource):
            return RetryPolicy(max_retries=5, backoff_factor=0, max_delay=0)

    requests_mock.get(URL, [{"status_code": 503}] * 5 + [{"json": {"data": records(1)}}])
    # the connector declares 1 retry; the plugin's policy (5) wins
    conn = connector(retry=RetryPolicy(max_retries=1, backoff_factor=0), pagination=SinglePage())
    headwater_plugins(Declares(conn), Patient())
    assert len(rows_of(headwater.source("testapi"))) == 1
    assert requests_mock.call_count == 6


def test_explain_survives_an_exception_without_a_message():
    class PipelineStepFailed(Exception):
        step = "extract"

    class Silent(Exception):
        pass

    try:
        try:
            raise Silent()
        except Silent as inner:
            raise PipelineStepFailed("step failed") from inner
    except PipelineStepFailed as outer:
        explained = explain(outer)
    assert str(explained) == "the extract step failed: Silent: Silent"
