"""The directory connector passes the conformance suite."""

from __future__ import annotations

import headwater_directory.hooks
from headwater.testing.conformance import ConformanceSuite


class TestDirectoryConformance(ConformanceSuite):
    connector = "directory"
    plugins = (headwater_directory.hooks,)
