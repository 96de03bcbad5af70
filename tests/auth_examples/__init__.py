"""Example connectors of the test suite (not shipped), one per auth kind of issue #16,
declared without hook code beyond the connector list.

* ``hubspot_example``: a HubSpot-style CRM — OAuth2 refresh token (client_secret in the
  form body) that the token endpoint rotates, cursor paging at ``paging.next.after``.
* ``google_example``: a Google-style service account — JWT grant (RFC 7523, RS256) with
  a scope, ``nextPageToken`` paging.
* ``jwt_bearer_example``: an API taking a self-signed ES256 JWT as bearer token.
* ``login_example``: a login-session API — POST credentials as JSON to ``/api/login``,
  the token at ``data.session_token`` sent in an ``X-Session`` header, sessions that
  expire.
* ``cookie_login_example``: a form login whose session id comes back in a header and
  goes out as a cookie.
* ``template_example``: credentials in templated headers (``Token token={api_key}``
  and an account id).
* ``basic_client_example``: OAuth2 client credentials with ``client_secret_basic``.

Registered in-process by the tests (``headwater_plugins(auth_examples)``) and, for the
CLI, through a ``headwater`` entry point the tests install on ``PYTHONPATH``
(:mod:`auth_examples.entry_point`).
"""

from __future__ import annotations

from headwater import hookimpl
from headwater.spec import (
    Connector,
    CursorPagination,
    JwtBearer,
    JwtGrant,
    OAuth2ClientCredentials,
    OAuth2RefreshToken,
    OffsetPagination,
    Resource,
    SessionLogin,
    TemplateAuth,
)

HUBSPOT = Connector(
    name="hubspot_example",
    package=__name__,
    base_url="https://api.hubapi.example",
    auth=OAuth2RefreshToken(token_url="{base_url}/oauth/v1/token"),
    resources=[
        Resource(
            name="contacts",
            path="/crm/v3/objects/contacts",
            schema="schemas/contact.json",
            data_selector="results",
            pagination=CursorPagination(
                cursor_path="paging.next.after",
                cursor_param="after",
                page_size=20,
                page_size_param="limit",
            ),
        ),
    ],
)

GOOGLE = Connector(
    name="google_example",
    package=__name__,
    base_url="https://admin.googleapis.example",
    auth=JwtGrant(
        token_url="{base_url}/token",
        scope="https://www.googleapis.com/auth/admin.directory.user.readonly",
    ),
    resources=[
        Resource(
            name="users",
            path="/admin/directory/v1/users",
            schema="schemas/item.json",
            data_selector="users",
            pagination=CursorPagination(
                cursor_path="nextPageToken",
                cursor_param="pageToken",
                page_size=20,
                page_size_param="maxResults",
            ),
        ),
    ],
)

JWT_BEARER = Connector(
    name="jwt_bearer_example",
    package=__name__,
    base_url="https://api.signed.example",
    auth=JwtBearer(algorithm="ES256", lifetime=600, claims={"role": "reader"}),
    resources=[
        Resource(
            name="items",
            path="/v1/items",
            schema="schemas/item.json",
            data_selector="data",
            pagination=OffsetPagination(limit=25),
        ),
    ],
)

LOGIN = Connector(
    name="login_example",
    package=__name__,
    base_url="https://legacy.example",
    auth=SessionLogin(
        login_path="/api/login",
        body={"user": "{username}", "pass": "{password}", "client": "headwater"},
        token_path="data.session_token",
        location="header",
        name="X-Session",
        template="{token}",
        expires_in_path="data.expires_in",
    ),
    resources=[
        Resource(
            name="orders",
            path="/api/orders",
            schema="schemas/item.json",
            data_selector="data",
            pagination=OffsetPagination(limit=25),
        ),
    ],
)

COOKIE_LOGIN = Connector(
    name="cookie_login_example",
    package=__name__,
    base_url="https://intranet.example",
    auth=SessionLogin(
        login_path="/session",
        body_format="form",
        token_path=None,
        token_header="X-Session-Id",
        location="cookie",
        name="sid",
        template="{token}",
        expires_in=600,
    ),
    resources=[
        Resource(
            name="tickets",
            path="/tickets",
            schema="schemas/item.json",
            data_selector="data",
            pagination=OffsetPagination(limit=25),
        ),
    ],
)

TEMPLATE = Connector(
    name="template_example",
    package=__name__,
    base_url="https://api.tokenauth.example",
    auth=TemplateAuth(
        headers={"Authorization": "Token token={api_key}", "X-Account-Id": "{account_id}"},
        secret_settings=("api_key",),
    ),
    resources=[
        Resource(
            name="projects",
            path="/v2/projects",
            schema="schemas/item.json",
            data_selector="data",
            pagination=OffsetPagination(limit=25),
        ),
    ],
)

BASIC_CLIENT = Connector(
    name="basic_client_example",
    package=__name__,
    base_url="https://api.basicclient.example",
    auth=OAuth2ClientCredentials(client_auth="basic", scope="read"),
    resources=[
        Resource(
            name="items",
            path="/items",
            schema="schemas/item.json",
            data_selector="data",
            pagination=OffsetPagination(limit=25),
        ),
    ],
)

EXAMPLES = (HUBSPOT, GOOGLE, JWT_BEARER, LOGIN, COOKIE_LOGIN, TEMPLATE, BASIC_CLIENT)


@hookimpl
def headwater_connectors() -> list[Connector]:
    """The auth examples."""
    return list(EXAMPLES)
