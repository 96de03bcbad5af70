"""``RunResult.failed``: the names of the resources a run could not load, with the
children they took along (what ``headwater.dagster`` fails its assets by)."""

from __future__ import annotations

import headwater_analytics.hooks
from headwater.run.pipeline import run_connector
from headwater.testing import Fault


def test_failed_resources_are_named_and_the_others_load(headwater_plugins, api_simulator):
    headwater_plugins(headwater_analytics.hooks)
    sim = api_simulator("analytics_odata", records={"users": 4, "groups": 3, "conversations": 2})
    sim.add_fault(Fault("status", status=400, resource="groups", count=None))
    result = run_connector("analytics_odata", sim.settings)
    assert result.failed == ("groups",)
    assert dict(result.row_counts) == {"users": 4, "conversations": 2}
    assert len(result.failures) == 1 and "groups" in result.failures[0]

    # a child fails alone: its parent is loaded
    clean = api_simulator("analytics_meetings", records={"users": 3})
    clean.add_fault(Fault("status", status=400, resource="meetings", count=None))
    result = run_connector("analytics_meetings", clean.settings)
    assert result.failed == ("meetings",)
    assert dict(result.row_counts) == {"users": 3}
