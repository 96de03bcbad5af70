"""`headwater run` into DuckDB writes a table's records to Parquet files of up to 1M
records, each of which DuckDB inserts in one statement; your own
DATA_WRITER__FILE_MAX_ITEMS still rotates them."""

from __future__ import annotations

import dlt
import duckdb
import headwater_directory.hooks
import pytest
from headwater.cli import main
from headwater.run import workdir
from headwater_directory.hooks import DIRECTORY
from helpers import use_settings

ROTATION = "DATA_WRITER__FILE_MAX_ITEMS"


@pytest.mark.parametrize(("yours", "files"), [(None, 1), ("10000", 3)], ids=["ours", "yours"])
def test_a_tables_records_load_from_one_file_unless_you_rotate_them(
    yours, files, headwater_plugins, api_simulator, headwater_env, monkeypatch
):
    # normalize's files (the row path's) rotate at 5,000 records here; the Arrow path
    # hands dlt tables of 10,000 records
    monkeypatch.setitem(workdir.DUCKDB_DEFAULTS, ROTATION, "5000")
    monkeypatch.setenv(ROTATION, yours or "5000")
    # whatever the run sets is undone after the test
    monkeypatch.setenv(workdir.EXTRACT_FILE_MAX_ITEMS, "")
    monkeypatch.delenv(workdir.EXTRACT_FILE_MAX_ITEMS)
    headwater_plugins(headwater_directory.hooks)
    sim = api_simulator(DIRECTORY, records={"directory_users": 25_000})
    use_settings(monkeypatch, "directory", sim)
    assert main(["run", "directory", "--progress", "off"]) == 0

    pipeline = dlt.attach(pipeline_name="headwater_directory", pipelines_dir=".headwater/pipelines")
    (package,) = pipeline.last_trace.last_load_info.load_packages
    loaded = [
        job.job_file_info
        for job in package.jobs["completed_jobs"]
        if job.job_file_info.table_name == "directory_users"
    ]
    assert len(loaded) == files
    assert {info.file_format for info in loaded} == {"parquet"}
    with duckdb.connect(str(headwater_env / "headwater_directory.duckdb"), read_only=True) as con:
        counted = con.sql("select count(*), count(distinct id) from directory_data.directory_users")
        assert counted.fetchone() == (25_000, 25_000)
