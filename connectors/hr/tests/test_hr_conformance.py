"""The hr connector passes Headwater's conformance suite."""

from __future__ import annotations

import headwater_hr.hooks
from headwater.testing.conformance import ConformanceSuite


class TestHrConformance(ConformanceSuite):
    connector = "hr"
    plugins = (headwater_hr.hooks,)
