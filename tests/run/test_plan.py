"""``RunPlan``: a run described as data, shipped to worker processes.

A plan pickles (no secret in it) and runs with the settings of the process that runs
it. Plans run in fresh worker processes (``spawn``, standing in for Dask or Ray
workers) in tests/dagster/test_docs_examples.py (the documented ``fan_out.py``).
"""

from __future__ import annotations

import pickle

import headwater
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
    assert headwater.plan_runs("analytics_odata") == plans  # the public face
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


def test_a_plan_runs_with_the_settings_of_the_process_that_runs_it(
    analytics, api_simulator, monkeypatch, tmp_path
):
    # built where no setting is known, shipped as bytes
    raw = pickle.dumps(plan_runs("analytics_meetings", pipeline_name="meet"))
    sim = api_simulator(
        "analytics_meetings", records={"users": 8}, credentials={"client_secret": CANARY}
    )
    for key, value in sim.settings.items():
        monkeypatch.setenv(f"SOURCES__ANALYTICS_MEETINGS__{key.upper()}", value)
    (plan,) = pickle.loads(raw)
    result = plan.run()
    served = sum(len(v) for v in sim.data["meetings"].values())
    assert dict(result.row_counts) == {"users": 8, "meetings": served}
    assert result.pipeline_name == "meet_users" and result.failures == ()
    assert files_containing(tmp_path, CANARY) == []
