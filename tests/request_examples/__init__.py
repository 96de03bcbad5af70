"""Example connectors of the test suite (not shipped), declared without hook code
beyond the connector list: the requests and paginations of issue #16.

* ``gh_example``: a GitHub-style API — bearer token, ``Link`` header pages, a path
  parameter from a setting next to a child's parent placeholder, connector headers.
* ``stripe_example``: a Stripe-style API — HTTP basic with the key as user name,
  ``has_more`` + ``starting_after=<last id>``, ``created`` incremental, a versioned
  header from a setting.
* ``paging_kinds``: one resource per pagination kind and request shape (JSONPath
  selectors, page totals, header cursor, POST bodies with paging fields, GraphQL).

Registered in-process by the tests (``headwater_plugins(request_examples)``) and, for
the CLI, through a ``headwater`` entry point the tests install on ``PYTHONPATH``.
"""

from __future__ import annotations

from headwater import hookimpl
from headwater.spec import (
    BasicAuth,
    BearerAuth,
    Connector,
    CursorPagination,
    HeaderCursorPagination,
    IncrementalSpec,
    LastRecordPagination,
    LinkHeaderPagination,
    NextLinkPagination,
    OffsetPagination,
    PageNumberPagination,
    ParentSpec,
    Resource,
    SinglePage,
)

GITHUB = Connector(
    name="gh_example",
    package=__name__,
    base_url="https://api.github.example",
    auth=BearerAuth(),
    headers={"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"},
    settings={"org": {"type": "string", "description": "the organization whose repos to load"}},
    required_settings=("org",),
    resources=[
        Resource(
            name="repos",
            path="/orgs/{org}/repos",
            schema="schemas/repo.json",
            params={"per_page": 40, "type": "all"},
            pagination=LinkHeaderPagination(),
        ),
        Resource(
            name="issues",
            path="/repos/{org}/{repo}/issues",
            schema="schemas/issue.json",
            params={"state": "all"},
            pagination=LinkHeaderPagination(),
            parent=ParentSpec(resource="repos", field="name", placeholder="repo", column="repo"),
            primary_key=("repo", "id"),
        ),
    ],
)

STRIPE = Connector(
    name="stripe_example",
    package=__name__,
    base_url="https://api.stripe.example",
    auth=BasicAuth(password=False),  # the secret key as username, as Stripe does
    headers={"Stripe-Version": "{api_version}"},
    settings={"api_version": {"type": "string", "default": "2024-06-20"}},
    resources=[
        Resource(
            name="customers",
            path="/v1/customers",
            schema="schemas/customer.json",
            data_selector="data",
            pagination=LastRecordPagination(page_size=30),
            incremental=IncrementalSpec(cursor_field="created", param="created[gt]"),
        ),
    ],
)

_ITEM = "schemas/item.json"

PAGING = Connector(
    name="paging_kinds",
    package=__name__,
    base_url="https://api.paging.example",
    headers={"X-Client": "headwater-tests", "X-Api-Token": "{api_token}"},
    settings={
        "api_token": {"type": "string", "writeOnly": True},
        "tenant": {"type": "string"},
        "region": {"type": "string", "default": "eu"},
    },
    required_settings=("api_token", "tenant"),
    resources=[
        Resource(
            name="link_items",
            path="/link",
            schema=_ITEM,
            data_selector="$.items",
            pagination=LinkHeaderPagination(),
        ),
        Resource(
            name="header_items",
            path="/header",
            schema=_ITEM,
            data_selector="data",
            pagination=HeaderCursorPagination(header="X-Next-Cursor", page_size=40),
        ),
        Resource(
            name="last_record_items",
            path="/last",
            schema=_ITEM,
            data_selector="data",
            pagination=LastRecordPagination(page_size=30),
        ),
        Resource(
            name="total_items",
            path="/numbered/total",
            schema=_ITEM,
            data_selector="$.results[*]",
            pagination=PageNumberPagination(page_size=40, total_path="meta.total"),
        ),
        Resource(
            name="total_pages_items",
            path="/numbered/pages",
            schema=_ITEM,
            data_selector="data.items",
            pagination=PageNumberPagination(page_size=40, total_pages_path="$.meta.pages"),
        ),
        Resource(
            name="empty_page_items",
            path="/numbered/empty",
            schema=_ITEM,
            data_selector="data",
            pagination=PageNumberPagination(),
        ),
        Resource(
            name="next_url_items",
            path="/next",
            schema=_ITEM,
            data_selector="$.data",
            pagination=NextLinkPagination(next_path="$.links.next"),
        ),
        Resource(
            name="search",
            path="/search",
            schema=_ITEM,
            method="POST",
            json={"query": {"status": "active", "tenant": "{tenant}"}, "page": {"size": 50}},
            data_selector="results",
            pagination=CursorPagination(
                cursor_path="meta.next",
                cursor_param="page.after",
                page_size=50,
                page_size_param="page.size",
                location="body",
            ),
        ),
        Resource(
            name="graphql_nodes",
            path="/graphql",
            schema=_ITEM,
            method="POST",
            json={
                "query": "query($first: Int, $after: String) { items(first: $first, "
                "after: $after) { nodes { id name } pageInfo { endCursor } } }",
                "variables": {"first": 25},
            },
            data_selector="data.items.nodes",
            pagination=CursorPagination(
                cursor_path="data.items.pageInfo.endCursor",
                cursor_param="variables.after",
                page_size=25,
                page_size_param="variables.first",
                location="body",
            ),
        ),
        Resource(
            name="offset_body_items",
            path="/search/offset",
            schema=_ITEM,
            method="POST",
            json={"filter": "all"},
            data_selector="hits",
            pagination=OffsetPagination(
                limit=40,
                offset_param="paging.offset",
                limit_param="paging.limit",
                total_path="total",
                location="body",
            ),
        ),
        Resource(
            name="tenant_users",
            path="/v1/{tenant}/users",
            schema=_ITEM,
            params={"region": "{region}", "fields": "all"},
            headers={"X-Tenant": "{tenant}"},
            data_selector="data",
            pagination=SinglePage(),
        ),
        Resource(
            name="tenant_user_roles",
            path="/v1/{tenant}/users/{user_id}/roles",
            schema=_ITEM,
            data_selector="data",
            pagination=SinglePage(),
            parent=ParentSpec(resource="tenant_users", field="id", placeholder="user_id"),
            primary_key=("parent_id", "id"),
        ),
    ],
)

CONNECTORS = (GITHUB, STRIPE, PAGING)


@hookimpl
def headwater_connectors() -> list[Connector]:
    """The example connectors."""
    return list(CONNECTORS)
