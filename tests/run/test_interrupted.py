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


def _leave_a_normalized_package(sim, monkeypatch) -> None:
    """A run of ``sim``'s records stopped by Ctrl-C after its normalize step, before its
    load: its package is left in the pipeline's folder for the next run."""
    from dlt.pipeline.pipeline import Pipeline

    def interrupted_load(self, *args, **kwargs):
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(Pipeline, "load", interrupted_load)
        with pytest.raises(KeyboardInterrupt):
            run_connector("directory", sim.settings)


def _users(folder) -> int:
    import duckdb

    with duckdb.connect(str(folder / "headwater_directory.duckdb"), read_only=True) as con:
        return con.sql("select count(*) from directory_data.directory_users").fetchone()[0]


@pytest.mark.parametrize("flag", ["full_refresh", "all_or_nothing"])
def test_a_flagged_run_after_an_interrupted_one_still_reads_the_api(
    flag, api_simulator, headwater_env, headwater_plugins, monkeypatch, capsys
):
    # dlt's pipeline.run() loads pending packages *instead of* extracting: the run after
    # a killed one loaded only the killed run's package, never asked the API, exit 0
    import headwater_directory.hooks

    headwater_plugins(headwater_directory.hooks)
    before = api_simulator("directory", records={"directory_users": 30})
    run_connector("directory", before.settings)
    _leave_a_normalized_package(before, monkeypatch)
    now = api_simulator("directory", records={"directory_users": 10})
    result = run_connector("directory", now.settings, **{flag: True})
    assert now.requests_for("directory_users")
    # a refresh replaces the table; all-or-nothing merges on the keys (u00000..u00009)
    assert _users(headwater_env) == (10 if flag == "full_refresh" else 30)
    assert result.row_counts["directory_users"] == (10 if flag == "full_refresh" else 40)
    assert "will not be extracted" not in capsys.readouterr().err


@pytest.mark.parametrize(
    ("signum", "line", "code"),
    [(2, "headwater: interrupted", 130), (15, "headwater: terminated", 143)],
)
def test_a_signal_in_dlts_load_step_is_one_line(
    signum, line, code, api_simulator, headwater_env, headwater_plugins, monkeypatch, capsys
):
    # dlt intercepts SIGINT and SIGTERM in its normalize and load steps, stops there
    # and logs "Exiting runner due to signal 2" before Headwater's own line
    import headwater_directory.hooks
    from dlt.common.runtime import signals
    from dlt.load.load import Load

    headwater_plugins(headwater_directory.hooks)
    sim = api_simulator("directory", records={"directory_users": 20})
    for key, value in sim.settings.items():
        monkeypatch.setenv(f"SOURCES__DIRECTORY__{key.upper()}", str(value))
    load = Load.run

    def signalled(self, pool):
        signals.set_received_signal(signum)  # as dlt's handler does when one arrives
        return load(self, pool)

    with monkeypatch.context() as patch:
        patch.setattr(Load, "run", signalled)
        assert main(["run", "directory", "--progress", "off"]) == code
    assert capsys.readouterr().err == f"{line}\n"
    # nothing is lost: the next run loads the stopped run's package with its own
    assert main(["run", "directory", "--progress", "off"]) == 0
    assert _users(headwater_env) == 20
