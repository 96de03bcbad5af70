"""HR connector tests: each test isolated, only the hr plugin registered."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _isolated(headwater_env, headwater_plugins):
    """Each test: its own directory and dlt data dir; only the hr connector (imported,
    not discovered) and the builtins are registered, in strict mode."""
    import headwater_hr.hooks

    headwater_plugins(headwater_hr.hooks)
    yield
