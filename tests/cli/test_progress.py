"""`headwater run` shows progress while it runs and a summary at the end; colors and
the live line only on a terminal."""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys

import pytest
from headwater.cli import main
from headwater_directory.hooks import DIRECTORY
from helpers import settings_env

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def test_piped_run_logs_each_step_and_prints_a_summary(
    api_simulator, headwater_env, monkeypatch, capsys
):
    sim = api_simulator(DIRECTORY, records={"directory_users": 2345})
    for key, value in settings_env("directory", sim).items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("FORCE_COLOR", raising=False)

    assert main(["run", "directory"]) == 0

    out, err = capsys.readouterr()
    steps = re.findall(r"^\d\d:\d\d:\d\d headwater: (\w+) done in [\d.]+ s: (.*)$", err, re.M)
    assert [step for step, _ in steps] == ["extract", "normalize", "load"], err
    assert steps[0][1].startswith("directory_users 2,345 rows")
    assert re.fullmatch(r"\d+/\d+ jobs", steps[2][1])
    # stdout is the summary only: what, where, how many, how to look
    lines = out.splitlines()
    assert re.fullmatch(
        r"loaded directory into duckdb dataset directory_data in [\d.]+ s", lines[0]
    )
    assert "directory_users  2345" in lines
    db = headwater_env / "headwater_directory.duckdb"
    assert f"data: {db}" in lines
    assert any(line.startswith("look: ") and "headwater query directory " in line for line in lines)
    assert not ANSI.search(out + err), "no colors or cursor moves on a pipe"


def test_progress_off_is_silent(api_simulator, headwater_env, monkeypatch, capsys):
    sim = api_simulator(DIRECTORY, records={"directory_users": 50})
    for key, value in settings_env("directory", sim).items():
        monkeypatch.setenv(key, value)
    assert main(["run", "directory", "--progress", "off"]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert "directory_users  50" in out.splitlines()


def run_in_terminal(args: list[str], env: dict[str, str]) -> tuple[int, str]:
    """Run the `headwater` command with stdout and stderr on a pseudo-terminal."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "headwater", *args],
        stdin=subprocess.DEVNULL,
        stdout=follower,
        stderr=follower,
        env={**os.environ, **env},
    )
    os.close(follower)
    chunks: list[bytes] = []
    try:
        while True:
            ready, _, _ = select.select([leader], [], [], 120)
            if not ready:
                pytest.fail("no output from headwater for 120 s")
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the terminal closes when the process exits
                break
            if not chunk:
                break
            chunks.append(chunk)
        return proc.wait(timeout=60), b"".join(chunks).decode()
    finally:  # never left running, whatever failed
        os.close(leader)
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_terminal_run_redraws_one_line_and_uses_colors(api_simulator, headwater_env):
    sim = api_simulator(DIRECTORY, records={"directory_users": 1500})
    env = {**settings_env("directory", sim), "TERM": "xterm"}
    env.pop("NO_COLOR", None)
    code, text = run_in_terminal(["run", "directory"], env)
    assert code == 0, text
    assert "\r\x1b[K" in text  # the status line is redrawn in place
    plain = ANSI.sub("", text)
    assert re.search(r"✓ extract +directory_users 1,500 rows", plain)
    assert re.search(r"✓ load +\d+/\d+ jobs", plain)
    assert "\x1b[1mloaded directory into duckdb" in text  # the summary in bold
    assert "headwater: " not in plain  # no log lines on a terminal


def test_no_color_keeps_a_terminal_plain(api_simulator, headwater_env):
    sim = api_simulator(DIRECTORY, records={"directory_users": 10})
    code, text = run_in_terminal(
        ["run", "directory", "--progress", "off"],
        {**settings_env("directory", sim), "NO_COLOR": "1"},
    )
    assert code == 0, text
    assert "loaded directory into duckdb" in text
    assert not ANSI.search(text)


def test_errors_are_red_on_a_terminal_only(headwater_env, capsys):
    code, text = run_in_terminal(["describe", "nope"], {"TERM": "xterm"})
    assert code == 2
    assert "\x1b[31;1mheadwater: error:\x1b[0m connector 'nope' is not installed" in text
    assert main(["describe", "nope"]) == 2
    assert capsys.readouterr().err.startswith("headwater: error: connector 'nope'")


def test_a_slow_api_gets_a_line_every_period_before_rows_reach_dlt(api_simulator, headwater_env):
    """dlt counts rows 10,000 at a time on the fast path: a slow API (or one being
    retried) left a cron log silent for minutes. A clock writes the line each period,
    with the records read so far."""
    import io

    from headwater.run.pipeline import run_connector
    from headwater.run.progress import LogProgress

    sim = api_simulator(DIRECTORY, records={"directory_users": 600}, latency=0.1)
    stream = io.StringIO()
    run_connector("directory", sim.settings, progress=LogProgress(stream, period=0.25))
    lines = stream.getvalue().splitlines()
    reading = [line for line in lines if re.search(r"extract: [\d,]+ records read", line)]
    assert len(reading) >= 2, lines
    counts = [int(re.search(r"([\d,]+) records read", x)[1].replace(",", "")) for x in reading]
    assert counts == sorted(counts) and 0 < counts[0] < 600
    assert any(re.search(r"extract done in [\d.]+ s: directory_users 600 rows", x) for x in lines)


def test_the_look_line_finds_a_duckdb_file_named_by_the_credentials_setting(
    api_simulator, headwater_env, monkeypatch, capsys
):
    """DESTINATION__DUCKDB__CREDENTIALS=sub/wh.duckdb given for the run only: the
    printed query command must read that file (it read ./headwater_directory.duckdb,
    missing or an old one)."""
    import shlex

    sim = api_simulator(DIRECTORY, records={"directory_users": 30})
    for key, value in settings_env("directory", sim).items():
        monkeypatch.setenv(key, value)
    (headwater_env / "sub").mkdir()
    monkeypatch.setenv("DESTINATION__DUCKDB__CREDENTIALS", "sub/wh.duckdb")
    assert main(["run", "directory", "--progress", "off"]) == 0
    out = capsys.readouterr().out
    [look] = [line for line in out.splitlines() if line.startswith("look: ")]
    argv = shlex.split(look.removeprefix("look: "))
    monkeypatch.delenv("DESTINATION__DUCKDB__CREDENTIALS")  # set for the run only
    assert main(argv[argv.index("query") :]) == 0
    shown = capsys.readouterr().out
    assert sum(1 for r in sim.data["directory_users"] if r["id"] in shown) == 10
    assert not (headwater_env / "headwater_directory.duckdb").exists()


@pytest.mark.parametrize("stop", [KeyboardInterrupt, RuntimeError])
def test_a_step_that_raises_is_not_logged_as_done(stop):
    """SIGTERM in the extract printed 'extract done in 2.5 s: tickets 10,000 rows' for
    a table of 15,000: a step that raised did not finish, and says nothing of it."""
    import io

    from headwater.run.progress import make_progress

    stream = io.StringIO()
    progress = make_progress("log", stream)
    with pytest.raises(stop), progress("Extract tracker"):
        progress.update("tickets", 10_000)
        raise stop
    with progress("Extract tracker"):
        progress.update("tickets", 15_000)
    lines = stream.getvalue().splitlines()
    assert [line.split("headwater: ")[1].split(" in ")[0] for line in lines] == ["extract done"]
    assert lines[0].endswith("tickets 15,000 rows")
