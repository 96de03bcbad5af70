"""analytics_meetings (seed 003): token URL from the authorization_endpoint secret,
users by next_page_token cursor, meetings with one request per user (concurrently),
a 404 for one user's meetings skipped."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from urllib.parse import parse_qs, urlsplit

import duckdb
import headwater
import pytest
from headwater.errors import ResponseError, SettingsError
from headwater.run import explain
from headwater.testing import Fault
from headwater.testing import rows_of as records
from headwater_analytics.hooks import ANALYTICS_MEETINGS

BASE = "https://api.example.com"
TOKEN_URL = "https://auth.example.com/oauth/token"
CREDS = {"client_id": "meet-client", "client_secret": "meet-secret-value"}


def query(request) -> dict[str, list[str]]:
    """The query of a recorded request, case kept (requests-mock lower-cases ``.query``)."""
    return parse_qs(urlsplit(request.url).query)


def serve_users(requests_mock, total: int) -> list[dict]:
    """``/v1/users`` like a cursor API: ``page_size``, ``total_records`` and a
    ``next_page_token`` that is empty on the last page."""
    users = [
        {"id": f"U{i:04d}x", "email": f"u{i}@example.com", "first_name": "A", "last_name": "B",
         "status": "active", "created_at": "2023-12-01T08:00:00Z"}
        for i in range(total)
    ]  # fmt: skip

    def respond(request, context):
        params = query(request)
        size = int(params["page_size"][0])
        start = int(params.get("next_page_token", ["0"])[0])
        following = start + size
        return {
            "page_size": size,
            "total_records": total,
            "next_page_token": str(following) if following < total else "",
            "users": users[start:following],
        }

    requests_mock.get(f"{BASE}/v1/users", json=respond)
    return users


def meetings_of(user_id: str, n: int) -> list[dict]:
    return [
        {"id": 9000 + i, "topic": f"sync {i}", "start_time": "2024-01-02T09:00:00Z",
         "duration": 30, "status": "waiting", "host_id": user_id}
        for i in range(n)
    ]  # fmt: skip


def serve_meetings(requests_mock, users: list[dict], missing: str | None = None) -> int:
    """``/v1/meetings/<user id>``: user ``i`` has ``i % 4`` meetings; ``missing`` 404s."""
    served = 0
    for i, user in enumerate(users):
        url = f"{BASE}/v1/meetings/{user['id']}"
        if user["id"] == missing:
            requests_mock.get(url, status_code=404, json={"code": 1001, "message": "no user"})
            continue
        meetings = meetings_of(user["id"], i % 4)
        served += len(meetings)
        requests_mock.get(
            url, json={"page_size": 30, "total_records": len(meetings), "meetings": meetings}
        )
    return served


def token(requests_mock):
    return requests_mock.post(TOKEN_URL, json={"access_token": "tok-meet", "expires_in": 3600})


def test_users_by_cursor_and_meetings_per_user(requests_mock, monkeypatch):
    # The seed's name for the token URL, as an environment variable.
    monkeypatch.setenv("SOURCES__ANALYTICS_MEETINGS__AUTHORIZATION_ENDPOINT", TOKEN_URL)
    token_mock = token(requests_mock)
    users = serve_users(requests_mock, 75)
    served = serve_meetings(requests_mock, users)
    source = headwater.source("analytics_meetings", **CREDS)
    rows = records(source.resources["meetings"])
    assert len(rows) == served
    for row in rows:
        assert row["user_id"] == row["host_id"]  # each meeting carries its user's id

    assert token_mock.call_count == 1
    pages = [r for r in requests_mock.request_history if r.path == "/v1/users"]
    assert [query(r) for r in pages] == [
        {"page_size": ["30"]},
        {"page_size": ["30"], "next_page_token": ["30"]},
        {"page_size": ["30"], "next_page_token": ["60"]},
    ]
    meeting_paths = {r.path for r in requests_mock.request_history if "/meetings/" in r.path}
    assert meeting_paths == {f"/v1/meetings/{u['id']}".lower() for u in users}


def test_token_url_is_required_and_authorization_endpoint_is_accepted():
    error = extraction_error(headwater.source("analytics_meetings", **CREDS))
    assert isinstance(error, SettingsError)
    assert str(error).startswith(
        "missing setting token_url for connector "
        "analytics_meetings: set SOURCES__ANALYTICS_MEETINGS__TOKEN_URL"
    )
    source = headwater.source("analytics_meetings", authorization_endpoint=TOKEN_URL, **CREDS)
    assert list(source.resources) == ["users", "meetings"]


def test_404_for_one_users_meetings_skips_that_user(requests_mock, caplog):
    token(requests_mock)
    users = serve_users(requests_mock, 12)
    victim = users[5]["id"]
    served = serve_meetings(requests_mock, users, missing=victim)
    source = headwater.source("analytics_meetings", token_url=TOKEN_URL, **CREDS)
    with caplog.at_level(logging.WARNING, logger="headwater.http.extract"):
        rows = records(source.resources["meetings"])
    assert len(rows) == served
    assert victim not in {r["user_id"] for r in rows}
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert f"analytics_meetings.meetings (user_id={victim}): ignoring HTTP 404" in warnings[0]


def test_404_for_the_users_list_fails_the_run(requests_mock):
    # The 404 rule is scoped to the per-user requests: a wrong base_url is not "no data".
    token(requests_mock)
    requests_mock.get(f"{BASE}/v1/users", status_code=404, json={"message": "not found"})
    source = headwater.source("analytics_meetings", token_url=TOKEN_URL, **CREDS)
    with pytest.raises(Exception) as info:  # dlt wraps it in its extraction error
        list(source.resources["users"])
    error = explain(info.value)
    assert isinstance(error, ResponseError)
    assert "resource analytics_meetings.users: GET" in str(error)
    assert "answered HTTP 404" in str(error)


def test_max_workers_is_validated():
    source = headwater.source("analytics_meetings", token_url=TOKEN_URL, max_workers=0, **CREDS)
    error = extraction_error(source)  # checked when the source is extracted
    assert isinstance(error, SettingsError) and "invalid setting max_workers" in str(error)


# ------------------------------------------------------------------ end to end


def test_e2e_every_users_meetings_concurrently_joinable_and_merged(api_simulator, duckdb_pipeline):
    sim = api_simulator(ANALYTICS_MEETINGS, records={"users": 95, "meetings": 4}, latency=0.05)
    expected = sum(len(v) for v in sim.data["meetings"].values())
    assert expected == 4 * (95 - 9)  # every tenth user has no meetings
    pipeline = duckdb_pipeline("meetings_e2e")
    pipeline.run(headwater.source("analytics_meetings", max_workers=8, **sim.settings))

    with pipeline.sql_client() as client:
        sql = client.execute_sql
        assert sql("select count(*) from users") == [(95,)]
        assert sql("select count(*) from meetings") == [(expected,)]
        assert sql("select count(*) from meetings m join users u on m.user_id = u.id") == [
            (expected,)
        ]
        per_user = dict(sql("select user_id, count(*) from meetings group by user_id"))
        types = dict(
            sql(
                "select column_name, data_type from information_schema.columns "
                "where table_schema = 'meetings_e2e_data' and table_name = 'meetings'"
            )
        )
    assert per_user == {k: len(v) for k, v in sim.data["meetings"].items() if v}
    assert types["id"] == types["duration"] == "BIGINT"
    assert types["start_time"] == "TIMESTAMP WITH TIME ZONE"
    assert types["user_id"] == types["topic"] == "VARCHAR"
    assert sim.peak_concurrency >= 4  # per-user requests overlap
    assert len(sim.requests_for("meetings")) == 95  # one request per user
    assert len(sim.requests_for("users")) == 4  # 30 + 30 + 30 + 5

    pipeline.run(headwater.source("analytics_meetings", **sim.settings))  # merge: no duplicates
    with pipeline.sql_client() as client:
        assert client.execute_sql("select count(*) from meetings") == [(expected,)]
        assert client.execute_sql("select count(*) from users") == [(95,)]


def test_e2e_404_for_one_user_is_skipped(api_simulator, duckdb_pipeline, caplog):
    sim = api_simulator(
        ANALYTICS_MEETINGS,
        records={"users": 20, "meetings": 2},
        faults=[Fault("status", status=404, resource="meetings", count=1)],
    )
    pipeline = duckdb_pipeline("meetings_404")
    with caplog.at_level(logging.WARNING):
        # one worker: requests go in user order, so the first user gets the 404
        pipeline.run(headwater.source("analytics_meetings", max_workers=1, **sim.settings))
    victim = sim.data["users"][0]["id"]
    refused = [r for r in sim.requests_for("meetings") if r.status == 404]
    assert [r.path for r in refused] == [f"/v1/meetings/{victim}"]
    expected = sum(len(v) for k, v in sim.data["meetings"].items() if k != victim)
    assert len(sim.data["meetings"][victim]) == 2
    with pipeline.sql_client() as client:
        assert client.execute_sql("select count(*) from meetings") == [(expected,)]
        assert client.execute_sql(f"select count(*) from meetings where user_id = '{victim}'") == [
            (0,)
        ]
        assert client.execute_sql("select count(*) from users") == [(20,)]
    assert f"(user_id={victim}): ignoring HTTP 404" in caplog.text


def test_e2e_max_workers_caps_concurrent_meetings_requests(
    api_simulator, duckdb_pipeline, monkeypatch
):
    monkeypatch.setenv("HEADWATER_ARROW", "0")  # users arrive as pages of 30, not one table
    sim = api_simulator(ANALYTICS_MEETINGS, records={"users": 150, "meetings": 1}, latency=0.05)
    pipeline = duckdb_pipeline("meetings_cap")
    pipeline.run(headwater.source("analytics_meetings", max_workers=2, **sim.settings))
    # peak_concurrency counts the users pages too: measure the meetings requests alone
    edges = []
    for r in sim.requests_for("meetings"):
        edges += [(r.time, 1), (r.time + r.duration, -1)]
    in_flight = peak = 0
    for _, step in sorted(edges, key=lambda e: (e[0], e[1])):
        in_flight += step
        peak = max(peak, in_flight)
    assert 1 < peak <= 2


def test_e2e_cli_with_the_seeds_authorization_endpoint(api_simulator, headwater_env):
    sim = api_simulator(ANALYTICS_MEETINGS, records={"users": 33, "meetings": 2})
    env = {
        "SOURCES__ANALYTICS_MEETINGS__BASE_URL": sim.base_url,
        "SOURCES__ANALYTICS_MEETINGS__CLIENT_ID": sim.credentials["client_id"],
        "SOURCES__ANALYTICS_MEETINGS__CLIENT_SECRET": sim.credentials["client_secret"],
        "SOURCES__ANALYTICS_MEETINGS__AUTHORIZATION_ENDPOINT": sim.token_url,
    }
    result = subprocess.run(
        [sys.executable, "-m", "headwater", "run", "analytics_meetings"],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    expected = sum(len(v) for v in sim.data["meetings"].values())
    db = headwater_env / "headwater_analytics_meetings.duckdb"
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.sql("select count(*) from analytics_meetings_data.users").fetchall() == [(33,)]
        assert con.sql("select count(*) from analytics_meetings_data.meetings").fetchall() == [
            (expected,)
        ]
    assert len(sim.requests_for("token")) == 1


def extraction_error(source: object) -> BaseException:
    """The Headwater error that stops extracting ``source`` (its settings are resolved
    then; dlt wraps the error)."""
    try:
        list(source)  # type: ignore[call-overload]
    except Exception as exc:  # dlt's wrapper; the cause is returned
        return explain(exc) or exc
    raise AssertionError("extracting the source raised nothing")
