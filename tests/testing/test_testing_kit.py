"""The pytest plugin of the testing kit, as a connector author's test session uses it:
tests run through ``pytester`` in a session of their own, in order."""

from __future__ import annotations

import json
import os
import socket
from urllib.parse import urlsplit

# dlt and the connector are imported here, before pytester runs a session in this
# process: pytester removes the modules its session imported first, and a second copy of
# dlt would not share the first one's active pipeline (nor its atexit hooks).
import dlt  # noqa: F401
import headwater.testing.simulator  # noqa: F401
import headwater_analytics.hooks  # noqa: F401
import pytest

INCREMENTAL_TESTS = """
import dlt
import headwater
import headwater_analytics.hooks
from headwater.testing import rows_of

EVENTS = {"events": 40}


def test_a_loads_incrementally(headwater_env, headwater_plugins, api_simulator, tmp_path):
    headwater_plugins(headwater_analytics.hooks)
    sim = api_simulator("analytics_events", records=EVENTS)
    # a pipeline of the author's own, left active as dlt leaves every pipeline it ran
    pipeline = dlt.pipeline(
        pipeline_name="events",
        destination=dlt.destinations.duckdb(str(tmp_path / "events.duckdb")),
        pipelines_dir=str(tmp_path / "pipelines"),
    )
    pipeline.run(headwater.source("analytics_events", **sim.settings))
    assert dlt.current.pipeline() is pipeline  # the premise: still active after the run
    cursor = pipeline.state["sources"]["analytics_events"]["resources"]["events"]
    assert cursor["headwater_incremental"]["position"] is not None  # the state it keeps


def test_b_reads_every_record_again(headwater_env, headwater_plugins, api_simulator):
    import dlt.common.pipeline

    headwater_plugins(headwater_analytics.hooks)
    sim = api_simulator("analytics_events", records=EVENTS)
    rows = rows_of(headwater.source("analytics_events", **sim.settings))
    assert [r.query.get("since") for r in sim.requests_for("events")] == [None]
    assert len(rows) == EVENTS["events"]
    assert dlt.common.pipeline.current_pipeline() is None
"""


def test_headwater_env_deactivates_the_pipeline_an_earlier_test_left_active(pytester):
    """Test b, after a test that ran an incremental pipeline, neither has that pipeline
    active nor sends its cursor (``since=``): it reads every record."""
    pytester.makepyfile(test_incremental=INCREMENTAL_TESTS)
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)


FAILING_TEST = """
import json


def test_fails_after_starting_a_simulator_and_a_process(
    headwater_env, api_simulator, headwater_process
):
    sim = api_simulator("directory", records={"directory_users": 3})
    process = headwater_process("simulate", "hr", "--records", "3")
    served = process.stdout.readline()  # "serving hr at http://127.0.0.1:PORT ..."
    with open(OUT, "w") as out:
        json.dump({"sim": sim.base_url, "pid": process.pid, "served": served}, out)
    assert False, "this test fails with both running"
"""


def refused(url: str) -> bool:
    parts = urlsplit(url)
    try:
        socket.create_connection((parts.hostname, parts.port), timeout=2).close()
    except ConnectionRefusedError:
        return True
    return False


def test_simulators_and_processes_are_stopped_when_a_test_fails(pytester):
    out = pytester.path / "started.json"
    pytester.makepyfile(test_fails=f"OUT = {str(out)!r}\n{FAILING_TEST}")
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    started = json.loads(out.read_text())
    served = started["served"].split()
    assert served[:3] == ["serving", "hr", "at"], started["served"]
    assert refused(started["sim"]), "the simulator still listens after the test"
    assert refused(served[3]), "`headwater simulate` still listens after the test"
    with pytest.raises(ProcessLookupError):  # stopped and reaped: no such process
        os.kill(started["pid"], 0)


def test_headwater_env_keeps_the_blocked_plugins(pytester, monkeypatch):
    """Blocking a plugin (overriding.md's "Replace a declaration": another plugin declares
    its connector) is part of what is installed, not an ambient setting: the suite's
    `headwater` processes must see the same plugins, or two declare one connector."""
    monkeypatch.setenv("HEADWATER_DISABLE_PLUGINS", "directory")  # the author's shell
    monkeypatch.setenv("HEADWATER_ARROW", "0")
    monkeypatch.setenv("SOURCES__HR__API_KEY", "from-the-shell")
    pytester.makepyfile(
        test_env="""
        import os


        def test_env(headwater_env):
            assert os.environ.get("HEADWATER_DISABLE_PLUGINS") == "directory"
            assert "HEADWATER_ARROW" not in os.environ
            assert "SOURCES__HR__API_KEY" not in os.environ
        """
    )
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)
