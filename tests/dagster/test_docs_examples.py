"""The files docs/dagster.md shows work as shown: ``definitions.py`` loads with no
settings and its assets materialize; ``fan_out.py`` loads every resource from worker
processes; the Airflow DAG imports, in a venv with Airflow 3 of its own, with one task
mapped over one plan per resource and no source built at parse time."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
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


#: run in the Airflow venv: import the DAG file (argv[1]) as the scheduler would, with
#: headwater.source refusing to be called; print its task graph and mapped plans
_PARSE_DAG = """
import json, runpy, sys
import headwater

def refuse(*args, **kwargs):
    raise SystemExit("a source was built while the DAG file was parsed")

headwater.source = refuse
dag = runpy.run_path(sys.argv[1], run_name="headwater_analytics_odata")["dag_object"]
load = dag.get_task("load")
plans = load.op_kwargs_expand_input.value["plan"]
print(json.dumps({"dag_id": dag.dag_id, "tasks": [t.task_id for t in dag.tasks],
                  "resources": [list(p["resources"]) for p in plans]}))
"""


def test_airflow_dag_builds_sources_inside_tasks(tmp_path):
    """Airflow is installed in a venv of its own (beside dlt it changes where dlt reads
    its configuration), with Headwater and the analytics connector from this checkout."""
    source = block("dags/headwater_analytics_odata.py")
    assert "headwater.source(" not in source and ".run(" in source.split("def load", 1)[1]
    uv = shutil.which("uv")
    if uv is None:
        pytest.skip("uv is not on PATH: it installs Airflow into a venv of its own")
    root = Path(__file__).resolve().parents[2]
    venv = tmp_path / "airflow"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SOURCES__", "VIRTUAL_ENV"))}
    env |= {"VIRTUAL_ENV": str(venv), "AIRFLOW_HOME": str(tmp_path / "airflow_home")}
    subprocess.run([uv, "venv", "-q", str(venv)], env=env, check=True, timeout=300)
    subprocess.run(
        [
            uv,
            "pip",
            "install",
            "-q",
            "apache-airflow>=3,<4",
            root / "core",
            root / "connectors" / "analytics",
        ],
        env=env,
        check=True,
        timeout=1200,
    )
    dag_file = tmp_path / "headwater_analytics_odata.py"
    dag_file.write_text(source)
    python = venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    parsed = subprocess.run(
        [python, "-W", "ignore", "-c", _PARSE_DAG, dag_file],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert parsed.returncode == 0, parsed.stderr[-3000:]
    graph = json.loads(parsed.stdout.strip().splitlines()[-1])
    assert graph == {
        "dag_id": "headwater_analytics_odata",
        "tasks": ["load"],
        "resources": [["users"], ["groups"], ["conversations"]],
    }
