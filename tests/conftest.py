"""Core test setup: every test is isolated from the machine's settings and plugins.

The suite runs in parallel (pytest-xdist: ``-n`` and ``--dist loadgroup`` in the root
pyproject.toml's addopts). Tests that share a costly fixture run on one worker, which
builds it once: see :data:`GROUPS`.
"""

from __future__ import annotations

import os
import sys

import pytest

# Many container images set PYTHONDONTWRITEBYTECODE=1. Then every Python process the
# suite starts (xdist workers, each `headwater` CLI run, nested pytest sessions, about
# 150 of them) compiles dlt, sqlglot, pyarrow... from source again: ~1 s of CPU each.
# The tests' processes may cache bytecode as Python does by default (atomically, so
# parallel writers are safe; __pycache__ is ignored by git).
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
sys.dont_write_bytecode = False

#: fixture -> xdist group: the tests that share a costly module- or session-scoped
#: fixture run on one worker, which builds it once (a virtual environment with the core
#: built as a wheel, the built site, an empty venv for uv's resolver). Every other test
#: is spread over the workers one by one.
GROUPS = {
    "venv": "new-venv",
    "generated": "new-venv",
    "generated_tests": "new-venv",
    "built": "docs-site",
    "would_install": "packaging-venv",
}


#: Tests that take long (a nested pytest session, several CLI runs): started first, with
#: the groups, so that no worker starts one when the others are about to finish. Only
#: the order depends on this list.
SLOW = (
    "test_tutorial_connector_passes_its_tests",
    "test_canary_secret_absent_from_output_and_files",
    "test_simulate_prints_settings_that_a_run_can_use",
    "test_demo_loads_every_connector_into_one_duckdb_file",
    "test_sigkill_",
    "test_e2e_cli_",
    "test_cli_run_",
)


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        names = getattr(item, "fixturenames", ())
        group = next((GROUPS[n] for n in names if n in GROUPS), None)
        # Without HEADWATER_TEST_POSTGRES each worker running a PostgreSQL test would
        # start a private server: one worker runs the module, and starts one.
        if group is None and item.path.match("tests/run/test_destinations.py"):
            group = "postgres"
        if group is not None:
            item.add_marker(pytest.mark.xdist_group(group))
    # xdist hands out tests (a group as one unit) in this order, as workers free up.
    groups = list(GROUPS.values())
    items.sort(key=lambda item: _start_rank(item, groups))


def _start_rank(item: pytest.Item, groups: list[str]) -> int:
    mark = item.get_closest_marker("xdist_group")
    if mark is not None:
        name = mark.args[0] if mark.args else ""
        return groups.index(name) if name in groups else len(groups)
    if item.name.startswith(SLOW):
        return len(groups) + 1
    return len(groups) + 2


@pytest.fixture(autouse=True)
def _isolated(headwater_env, headwater_plugins):
    """Each test: its own directory and dlt data dir; only the directory connector
    (imported, not discovered) and the builtins are registered, in strict mode.
    Tests about discovery build their own plugin manager."""
    import headwater_directory.hooks

    headwater_plugins(headwater_directory.hooks)
    yield
