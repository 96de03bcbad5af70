"""Core test setup: every test is isolated from the machine's settings and plugins."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _isolated(headwater_env, headwater_plugins):
    """Each test: its own directory and dlt data dir; only the directory connector
    (imported, not discovered) and the builtins are registered, in strict mode.
    Tests about discovery build their own plugin manager."""
    import headwater_directory.hooks

    headwater_plugins(headwater_directory.hooks)
    yield
