"""Hook implementations of the ``directory`` connector (seed 000).

Kept light: importing it declares data only; nothing heavy is imported.
"""

from __future__ import annotations

from headwater import hookimpl
from headwater.spec import (
    DEFAULT_RETRY,
    Connector,
    OAuth2ClientCredentials,
    OffsetPagination,
    Resource,
)

DIRECTORY = Connector(
    name="directory",
    package=__package__,
    description="Users of a directory API (OAuth2 client credentials, offset pagination).",
    base_url="https://api.example.com",
    auth=OAuth2ClientCredentials(token_url="{base_url}/oauth2/token"),
    retry=DEFAULT_RETRY,
    resources=[
        Resource(
            name="directory_users",
            path="/v1/users",
            data_selector="users",
            pagination=OffsetPagination(limit=100),
            primary_key="id",
            write_disposition="merge",
            schema="schemas/directory_users.json",
            description="Every user of the directory.",
        )
    ],
)


@hookimpl
def headwater_connectors() -> list[Connector]:
    """Declare the ``directory`` connector."""
    return [DIRECTORY]
