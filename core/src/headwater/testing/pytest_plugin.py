"""Pytest fixtures for connector authors (registered through the ``pytest11`` entry point).

Loaded by every pytest run in an environment where Headwater is installed, so this
module imports nothing heavy: dlt and the simulator are imported when a fixture is used.

Fixtures:

``headwater_plugins``
    ``headwater_plugins(*plugins, entry_points=False)`` makes the process use a fresh
    plugin manager holding only the builtins and the plugins named (modules or
    objects), in strict mode — never whatever happens to be installed. Restored after
    the test.
``headwater_env``
    An isolated working directory and dlt data directory, dlt telemetry off, no
    ``SOURCES__*`` variables leaking in from the outer environment, no secrets
    registered for redaction by an earlier test, and no dlt pipeline left active by an
    earlier test (whose state a source would otherwise read), before and after the test.
``api_simulator``
    ``api_simulator(connector, **options)`` starts a :class:`~headwater.testing.Simulator`
    for a connector (a :class:`~headwater.spec.Connector` or an installed connector's
    name) and stops it after the test, whether it passed or failed.
``headwater_process``
    ``headwater_process(*args, env=None, **popen)`` starts the ``headwater`` command
    (``python -m headwater ARGS``) in a subprocess; every one still running after the
    test, whether it passed or failed, is stopped.
``duckdb_pipeline``
    ``duckdb_pipeline(name="test")`` a dlt pipeline loading into a DuckDB file in the
    test's temporary directory.
``headwater_replay``
    ``headwater_replay(connector, directory, **settings)`` serves the connector from a
    recording (``headwater record NAME --to DIR``) until the test ends — offline, no
    credentials — and returns the settings to build its source with.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest


def _reset_dlt() -> None:
    """Deactivate dlt's active pipeline and reload its config providers.

    dlt keeps the last pipeline created, attached or run *active* for the thread, and a
    source evaluated outside ``pipeline.run`` (``rows_of``, ``list(resource)``) reads its
    incremental state from that pipeline — so without this, a test silently sees the
    cursors of the test before it. dlt also reads ``.dlt/*.toml`` and resolves its
    runtime settings once per process, in the first test's project dir: reloaded here
    from the current one. Nothing to do while dlt is not imported yet.
    """
    if "dlt" not in sys.modules:
        return
    from dlt.common.configuration.container import Container
    from dlt.common.configuration.specs.pluggable_run_context import PluggableRunContext

    _deactivate_pipeline()
    container = Container()
    if PluggableRunContext in container:
        container[PluggableRunContext].reload_providers()


def _deactivate_pipeline() -> None:
    """No dlt pipeline active in this thread (dlt activates one per thread)."""
    if "dlt" not in sys.modules:
        return
    from dlt.common.configuration.container import Container
    from dlt.common.pipeline import PipelineContext

    container = Container()
    if PipelineContext in container:
        context = container[PipelineContext]
        if context.is_active():
            context.deactivate()


#: what headwater_env keeps of the HEADWATER_* variables
_KEPT = ("HEADWATER_DISABLE_PLUGINS",)


@pytest.fixture
def headwater_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Run the test in ``tmp_path`` with its own dlt data dir and no ambient settings
    (``HEADWATER_DISABLE_PLUGINS`` is kept: which plugins are blocked is part of what
    is installed, and the ``headwater`` processes a test starts must see the same)."""
    for var in list(os.environ):
        if var in _KEPT:
            continue
        if var.startswith("SOURCES__") or var.startswith("HEADWATER_"):
            monkeypatch.delenv(var)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("DLT_DATA_DIR", str(tmp_path / "dlt_data"))
    # rotated refresh tokens go to this test's own token store, never the user's
    monkeypatch.setenv("HEADWATER_TOKEN_DIR", str(tmp_path / "tokens"))
    monkeypatch.setenv("DLT_PROJECT_DIR", str(work))
    monkeypatch.setenv("RUNTIME__DLTHUB_TELEMETRY", "false")
    # pytest loads this module in every session (pytest11): Headwater loads on first use
    from headwater import redact

    redact.forget()  # secrets registered by an earlier test are not this test's
    _reset_dlt()
    yield work
    # The next test (with or without this fixture) starts with no pipeline active. The
    # providers are not reloaded here: they would read the files this test left.
    _deactivate_pipeline()


@pytest.fixture
def headwater_plugins() -> Iterator[Callable[..., Any]]:
    """Factory: use only the builtins plus the given plugins for this test."""
    # pytest loads this module in every session (pytest11): Headwater loads on first use
    from headwater.plugin import manager as plugins_module

    def use(*plugins: Any, entry_points: bool = False, strict: bool = True) -> Any:
        named: list[tuple[str, Any]] = []
        for plugin in plugins:
            name = getattr(plugin, "__name__", None) or type(plugin).__name__
            taken = {n for n, _ in named}
            base, n = name, 1
            while name in taken:
                n += 1
                name = f"{base}-{n}"
            named.append((name, plugin))
        pm = plugins_module.make_plugin_manager(
            entry_points=entry_points, plugins=named, strict=strict, disabled=()
        )
        plugins_module.use(pm)
        return pm

    yield use
    plugins_module.reset()


@pytest.fixture
def api_simulator() -> Iterator[Callable[..., Any]]:
    """Factory: start a simulator for a connector; every one is stopped after the test."""
    # pytest loads this module in every session (pytest11): Headwater loads on first use
    from headwater.testing import Simulator

    started: list[Any] = []

    def start(connector: Any, **options: Any) -> Any:
        if isinstance(connector, str):
            from headwater.plugin.manager import get_registry

            connector = get_registry().get(connector)
        sim = Simulator(connector, **options)
        started.append(sim)  # before start: stopping a simulator that never started is safe
        sim.start()
        return sim

    try:
        yield start
    finally:
        _stop_all(started, lambda sim: sim.stop())


#: How long a process gets to exit after SIGINT, then after SIGTERM, before SIGKILL.
STOP_GRACE = 5.0


def _stop_process(process: subprocess.Popen) -> None:
    """Stop ``process`` if it still runs (SIGINT, then SIGTERM, then SIGKILL), reap it,
    and close its pipes."""
    for send in (lambda: process.send_signal(signal.SIGINT), process.terminate):
        if process.poll() is not None:
            break
        send()
        try:
            process.wait(timeout=STOP_GRACE)
        except subprocess.TimeoutExpired:
            continue
    if process.poll() is None:
        process.kill()
    try:
        process.communicate(timeout=STOP_GRACE)  # reaps it, drains and closes the pipes
    except (subprocess.TimeoutExpired, ValueError, OSError):
        process.kill()
        process.wait()


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _stop_all(items: list[Any], stop: Callable[[Any], None]) -> None:
    """``stop`` every item, even when one of them fails; the first failure is raised."""
    error: BaseException | None = None
    for item in reversed(items):
        try:
            stop(item)
        except BaseException as exc:  # stop the others, then raise the first
            error = error or exc
    if error is not None:
        raise error


@pytest.fixture
def headwater_process() -> Iterator[Callable[..., subprocess.Popen]]:
    """Factory: the ``headwater`` command in a subprocess, stopped after the test."""
    started: list[subprocess.Popen] = []

    def start(*args: str, env: Mapping[str, str] | None = None, **popen: Any) -> subprocess.Popen:
        popen.setdefault("stdout", subprocess.PIPE)
        popen.setdefault("stderr", subprocess.PIPE)
        popen.setdefault("text", True)
        # Ctrl-C (SIGINT) stops the command as it stops it for a user, even when pytest
        # itself runs with SIGINT ignored (a background job, nohup), which a child inherits.
        popen.setdefault("preexec_fn", _default_sigint)
        process = subprocess.Popen(
            [sys.executable, "-m", "headwater", *args],
            env={**os.environ, **(env or {})},
            **popen,
        )
        started.append(process)
        return process

    try:
        yield start
    finally:
        _stop_all(started, _stop_process)


@pytest.fixture
def duckdb_pipeline(tmp_path: Path) -> Iterator[Callable[..., Any]]:
    """Factory: a dlt pipeline into a DuckDB file under ``tmp_path``; none of them is
    left active after the test."""

    def make(name: str = "test", dataset_name: str | None = None) -> Any:
        import dlt

        return dlt.pipeline(
            pipeline_name=name,
            destination=dlt.destinations.duckdb(str(tmp_path / f"{name}.duckdb")),
            dataset_name=dataset_name or f"{name}_data",
            pipelines_dir=str(tmp_path / "pipelines"),
        )

    yield make
    _deactivate_pipeline()


@pytest.fixture
def headwater_replay() -> Iterator[Callable[..., dict[str, Any]]]:
    """Factory: serve a connector from a recording for the rest of the test; returns
    the settings to run it with (``headwater.source(name, **settings)``)."""
    import contextlib

    with contextlib.ExitStack() as stack:

        def use(connector: str, directory: str | os.PathLike[str], **settings: Any) -> dict:
            # pytest loads this module in every session (pytest11): Headwater loads on use
            from headwater.run.replay import replay

            return stack.enter_context(replay(connector, directory, settings))

        yield use
