"""The Arrow fast path loads the same rows, types and merge results as dlt's row path."""

from __future__ import annotations

import headwater
import pytest
from headwater.arrow import ArrowBatcher, fast_path_columns
from headwater.run import file_format_for
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
            "and column_name not like '\\_dlt%%' escape '\\' order by column_name",
            pipeline.dataset_name,
        )
        rows = client.execute_sql(
            'select id, etag, "lastLoginTime", extra_note from directory_users order by id'
        )
    return columns, rows


def test_fast_and_row_paths_agree(api_simulator, duckdb_pipeline):
    sim_a = api_simulator(DIRECTORY, records={"directory_users": 2345})
    sim_b = api_simulator(DIRECTORY, records={"directory_users": 2345})
    fast = load_twice(sim_a, duckdb_pipeline, "fast", arrow=True)
    slow = load_twice(sim_b, duckdb_pipeline, "slow", arrow=False)
    assert fast[0] == slow[0]  # names, types, nullability
    assert fast[1] == slow[1]  # every value, after a merge
    assert len(fast[1]) == 2356
    assert ("lastLoginTime", "TIMESTAMP WITH TIME ZONE", "YES") in fast[0]


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
