"""The three analytics connectors pass Headwater's conformance suite."""

from __future__ import annotations

import headwater_analytics.hooks
from headwater.testing.conformance import ConformanceSuite


class TestAnalyticsOdataConformance(ConformanceSuite):
    connector = "analytics_odata"
    plugins = (headwater_analytics.hooks,)


class TestAnalyticsEventsConformance(ConformanceSuite):
    connector = "analytics_events"
    plugins = (headwater_analytics.hooks,)


class TestAnalyticsMeetingsConformance(ConformanceSuite):
    connector = "analytics_meetings"
    plugins = (headwater_analytics.hooks,)
    records = 65  # users; each gets the simulator's default 3 meetings (every 10th: none)
