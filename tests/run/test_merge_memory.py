"""A merge into a table with rows gets the memory its staged keys need
(headwater.run.merge_memory): DuckDB cannot spill the merge's delete."""

from __future__ import annotations

import attrs
import duckdb
import pytest
from headwater.cli import main
from headwater.run import workdir
from headwater.run.merge_memory import size_bytes
from headwater.spec import OffsetPagination
from headwater_directory.hooks import DIRECTORY
from helpers import Declares, use_settings

DATABASE = "headwater_directory.duckdb"
RECORDS = 200_000
#: the directory connector in pages of 1,000 (the simulator's most): 200 requests a run, not 2,000
BIG_PAGES = attrs.evolve(
    DIRECTORY,
    resources=[
        attrs.evolve(DIRECTORY.resources[0], pagination=OffsetPagination(limit=1000)),
    ],
)


def rows_and_ids(work) -> tuple[int, int]:
    with duckdb.connect(str(work / DATABASE), read_only=True) as con:
        return con.sql(
            "select count(*), count(distinct id) from directory_data.directory_users"
        ).fetchone()


def test_a_second_merge_of_many_keys_loads_under_headwaters_memory_limit(
    headwater_plugins, api_simulator, headwater_env, monkeypatch, capsys
):
    # Under Headwater's 48MB a second run of 3M directory records failed: dlt's delete
    # of the staged keys holds them in memory. Shrunk: under 10MB (one thread and files
    # of 20,000 records, so that the inserts fit), the delete of 200k staged keys needs
    # more than 12MB: without the wider limit for the merge (BYTES_PER_STAGED_ROW = 0)
    # the second run fails with "DuckDB ran out of its memory limit".
    monkeypatch.setenv("DATA_WRITER__FILE_MAX_ITEMS", "20000")
    tight = '{"memory_limit": "10MB", "preserve_insertion_order": false, "threads": 1}'
    monkeypatch.setitem(workdir.DUCKDB_DEFAULTS, workdir.DUCKDB_CONFIG, tight)
    monkeypatch.setenv(workdir.DUCKDB_CONFIG, tight)
    headwater_plugins(Declares(BIG_PAGES))
    sim = api_simulator(BIG_PAGES, records={"directory_users": RECORDS})
    use_settings(monkeypatch, "directory", sim)
    assert main(["run", "directory", "--progress", "off"]) == 0  # straight into the table
    capsys.readouterr()
    second = main(["run", "directory", "--progress", "off"])  # merged through staging
    assert second == 0, capsys.readouterr().err
    assert rows_and_ids(headwater_env) == (RECORDS, RECORDS)
    with duckdb.connect(str(headwater_env / DATABASE), read_only=True) as con:
        # dlt empties the staging table after the merge, under the same wider limit
        staged = con.sql("select count(*) from directory_data_staging.directory_users")
        assert staged.fetchone() == (0,)
    assert workdir.duckdb_memory_limited()  # Headwater's limit stays for the next run


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        ("96MB", 96_000_000),
        ("48MB", 48_000_000),
        ("91.5 MiB", int(91.5 * 1024**2)),
        ("1GB", 1_000_000_000),
        ("2GiB", 2 * 1024**3),
        ("512", 512),
        ("lots", None),
        ("3 furlongs", None),
    ],
)
def test_size_bytes_reads_duckdbs_sizes(size, expected):
    assert size_bytes(size) == expected
