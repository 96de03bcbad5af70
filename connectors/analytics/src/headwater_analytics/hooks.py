"""Hook implementations of the analytics connectors (seeds 001-003).

Declares ``analytics_odata``, ``analytics_events`` and ``analytics_meetings``; adds
``analytics_odata``'s ``extra_resources``; scopes ``analytics_meetings``' 404 rule to
its per-user meetings requests. Importing it declares data only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from headwater import hookimpl
from headwater.spec import Connector, Resource, ResponseRule

from headwater_analytics.events import ANALYTICS_EVENTS
from headwater_analytics.meetings import ANALYTICS_MEETINGS, MEETINGS_NOT_FOUND
from headwater_analytics.odata import ANALYTICS_ODATA, extra_resources

if TYPE_CHECKING:
    from headwater.settings import Settings

__all__ = [
    "ANALYTICS_EVENTS",
    "ANALYTICS_MEETINGS",
    "ANALYTICS_ODATA",
    "headwater_connectors",
    "headwater_resources",
    "headwater_response_rules",
]


@hookimpl
def headwater_connectors() -> list[Connector]:
    """Declare ``analytics_odata``, ``analytics_events`` and ``analytics_meetings``."""
    return [ANALYTICS_ODATA, ANALYTICS_EVENTS, ANALYTICS_MEETINGS]


@hookimpl
def headwater_resources(connector: Connector, settings: Settings) -> Sequence[Resource] | None:
    """``analytics_odata``: one more entity set per entry of ``extra_resources``."""
    if connector.name != ANALYTICS_ODATA.name:
        return None
    return extra_resources(settings.get("extra_resources"))


@hookimpl
def headwater_response_rules(connector: Connector, resource: Resource) -> Sequence[ResponseRule]:
    """``analytics_meetings.meetings``: a 404 for one user skips that user."""
    if connector.name == ANALYTICS_MEETINGS.name and resource.name == "meetings":
        return [MEETINGS_NOT_FOUND]
    return []
