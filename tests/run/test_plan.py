"""``RunPlan``: a run described as data, shipped to worker processes.

A plan pickles (no secret in it), goes to a fresh interpreter (a process pool with
``spawn``, standing in for Dask or Ray workers), and runs there with the settings of
the worker's environment: each resource's rows land, and the plan's bytes never hold
the secret.
"""

from __future__ import annotations

import multiprocessing
import pickle
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import duckdb
import headwater_analytics.hooks
import pytest
from headwater.errors import ConfigError
from headwater.run.plan import RunPlan, plan_runs
from helpers import files_containing

CANARY = "canary-plan-77ab10"


@pytest.fixture
def analytics(headwater_plugins):
    headwater_plugins(headwater_analytics.hooks)


def test_plans_per_resource_carry_names_not_values(analytics, monkeypatch):
    monkeypatch.setenv("SOURCES__ANALYTICS_ODATA__CLIENT_SECRET", CANARY)
    plans = plan_runs("analytics_odata")
    assert [p.resources for p in plans] == [("users",), ("groups",), ("conversations",)]
    assert [p.pipeline_name for p in plans] == [
        "headwater_analytics_odata_users",
        "headwater_analytics_odata_groups",
        "headwater_analytics_odata_conversations",
    ]
    assert {p.dataset_name for p in plans} == {"analytics_odata_data"}
    assert {"base_url", "client_id", "client_secret"} <= set(plans[0].settings)
    raw = pickle.dumps(plans)
    assert CANARY.encode() not in raw
    assert pickle.loads(raw) == plans
    # a child goes with its parent
    (meetings,) = [p for p in plan_runs("analytics_meetings") if p.pipeline_name.endswith("_users")]
    assert meetings.resources == ("users", "meetings")
    (whole,) = plan_runs("analytics_meetings", per="connector", pipeline_name="p")
    assert whole == RunPlan(
        "analytics_meetings",
        settings=whole.settings,
        pipeline_name="p",
        dataset_name="analytics_meetings_data",
    )


def test_bad_split_is_one_clear_error(analytics):
    with pytest.raises(ConfigError, match="per='window' is not a way to split a run"):
        plan_runs("analytics_odata", per="window")  # type: ignore[arg-type]


def test_plans_run_in_fresh_worker_processes(analytics, api_simulator, monkeypatch, tmp_path):
    sim = api_simulator(
        "analytics_odata",
        records={"users": 40, "groups": 15, "conversations": 25},
        credentials={"client_secret": CANARY},
    )
    # the workers' environment, as a deployment would set it
    for key, value in sim.settings.items():
        monkeypatch.setenv(f"SOURCES__ANALYTICS_ODATA__{key.upper()}", value)
    plans = plan_runs("analytics_odata")
    # spawn: a fresh interpreter that gets only the pickled plan, like a Dask/Ray worker
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        # RunPlan.run pickles by name: the worker imports it from headwater
        results = list(pool.map(RunPlan.run, plans))
    assert [dict(r.row_counts) for r in results] == [
        {"users": 40},
        {"groups": 15},
        {"conversations": 25},
    ]
    assert [r.failures for r in results] == [(), (), ()]
    # DuckDB has one writer per file: each plan wrote its own pipeline's file
    for plan, resource in zip(plans, ("users", "groups", "conversations"), strict=True):
        with duckdb.connect(str(Path.cwd() / f"{plan.pipeline_name}.duckdb")) as con:
            ids = sorted(
                r[0] for r in con.sql(f"select id from {plan.dataset_name}.{resource}").fetchall()
            )
        assert ids == sorted(str(r["id"]) for r in sim.data[resource])
    assert files_containing(tmp_path, CANARY) == []
