"""`headwater run` on a runner that starts empty: state comes back from the destination,
and the summary says where the data really is."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import duckdb
import headwater_analytics.hooks
import pytest
from headwater.cli import main
from headwater_analytics.events import ANALYTICS_EVENTS
from helpers import a_second_before, use_settings


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
    state = headwater_env / ".headwater" / "pipelines" / "headwater_analytics_events"
    assert (state / "state.json").is_file()  # the working state is in this folder
    shutil.rmtree(headwater_env / ".headwater")
    sim.reset_log()
    sim.grow("events", 5)
    assert main(["run", "analytics_events", "--progress", "off"]) == 0

    requests = sim.requests_for("events")
    sent = {r.query.get("since", [None])[0] for r in requests}
    assert requests and sent == {a_second_before(newest)}  # it answers strictly after
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
    with duckdb.connect(str(elsewhere), read_only=True) as con:
        assert con.sql("select count(*) from analytics_events_data.events").fetchall() == [(40,)]
    assert not (headwater_env / "headwater_analytics_events.duckdb").exists()
    # the "look:" command, run as printed in the same environment, reads that file
    (look,) = [line[len("look: ") :] for line in out.splitlines() if line.startswith("look: ")]
    assert "headwater query analytics_events " in look
    shown = subprocess.run(look, shell=True, capture_output=True, text=True, env=os.environ)
    assert shown.returncode == 0, shown.stderr
    assert "(10 rows)" in shown.stdout.splitlines()
    cells = {cell for line in shown.stdout.splitlines()[2:] for cell in line.split()}
    assert len(cells & {r["id"] for r in sim.data["events"]}) == 10


def test_loaded_data_reads_back_through_dlts_dataset_api(
    api_simulator, headwater_env, monkeypatch, capsys
):
    import dlt

    sim = api_simulator(ANALYTICS_EVENTS, records={"events": 12})
    use_settings(monkeypatch, "analytics_events", sim)
    assert main(["run", "analytics_events", "--progress", "off"]) == 0
    capsys.readouterr()
    # the pipeline's working state is in the folder `headwater run` ran in
    pipeline = dlt.attach(
        "headwater_analytics_events", pipelines_dir=str(headwater_env / ".headwater" / "pipelines")
    )
    dataset = pipeline.dataset()
    rows = dataset.table("events").select("id").fetchall()
    assert sorted(r[0] for r in rows) == sorted(r["id"] for r in sim.data["events"])


_RUN_WITHOUT_SQLALCHEMY = """
import sys
from headwater.cli import main
from headwater.plugin.manager import get_registry
from headwater.testing import Simulator

sim = Simulator(get_registry().get("directory"))
sim.start()
try:
    for key, value in sim.settings.items():
        import os
        os.environ[f"SOURCES__DIRECTORY__{key.upper()}"] = str(value)
    code = main(["run", "directory", "--progress", "off"])
finally:
    sim.stop()
assert code == 0, code
print("imported sqlalchemy:", "sqlalchemy" in sys.modules)
from dlt.common.libs.sql_alchemy_compat import make_url
print("make_url from:", make_url.__module__.partition(".")[0])
"""


def test_a_duckdb_run_does_not_import_sqlalchemy_and_leaves_dlt_to_it_after(headwater_env):
    """dlt renders the destination's credentials as a URL at the end of its load step,
    importing SQLAlchemy (0.2 s, 11 MB) where it is installed, as with Dagster; a DuckDB
    run does not need it, and code after the run still gets SQLAlchemy's own URLs."""
    pytest.importorskip("sqlalchemy")
    out = subprocess.run(
        [sys.executable, "-c", _RUN_WITHOUT_SQLALCHEMY],
        capture_output=True,
        text=True,
        cwd=headwater_env,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert "imported sqlalchemy: False" in out.stdout
    assert "make_url from: sqlalchemy" in out.stdout


def test_a_working_state_folder_that_cannot_be_made_is_one_line(
    api_simulator, headwater_env, monkeypatch, capsys
):
    sim = api_simulator(ANALYTICS_EVENTS, records={"events": 5})
    use_settings(monkeypatch, "analytics_events", sim)
    (headwater_env / ".headwater").write_text("a file where the folder belongs")
    assert main(["run", "analytics_events", "--progress", "off"]) == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    state = headwater_env / ".headwater"
    assert line == (
        f"headwater: error: headwater keeps its working state in {state / 'pipelines'}, "
        f"which cannot be made (Not a directory); run in a folder you can write to, or "
        f"move what is at {state} away"
    )
    assert sim.requests == []


def test_the_look_command_works_for_a_dataset_named_like_a_keyword(
    api_simulator, headwater_env, monkeypatch, capsys
):
    sim = api_simulator(ANALYTICS_EVENTS, records={"events": 12})
    use_settings(monkeypatch, "analytics_events", sim)
    args = ["run", "analytics_events", "--dataset-name", "select", "--progress", "off"]
    assert main(args) == 0
    out = capsys.readouterr().out
    (look,) = [line[len("look: ") :] for line in out.splitlines() if line.startswith("look: ")]
    assert '"select".events' in look
    shown = subprocess.run(look, shell=True, capture_output=True, text=True, env=os.environ)
    assert shown.returncode == 0, shown.stderr
    assert "(10 rows)" in shown.stdout.splitlines()


def test_the_working_folder_keeps_no_copy_of_the_loaded_data(
    api_simulator, headwater_env, monkeypatch
):
    """dlt keeps each loaded package's files: a run from cron grew .headwater by a copy
    of every run's records (personal data, maybe) beside the destination."""
    monkeypatch.delenv("LOAD__DELETE_COMPLETED_JOBS", raising=False)
    sim = api_simulator(ANALYTICS_EVENTS, records={"events": 300})
    use_settings(monkeypatch, "analytics_events", sim)
    for _ in range(2):
        assert main(["run", "analytics_events", "--progress", "off", "--full-refresh"]) == 0
    state = headwater_env / ".headwater"
    data = [
        p for p in state.rglob("*") if p.is_file() and p.suffix in (".parquet", ".jsonl", ".gz")
    ]
    assert data == []
    record = sim.data["events"][0]["id"].encode()
    assert not [p for p in state.rglob("*") if p.is_file() and record in p.read_bytes()]
