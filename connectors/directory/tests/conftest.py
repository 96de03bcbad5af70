"""The directory connector's tests run isolated: only its own plugin and the builtins."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _isolated(headwater_env, headwater_plugins):
    import headwater_directory.hooks

    headwater_plugins(headwater_directory.hooks)
    yield
