"""The connectors the benchmarks serve and load besides ``directory``.

Both are declared here as data, like any connector, and registered as a Headwater
plugin only inside the benchmark processes that need them (see :func:`use_bench_plugin`):
nothing is installed and ``headwater list`` is unaffected.

* ``bench_fanout``: ``users`` (``/v1/users``, offset pages of 100) and ``meetings``, a
  child with one single-page request per user (``/v1/meetings/{user_id}``). The
  benchmark makes the child requests slow and measures how well Headwater overlaps them
  (the ``max_workers`` setting).
* ``bench_pages``: ``items`` (``/v1/items``), offset pages of 100 *with* a ``total`` in
  every response, so every page's offset is known up front and pages could be fetched
  concurrently.
* ``bench_link`` and ``bench_has_more``: ``users``, the records of ``directory`` (same
  schema, pages of 100), paged by the ``Link`` header (GitHub style) and by the last
  record's id with a ``has_more`` flag (Stripe style): the throughput benchmark's other
  pagination kinds.
"""

from __future__ import annotations

from headwater import hookimpl
from headwater.spec import (
    Connector,
    LastRecordPagination,
    LinkHeaderPagination,
    OAuth2ClientCredentials,
    OffsetPagination,
    ParentSpec,
    Resource,
    RetryPolicy,
    SinglePage,
)

__all__ = [
    "BENCH_CONNECTORS",
    "BENCH_FANOUT",
    "BENCH_HAS_MORE",
    "BENCH_LINK",
    "BENCH_PAGES",
    "connector_named",
]

_RETRY = RetryPolicy(status_codes=(429, 500, 502, 503, 504), max_retries=3, backoff_factor=0.5)

BENCH_FANOUT = Connector(
    name="bench_fanout",
    package=__package__,
    description="Fan-out benchmark: users, and one meetings request per user.",
    auth=OAuth2ClientCredentials(token_url="{base_url}/oauth2/token"),
    retry=_RETRY,
    resources=[
        Resource(
            name="users",
            path="/v1/users",
            data_selector="users",
            pagination=OffsetPagination(limit=100),
            primary_key="id",
            write_disposition="merge",
            schema="schemas/bench_users.json",
        ),
        Resource(
            name="meetings",
            path="/v1/meetings/{user_id}",
            data_selector="meetings",
            pagination=SinglePage(),
            parent=ParentSpec(
                resource="users", field="id", placeholder="user_id", column="user_id"
            ),
            primary_key=("user_id", "id"),
            write_disposition="merge",
            schema="schemas/bench_meetings.json",
        ),
    ],
)

BENCH_PAGES = Connector(
    name="bench_pages",
    package=__package__,
    description="Pages-in-parallel benchmark: offset pages whose total is known.",
    auth=OAuth2ClientCredentials(token_url="{base_url}/oauth2/token"),
    retry=_RETRY,
    resources=[
        Resource(
            name="items",
            path="/v1/items",
            data_selector="items",
            pagination=OffsetPagination(limit=100, total_path="total"),
            primary_key="id",
            write_disposition="merge",
            schema="schemas/bench_items.json",
        )
    ],
)

BENCH_LINK = Connector(
    name="bench_link",
    package=__package__,
    description="The directory's users, paged by the Link header (100 a page).",
    auth=OAuth2ClientCredentials(token_url="{base_url}/oauth2/token"),
    retry=_RETRY,
    resources=[
        Resource(
            name="users",
            path="/v1/users",
            data_selector="users",
            pagination=LinkHeaderPagination(),
            primary_key="id",
            write_disposition="merge",
            schema="schemas/bench_directory_users.json",
        )
    ],
)

BENCH_HAS_MORE = Connector(
    name="bench_has_more",
    package=__package__,
    description="The directory's users, paged after the last record's id with has_more.",
    auth=OAuth2ClientCredentials(token_url="{base_url}/oauth2/token"),
    retry=_RETRY,
    resources=[
        Resource(
            name="users",
            path="/v1/users",
            data_selector="users",
            pagination=LastRecordPagination(page_size=100),
            primary_key="id",
            write_disposition="merge",
            schema="schemas/bench_directory_users.json",
        )
    ],
)

#: Every benchmark-only connector, by name.
BENCH_CONNECTORS = {c.name: c for c in (BENCH_FANOUT, BENCH_PAGES, BENCH_LINK, BENCH_HAS_MORE)}


def connector_named(name: str) -> Connector:
    """The connector ``name``: a benchmark connector, or an installed one (``directory``)."""
    if name in BENCH_CONNECTORS:
        return BENCH_CONNECTORS[name]
    from headwater.plugin.manager import get_registry

    return get_registry().get(name)


@hookimpl
def headwater_connectors() -> list[Connector]:
    """Declare the benchmark connectors (only where :func:`use_bench_plugin` ran)."""
    return list(BENCH_CONNECTORS.values())


def use_bench_plugin() -> None:
    """Make this process's Headwater use the installed plugins plus this module."""
    import sys

    from headwater.plugin import manager as plugins

    pm = plugins.make_plugin_manager(plugins=[("benchmarks", sys.modules[__name__])])
    plugins.use(pm)
