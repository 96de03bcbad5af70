"""Every command explains itself: `--help` with examples, `--version`."""

from __future__ import annotations

import argparse

import pytest
from headwater import __version__
from headwater.cli import _parser, main


def commands() -> list[str]:
    (sub,) = (a for a in _parser()._actions if isinstance(a, argparse._SubParsersAction))
    return sorted(sub.choices)


@pytest.mark.parametrize("command", commands())
def test_every_command_has_help_with_examples(command, capsys):
    with pytest.raises(SystemExit) as done:
        main([command, "--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: headwater {command}")
    assert "example" in out and f"headwater {command}" in out.split("example", 1)[1]


def test_version(capsys):
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out == f"headwater {__version__}\n"


def test_no_command_shows_help_and_exits_2(capsys):
    assert main([]) == 2
    out = capsys.readouterr().out
    assert out.startswith("usage: headwater")
    for command in commands():
        assert command in out


def test_list_shows_each_installed_connector_with_distribution_version_and_resources():
    import subprocess
    import sys
    from importlib.metadata import version

    from headwater.plugin.manager import get_registry, make_plugin_manager, use

    result = subprocess.run(
        [sys.executable, "-m", "headwater", "list"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    header, _, *rows = result.stdout.splitlines()
    assert header.split() == ["connector", "distribution", "version", "resources"]
    use(make_plugin_manager(strict=True, disabled=()))  # what is installed, as the CLI sees it
    expected = {
        c.name: c
        for c in get_registry().connectors()  # every installed connector, nothing else
    }
    listed = {row.split()[0]: row.split(maxsplit=3) for row in rows}
    assert set(listed) == set(expected)
    for name, (_, dist, ver, resources) in listed.items():
        assert ver == version(dist)
        assert resources.split(", ") == list(expected[name].resource_names)


@pytest.mark.parametrize("command", ["list", "run"])
def test_output_into_a_pipe_closed_early_is_dropped_not_an_error(
    command, api_simulator, headwater_env
):
    """``headwater list | head -1``: the reader is gone before the command writes;
    what it writes is dropped and the command ends with its own exit code (a run still
    loads), with nothing on stderr."""
    import os
    import subprocess
    import sys

    import duckdb
    from headwater_directory.hooks import DIRECTORY
    from helpers import settings_env

    sim = api_simulator(DIRECTORY, records={"directory_users": 30})
    argv = ["run", "directory", "--progress", "off"] if command == "run" else ["list"]
    read, write = os.pipe()
    os.close(read)  # no reader: every write to the pipe fails with EPIPE
    try:
        done = subprocess.run(
            [sys.executable, "-m", "headwater", *argv],
            stdout=write,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **settings_env("directory", sim)},
            timeout=120,
        )
    finally:
        os.close(write)
    assert (done.returncode, done.stderr) == (0, "")
    if command == "run":
        [database] = headwater_env.glob("*.duckdb")
        with duckdb.connect(str(database), read_only=True) as db:
            query = "select count(*) from directory_data.directory_users"
            assert db.sql(query).fetchone() == (30,)
