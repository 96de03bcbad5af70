"""The files docs/dagster.md shows work as shown: ``definitions.py`` loads with no
settings and its assets materialize; ``fan_out.py`` loads every resource from worker
processes; the Airflow DAG compiles (and, where Airflow is installed, imports with one
mapped task and no source built at parse time)."""

from __future__ import annotations

import importlib.util
import re
import types
from pathlib import Path

import duckdb
import headwater_analytics.hooks
import pytest
from helpers import files_containing

dg = pytest.importorskip("dagster", reason="headwater[dagster] is not installed")

PAGE = Path(__file__).resolve().parents[2] / "docs" / "dagster.md"
CANARY = "canary-fan-out-0b9d"
FENCE = re.compile(r'^```python title="(?P<title>[^"]+)"\n(?P<body>.*?)^```$', re.M | re.S)


def block(title: str) -> str:
    (body,) = [m["body"] for m in FENCE.finditer(PAGE.read_text()) if m["title"] == title]
    return body


def module_from(source: str, name: str) -> types.ModuleType:
    module = types.ModuleType(name)
    exec(compile(source, f"<docs: {name}>", "exec"), module.__dict__)
    return module


@pytest.fixture
def analytics(headwater_plugins):
    headwater_plugins(headwater_analytics.hooks)


def settings_of(monkeypatch, name, sim):
    for key, value in sim.settings.items():
        monkeypatch.setenv(f"SOURCES__{name.upper()}__{key.upper()}", value)


def test_definitions_py_loads_without_settings_and_materializes(
    analytics, api_simulator, monkeypatch, headwater_env, tmp_path
):
    definitions = module_from(block("definitions.py"), "definitions")
    defs = definitions.defs
    dg.Definitions.validate_loadable(defs)
    job = defs.resolve_job_def("analytics_hourly")
    sims = {
        "analytics_meetings": api_simulator("analytics_meetings", records={"users": 12}),
        "analytics_odata": api_simulator(
            "analytics_odata", records={"users": 9, "groups": 4, "conversations": 6}
        ),
    }
    for name, sim in sims.items():
        settings_of(monkeypatch, name, sim)
    (tmp_path / "dagster_home").mkdir()
    instance = dg.DagsterInstance.local_temp(str(tmp_path / "dagster_home"))
    result = job.execute_in_process(instance=instance)
    assert result.success
    materialized = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert materialized == {
        "analytics_meetings/users",
        "analytics_meetings/meetings",
        "analytics_odata/users",
        "analytics_odata/groups",
        "analytics_odata/conversations",
    }
    with duckdb.connect(str(headwater_env / "headwater_analytics_odata.duckdb")) as con:
        (n,) = con.sql("select count(*) from analytics_odata_data.groups").fetchone()
    assert n == 4


def test_fan_out_py_loads_each_resource_in_a_worker(
    analytics, api_simulator, monkeypatch, headwater_env, capsys, tmp_path
):
    # workers are fresh interpreters (spawn): they get the plan's bytes and their
    # environment, nothing else of this process
    sim = api_simulator(
        "analytics_odata",
        records={"users": 5, "groups": 6, "conversations": 7},
        credentials={"client_secret": CANARY},
    )
    settings_of(monkeypatch, "analytics_odata", sim)
    module_from(block("fan_out.py"), "fan_out").main()
    out = capsys.readouterr().out.splitlines()
    assert out == [
        "headwater_analytics_odata_users {'users': 5}",
        "headwater_analytics_odata_groups {'groups': 6}",
        "headwater_analytics_odata_conversations {'conversations': 7}",
    ]
    for resource, count in (("users", 5), ("groups", 6), ("conversations", 7)):
        database = headwater_env / f"headwater_analytics_odata_{resource}.duckdb"
        with duckdb.connect(str(database)) as con:
            rows = con.sql(f"select id from analytics_odata_data.{resource}").fetchall()
        assert sorted(r[0] for r in rows) == sorted(str(r["id"]) for r in sim.data[resource])
        assert len(rows) == count
    assert files_containing(tmp_path, CANARY) == []


def test_airflow_dag_builds_sources_inside_tasks(analytics, monkeypatch):
    source = block("dags/headwater_analytics_odata.py")
    code = compile(source, "headwater_analytics_odata.py", "exec")
    # nothing at the top of the file builds a source or reads a setting
    assert "headwater.source(" not in source and ".run(" in source.split("def load", 1)[1]
    if importlib.util.find_spec("airflow") is None:
        pytest.skip("Airflow is not installed (CI does not install it: too heavy)")
    import headwater

    def refuse(*args, **kwargs):
        raise AssertionError("a source was built while the DAG file was parsed")

    monkeypatch.setattr(headwater, "source", refuse)
    namespace: dict = {"__name__": "headwater_analytics_odata"}
    exec(code, namespace)
    # one mapped task: one run per resource, each building its source when it runs
    assert [t.task_id for t in namespace["dag_object"].tasks] == ["load"]
