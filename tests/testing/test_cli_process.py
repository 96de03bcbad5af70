"""``headwater.testing.cli_process``: the CLI in a process of its own, forked from a warm
interpreter on Linux or a fresh one elsewhere; both ways behave as ``headwater`` does."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import duckdb
import pytest
from headwater.settings import env_var
from headwater.testing import Fault, cli_process
from headwater.testing.cli_process import run_cli, start_cli
from helpers import fake_distribution


@pytest.fixture(params=["forked", "fresh"])
def way(request, monkeypatch):
    """Each test both ways: forked from the warm interpreter, and a fresh interpreter."""
    if request.param == "forked" and not cli_process.forking():
        pytest.skip("forking from a warm interpreter is used on Linux only")
    if request.param == "fresh":
        monkeypatch.setattr(cli_process, "forking", lambda: False)
    return request.param


def test_a_run_loads_in_the_given_folder_with_the_given_settings(
    way, api_simulator, headwater_env, tmp_path
):
    sim = api_simulator("directory", records={"directory_users": 7})
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    env = {**os.environ, **{env_var("directory", k): str(v) for k, v in sim.settings.items()}}
    argv = ["run", "directory", "--resource", "directory_users", "--progress", "off"]
    done = run_cli(argv, env, folder)
    assert done.returncode == 0, done.stderr
    assert "directory_users" in done.stdout
    with duckdb.connect(str(folder / "headwater_directory.duckdb"), read_only=True) as db:
        [(count,)] = db.sql("select count(*) from directory_data.directory_users").fetchall()
    assert count == 7
    assert not (headwater_env / "headwater_directory.duckdb").exists()


def test_only_the_given_environment_counts(way, api_simulator, headwater_env, monkeypatch):
    """Settings missing from ``env`` are missing, even where this process, and the warm
    interpreter started from it, have them."""
    sim = api_simulator("directory")
    bare = dict(os.environ)
    for key, value in sim.settings.items():
        monkeypatch.setenv(env_var("directory", key), str(value))
    cli_process._close_all()  # the next warm interpreter starts with the settings set
    done = run_cli(["run", "directory", "--progress", "off"], bare)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "SOURCES__DIRECTORY__CLIENT_ID" in done.stderr
    assert not sim.requests


def test_a_pythonpath_in_the_environment_is_searched(way, headwater_env, tmp_path):
    """A connector "installed" through ``PYTHONPATH`` is found, as at start-up."""
    without = run_cli(["list"], dict(os.environ))
    env = {
        **os.environ,
        **fake_distribution(tmp_path, "request-examples", "request_examples = request_examples"),
    }
    found = run_cli(["list"], env)
    assert without.returncode == found.returncode == 0, found.stderr
    assert "gh_example" not in without.stdout
    assert "gh_example" in found.stdout


def test_a_killed_run_reports_sigkill_and_its_output_so_far(way, api_simulator, headwater_env):
    sim = api_simulator("directory", records={"directory_users": 500}, latency=0.05)
    env = {**os.environ, **{env_var("directory", k): str(v) for k, v in sim.settings.items()}}
    process = start_cli(["--debug", "run", "directory", "--progress", "off"], env)
    deadline = time.monotonic() + 60
    while len(sim.requests) < 2:  # the simulator has no event to await: poll its log
        assert process.poll() is None, process.result().stderr
        assert time.monotonic() < deadline, "the run never reached the API"
        time.sleep(0.01)
    process.kill()
    done = process.result(timeout=30)
    assert done.returncode == -signal.SIGKILL
    assert "DEBUG" in done.stderr  # written before the kill, kept


def test_an_unknown_connector_is_exit_2_and_one_line(way, headwater_env):
    done = run_cli(["run", "no_such_connector"], dict(os.environ))
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1, done.stderr
    assert "no_such_connector" in done.stderr


@pytest.mark.parametrize("quick", [True, False])
def test_quick_retries_drop_the_waits_and_only_them(way, quick, api_simulator, headwater_env):
    """By default the kit's retries do not wait (a Retry-After is not honoured, so its
    cap is never logged); ``quick_retries=False`` is the command as installed."""
    sim = api_simulator("directory", records={"directory_users": 5})
    sim.add_fault(Fault("status", resource="directory_users", status=429, retry_after="3600"))
    env = {**os.environ, **{env_var("directory", k): str(v) for k, v in sim.settings.items()}}
    env[env_var("directory", "max_retry_after")] = "0.01"
    done = run_cli(["run", "directory", "--progress", "off"], env, quick_retries=quick)
    assert done.returncode == 0, done.stderr
    assert len(sim.requests_for("directory_users")) == 2  # the 429, then the page
    capped = "the max_retry_after cap" in done.stderr
    assert capped is not quick, done.stderr


def test_two_answers_in_one_read_are_both_answered():
    """A child that ends at once: its pid and its exit code reach the pipe together, and
    the second is answered from what was read, not waited for until the timeout."""
    read, write = os.pipe()
    try:
        warm = cli_process._Warm.__new__(cli_process._Warm)
        warm.answers, warm.unread = read, b""
        os.write(write, b'{"pid": 41}\n{"code": 3}\n{"co')
        assert warm._answer(timeout=5) == '{"pid": 41}'
        assert warm.exit_code(timeout=5) == 3
        os.write(write, b'de": 0}\n')  # an answer split across two reads
        assert warm.exit_code(timeout=5) == 0
        with pytest.raises(subprocess.TimeoutExpired):
            warm._answer(timeout=0.01)
        os.close(write)
        write = -1
        with pytest.raises(RuntimeError, match="exited"):
            warm._answer(timeout=5)
    finally:
        os.close(read)
        if write != -1:
            os.close(write)


def test_a_relative_folder_is_the_callers_at_the_call(way, headwater_env, tmp_path, monkeypatch):
    """Relative to where the caller is when it starts the run, not to where the warm
    interpreter was started."""
    run_cli(["list"], dict(os.environ))  # a warm interpreter started here (forked way)
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "sub").mkdir(parents=True)
    monkeypatch.chdir(elsewhere)
    done = run_cli(["new", "acme"], dict(os.environ), cwd="sub")
    assert done.returncode == 0, done.stderr
    assert (elsewhere / "sub" / "headwater-acme" / "pyproject.toml").is_file()
    assert not (headwater_env / "sub").exists()


def test_a_missing_folder_is_file_not_found_naming_it(way, headwater_env, tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(FileNotFoundError, match="nowhere"):
        run_cli(["list"], dict(os.environ), cwd=missing)


def test_ctrl_c_ends_a_run_as_the_command_does(way, api_simulator, headwater_env):
    """SIGINT mid-run: the CLI's own answer (exit 130, one line), both ways."""
    sim = api_simulator("directory", records={"directory_users": 500}, latency=0.05)
    env = {**os.environ, **{env_var("directory", k): str(v) for k, v in sim.settings.items()}}
    process = start_cli(["run", "directory", "--progress", "off"], env)
    deadline = time.monotonic() + 60
    while len(sim.requests) < 2:  # the simulator has no event to await: poll its log
        assert process.poll() is None, process.result().stderr
        assert time.monotonic() < deadline, "the run never reached the API"
        time.sleep(0.01)
    process.send_signal(signal.SIGINT)
    done = process.result(timeout=60)
    assert done.returncode == 130, done.stderr
    assert "headwater: interrupted" in done.stderr


def test_a_child_is_not_reaped_before_its_code_is_read(headwater_env):
    """Its pid stays taken (a zombie) until the caller has the exit code, so a kill()
    before that cannot reach a process that reused the pid."""
    if not cli_process.forking():
        pytest.skip("forking from a warm interpreter is used on Linux only")
    process = start_cli(["--help"], dict(os.environ))
    stat = Path(f"/proc/{process.pid}/stat")
    deadline = time.monotonic() + 60
    while stat.read_text().rsplit(")", 1)[1].split()[0] != "Z":  # poll: no event to await
        assert time.monotonic() < deadline, "the child never ended"
        time.sleep(0.005)
    process.kill()  # reaches the zombie, nothing else
    assert process.result(timeout=30).returncode == 0
    run_cli(["--help"], dict(os.environ))  # the next run on that interpreter reaps it
    assert not stat.exists() or stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"


def test_each_start_up_setting_gets_a_warm_interpreter_started_with_it(headwater_env):
    """What Python reads only as it starts (here PYTHONHASHSEED) comes from an
    interpreter started with the run's value, as a fresh process's would."""
    if not cli_process.forking():
        pytest.skip("forking from a warm interpreter is used on Linux only")
    cli_process._close_all()
    seeds = {}
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        process = start_cli(["--help"], env)
        seeds[seed] = process._warm.process.args, process._warm.process.pid  # type: ignore[union-attr]
        assert process.result(timeout=60).returncode == 0
    assert seeds["1"][1] != seeds["2"][1]
    for seed, (_, pid) in seeds.items():
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        assert f"PYTHONHASHSEED={seed}".encode() in environ


def test_idle_warm_interpreters_are_few(headwater_env):
    """Two runs at once need two warm interpreters; afterwards one stays for that
    start-up, and no more than two in all (each holds about 150 MB)."""
    if not cli_process.forking():
        pytest.skip("forking from a warm interpreter is used on Linux only")
    cli_process._close_all()
    first, second = (start_cli(["--help"], dict(os.environ)) for _ in range(2))
    warms = [first._warm, second._warm]
    assert warms[0] is not warms[1]
    assert first.result(timeout=60).returncode == second.result(timeout=60).returncode == 0
    idle = [w for ws in cli_process._idle.values() for w in ws]
    assert len(idle) == 1
    ended = [w for w in warms if w not in idle]
    assert ended and all(w.process.poll() is not None for w in ended)  # type: ignore[union-attr]
    # two more start-ups: three idle interpreters, one over the cap of two
    for seed in ("1", "2"):
        run_cli(["--help"], {**os.environ, "PYTHONHASHSEED": seed})
    assert sum(len(ws) for ws in cli_process._idle.values()) == 2
    cli_process._close_all()
