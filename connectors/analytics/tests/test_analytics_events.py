"""analytics_events (seed 002): OAuth2 at {base_url}/oauth/token, offset pagination,
incremental loading on timestamp (sent as since=), full_refresh mode."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import duckdb
import headwater
from headwater.errors import SettingsError
from headwater.run import explain
from headwater.testing import Fault
from headwater.testing import rows_of as records
from headwater.timebounds import isoformat, parse_instant
from headwater_analytics.hooks import ANALYTICS_EVENTS

BASE = "https://api.example.com"
CREDS = {"client_id": "events-client", "client_secret": "events-secret-value"}


def event(i: int) -> dict:
    return {
        "id": f"ev-{i:05d}",
        "customer_id": f"cust-{i % 3}",
        "event_type": "viewed",
        "timestamp": f"2024-03-01T{i // 3600:02d}:{i // 60 % 60:02d}:{i % 60:02d}Z",
    }


def query(request) -> dict[str, list[str]]:
    """The query of a recorded request, case kept (requests-mock lower-cases ``.query``)."""
    return parse_qs(urlsplit(request.url).query)


def serve_events(requests_mock, events: list[dict], base: str = BASE):
    """``/v1/resource`` with offset/limit and an optional ``since`` filter."""

    def respond(request, context):
        params = query(request)
        offset, limit = int(params["offset"][0]), int(params["limit"][0])
        since = params.get("since", [""])[0]
        chosen = [e for e in events if not since or e["timestamp"] > since]
        return {"data": chosen[offset : offset + limit]}

    return requests_mock.get(f"{base}/v1/resource", json=respond)


def token(requests_mock, base: str = BASE):
    return requests_mock.post(
        f"{base}/oauth/token", json={"access_token": "tok-events", "expires_in": 3600}
    )


def test_token_url_derived_from_base_url_and_offset_pages(requests_mock):
    token_mock = token(requests_mock, "https://eu.api.example.com")
    serve_events(requests_mock, [event(i) for i in range(250)], "https://eu.api.example.com")
    source = headwater.source("analytics_events", base_url="https://eu.api.example.com", **CREDS)
    assert len(records(source)) == 250
    assert token_mock.call_count == 1
    assert parse_qs(token_mock.last_request.text)["grant_type"] == ["client_credentials"]
    pages = [r for r in requests_mock.request_history if r.method == "GET"]
    assert [query(r) for r in pages] == [
        {"offset": [str(o)], "limit": ["100"]} for o in (0, 100, 200)
    ]


def a_second_before(moment: str) -> str:
    """The ``since`` asked for the events from ``moment`` on: a plain since API answers
    strictly after its bound, so Headwater asks a second early."""
    return isoformat(parse_instant(moment) - timedelta(seconds=1))


def test_since_is_sent_on_the_next_run(requests_mock, duckdb_pipeline):
    token(requests_mock)
    events = [event(i) for i in range(150)]
    api = serve_events(requests_mock, events)
    pipeline = duckdb_pipeline("events_since")
    pipeline.run(headwater.source("analytics_events", **CREDS))
    assert all("since" not in query(r) for r in api.request_history)
    newest = max(e["timestamp"] for e in events)

    events.extend(event(i) for i in range(150, 155))
    first_run = api.call_count
    pipeline.run(headwater.source("analytics_events", **CREDS))
    second = api.request_history[first_run:]
    # one short page, asked from a second before the newest (since answers after it)
    assert [query(r)["since"] for r in second] == [[a_second_before(newest)]]
    with pipeline.sql_client() as client:
        assert client.execute_sql("select count(*), count(distinct id) from events") == [(155, 155)]


def test_sync_mode_is_validated():
    error = extraction_error(headwater.source("analytics_events", sync_mode="sometimes", **CREDS))
    assert isinstance(error, SettingsError)
    assert re.search("sync_mode.*is not one of 'incremental', ", str(error))


# ------------------------------------------------------------------ end to end


def count(pipeline) -> int:
    with pipeline.sql_client() as client:
        return client.execute_sql("select count(*) from events")[0][0]


def test_e2e_incremental_then_only_new_then_full_refresh(api_simulator, duckdb_pipeline):
    sim = api_simulator(ANALYTICS_EVENTS, records={"events": 1234})
    pipeline = duckdb_pipeline("events_e2e")
    pipeline.run(headwater.source("analytics_events", **sim.settings))
    assert count(pipeline) == 1234
    first = sim.requests_for("events")
    assert len(first) == 13  # 12 full pages of 100, one of 34
    assert all("since" not in r.query for r in first)
    newest = max(e["timestamp"] for e in sim.data["events"])

    sim.reset_log()
    sim.grow("events", 25)
    pipeline.run(headwater.source("analytics_events", **sim.settings))
    assert count(pipeline) == 1234 + 25  # exactly the new ones
    second = sim.requests_for("events")
    assert {r.query["since"][0] for r in second} == {a_second_before(newest)}
    assert len(second) == 1  # only the 25 new events were sent
    with pipeline.sql_client() as client:
        assert client.execute_sql("select count(distinct id) from events") == [(1259,)]

    sim.reset_log()
    pipeline.run(headwater.source("analytics_events", sync_mode="full_refresh", **sim.settings))
    assert all("since" not in r.query for r in sim.requests_for("events"))
    assert len(sim.requests_for("events")) == 13
    assert count(pipeline) == 1259

    with pipeline.sql_client() as client:
        types = dict(
            client.execute_sql(
                "select column_name, data_type from information_schema.columns "
                "where table_schema = 'events_e2e_data' and table_name = 'events'"
            )
        )
    assert types["timestamp"] == "TIMESTAMP WITH TIME ZONE"
    assert types["id"] == types["event_type"] == types["customer_id"] == "VARCHAR"


def test_e2e_cli_run_with_env_settings_and_a_transient_429(api_simulator, headwater_env):
    sim = api_simulator(
        ANALYTICS_EVENTS,
        records={"events": 321},
        faults=[Fault("status", status=429, resource="events", retry_after="1", after=1)],
    )
    env = {f"SOURCES__ANALYTICS_EVENTS__{k.upper()}": v for k, v in sim.settings.items()}
    del env["SOURCES__ANALYTICS_EVENTS__TOKEN_URL"]  # derived from base_url: /oauth/token
    result = subprocess.run(
        [sys.executable, "-m", "headwater", "run", "analytics_events"],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert [r.status for r in sim.requests_for("events")].count(429) == 1
    db = headwater_env / "headwater_analytics_events.duckdb"
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.sql(
            "select count(*), count(distinct id) from analytics_events_data.events"
        ).fetchall() == [(321, 321)]
    assert sim.credentials["client_secret"] not in result.stdout + result.stderr


def extraction_error(source: object) -> BaseException:
    """The Headwater error that stops extracting ``source`` (its settings are resolved
    then; dlt wraps the error)."""
    try:
        list(source)  # type: ignore[call-overload]
    except Exception as exc:  # dlt's wrapper; the cause is returned
        return explain(exc) or exc
    raise AssertionError("extracting the source raised nothing")
