"""Hook implementations of the ``hr`` connector (seed 004).

Kept light: importing it declares data only; nothing heavy is imported.
"""

from __future__ import annotations

from headwater import hookimpl
from headwater.spec import DEFAULT_RETRY, ApiKeyAuth, Connector, OffsetPagination, Resource

__all__ = ["HR", "headwater_connectors"]

HR = Connector(
    name="hr",
    package=__package__,
    description="Employees of an HR API (API key in the query string, offset pagination).",
    base_url="https://api.example.com",
    # The key travels as ?api_key=...: Headwater redacts it from logs, errors and files.
    auth=ApiKeyAuth(name="api_key", location="query"),
    # "maximum of 3 retries" with backoff factor 2: up to 4 attempts, waiting 2, 4, 8 s.
    retry=DEFAULT_RETRY,
    resources=[
        Resource(
            name="employees",
            path="/v1/resource",
            data_selector="data",
            pagination=OffsetPagination(limit=100),
            primary_key="id",
            write_disposition="merge",
            schema="schemas/employees.json",
            description="Every employee record.",
        )
    ],
)


@hookimpl
def headwater_connectors() -> list[Connector]:
    """Declare the ``hr`` connector."""
    return [HR]
