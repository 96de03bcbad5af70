"""Ctrl-C during a run: dlt wraps the KeyboardInterrupt in a step failure; Headwater
hands it back as an interruption, to Python callers and on the command line."""

from __future__ import annotations

import pytest
from headwater import hookimpl
from headwater.cli import main
from headwater.run import run_connector
from requests.auth import AuthBase


class _InterruptOnSecondPage(AuthBase):
    """The connector's own auth, but Ctrl-C is pressed as the second page is sent."""

    def __init__(self, inner: AuthBase) -> None:
        self.inner = inner
        self.pages = 0

    def __call__(self, request):
        if "/users" in request.url:
            self.pages += 1
            if self.pages == 2:
                raise KeyboardInterrupt
        return self.inner(request)


class _Interrupting:
    def __init__(self) -> None:
        self.auth: _InterruptOnSecondPage | None = None

    @hookimpl(wrapper=True)
    def headwater_auth(self, connector, settings):
        inner = yield
        self.auth = _InterruptOnSecondPage(inner)
        return self.auth


@pytest.fixture
def interrupting(headwater_plugins):
    import headwater_directory.hooks

    plugin = _Interrupting()
    headwater_plugins(headwater_directory.hooks, plugin)
    return plugin


def test_run_connector_raises_keyboard_interrupt(interrupting, api_simulator, headwater_env):
    sim = api_simulator("directory", records={"directory_users": 300})
    with pytest.raises(KeyboardInterrupt):
        run_connector("directory", sim.settings)
    assert interrupting.auth is not None and interrupting.auth.pages == 2


def test_the_cli_says_interrupted_and_exits_130(
    interrupting, api_simulator, headwater_env, monkeypatch, capsys
):
    sim = api_simulator("directory", records={"directory_users": 300})
    for key, value in sim.settings.items():
        monkeypatch.setenv(f"SOURCES__DIRECTORY__{key.upper()}", str(value))
    assert main(["run", "directory", "--progress", "off"]) == 130
    assert capsys.readouterr().err == "headwater: interrupted\n"
    assert interrupting.auth is not None and interrupting.auth.pages == 2
