"""`headwater run` on a runner that starts empty: state comes back from the destination,
and the summary says where the data really is."""

from __future__ import annotations

import shutil

import duckdb
import headwater_analytics.hooks
import pytest
from headwater.cli import main
from headwater_analytics.events import ANALYTICS_EVENTS
from helpers import use_settings


@pytest.fixture(autouse=True)
def _analytics(headwater_plugins):
    headwater_plugins(headwater_analytics.hooks)


def test_incremental_cursor_is_restored_from_the_destination(
    api_simulator, headwater_env, monkeypatch, capsys
):
    sim = api_simulator(ANALYTICS_EVENTS, records={"events": 300})
    use_settings(monkeypatch, "analytics_events", sim)
    assert main(["run", "analytics_events", "--progress", "off"]) == 0
    newest = max(r["timestamp"] for r in sim.data["events"])

    # A fresh runner: the destination persists, the pipeline's working directory does not.
    shutil.rmtree(headwater_env.parent / "dlt_data" / "pipelines" / "headwater_analytics_events")
    sim.reset_log()
    sim.grow("events", 5)
    assert main(["run", "analytics_events", "--progress", "off"]) == 0

    requests = sim.requests_for("events")
    assert requests and {r.query.get("since", [None])[0] for r in requests} == {newest}
    db = headwater_env / "headwater_analytics_events.duckdb"
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.sql("select count(*) from analytics_events_data.events").fetchall() == [(305,)]
    capsys.readouterr()


def test_summary_names_the_duckdb_file_the_data_went_to(
    api_simulator, headwater_env, monkeypatch, capsys
):
    sim = api_simulator(ANALYTICS_EVENTS, records={"events": 40})
    use_settings(monkeypatch, "analytics_events", sim)
    elsewhere = headwater_env / "warehouse" / "events.duckdb"
    elsewhere.parent.mkdir()
    monkeypatch.setenv("DESTINATION__DUCKDB__CREDENTIALS", str(elsewhere))
    assert main(["run", "analytics_events", "--progress", "off"]) == 0
    out = capsys.readouterr().out
    assert f"data: {elsewhere}" in out.splitlines()
    assert f"duckdb.connect('{elsewhere}')" in out
    with duckdb.connect(str(elsewhere), read_only=True) as con:
        assert con.sql("select count(*) from analytics_events_data.events").fetchall() == [(40,)]
    assert not (headwater_env / "headwater_analytics_events.duckdb").exists()


def test_loaded_data_reads_back_through_dlts_dataset_api(
    api_simulator, headwater_env, monkeypatch, capsys
):
    import dlt

    sim = api_simulator(ANALYTICS_EVENTS, records={"events": 12})
    use_settings(monkeypatch, "analytics_events", sim)
    assert main(["run", "analytics_events", "--progress", "off"]) == 0
    capsys.readouterr()
    dataset = dlt.attach("headwater_analytics_events").dataset()
    rows = dataset.table("events").select("id").fetchall()
    assert sorted(r[0] for r in rows) == sorted(r["id"] for r in sim.data["events"])
