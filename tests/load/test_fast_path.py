"""The Arrow fast path loads the same rows, types and merge results as dlt's row path."""

from __future__ import annotations

import re

import headwater
import pytest
from headwater.load.arrow import ArrowBatcher, fast_path_columns
from headwater.run.workdir import file_format_for
from headwater_directory.hooks import DIRECTORY


def load_twice(sim, duckdb_pipeline, name, arrow):
    pipeline = duckdb_pipeline(name)
    fmt = file_format_for("duckdb", arrow=arrow)
    pipeline.run(headwater.source("directory", arrow=arrow, **sim.settings), loader_file_format=fmt)
    sim.mutate("directory_users", 7)
    sim.grow("directory_users", 11)
    pipeline.run(headwater.source("directory", arrow=arrow, **sim.settings), loader_file_format=fmt)
    with pipeline.sql_client() as client:
        columns = client.execute_sql(
            "select column_name, data_type, is_nullable from information_schema.columns "
            "where table_schema = %s and table_name = 'directory_users' "
            "order by column_name",
            pipeline.dataset_name,
        )
        rows = client.execute_sql(
            "select id, etag, last_login_time, extra_note from directory_users order by id"
        )
        ids = client.execute_sql(
            "select count(distinct _dlt_id), count(_dlt_id), count(distinct _dlt_load_id) "
            "from directory_users"
        )[0]
    return columns, rows, ids


def test_fast_and_row_paths_agree(api_simulator, duckdb_pipeline):
    sim_a = api_simulator(DIRECTORY, records={"directory_users": 2345})
    sim_b = api_simulator(DIRECTORY, records={"directory_users": 2345})
    fast = load_twice(sim_a, duckdb_pipeline, "fast", arrow=True)
    slow = load_twice(sim_b, duckdb_pipeline, "slow", arrow=False)
    assert fast[0] == slow[0]  # names, types, nullability (dlt's own columns too)
    assert fast[1] == slow[1]  # every value, after a merge
    assert len(fast[1]) == 2356
    assert ("last_login_time", "TIMESTAMP WITH TIME ZONE", "YES") in fast[0]
    assert not [c for c in fast[0] if c[0] == "lastLoginTime"]  # one column, not two
    assert ("_dlt_id", "VARCHAR", "NO") in fast[0]
    # a unique row id per row, as dlt's normalizer gives dict rows (every row is from
    # the second load: the API served them all again and the merge replaced them)
    assert fast[2] == slow[2] == (2356, 2356, 1)


def test_row_ids_come_with_the_tables_and_dlt_does_not_rewrite_them():
    batcher = ArrowBatcher({"id": "text"}, rows=10, row_ids="_dlt_id")
    (table,) = batcher.batches([[{"id": str(i)} for i in range(5)]])
    assert table.column_names == ["id", "_dlt_id"]
    assert not table.schema.field("_dlt_id").nullable
    ids = table.column("_dlt_id").to_pylist()
    assert len(set(ids)) == 5
    # dlt's format: 14 characters of base64, as generate_dlt_ids makes them
    from dlt.common.normalizers.utils import generate_dlt_ids

    assert {len(i) for i in ids} == {len(i) for i in generate_dlt_ids(5)} == {14}
    assert all(re.fullmatch(r"[A-Za-z0-9+/]{14}", i) for i in ids)
    # an API's own _dlt_id field is the API's data, not the row's identity
    (table,) = batcher.batches([[{"id": "a", "_dlt_id": "mine"}, {"id": "b", "_dlt_id": "mine"}]])
    assert table.column("api_dlt_id").to_pylist() == ["mine", "mine"]
    assert len(set(table.column("_dlt_id").to_pylist()) - {"mine"}) == 2


def test_users_add_dlt_id_setting_is_left_to_dlt(api_simulator, duckdb_pipeline, monkeypatch):
    # dlt then adds the ids itself: one _dlt_id column, not two
    monkeypatch.setenv("NORMALIZE__PARQUET_NORMALIZER__ADD_DLT_ID", "true")
    sim = api_simulator(DIRECTORY, records={"directory_users": 250})
    pipeline = duckdb_pipeline("own_ids")
    source = headwater.source("directory", arrow=True, **sim.settings)
    pipeline.run(source, loader_file_format="parquet")
    with pipeline.sql_client() as client:
        assert client.execute_sql(
            "select count(*), count(distinct _dlt_id) from directory_users"
        ) == [(250, 250)]


def test_batch_that_breaks_the_schema_falls_back_to_records():
    columns = {"id": "text", "n": "bigint", "ts": "timestamp"}
    batcher = ArrowBatcher(columns, rows=1)  # one batch per page
    pages = [
        [{"id": "a", "n": 1, "ts": "2024-01-01T00:00:00Z"}, {"id": "b", "n": 2, "ts": None}],
        [{"id": "c", "n": "three", "ts": "2024-01-01T00:00:00Z"}, {"id": "d", "n": 4, "ts": None}],
        [{"id": "e", "n": 5, "ts": "not a time"}],
        [{"id": "f", "n": 6, "ts": None, "tags": ["x"]}],
    ]
    out = list(batcher.batches(pages))
    assert out[0].num_rows == 2 and out[0].schema.field("ts").type.tz == "UTC"
    assert out[1] == pages[1]  # a string where an integer is declared: records, unchanged
    assert out[2] == pages[2]  # an unparsable timestamp
    assert out[3] == pages[3]  # nested undeclared data: dlt's row path unnests it
    assert batcher.fallbacks == 3


@pytest.mark.parametrize(
    "prop, eligible",
    [
        ({"type": "string"}, True),
        ({"type": ["integer", "null"]}, True),
        ({"type": "string", "format": "date-time"}, True),
        ({"type": "object"}, False),
        ({"type": "array", "items": {"type": "string"}}, False),
        ({}, False),
    ],
)
def test_only_scalar_schemas_take_the_fast_path(prop, eligible):
    schema = {"type": "object", "properties": {"id": {"type": "string"}, "x": prop}}
    assert (fast_path_columns(schema) is not None) is eligible


def test_lean_get_reads_the_same_pages_as_the_session(api_simulator, monkeypatch):
    from headwater.http import session as session_module
    from headwater.http.extract import iter_pages
    from headwater.load.assemble import build_endpoints

    sim = api_simulator(DIRECTORY, records={"directory_users": 250})
    _, endpoints = build_endpoints("directory", sim.settings)
    endpoint = endpoints["directory_users"]
    prepared = []
    lean_prepare = session_module.LeanGet.prepare

    def spy(self, request):
        prepared.append(lean_prepare(self, request))
        return prepared[-1]

    monkeypatch.setattr(session_module.LeanGet, "prepare", spy)
    lean = list(iter_pages(endpoint))
    assert len(prepared) == 3 and None not in prepared  # every page took the lean path
    monkeypatch.setattr(session_module.LeanGet, "prepare", lambda self, request: None)
    assert list(iter_pages(endpoint)) == lean


@pytest.fixture
def redirecting_api():
    """A local API whose /old redirects to /new, which sets a cookie."""
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    seen: list[tuple[str, str | None]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            seen.append((self.path, self.headers.get("Cookie")))
            if self.path.startswith("/old"):
                self.send_response(301)
                self.send_header("Location", "/new?page=1")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            body = json.dumps({"data": [{"id": "1"}]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Set-Cookie", "affinity=a1; Path=/")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", seen
    server.shutdown()
    server.server_close()


def test_lean_get_follows_redirects_and_keeps_cookies(redirecting_api):
    import requests
    from headwater.http.session import retrying_session
    from headwater.spec import RetryPolicy

    base, seen = redirecting_api
    session = retrying_session(RetryPolicy(), url=base)
    lean = session.headwater_lean
    prepared = lean.prepare(requests.Request("GET", base + "/old", params={"q": "x y"}))
    assert prepared is not None and prepared.url == base + "/old?q=x+y"
    response = lean.send(prepared, timeout=5)
    assert response.status_code == 200 and response.url == base + "/new?page=1"
    assert [r.status_code for r in response.history] == [301]
    assert session.cookies.get("affinity") == "a1"
    # with a cookie to send, requests go through the session, which sends it
    assert lean.prepare(requests.Request("GET", base + "/new")) is None
    session.get(base + "/new", timeout=5)
    assert seen[-1] == ("/new", "affinity=a1")


@pytest.mark.parametrize(
    "params",
    [
        {"offset": 0, "limit": 100},
        {"q": "a b&c/é", "n": 1.5, "skipped": None, "empty": ""},
        {"ids": [1, None, "x y"], "flag": True},
        {"k": b"bytes"},
        [("a", 1)],
        "raw=1",
        {},
    ],
)
def test_lean_get_encodes_parameters_as_requests_does(params):
    import requests
    from headwater.http.session import _encode_params

    expected = requests.PreparedRequest()
    expected.prepare_url("https://api.test/items?z=1", params)
    lean = requests.PreparedRequest()
    lean.prepare_url("https://api.test/items?z=1", _encode_params(params))
    assert lean.url == expected.url
