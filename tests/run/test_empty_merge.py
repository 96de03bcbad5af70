"""A merge into an empty DuckDB table goes straight into the table (no staging table,
no merge job) when Headwater vouched for its keys, and gives what dlt's merge gives;
anything else merges through staging as before (headwater.run.empty_merge)."""

from __future__ import annotations

import duckdb
import headwater_directory.hooks
import pytest
from headwater.cli import main
from headwater.run import pipeline as run_pipeline
from headwater_directory.hooks import DIRECTORY
from helpers import use_settings

from tests.load.test_unique import RepeatsOneRecord

DATASET = "directory_data"


@pytest.fixture
def straight(monkeypatch):
    """The tables each load of the test loaded straight into their table."""
    loads: list[frozenset[str]] = []
    original = run_pipeline.loading_straight

    def recorded(client, tables):
        loads.append(tables)
        return original(client, tables)

    monkeypatch.setattr(run_pipeline, "loading_straight", recorded)
    return loads


@pytest.fixture
def directory(headwater_plugins, api_simulator, headwater_env, monkeypatch):
    headwater_plugins(headwater_directory.hooks)
    sim = api_simulator(DIRECTORY, records={"directory_users": 250})
    use_settings(monkeypatch, "directory", sim)
    return headwater_env


def _run(*args: str) -> None:
    assert main(["run", "directory", "--progress", "off", *args]) == 0


def _table(work, pipeline: str = "headwater_directory") -> tuple[list, list, bool]:
    """(rows without dlt's ids, columns and types, whether a staging table was made)."""
    with duckdb.connect(str(work / f"{pipeline}.duckdb"), read_only=True) as con:
        rows = con.sql(
            f"select * exclude (_dlt_load_id, _dlt_id) from {DATASET}.directory_users order by id"
        ).fetchall()
        columns = con.sql(f"describe {DATASET}.directory_users").fetchall()
        ids = con.sql(f"select count(distinct _dlt_id) from {DATASET}.directory_users").fetchone()
        staged = con.sql(
            "select table_name from information_schema.tables "
            f"where table_schema = '{DATASET}_staging'"
        ).fetchall()
        schemas = con.sql(
            f"select schema_name from duckdb_schemas() where schema_name = '{DATASET}_staging'"
        ).fetchall()
    # dlt's own tables come with a staging schema; none is left without them
    assert bool(staged) == bool(schemas)
    assert ids == (len(rows),)
    return rows, columns, ("directory_users",) in staged


def test_a_first_merge_loads_straight_and_gives_what_the_staged_merge_gives(
    directory, straight, monkeypatch
):
    _run()
    assert straight == [frozenset({"directory_users"})]
    rows, columns, staged = _table(directory)
    assert len(rows) == 250
    assert not staged

    monkeypatch.setattr(run_pipeline, "straight_tables", lambda pipeline, client: frozenset())
    _run("--pipeline-name", "staged")
    staged_rows, staged_columns, staged = _table(directory, "staged")
    assert staged  # dlt's merge, through its staging table
    assert (rows, columns) == (staged_rows, staged_columns)


def test_a_merge_into_rows_goes_through_staging_and_an_emptied_table_does_not(directory, straight):
    _run()
    first, _, _ = _table(directory)
    _run()  # the table has rows: dlt's merge
    assert straight[-1] == frozenset()
    again, _, staged = _table(directory)
    assert again == first and staged

    with duckdb.connect(str(directory / "headwater_directory.duckdb")) as con:
        con.sql(f"delete from {DATASET}.directory_users")
    _run()  # empty again: straight in
    assert straight[-1] == frozenset({"directory_users"})
    assert _table(directory)[0] == first


def test_keys_not_vouched_for_are_merged_through_staging(directory, straight, headwater_plugins):
    headwater_plugins(headwater_directory.hooks, RepeatsOneRecord())
    _run()
    assert straight == [frozenset()]
    rows, _, _ = _table(directory)
    assert len(rows) == len({row[0] for row in rows}) == 250  # each key once
