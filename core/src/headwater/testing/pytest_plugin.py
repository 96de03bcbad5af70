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
    ``SOURCES__*`` variables leaking in from the outer environment, and no secrets
    registered for redaction by an earlier test.
``api_simulator``
    ``api_simulator(connector, **options)`` starts a :class:`~headwater.testing.Simulator`
    for a connector (a :class:`~headwater.spec.Connector` or an installed connector's
    name) and stops it after the test.
``duckdb_pipeline``
    ``duckdb_pipeline(name="test")`` a dlt pipeline loading into a DuckDB file in the
    test's temporary directory.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture
def headwater_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run the test in ``tmp_path`` with its own dlt data dir and no ambient settings."""
    for var in list(os.environ):
        if var.startswith("SOURCES__") or var.startswith("HEADWATER_"):
            monkeypatch.delenv(var)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("DLT_DATA_DIR", str(tmp_path / "dlt_data"))
    monkeypatch.setenv("DLT_PROJECT_DIR", str(work))
    monkeypatch.setenv("RUNTIME__DLTHUB_TELEMETRY", "false")
    from headwater import redact

    redact.forget()  # secrets registered by an earlier test are not this test's
    return work


@pytest.fixture
def headwater_plugins() -> Iterator[Callable[..., Any]]:
    """Factory: use only the builtins plus the given plugins for this test."""
    from headwater import plugins as plugins_module

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
    from headwater.testing import Simulator

    started: list[Any] = []

    def start(connector: Any, **options: Any) -> Any:
        if isinstance(connector, str):
            from headwater.plugins import get_registry

            connector = get_registry().get(connector)
        sim = Simulator(connector, **options)
        sim.start()
        started.append(sim)
        return sim

    yield start
    for sim in started:
        sim.stop()


@pytest.fixture
def duckdb_pipeline(tmp_path: Path) -> Callable[..., Any]:
    """Factory: a dlt pipeline into a DuckDB file under ``tmp_path``."""

    def make(name: str = "test", dataset_name: str | None = None) -> Any:
        import dlt

        return dlt.pipeline(
            pipeline_name=name,
            destination=dlt.destinations.duckdb(str(tmp_path / f"{name}.duckdb")),
            dataset_name=dataset_name or f"{name}_data",
            pipelines_dir=str(tmp_path / "pipelines"),
        )

    return make
