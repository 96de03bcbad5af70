"""Records that break the declared schema, under each validation policy, on both paths."""

from __future__ import annotations

import re

import headwater
import pytest
from headwater.errors import ResponseError, SettingsError
from headwater.run import explain, file_format_for
from headwater.validation import RecordCheck
from helpers import extraction_error

TOKEN = "https://api.example.com/oauth2/token"
USERS = "https://api.example.com/v1/users"
CREDENTIALS = {"client_id": "abcd", "client_secret": "efgh"}

GOOD = [
    {"id": "u1", "etag": "a", "lastLoginTime": "2024-01-01T00:00:00Z"},
    {"id": "u2", "etag": None, "lastLoginTime": None},
    {"id": "u3", "etag": "c", "lastLoginTime": "2024-02-01T10:00:00+02:00"},
]
BAD = [
    {"etag": "no id", "lastLoginTime": None},  # required field missing
    {"id": "u5", "etag": "e", "lastLoginTime": "yesterday"},  # not a date-time
]


@pytest.fixture
def api(requests_mock):
    requests_mock.post(TOKEN, json={"access_token": "tok-123456"})
    requests_mock.get(USERS, json={"users": GOOD[:2] + BAD + GOOD[2:]})
    return requests_mock


def run(duckdb_pipeline, arrow, **settings):
    pipeline = duckdb_pipeline(f"validation_{arrow}")
    source = headwater.source("directory", arrow=arrow, **CREDENTIALS, **settings)
    pipeline.run(source, loader_file_format=file_format_for("duckdb", arrow=arrow))
    return pipeline


def query(pipeline, sql):
    with pipeline.sql_client() as client:
        return client.execute_sql(sql)


@pytest.mark.parametrize("arrow", [True, False], ids=["fast", "rows"])
def test_quarantine_is_the_default_and_loses_nothing(api, duckdb_pipeline, arrow, caplog):
    pipeline = run(duckdb_pipeline, arrow)
    assert query(pipeline, "select id from directory_users order by id") == [
        ("u1",),
        ("u2",),
        ("u3",),
    ]
    kept = query(pipeline, "select record, error from directory_users_quarantine order by error")
    assert [e for _, e in kept] == [
        "field 'lastLoginTime' is 'yesterday', not a valid date-time",
        "required field 'id' is missing",
    ]
    assert '"etag": "no id"' in kept[1][0]  # the record itself, as JSON
    assert "2 record(s) broke the schema and were kept in table directory_users_quarantine" in (
        caplog.text
    )
    # a second run merges the good records and appends what it quarantines again
    run(duckdb_pipeline, arrow)
    assert query(pipeline, "select count(*) from directory_users") == [(3,)]
    assert query(pipeline, "select count(*) from directory_users_quarantine") == [(4,)]


@pytest.mark.parametrize("arrow", [True, False], ids=["fast", "rows"])
def test_fail_policy_stops_with_the_reason(api, duckdb_pipeline, arrow):
    with pytest.raises(Exception) as err:
        run(duckdb_pipeline, arrow, validation="fail")
    known = explain(err.value)
    assert isinstance(known, ResponseError)
    assert str(known).startswith(
        "resource directory.directory_users: a record breaks the declared schema "
        "(required field 'id' is missing"
    )


def test_warn_policy_loads_and_logs(requests_mock, duckdb_pipeline, caplog):
    requests_mock.post(TOKEN, json={"access_token": "tok-123456"})
    odd = {"id": "u9", "etag": 42, "lastLoginTime": None}  # an integer where text is declared
    requests_mock.get(USERS, json={"users": [*GOOD, odd]})
    pipeline = run(duckdb_pipeline, True, validation="warn")
    assert query(pipeline, "select count(*) from directory_users") == [(4,)]
    assert "field 'etag' is int 42, expected str" in caplog.text


def test_off_policy_checks_nothing(api, duckdb_pipeline):
    requests_mock = api
    requests_mock.get(USERS, json={"users": [*GOOD, BAD[1]]})
    pipeline = run(duckdb_pipeline, False, validation="off")
    assert query(pipeline, "select count(*) from directory_users") == [(4,)]


def test_unknown_policy_is_a_settings_error():
    source = headwater.source("directory", validation="strict", **CREDENTIALS)
    error = extraction_error(source)  # checked when the source is extracted
    assert isinstance(error, SettingsError)
    assert re.search("invalid setting validation.*is not one of", str(error))


def test_compiled_check_covers_types_and_falls_back_to_jsonschema_for_the_rest():
    check = RecordCheck(
        {
            "type": "object",
            "properties": {
                "n": {"type": "integer"},
                "kind": {"type": "string", "enum": ["a", "b"]},
            },
            "required": ["n"],
        }
    )
    assert check.needs_full  # enum needs jsonschema
    assert check.error({"n": 1, "kind": "a"}) is None
    assert check.error({"n": True}) == "field 'n' is bool True, expected int"
    assert check.error({"n": 1, "kind": "z"}).startswith("kind: 'z' is not one of")
    assert check.error(["not", "a", "record"]) == "a record must be a JSON object, got list"
