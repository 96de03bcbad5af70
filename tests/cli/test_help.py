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
