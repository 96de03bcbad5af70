"""The ``analytics_meetings`` connector (seed 003): users, and the meetings of each.

``/v1/users`` is read with a ``next_page_token`` cursor, 30 users a page. Meetings
are read with one request per user, ``/v1/meetings/{user id}``, several at a time
(the ``max_workers`` setting); each meeting row gets the user's id as ``user_id`` so
the tables join. A 404 for one user's meetings (a user deleted meanwhile, or one
without a meetings licence) skips that user with a warning.
"""

from __future__ import annotations

from headwater.spec import (
    DEFAULT_RETRY,
    Connector,
    CursorPagination,
    OAuth2ClientCredentials,
    ParentSpec,
    Resource,
    ResponseRule,
    SinglePage,
)

__all__ = ["ANALYTICS_MEETINGS", "MEETINGS_NOT_FOUND"]

#: Applies to the per-user meetings requests only (see ``hooks.headwater_response_rules``):
#: a 404 on ``/v1/users`` itself is a configuration error and must fail the run.
MEETINGS_NOT_FOUND = ResponseRule(action="ignore", status_code=404)

ANALYTICS_MEETINGS = Connector(
    name="analytics_meetings",
    package=__package__,
    description="Users and their meetings from an analytics API (OAuth2 client credentials, "
    "cursor pagination, one meetings request per user).",
    base_url="https://api.example.com",
    # No default token endpoint: the seed reads it from the secret authorization_endpoint.
    auth=OAuth2ClientCredentials(token_url=None, token_url_aliases=("authorization_endpoint",)),
    retry=DEFAULT_RETRY,
    resources=[
        Resource(
            name="users",
            path="/v1/users",
            data_selector="users",
            pagination=CursorPagination(
                cursor_path="next_page_token",
                cursor_param="next_page_token",
                page_size=30,
                page_size_param="page_size",
            ),
            primary_key="id",
            write_disposition="merge",
            schema="schemas/meetings_users.json",
            description="Users of the account.",
        ),
        Resource(
            name="meetings",
            path="/v1/meetings/{user_id}",
            data_selector="meetings",
            pagination=SinglePage(),
            parent=ParentSpec(
                resource="users", field="id", placeholder="user_id", column="user_id"
            ),
            # A meeting is listed under each user hosting it: keyed per user.
            primary_key=("user_id", "id"),
            write_disposition="merge",
            schema="schemas/meetings.json",
            description="Meetings of each user (one request per user), with user_id.",
        ),
    ],
)
