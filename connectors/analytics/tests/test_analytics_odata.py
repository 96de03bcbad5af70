"""analytics_odata (seed 001): OAuth2 with scope, @odata.nextLink paging, 403/404
ignored per entity set, extra_resources — against requests-mock and the simulator."""

from __future__ import annotations

import json
import logging
import re
from urllib.parse import parse_qs, urlsplit

import attrs
import duckdb
import headwater
import pytest
from headwater.errors import SettingsError
from headwater.run import explain
from headwater.testing import Fault
from headwater.testing import rows_of as records
from headwater_analytics.hooks import ANALYTICS_ODATA
from headwater_analytics.odata import entity_resource

BASE = "https://api.example.com"
TOKEN_URL = "https://login.example.com/oauth2/token"
CREDS = {"client_id": "odata-client", "client_secret": "odata-secret-value"}


def entity(name: str, i: int) -> dict:
    return {
        "id": f"{name[0]}-{i:05d}",
        "customer_id": "cust-1",
        "user_key": f"key{i}",
        "created_at": "2024-05-01T10:00:00Z",
    }


def serve_entity_set(requests_mock, name: str, total: int, page_size: int = 100, path=None):
    """Serve an OData entity set like the real API: ``@odata.context``, ``value`` and an
    absolute ``@odata.nextLink`` carrying ``$skiptoken`` on every page but the last."""
    url = f"{BASE}{path or f'/v1/resource/{name}'}"
    records = [entity(name, i) for i in range(total)]

    def respond(request, context):
        query = parse_qs(urlsplit(request.url).query)
        offset = int(query.get("$skiptoken", ["0"])[0])
        body = {
            "@odata.context": f"{BASE}/v1/$metadata#{name}",
            "value": records[offset : offset + page_size],
        }
        if offset + page_size < total:
            body["@odata.nextLink"] = f"{url}?$skiptoken={offset + page_size}"
        return body

    requests_mock.get(url, json=respond)
    return records


def token(requests_mock):
    return requests_mock.post(
        TOKEN_URL, json={"token_type": "Bearer", "access_token": "tok-odata", "expires_in": 3599}
    )


def gets(requests_mock, path: str) -> list:
    return [
        r for r in requests_mock.request_history if r.method == "GET" and r.path == path.lower()
    ]


def test_token_form_has_grant_type_and_scope_and_next_links_are_followed(requests_mock):
    token_mock = token(requests_mock)
    users = serve_entity_set(requests_mock, "users", 250)
    serve_entity_set(requests_mock, "groups", 30)
    serve_entity_set(requests_mock, "conversations", 0)

    source = headwater.source("analytics_odata", **CREDS)
    assert list(source.resources) == ["users", "groups", "conversations"]
    rows = records(source.resources["users"])
    assert [r["id"] for r in rows] == [u["id"] for u in users]

    assert token_mock.call_count == 1
    form = parse_qs(token_mock.last_request.text)
    assert form == {
        "grant_type": ["client_credentials"],
        "client_id": ["odata-client"],
        "client_secret": ["odata-secret-value"],
        "scope": ["https://api.example.com/.default"],
    }
    pages = gets(requests_mock, "/v1/resource/users")
    assert len(pages) == 3
    assert pages[0].query == ""  # the first page has no $skiptoken
    assert [parse_qs(urlsplit(p.url).query)["$skiptoken"] for p in pages[1:]] == [["100"], ["200"]]
    assert all(p.headers["Authorization"] == "Bearer tok-odata" for p in pages)


def test_all_resources_load_in_one_source(requests_mock):
    token(requests_mock)
    serve_entity_set(requests_mock, "users", 5)
    serve_entity_set(requests_mock, "groups", 120)
    serve_entity_set(requests_mock, "conversations", 7)
    rows = records(headwater.source("analytics_odata", **CREDS))
    assert len(rows) == 5 + 120 + 7


@pytest.mark.parametrize("status", [404, 403])
def test_404_and_403_skip_that_entity_set_with_a_warning(requests_mock, caplog, status):
    token(requests_mock)
    serve_entity_set(requests_mock, "users", 150)
    requests_mock.get(
        f"{BASE}/v1/resource/groups",
        status_code=status,
        json={"error": {"code": "Forbidden" if status == 403 else "NotFound", "message": "no"}},
    )
    serve_entity_set(requests_mock, "conversations", 3)
    source = headwater.source("analytics_odata", **CREDS)
    with caplog.at_level(logging.WARNING, logger="headwater.http.extract"):
        assert len(records(source.resources["groups"])) == 0
        assert len(records(source.resources["users"])) == 150
        assert len(records(source.resources["conversations"])) == 3
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "analytics_odata.groups" in warnings[0]
    assert f"ignoring HTTP {status}" in warnings[0]


def test_other_errors_are_not_ignored(requests_mock):
    token(requests_mock)
    requests_mock.get(f"{BASE}/v1/resource/users", status_code=400, json={"error": "bad"})
    source = headwater.source("analytics_odata", **CREDS)
    with pytest.raises(Exception, match="answered HTTP 400"):
        list(source.resources["users"])


def test_extra_resources_from_env_json_add_entity_sets(requests_mock, monkeypatch):
    token(requests_mock)
    devices = serve_entity_set(requests_mock, "devices", 130, path="/v1/resource/devices")
    serve_entity_set(requests_mock, "sites", 2, path="/v2/sites")
    monkeypatch.setenv(
        "SOURCES__ANALYTICS_ODATA__EXTRA_RESOURCES",
        json.dumps({"devices": "/v1/resource/devices", "sites": "/v2/sites"}),
    )
    source = headwater.source("analytics_odata", **CREDS)
    assert list(source.resources) == ["users", "groups", "conversations", "devices", "sites"]
    rows = records(source.resources["devices"])
    assert [r["id"] for r in rows] == [d["id"] for d in devices]  # next link followed
    assert len(gets(requests_mock, "/v1/resource/devices")) == 2
    assert len(records(source.resources["sites"])) == 2
    # extra entity sets get the generic schema: id is the key, other fields are kept
    columns = source.schema.tables["devices"]["columns"]
    assert columns["id"]["primary_key"] is True and "customer_id" not in columns
    assert source.resources["devices"].write_disposition == "merge"


def test_extra_resources_as_keyword_and_selected_alone(requests_mock):
    token(requests_mock)
    serve_entity_set(requests_mock, "devices", 4, path="/v1/resource/devices")
    source = headwater.source(
        "analytics_odata",
        resources=["devices"],
        extra_resources={"devices": "/v1/resource/devices"},
        **CREDS,
    )
    assert list(source.resources) == ["devices"]
    assert len(records(source)) == 4


@pytest.mark.parametrize(
    "value, message",
    [
        (
            {"devices": "v1/resource/devices"},
            "path 'v1/resource/devices' of 'devices' must start with '/' "
            "(e.g. '/v1/resource/devices')",
        ),
        ({"Devices": "/v1/x"}, "resource name 'Devices' must be a lower-case identifier"),
        ({"users": "/v1/x"}, "'users' is already a resource of analytics_odata"),
        ({"evil": "https://elsewhere.example/steal"}, "must be a path on base_url, not a URL"),
        ({"evil": "//elsewhere.example/steal"}, "must be a path on base_url, not a URL"),
        ({"odd": "/v1/{id}"}, "must not contain spaces, '{', '}' or '#'"),
        ({"empty": ""}, "must be a non-empty string"),
        ({"number": 5}, "path 5 of 'number' must be a non-empty string"),
    ],
)
def test_bad_extra_resources_are_a_settings_error(value, message, requests_mock):
    error = extraction_error(headwater.source("analytics_odata", extra_resources=value, **CREDS))
    assert isinstance(error, SettingsError)
    text = str(error)
    assert text.startswith("invalid setting extra_resources for connector analytics_odata: ")
    assert message in text
    assert "SOURCES__ANALYTICS_ODATA__EXTRA_RESOURCES" in text
    assert requests_mock.request_history == []  # nothing was requested


def test_every_problem_reported_at_once():
    error = extraction_error(
        headwater.source(
            "analytics_odata", extra_resources={"A": "/a", "b": "b", "c": "/ok"}, **CREDS
        )
    )
    assert isinstance(error, SettingsError)
    assert "'A'" in str(error) and "'b'" in str(error)


def test_extra_resources_not_an_object_from_env(monkeypatch):
    monkeypatch.setenv("SOURCES__ANALYTICS_ODATA__EXTRA_RESOURCES", "devices=/v1/devices")
    error = extraction_error(headwater.source("analytics_odata", **CREDS))
    assert isinstance(error, SettingsError)
    assert re.search("invalid setting extra_resources.*is not a JSON object", str(error))


def test_extra_resources_only_for_analytics_odata(requests_mock):
    source = headwater.source("analytics_events", client_id="a-id", client_secret="a-secret")
    assert list(source.resources) == ["events"]
    source = headwater.source(
        "analytics_events", client_id="a-id", client_secret="a-secret", extra_resources={}
    )
    error = extraction_error(source)  # checked when the source is extracted
    assert isinstance(error, SettingsError)
    assert "unknown setting 'extra_resources'" in str(error)


# ------------------------------------------------------------------ end to end


def load(duckdb_pipeline, sim, name: str, **settings):
    pipeline = duckdb_pipeline(name)
    pipeline.run(headwater.source("analytics_odata", **sim.settings, **settings))
    return pipeline


def counts(pipeline, tables) -> dict[str, int]:
    with pipeline.sql_client() as client:
        return {t: client.execute_sql(f"select count(*) from {t}")[0][0] for t in tables}


def test_e2e_all_entity_sets_types_and_merge(api_simulator, duckdb_pipeline, tmp_path):
    sim = api_simulator(
        ANALYTICS_ODATA,
        records={"users": 345, "groups": 120, "conversations": 99},
        page_size=50,
        # one transient 503 with Retry-After: retried (the seed's "known 503")
        faults=[Fault("status", status=503, resource="users", after=2, retry_after="1")],
    )
    pipeline = load(duckdb_pipeline, sim, "odata_e2e")
    expected = {name: len(sim.data[name]) for name in ("users", "groups", "conversations")}
    assert (
        counts(pipeline, expected) == expected == {"users": 345, "groups": 120, "conversations": 99}
    )
    # every page was read by following the next link: 7 pages of 50 users (+1 retry)
    user_requests = sim.requests_for("users")
    assert [r.status for r in user_requests].count(503) == 1
    assert len([r for r in user_requests if r.status == 200]) == 7
    assert sum("$skiptoken" in r.query for r in user_requests if r.status == 200) == 6
    assert len(sim.requests_for("token")) == 1  # one token for every entity set

    with duckdb.connect(str(tmp_path / "odata_e2e.duckdb"), read_only=True) as con:
        types = dict(
            con.sql(
                "select column_name, data_type from information_schema.columns "
                "where table_schema = 'odata_e2e_data' and table_name = 'users'"
            ).fetchall()
        )
        loaded = {r[0] for r in con.sql("select id from odata_e2e_data.users").fetchall()}
    assert types["id"] == "VARCHAR"
    assert types["account_enabled"] == "BOOLEAN"
    assert types["sign_in_count"] == "BIGINT"
    assert types["created_at"] == "TIMESTAMP WITH TIME ZONE"
    assert "extra_note" in types  # undeclared fields are kept
    assert loaded == {u["id"] for u in sim.data["users"]}

    sim.mutate("users", 3)
    pipeline.run(headwater.source("analytics_odata", **sim.settings))  # merge: no duplicates
    assert counts(pipeline, expected) == expected
    with pipeline.sql_client() as client:
        first = sim.data["users"][0]
        assert client.execute_sql(f"select display_name from users where id = '{first['id']}'") == [
            (first["display_name"],)
        ]


def test_e2e_403_on_groups_is_ignored_while_others_load(api_simulator, duckdb_pipeline, caplog):
    sim = api_simulator(
        ANALYTICS_ODATA,
        records={"users": 210, "groups": 40, "conversations": 15},
        faults=[Fault("status", status=403, resource="groups", count=None)],
    )
    with caplog.at_level(logging.WARNING):
        pipeline = load(duckdb_pipeline, sim, "odata_403")
    assert counts(pipeline, ["users", "conversations"]) == {"users": 210, "conversations": 15}
    with pipeline.sql_client() as client:
        tables = {
            r[0]
            for r in client.execute_sql(
                "select table_name from information_schema.tables "
                "where table_schema = 'odata_403_data'"
            )
        }
    assert "groups" not in tables  # no rows: dlt creates no table
    assert [r.status for r in sim.requests_for("groups")] == [403]  # not retried
    assert "resource analytics_odata.groups: ignoring HTTP 403" in caplog.text


def test_e2e_extra_resource_through_the_simulator(api_simulator, duckdb_pipeline):
    # The simulator plays a tenant that also has /v1/resource/devices.
    tenant = attrs.evolve(
        ANALYTICS_ODATA,
        resources=[*ANALYTICS_ODATA.resources, entity_resource("devices", "/v1/resource/devices")],
    )
    sim = api_simulator(
        tenant, records={"users": 3, "groups": 3, "conversations": 3, "devices": 260}
    )
    pipeline = load(
        duckdb_pipeline, sim, "odata_extra", extra_resources={"devices": "/v1/resource/devices"}
    )
    assert counts(pipeline, ["devices", "users"]) == {"devices": 260, "users": 3}
    assert len(sim.requests_for("devices")) == 3  # 100 + 100 + 60: next links followed


def extraction_error(source: object) -> BaseException:
    """The Headwater error that stops extracting ``source`` (its settings are resolved
    then; dlt wraps the error)."""
    try:
        list(source)  # type: ignore[call-overload]
    except Exception as exc:  # dlt's wrapper; the cause is returned
        return explain(exc) or exc
    raise AssertionError("extracting the source raised nothing")
