"""The embedded default works after a plain install.

- A core and one connector, installed with pip and nothing else, run into
  ``./headwater_<name>.duckdb``; another destination's missing driver is still named.
- What every connector loads reads back through dlt's own dataset API.
- ``headwater run`` in one folder never writes into, or takes state from, a run in
  another; the path it prints is the file it wrote.
- ``headwater query`` reads that file, read-only, with one-line errors.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import dlt
import duckdb
import headwater_analytics.hooks
import headwater_directory.hooks
import headwater_hr.hooks
import pytest
from headwater.cli import main
from headwater.plugin.manager import get_registry
from helpers import cli, settings_env, use_settings

ROOT = Path(__file__).resolve().parents[2]
EVENTS_TABLE = "analytics_events_data.events"


def reported_rows(stdout: str) -> dict[str, int]:
    """The ``table  rows`` lines of ``headwater run``'s summary."""
    lines = stdout.splitlines()
    start = lines.index(next(line for line in lines if re.match(r"table\s+rows$", line))) + 2
    rows = {}
    for line in lines[start:]:
        match = re.fullmatch(r"(\S+)\s+(\d+)", line)
        if match is None:
            break
        rows[match[1]] = int(match[2])
    return rows


def count(database: Path, table: str) -> int:
    with duckdb.connect(str(database), read_only=True) as con:
        return con.sql(f"select count(*) from {table}").fetchall()[0][0]


def data_line(stdout: str) -> Path:
    (line,) = [line for line in stdout.splitlines() if line.startswith("data: ")]
    return Path(line[len("data: ") :])


# ------------------------------------------------- dlt reads back what was loaded


def test_every_connector_reads_back_through_dlts_dataset_api(
    headwater_plugins, api_simulator, monkeypatch, headwater_env, capsys
):
    # every connector the demo runs, loaded as `headwater run` loads it
    headwater_plugins(headwater_directory.hooks, headwater_analytics.hooks, headwater_hr.hooks)
    connectors = get_registry().connectors()
    assert len(connectors) == 5
    for connector in connectors:
        sim = api_simulator(
            connector, records={r.name: 30 for r in connector.resources if r.parent is None}
        )
        use_settings(monkeypatch, connector.name, sim)
        assert main(["run", connector.name, "--progress", "off"]) == 0
        reported = reported_rows(capsys.readouterr().out)
        assert reported and all(reported.values()), reported

        pipeline = dlt.attach(
            pipeline_name=f"headwater_{connector.name}",
            pipelines_dir=str(headwater_env / ".headwater" / "pipelines"),
        )
        dataset = pipeline.dataset()
        # with duckdb 2 this fails: dlt 1.31 calls the removed fetch_arrow_table
        read_back = {table: dataset[table].arrow().num_rows for table in reported}
        assert read_back == reported, connector.name


# --------------------------------------------------- one folder, one pipeline


def test_runs_in_two_folders_never_share_a_file_or_state(
    headwater_plugins, api_simulator, headwater_env, tmp_path, monkeypatch
):
    """Three runs through the CLI, each its own process as a user's are (~4 s each)."""
    headwater_plugins(headwater_analytics.hooks)
    # as on a user's machine: the project is the folder `headwater run` runs in
    monkeypatch.delenv("DLT_PROJECT_DIR")
    sim = api_simulator("analytics_events", records={"events": 300})
    env = settings_env("analytics_events", sim)
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()

    monkeypatch.chdir(a)
    first = cli("run", "analytics_events", "--progress", "off", env=env)
    assert first.returncode == 0, first.stderr
    file_a = a / "headwater_analytics_events.duckdb"
    assert data_line(first.stdout) == file_a
    assert count(file_a, EVENTS_TABLE) == 300
    assert (a / ".headwater" / "pipelines" / "headwater_analytics_events").is_dir()
    before = file_a.stat().st_mtime_ns

    # B starts from nothing: all 305 events (not the 5 new since A's cursor), in B's file
    sim.grow("events", 5)
    sim.reset_log()
    monkeypatch.chdir(b)
    second = cli("run", "analytics_events", "--progress", "off", env=env)
    assert second.returncode == 0, second.stderr
    file_b = b / "headwater_analytics_events.duckdb"
    assert data_line(second.stdout) == file_b
    assert count(file_b, EVENTS_TABLE) == 305
    assert {r.query.get("since", [None])[0] for r in sim.requests_for("events")} == {None}
    assert count(file_a, EVENTS_TABLE) == 300
    assert file_a.stat().st_mtime_ns == before

    # running again in A resumes A's state: only what is new since A's run is asked for
    sim.reset_log()
    monkeypatch.chdir(a)
    third = cli("run", "analytics_events", "--progress", "off", env=env)
    assert third.returncode == 0, third.stderr
    assert data_line(third.stdout) == file_a
    assert count(file_a, EVENTS_TABLE) == 305
    assert None not in {r.query.get("since", [None])[0] for r in sim.requests_for("events")}
    assert count(file_b, EVENTS_TABLE) == 305


def test_a_relative_duckdb_path_is_in_the_folder_of_the_run(
    headwater_plugins, api_simulator, tmp_path, monkeypatch
):
    # the same pipeline state, run from a folder moved elsewhere
    headwater_plugins(headwater_hr.hooks)
    sim = api_simulator("hr", records={"employees": 12})
    env = {**settings_env("hr", sim), "DESTINATION__DUCKDB__CREDENTIALS": "store/hr.duckdb"}
    old, new = tmp_path / "old", tmp_path / "new"
    (old / "store").mkdir(parents=True)
    monkeypatch.chdir(old)
    first = cli("run", "hr", "--progress", "off", env=env)
    assert first.returncode == 0, first.stderr
    assert data_line(first.stdout) == old / "store" / "hr.duckdb"
    shutil.move(old, new)
    monkeypatch.chdir(new)
    sim.grow("employees", 3)
    second = cli("run", "hr", "--progress", "off", env=env)
    assert second.returncode == 0, second.stderr
    assert data_line(second.stdout) == new / "store" / "hr.duckdb"
    assert count(new / "store" / "hr.duckdb", "hr_data.employees") == 15
    assert not old.exists()


# ------------------------------------------------------------- headwater query


@pytest.fixture
def loaded_hr(headwater_plugins, api_simulator, headwater_env, monkeypatch, capsys):
    """``headwater run hr`` done in the test's folder (in-process: quicker); the
    simulator it loaded from."""
    headwater_plugins(headwater_hr.hooks)
    sim = api_simulator("hr", records={"employees": 25})
    use_settings(monkeypatch, "hr", sim)
    assert main(["run", "hr", "--progress", "off"]) == 0
    capsys.readouterr()
    return sim


def test_query_prints_the_rows_as_a_table(loaded_hr):
    sim = loaded_hr
    done = cli("query", "hr", "select id from employees order by id limit 3", env={})
    assert done.returncode == 0, done.stderr
    expected = sorted(str(r["id"]) for r in sim.data["employees"])[:3]
    assert done.stdout.splitlines() == ["id", "-" * len(expected[0]), *expected, "(3 rows)"]


def test_query_while_a_writer_holds_the_file_is_one_line(loaded_hr, headwater_env):
    with duckdb.connect(str(headwater_env / "headwater_hr.duckdb")):  # a writer, elsewhere
        done = cli("query", "hr", "select 1", env={})
    assert done.returncode == 1
    assert re.fullmatch(
        r"headwater: error: the DuckDB file \S+headwater_hr\.duckdb is being written by another "
        r"process \(PID \d+\), a running load or an open DuckDB shell: query it once that is "
        r"done\n",
        done.stderr,
    ), done.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--destination", "postgres", "select 1"],
            "headwater query reads DuckDB only, not postgres: use postgres's own client "
            "(the `look:` line `headwater run` printed shows one)",
        ),
        (
            # run prints no look: line for filesystem: none is promised
            ["--destination", "filesystem", "select 1"],
            "headwater query reads DuckDB only, not filesystem: use filesystem's own client",
        ),
        (
            ["--pipeline-name", "elsewhere", "select 1"],
            "no DuckDB file at {cwd}/elsewhere.duckdb: load it first with `headwater run hr` "
            "in this folder (or name the file with --file)",
        ),
        (
            ["select * from nope"],
            "the query failed: Catalog Error: Table with name nope does not exist!",
        ),
    ],
    ids=["postgres", "filesystem", "no file", "bad sql"],
)
def test_query_usage_errors_are_one_line(loaded_hr, headwater_env, args, message):
    done = cli("query", "hr", *args, env={})
    assert done.returncode == 2
    line = f"headwater: error: {message.format(cwd=headwater_env)}"
    assert done.stderr.startswith(line), done.stderr
    assert done.stderr.count("\n") == 1


# ------------------------------------------- a plain pip install, no extras


@pytest.fixture(scope="module")
def plain_install(tmp_path_factory):
    """A virtual environment holding only ``pip install ./core ./connectors/hr``
    (done by uv, from its cache: the same resolution, without pip's slow start)."""
    uv = shutil.which("uv")
    if uv is None:
        pytest.skip("uv is not installed (`pip install uv`): it builds the test environment")
    root = tmp_path_factory.mktemp("plain")
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "UV_PROJECT")}
    env["UV_NO_PROGRESS"] = "1"
    venv = root / "venv"
    subprocess.run(
        [uv, "venv", "-q", "--python", sys.executable, str(venv)], check=True, env=env, cwd=root
    )
    done = subprocess.run(
        [uv, "pip", "install", "-q", "--python", str(venv), "./core", "./connectors/hr"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    return venv / ("Scripts" if os.name == "nt" else "bin")


def test_a_plain_install_runs_into_duckdb_and_the_hint_works(
    plain_install, headwater_plugins, api_simulator, tmp_path
):
    """Slow (~10 s): a real install. Proves the no-extras promise end to end."""
    headwater_plugins(headwater_hr.hooks)
    sim = api_simulator("hr", records={"employees": 40})
    # the installed environment only: its console scripts first on PATH, no test settings
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SOURCES__", "DESTINATION__", "DLT_", "PYTEST_", "HEADWATER_", "UV"))
        and k not in ("VIRTUAL_ENV", "PYTHONPATH")
    }
    env["PATH"] = os.pathsep.join([str(plain_install), env.get("PATH", "")])
    env["DLT_DATA_DIR"] = str(tmp_path / "dlt_data")
    env.update(settings_env("hr", sim))
    work = tmp_path / "folder"
    work.mkdir()

    def shell(command: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            command, shell=True, cwd=work, env=env, capture_output=True, text=True, timeout=300
        )

    done = shell("headwater run hr --progress off")
    assert done.returncode == 0, done.stderr
    assert data_line(done.stdout) == work / "headwater_hr.duckdb"
    assert count(work / "headwater_hr.duckdb", "hr_data.employees") == 40
    (look,) = [line[len("look: ") :] for line in done.stdout.splitlines() if "look: " in line]
    assert look.startswith("headwater query hr ")  # the installed command, on the PATH
    shown = shell(look)
    assert shown.returncode == 0, shown.stderr
    assert "(10 rows)" in shown.stdout.splitlines()

    # another destination's driver is an extra: named, with the command that installs it
    missing = shell("headwater run hr --destination postgres")
    assert missing.returncode == 2
    assert missing.stderr == (
        "headwater: error: destination 'postgres' needs its driver (psycopg2), which is not "
        'installed; install it with: pip install "headwater[postgres]"\n'
    )


def test_the_hint_works_from_a_virtual_environment_that_is_not_activated(
    headwater_plugins, api_simulator, headwater_env
):
    # `.venv/bin/headwater run hr` from a shell whose PATH does not have .venv/bin
    headwater_plugins(headwater_hr.hooks)
    sim = api_simulator("hr", records={"employees": 12})
    bindir = os.path.dirname(os.path.abspath(sys.executable))
    path = os.pathsep.join(
        p
        for p in os.environ.get("PATH", "").split(os.pathsep)
        if p and os.path.abspath(p) != bindir
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("UV") and k != "VIRTUAL_ENV"}
    env.update(settings_env("hr", sim), PATH=path)
    done = subprocess.run(
        [sys.executable, "-m", "headwater", "run", "hr", "--progress", "off"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    (look,) = [line[len("look: ") :] for line in done.stdout.splitlines() if "look: " in line]
    assert look.startswith(f"{sys.executable} -m headwater query hr ")
    shown = subprocess.run(look, shell=True, env=env, capture_output=True, text=True, timeout=300)
    assert shown.returncode == 0, shown.stderr
    assert "(10 rows)" in shown.stdout.splitlines()
