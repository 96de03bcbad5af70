"""Assembly (headwater.load.assemble): ``headwater.source()`` builds a dlt source from
a connector's declarations and hooks, without a request and without touching the
process's environment."""

from __future__ import annotations

import os

import dlt
import headwater
from headwater_directory.hooks import DIRECTORY


def test_source_builds_without_requests(api_simulator):
    sim = api_simulator(DIRECTORY)
    source = headwater.source("directory", **sim.settings)
    assert list(source.resources) == ["directory_users"]
    assert sim.requests == []
    _ = dlt  # the source is a dlt source
    assert source.name == "directory"


def test_building_a_source_leaves_dlts_row_id_setting_alone(api_simulator, monkeypatch):
    # A value left in the environment would reach child processes (a CLI run started
    # from a script, an orchestrator's workers), which would take it for the user's and
    # load tables without _dlt_id.
    monkeypatch.delenv("NORMALIZE__PARQUET_NORMALIZER__ADD_DLT_ID", raising=False)
    sim = api_simulator(DIRECTORY, records={"directory_users": 5})
    headwater.source("directory", arrow=True, **sim.settings)
    assert "NORMALIZE__PARQUET_NORMALIZER__ADD_DLT_ID" not in os.environ


def test_building_a_source_writes_nothing_to_the_environment(
    api_simulator, duckdb_pipeline, monkeypatch
):
    # No process-global side effect at assembly: the Arrow tables carry dlt's load id
    # themselves instead of switching dlt's normalizer setting on in os.environ.
    monkeypatch.delenv("NORMALIZE__PARQUET_NORMALIZER__ADD_DLT_LOAD_ID", raising=False)
    before = dict(os.environ)
    sim = api_simulator(DIRECTORY, records={"directory_users": 30})
    source = headwater.source("directory", arrow=True, **sim.settings)
    assert dict(os.environ) == before
    pipeline = duckdb_pipeline()
    info = pipeline.run(source, loader_file_format="parquet")
    assert dict(os.environ) == before
    with pipeline.sql_client() as client:
        rows = client.execute_sql(
            "select _dlt_load_id, count(*), count(distinct _dlt_id) from directory_users group by 1"
        )
    # every row has the id of the package that loaded it, and its own row id
    assert rows == [(info.loads_ids[0], 30, 30)]
