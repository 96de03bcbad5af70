"""Small builders shared by the core tests."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from headwater import hookimpl
from headwater.settings import env_text
from headwater.spec import Connector, Resource
from headwater.testing import rows_of  # noqa: F401 - re-exported for the tests
from headwater.testing.cli_process import CliResult, run_cli

SCHEMA = "schemas/directory_users.json"  # borrowed: any shipped schema file will do


def connector(name: str = "testapi", *, auth: Any = None, rules=(), retry=None, **resource: Any):
    """A one-resource connector called ``name`` whose resource is ``items`` at ``/items``."""
    spec = dict(name="items", path="/items", schema=SCHEMA, data_selector="data")
    spec.update(resource)
    kwargs: dict[str, Any] = {}
    if retry is not None:
        kwargs["retry"] = retry
    return Connector(
        name=name,
        package="headwater_directory",
        base_url="https://api.test",
        auth=auth,
        response_rules=rules,
        resources=[Resource(**spec)],
        **kwargs,
    )


class Declares:
    """A plugin declaring the given connectors."""

    def __init__(self, *connectors: Connector) -> None:
        self._connectors = list(connectors)

    @hookimpl
    def headwater_connectors(self) -> list[Connector]:
        return self._connectors


def records(n: int, start: int = 0) -> list[dict]:
    return [
        {"id": f"u{i:05d}", "etag": f"e{i}", "lastLoginTime": None} for i in range(start, start + n)
    ]


def a_second_before(moment: str) -> str:
    """The ``since`` a plain since API is asked for the records from ``moment`` on: it
    answers strictly after its bound, so Headwater asks a second early."""
    from datetime import timedelta

    from headwater.timebounds import isoformat, parse_instant

    return isoformat(parse_instant(moment) - timedelta(seconds=1))


def extraction_error(source: Any) -> BaseException:
    """The Headwater error that stops extracting ``source`` (settings are resolved then);
    dlt wraps it, as it wraps any error of a resource."""
    from headwater.run.dlt_errors import explain

    try:
        list(source)
    except Exception as exc:  # dlt's wrapper; the cause is returned
        return explain(exc) or exc
    raise AssertionError("extracting the source raised nothing")


def settings_env(connector: str, sim: Any, **override: Any) -> dict[str, str]:
    """A simulator's settings (with ``override``) as the ``SOURCES__<CONNECTOR>__<KEY>``
    environment variables a user would set for ``connector``."""
    values = {**sim.settings, **override}
    return {f"SOURCES__{connector.upper()}__{k.upper()}": env_text(v) for k, v in values.items()}


def use_settings(monkeypatch: Any, connector: str, sim: Any) -> None:
    """Set :func:`settings_env` in this test's environment."""
    for key, value in settings_env(connector, sim).items():
        monkeypatch.setenv(key, value)


def cli(*args: str, env: Mapping[str, str]) -> CliResult:
    """Run the ``headwater`` command in a process of its own, as a user would, with
    ``env`` added: forked from a warm interpreter where the kit does so
    (:mod:`headwater.testing.cli_process`), with the retry waits as installed."""
    return run_cli(list(args), {**os.environ, **env}, timeout=300, quick_retries=False)


def files_containing(root: Path, needle: str | bytes) -> list[Path]:
    """Files under ``root`` whose bytes contain ``needle`` (a canary secret)."""
    raw = needle.encode() if isinstance(needle, str) else needle
    return [p for p in root.rglob("*") if p.is_file() and raw in p.read_bytes()]


TESTS = Path(__file__).resolve().parent


def fake_distribution(root: Path | str, dist: str, entry_point: str) -> dict[str, str]:
    """What ``pip install`` of a test connector would give a CLI subprocess: write the
    metadata of distribution ``dist`` whose ``headwater`` entry point is ``entry_point``
    (``"name = module[:object]"``) under ``root``, and return the environment
    (``PYTHONPATH``: that site and this tests folder) under which the CLI finds it."""
    site = Path(root) / "site"
    info = site / f"{dist.replace('-', '_')}-0.1.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[headwater]\n{entry_point}\n")
    paths = [str(site), str(TESTS), os.environ.get("PYTHONPATH", "")]
    return {"PYTHONPATH": os.pathsep.join(p for p in paths if p)}
