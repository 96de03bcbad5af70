"""Headwater connectors for analytics APIs: ``analytics_odata`` (OData entities),
``analytics_events`` (incremental events) and ``analytics_meetings`` (users and the
meetings of each user)."""

from importlib.metadata import version

#: The installed distribution's version: written once, in pyproject.toml.
__version__ = version("headwater-analytics")
