"""The suite's own plumbing: tests that share a costly fixture run on one xdist worker.

``tests/conftest.py`` marks them with ``xdist_group``; pytest-xdist's ``--dist
loadgroup`` sends each group to one worker by a ``@group`` suffix on the node id. When
a pytest release and pytest-xdist disagree on where node ids live, the groups are
ignored without a word and every worker builds the shared virtual environments and
site itself (minutes of CPU). This fails instead.
"""

from __future__ import annotations

import os

import pytest


@pytest.mark.xdist_group("suite-groups")
def test_an_xdist_group_reaches_the_scheduler(request):
    if "PYTEST_XDIST_WORKER" not in os.environ:
        pytest.skip("not under pytest-xdist (-n 0)")
    if not request.config.getvalue("loadgroup"):  # set on the workers by xdist
        pytest.skip("not run with --dist loadgroup")
    assert request.node.nodeid.endswith("@suite-groups"), (
        f"{request.node.nodeid}: pytest-xdist did not give the test its group; see the "
        "pytest pin in pyproject.toml"
    )
