"""`headwater demo` and `headwater simulate`, as a user runs them."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys

import duckdb


def headwater(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "headwater", *args],
        capture_output=True,
        text=True,
        timeout=300,
        **kwargs,
    )


def test_demo_loads_every_connector_into_one_duckdb_file(headwater_env):
    result = headwater("demo", "directory", "--records", "137")
    assert result.returncode == 0, result.stderr
    db = headwater_env / "headwater_demo.duckdb"
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.sql("select count(*) from directory.directory_users").fetchall() == [(137,)]
    assert "directory.directory_users  137" in result.stdout
    # the "query it:" command works as printed, in the environment that ran the demo
    (hint,) = [
        line[len("query it: ") :]
        for line in result.stdout.splitlines()
        if line.startswith("query it: ")
    ]
    assert re.search(r"headwater query directory ", hint), hint
    shown = subprocess.run(hint, shell=True, capture_output=True, text=True, env=os.environ)
    assert shown.returncode == 0, shown.stderr
    with duckdb.connect(str(db), read_only=True) as con:
        ids = {r[0] for r in con.sql("select id from directory.directory_users").fetchall()}
    cells = {cell for line in shown.stdout.splitlines()[2:] for cell in line.split()}
    assert len(cells & ids) == 10
    assert "(10 rows)" in shown.stdout.splitlines()
    # re-running merges: the same rows, not twice as many
    again = headwater("demo", "directory", "--records", "137")
    assert again.returncode == 0, again.stderr
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.sql("select count(*) from directory.directory_users").fetchall() == [(137,)]


def test_demo_unknown_connector_is_a_usage_error(headwater_env):
    result = headwater("demo", "nope")
    assert result.returncode == 2
    assert "connector 'nope' is not installed" in result.stderr
    assert not (headwater_env / "headwater_demo.duckdb").exists()


def test_simulate_prints_settings_that_a_run_can_use(headwater_env, headwater_process):
    # headwater_process: stopped after the test even if it fails before the SIGINT below
    server = headwater_process("simulate", "directory", "--records", "42")
    try:
        env = dict(os.environ)
        lines = []
        while len([line for line in lines if line.startswith("export ")]) < 4:
            line = server.stdout.readline()
            assert line, server.stderr.read()
            lines.append(line)
            if line.startswith("export "):
                key, _, value = line[len("export ") :].strip().partition("=")
                env[key] = value
        assert lines[0].startswith("serving directory at http://127.0.0.1:")
        run = headwater("run", "directory", env=env)
        assert run.returncode == 0, run.stderr
        with duckdb.connect(str(headwater_env / "headwater_directory.duckdb")) as con:
            rows = con.sql("select count(*) from directory_data.directory_users").fetchall()
        assert rows == [(42,)]
    finally:
        server.send_signal(signal.SIGINT)
        out, _ = server.communicate(timeout=30)
    assert server.returncode == 0
    assert "stopped after" in out


def test_simulate_rejects_a_bad_fault(headwater_env):
    result = headwater("simulate", "directory", "--fault", "status,code=500")
    assert result.returncode == 2
    assert result.stderr.startswith("headwater: error: --fault status,code=500:")


def test_simulate_on_a_port_in_use_is_one_line_exit_2(headwater_env):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = headwater("simulate", "directory", "--port", str(port))
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"headwater: error: --port {port} cannot be used (Address already in use); give "
        "another --port, or none for a free one"
    ]
