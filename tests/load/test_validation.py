"""Records that break the declared schema, under each validation policy, on both paths."""

from __future__ import annotations

import re

import headwater
import pytest
from headwater.errors import ResponseError, SettingsError
from headwater.load.validation import RecordCheck
from headwater.run.dlt_errors import explain
from headwater.run.workdir import file_format_for
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


def test_records_are_made_safe_for_dlt_at_any_depth():
    from headwater.load.validation import fit_records

    plain = [{"id": 1, "n": 2**63 - 1, "tags": [{"k": "v"}], "m": {"x": -(2**63)}}]
    before = repr(plain)
    assert fit_records(plain) == {}
    assert repr(plain) == before  # nothing to fix: untouched
    records = [
        {"id": 1, "_dlt_id": "v", "": 1, " ": 2, "lines": [{"_dlt_parent_id": "p", "__": 3}]},
        {"id": 2, "deep": {"list": [1, 2**64 - 1]}},
        {"id": 3, "neg": -(2**63) - 1},
    ]
    assert fit_records(records) == {
        1: "field 'deep.list[1]' holds the integer 18446744073709551615, beyond the 64-bit "
        "range of an integer column",
        2: "field 'neg' holds the integer -9223372036854775809, beyond the 64-bit range of an "
        "integer column",
    }
    assert records[0] == {
        "id": 1,
        "api_dlt_id": "v",
        "api_blank": 1,
        "api_blank_2": 2,
        "lines": [{"api_dlt_parent_id": "p", "api_blank": 3}],
    }


def _dlt_tables(record, table, naming):
    """The tables dlt's own normalizer makes of ``record`` (as ``table``)."""
    from dlt.common.schema import Schema

    schema = Schema("t", normalizers={"names": naming})
    return {key[0] for key, _ in schema.normalize_data_item(record, "1", table)}


def _nested(depth, key, inner_key=None):
    node = {"id": 0}
    for _ in range(depth):
        node = {"id": 1, key: [node] if inner_key is None else [{inner_key: node}]}
    return node


@pytest.mark.parametrize("naming", ["snake_case", "sql_cs_v1"])
@pytest.mark.parametrize(
    "record",
    [
        _nested(21, "children"),
        _nested(22, "children"),
        _nested(23, "children"),
        _nested(12, "subItems", "node"),  # camelCase grows under snake_case
        _nested(13, "subItems", "node"),
        _nested(14, "subItems", "node"),
        {"id": 1, "a": [[[[{"b": [1]}]]]] * 2},  # lists in lists: "list" tables
        {"id": 1, "x" * 218: [1]},
        {"id": 1, "x" * 219: [1]},
        {"id": 1, 'q"' * 110: [{"k": [1]}]},  # quotes in a key
        {"id": 1, "m": {"n" * 100: {"o" * 115: [1]}}, "p": [{"q" * 30: [2]}]},
    ],
)
def test_records_whose_nested_tables_dlt_cannot_name_a_file_after_are_found(record, naming):
    """Exactly the records for which dlt's own normalizer makes a table name longer
    than MAX_TABLE_NAME_BYTES (its job file would be too long a file name)."""
    from dlt.common.schema import Schema
    from headwater.load.validation import MAX_TABLE_NAME_BYTES, fit_records

    longest = max(len(t.encode()) for t in _dlt_tables(record, "items", naming))
    found = fit_records([record], Schema("s", normalizers={"names": naming}).naming, "items")
    assert bool(found) == (longest > MAX_TABLE_NAME_BYTES), (longest, found)
    if found:
        assert "a name too long for dlt's files (at most 225 bytes)" in found[0]


def test_a_number_field_refuses_integers_a_double_would_round():
    check = RecordCheck({"type": "object", "properties": {"x": {"type": ["number", "null"]}}})
    assert check.error({"x": 2**53}) is None
    assert check.error({"x": 1.5e300}) is None  # a float is a float
    assert check.error({"x": 2**53 + 1}) == (
        "field 'x' is the integer 9007199254740993, which its number (double) column cannot "
        "hold exactly"
    )


@pytest.mark.parametrize("arrow", [True, False], ids=["fast", "rows"])
def test_every_record_breaking_the_schema_fails_the_resource(requests_mock, duckdb_pipeline, arrow):
    requests_mock.post(TOKEN, json={"access_token": "tok-123456"})
    requests_mock.get(USERS, json={"users": BAD})
    with pytest.raises(Exception) as err:
        run(duckdb_pipeline, arrow)
    known = explain(err.value)
    assert isinstance(known, ResponseError) and known.resource == "directory_users"
    assert str(known).startswith(
        "resource directory.directory_users: all 2 records broke the declared schema "
        "(first: required field 'id' is missing) and are kept in table "
        "directory_users_quarantine; if the API is right, correct the schema file "
        "headwater_directory/schemas/directory_users.json, or set validation to warn "
        "(SOURCES__DIRECTORY__VALIDATION=warn)"
    )


def test_the_counts_of_a_run_start_afresh_each_run(requests_mock, duckdb_pipeline):
    """One source run again: each run's records alone decide (all bad: fails; none at
    all: no disagreement)."""
    requests_mock.post(TOKEN, json={"access_token": "tok-123456"})
    pages = [{"json": {"users": GOOD}}, {"json": {"users": BAD}}, {"json": {"users": []}}]
    requests_mock.get(USERS, pages)
    pipeline = duckdb_pipeline("validation_twice")
    source = headwater.source("directory", arrow=True, **CREDENTIALS)
    pipeline.run(source)
    with pytest.raises(Exception) as err:
        pipeline.run(source)
    assert "all 2 records broke the declared schema" in str(explain(err.value))
    pipeline.run(source)


def _ids_page(first: int) -> list[dict]:
    return [{"id": first + i, "name": f"user {i}", "tags": ["a"]} for i in range(200)]


def test_snowflake_ids_neither_walk_the_page_nor_leave_orjson(monkeypatch):
    """19-digit ids below 2**63 (snowflake ids) are common: a page of them takes the
    fast checks (one orjson encoding and byte scans), not the record-by-record walk,
    and is decoded by orjson; integers orjson cannot hold exactly still are caught."""
    import json

    import orjson
    from headwater.http import paginators
    from headwater.load import validation

    walked: list[int] = []
    real_fit = validation._fit
    monkeypatch.setattr(
        validation, "_fit", lambda *a: (walked.append(1), real_fit(*a))[1], raising=True
    )
    stdlib: list[int] = []
    real_loads = json.loads
    monkeypatch.setattr(
        paginators.json, "loads", lambda *a, **k: (stdlib.append(1), real_loads(*a, **k))[1]
    )

    snowflakes = _ids_page(2**60)  # 1152921504606846976: 19 digits
    largest = _ids_page(2**63 - 200)  # up to 2**63 - 1, still a bigint
    for page in (snowflakes, largest):
        assert validation.fit_records(page) == {}
        assert paginators.decode_json(orjson.dumps({"data": page}))["data"] == page
    assert walked == [] and stdlib == []

    # 2**63 .. 2**64-1: orjson encodes them, no bigint column holds them
    unsigned = _ids_page(1)
    unsigned[7]["id"] = 2**63
    errors = validation.fit_records(unsigned)
    assert list(errors) == [7] and "9223372036854775808" in errors[7]
    # beyond what orjson reads exactly: the stdlib decodes, every digit kept
    for text, value in [("18446744073709551616", 2**64), ("-9223372036854775809", -(2**63) - 1)]:
        assert paginators.decode_json(f'{{"id": {text}}}'.encode()) == {"id": value}
    assert len(stdlib) == 2


def test_a_bare_integer_record_beyond_64_bits_is_unloadable():
    from headwater.load.validation import fit_records

    errors = fit_records([1, 2**70, "x"])
    assert list(errors) == [1] and "1180591620717411303424" in errors[1]


def test_null_in_an_anyof_with_a_null_branch_is_allowed_and_elsewhere_not():
    """OpenAPI 3.1's oneOf [$ref, {type: null}]: the fast check called every null there
    a violation before the full check could see the null branch, so such records went
    to quarantine (and a generated connector failed its own tests)."""

    check = RecordCheck(
        {
            "type": "object",
            "properties": {
                "id": {"type": "integer"},
                "meta": {"anyOf": [{"type": "object"}, {"type": "null"}]},
                "alt": {"anyOf": [{"type": "object"}, {"type": "string"}]},
            },
            "required": ["id", "meta", "alt"],
        }
    )
    assert check.error({"id": 1, "meta": None, "alt": "x"}) is None
    assert check.error({"id": 1, "meta": {}, "alt": None}) is not None
    assert check.not_null == {"id"}


@pytest.mark.parametrize("arrow", [True, False], ids=["fast", "rows"])
def test_user_steps_and_add_limit_pass_the_quarantined_records_by(api, duckdb_pipeline, arrow):
    # The user's functions take the API's records: the rows set aside for the
    # quarantine table ({record, error, detected_at}) go by them untouched, and
    # add_limit counts pages, not the quarantine items.
    source = headwater.source("directory", arrow=arrow, **CREDENTIALS)
    users = source.resources["directory_users"]
    users.add_filter(lambda record: record["id"] != "u3")
    users.add_map(lambda record: {**record, "etag": f"mapped:{record['etag']}"})
    pipeline = duckdb_pipeline(f"steps_quarantine_{arrow}")
    pipeline.run(source, loader_file_format=file_format_for("duckdb", arrow=arrow))
    assert query(pipeline, "select id, etag from directory_users order by id") == [
        ("u1", "mapped:a"),
        ("u2", "mapped:None"),
    ]
    kept = query(pipeline, "select * from directory_users_quarantine")
    assert len(kept) == 2
    columns = {
        c
        for (c,) in query(
            pipeline,
            "select column_name from information_schema.columns "
            "where table_name = 'directory_users_quarantine'",
        )
    }
    assert {"record", "error", "detected_at"} <= columns and "etag" not in columns

    limited = headwater.source("directory", arrow=arrow, **CREDENTIALS).add_limit(1)
    pipeline = duckdb_pipeline(f"limit_quarantine_{arrow}")
    pipeline.run(limited, loader_file_format=file_format_for("duckdb", arrow=arrow))
    assert query(pipeline, "select count(*) from directory_users") == [(3,)]
    assert query(pipeline, "select count(*) from directory_users_quarantine") == [(2,)]


@pytest.mark.parametrize("arrow", [True, False], ids=["fast", "rows"])
def test_a_transformer_takes_the_records_and_the_quarantine_stays_whole(
    api, duckdb_pipeline, arrow
):
    # A transformer on a resource takes the API's records, like a map or a filter: the
    # rows set aside for the quarantine table go by it (what it would make of them
    # landed in the quarantine table and failed the load, good rows and all).
    import dlt

    seen: list[str] = []

    @dlt.transformer(name="user_ids")
    def user_ids(items):
        rows = items.to_pylist() if hasattr(items, "to_pylist") else items
        for row in rows:
            seen.append(sorted(row))
            yield {"user": row["id"]}

    source = headwater.source("directory", arrow=arrow, **CREDENTIALS)
    users = source.resources["directory_users"]
    pipeline = duckdb_pipeline(f"transformer_quarantine_{arrow}")
    pipeline.run([users, users | user_ids])
    assert query(pipeline, "select user from user_ids order by user") == [
        ("u1",),
        ("u2",),
        ("u3",),
    ]
    assert query(pipeline, "select count(*) from directory_users") == [(3,)]
    assert query(pipeline, "select count(*) from directory_users_quarantine") == [(2,)]
    assert all("record" not in keys for keys in seen)


def test_a_transformer_alone_says_the_quarantined_records_are_not_kept(
    api, duckdb_pipeline, caplog
):
    import dlt

    @dlt.transformer(name="user_ids")
    def user_ids(items):
        yield from ({"user": row["id"]} for row in items.to_pylist())

    source = headwater.source("directory", **CREDENTIALS)
    pipeline = duckdb_pipeline("transformer_alone_quarantine")
    pipeline.run(source.resources["directory_users"] | user_ids)
    assert query(pipeline, "select count(*) from user_ids") == [(3,)]
    said = [r.getMessage() for r in caplog.records if "directory_users" in r.getMessage()]
    assert said and all("not loaded" in m for m in said), said
    assert not any("are kept" in m or "were kept" in m for m in said), said
    assert "directory_users_quarantine" not in {
        t for (t,) in query(pipeline, "select table_name from information_schema.tables")
    }
