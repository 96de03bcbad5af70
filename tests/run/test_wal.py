"""A large DuckDB load checkpoints after each file, so the rows do not wait in the
write-ahead log for one checkpoint at the end (headwater.run.wal)."""

from __future__ import annotations

import os

import duckdb
import headwater_directory.hooks
import pytest
from headwater.cli import main
from headwater.run import workdir
from headwater_directory.hooks import DIRECTORY
from helpers import use_settings

DATABASE = "headwater_directory.duckdb"


@pytest.fixture
def wal_at_close(monkeypatch, headwater_env):
    """The size of the DuckDB file's write-ahead log each time a connection is closed
    (the held connection's close checkpoints whatever the log still holds)."""
    from dlt.destinations.impl.duckdb.sql_client import DuckDbSqlClient

    sizes: list[int] = []
    close = DuckDbSqlClient.close_connection

    def observed(self):
        wal = headwater_env / f"{DATABASE}.wal"
        sizes.append(wal.stat().st_size if wal.exists() else 0)
        return close(self)

    monkeypatch.setattr(DuckDbSqlClient, "close_connection", observed)
    return sizes


@pytest.mark.parametrize("large", [False, True], ids=["small load", "large load"])
def test_a_large_load_leaves_nothing_in_the_write_ahead_log(
    large, wal_at_close, headwater_plugins, api_simulator, headwater_env, monkeypatch
):
    # 20,000 records in files of 5,000: about 4 MB of rows for the log
    monkeypatch.setenv("DATA_WRITER__FILE_MAX_ITEMS", "5000")
    if large:
        monkeypatch.setattr(workdir, "DUCKDB_LARGE_LOAD_BYTES", 1_000)
    headwater_plugins(headwater_directory.hooks)
    sim = api_simulator(DIRECTORY, records={"directory_users": 20_000})
    use_settings(monkeypatch, "directory", sim)
    assert main(["run", "directory", "--progress", "off"]) == 0
    with duckdb.connect(str(headwater_env / DATABASE), read_only=True) as con:
        assert con.sql("select count(*) from directory_data.directory_users").fetchone() == (
            20_000,
        )
    most = max(wal_at_close)
    if large:
        assert most < 1024**2, most  # checkpointed file by file
    else:
        assert most > 2 * 1024**2, most  # one checkpoint, at the end
    assert not os.path.exists(headwater_env / f"{DATABASE}.wal")
