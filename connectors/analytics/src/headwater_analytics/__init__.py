"""Headwater connectors for analytics APIs: ``analytics_odata`` (OData entities),
``analytics_events`` (incremental events) and ``analytics_meetings`` (users and the
meetings of each user)."""

__version__ = "0.1.0"
