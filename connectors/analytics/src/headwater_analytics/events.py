"""The ``analytics_events`` connector (seed 002): events, loaded incrementally.

``/v1/resource`` answers ``{"data": [...]}`` pages of up to 100 events read with
``offset``/``limit``. The newest ``timestamp`` loaded is kept in the pipeline state
and sent as ``since`` on the next run, so only new events are requested; the
``sync_mode`` setting (``incremental`` by default, or ``full_refresh``) chooses. The
``start_date`` setting sets where the first run starts, and ``headwater run
analytics_events --start A --end B`` backfills a range without moving the position
(the API has no end parameter: events after ``B`` are dropped client-side).
"""

from __future__ import annotations

from headwater.spec import (
    DEFAULT_RETRY,
    Connector,
    IncrementalSpec,
    OAuth2ClientCredentials,
    OffsetPagination,
    Resource,
)

__all__ = ["ANALYTICS_EVENTS"]

ANALYTICS_EVENTS = Connector(
    name="analytics_events",
    package=__package__,
    description="Events of an analytics API (OAuth2 client credentials, offset pagination, "
    "incremental on timestamp).",
    base_url="https://api.example.com",
    auth=OAuth2ClientCredentials(token_url="{base_url}/oauth/token"),
    retry=DEFAULT_RETRY,
    resources=[
        Resource(
            name="events",
            path="/v1/resource",
            data_selector="data",
            pagination=OffsetPagination(limit=100),
            primary_key="id",
            write_disposition="merge",
            # RFC 3339 text on both sides; no end parameter, so no windows
            incremental=IncrementalSpec(cursor_field="timestamp", param="since"),
            schema="schemas/events.json",
            description="Events, newest loaded incrementally (since=<last timestamp>).",
        )
    ],
)
