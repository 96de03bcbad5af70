"""Two runs of one pipeline at once: the second is refused, the first loads every record
once, the next run works; a killed run's lock blocks nothing (real CLI processes
against the simulator on 127.0.0.1)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import duckdb
import pytest
from headwater.errors import RunError
from headwater.run.pipeline import run_connector
from headwater.run.workdir import lock_path, pipeline_lock
from headwater_directory.hooks import DIRECTORY
from helpers import cli, settings_env

RECORDS = 3000


def start_run(env, cwd, *extra):
    return subprocess.Popen(
        [sys.executable, "-m", "headwater", "run", "directory", "--progress", "off", *extra],
        env={**os.environ, **env},
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_requests(sim, process, count):
    """Until the run in ``process`` has been served ``count`` pages (it holds its
    pipeline's lock from before its first request to its end)."""
    deadline = time.monotonic() + 60
    while len(sim.requests_for("directory_users")) < count:
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the first run never got going"
        time.sleep(0.01)


def loaded(work):
    with duckdb.connect(str(work / "headwater_directory.duckdb"), read_only=True) as con:
        return con.sql(
            "select count(*), count(distinct id) from directory_data.directory_users"
        ).fetchall()[0]


def test_second_run_of_a_running_pipeline_is_refused_and_nothing_is_loaded_twice(
    api_simulator, headwater_env
):
    # latency: the first run's pages take a second each until the second run is over,
    # so the two surely overlap; then they are served at once
    sim = api_simulator(DIRECTORY, records={"directory_users": RECORDS}, latency=1.0)
    env = settings_env("directory", sim)
    first = start_run(env, headwater_env)
    try:
        wait_for_requests(sim, first, 1)
        served_before = len(sim.requests_for("directory_users"))
        second = cli("run", "directory", "--progress", "off", env=env)
        still_running = first.poll() is None
    finally:
        sim.latency = 0.0
        _out, err = first.communicate(timeout=300)
    assert still_running, "the first run ended before the second started: no overlap"
    assert first.returncode == 0, err
    assert second.returncode == 1, second.stderr
    lines = second.stderr.strip().splitlines()
    assert len(lines) == 1, second.stderr
    assert "pipeline headwater_directory is already running in another process" in lines[0]
    assert "Traceback" not in second.stderr
    # the refused run fetched nothing: only the first run's pages were served
    assert served_before <= len(sim.requests_for("directory_users")) <= RECORDS // 100 + 2
    assert loaded(headwater_env) == (RECORDS, RECORDS)

    third = cli("run", "directory", "--progress", "off", env=env)
    assert third.returncode == 0, third.stderr
    assert loaded(headwater_env) == (RECORDS, RECORDS)


def test_runs_of_different_pipelines_do_not_wait_for_each_other(api_simulator, headwater_env):
    sim = api_simulator(DIRECTORY, records={"directory_users": 50})
    env = settings_env("directory", sim)
    # a run of another pipeline holds its own lock, not this one's
    with pipeline_lock("some_other_pipeline"):
        done = cli("run", "directory", "--progress", "off", env=env)
    assert done.returncode == 0, done.stderr
    assert loaded(headwater_env) == (50, 50)


def test_a_killed_runs_lock_does_not_block_the_next_run(api_simulator, headwater_env):
    sim = api_simulator(DIRECTORY, records={"directory_users": RECORDS}, latency=1.0)
    env = settings_env("directory", sim)
    first = start_run(env, headwater_env)
    wait_for_requests(sim, first, 1)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=30)
    # the lock file stays behind; the OS released the lock with the process
    assert lock_path("headwater_directory").exists()
    sim.latency = 0.0
    done = cli("run", "directory", "--progress", "off", env=env)
    assert done.returncode == 0, done.stderr
    assert loaded(headwater_env) == (RECORDS, RECORDS)


def test_python_api_refuses_or_waits_as_told(api_simulator, headwater_env):
    sim = api_simulator(DIRECTORY, records={"directory_users": 20})
    with pipeline_lock("headwater_directory"):
        started = time.monotonic()
        with pytest.raises(RunError, match="already running in another process"):
            run_connector("directory", sim.settings, lock_timeout=0.2)
        assert time.monotonic() - started >= 0.2  # it waited as long as told, no longer
    result = run_connector("directory", sim.settings)
    assert result.row_counts == {"directory_users": 20}


def test_a_second_demo_into_the_same_file_is_refused(headwater_env, capsys):
    from headwater.cli import main
    from headwater.cli.demo import _demo_lock
    from headwater.run.workdir import held_lock

    database = headwater_env / "demo.duckdb"
    with held_lock(_demo_lock(database), "held by the test"):
        code = main(["demo", "directory", "--output", str(database), "--progress", "off"])
    err = capsys.readouterr().err
    assert code == 1
    assert f"another headwater demo is loading into {database}" in err
    assert not database.exists()  # nothing was loaded


def test_a_lock_file_that_cannot_be_opened_is_one_error_naming_it(api_simulator, headwater_env):
    """A lock file owned by another user (or a folder in its place) is a RunError
    naming the file, not an unexpected PermissionError; nothing is fetched."""
    sim = api_simulator(DIRECTORY, records={"directory_users": 5})
    lock = lock_path("headwater_directory")
    lock.mkdir(parents=True)  # root may open any file: a folder fails for every user
    done = cli("run", "directory", "--progress", "off", env=settings_env("directory", sim))
    err = done.stderr.strip().splitlines()
    assert len(err) == 1, done.stderr
    assert done.returncode == 1, done.stderr
    assert f"cannot open the lock file {lock}" in err[0]
    assert "unexpected" not in err[0]


def _unwritable_line(folder) -> str:
    return (
        f"headwater: error: headwater keeps its working state in {folder}, which cannot be "
        "written to (Permission denied); run in a folder you can write to"
    )


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root can write anywhere"
)
def test_a_working_state_folder_that_cannot_be_written_to_is_a_config_error(
    api_simulator, headwater_env
):
    # the pipelines folder exists (an earlier run) but cannot be written to now: the
    # lock file cannot be made, and the advice was to "remove it", a file that is not there
    sim = api_simulator(DIRECTORY, records={"directory_users": 5})
    folder = lock_path("headwater_directory").parent
    folder.chmod(0o555)
    try:
        done = cli("run", "directory", "--progress", "off", env=settings_env("directory", sim))
    finally:
        folder.chmod(0o755)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == [_unwritable_line(folder)]
    assert sim.requests == []


def test_a_lock_file_that_cannot_be_made_is_a_config_error_not_remove_it(
    api_simulator, headwater_env, monkeypatch, capsys
):
    """The same as a root user meets it on a read-only file system (chmod stops no
    root): the lock file's creation is refused with EACCES."""
    import errno

    from headwater.cli import main

    sim = api_simulator(DIRECTORY, records={"directory_users": 5})
    lock = str(lock_path("headwater_directory"))
    real_open = os.open

    def refused(path, flags, *args, **kwargs):
        if os.fspath(path) == lock and flags & os.O_CREAT:
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), path)
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", refused)
    for key, value in settings_env("directory", sim).items():
        monkeypatch.setenv(key, value)
    assert main(["run", "directory", "--progress", "off"]) == 2
    assert capsys.readouterr().err.splitlines() == [_unwritable_line(os.path.dirname(lock))]
    assert sim.requests == []
