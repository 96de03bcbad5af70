"""A merge into an empty DuckDB table, loaded straight into the table.

dlt merges a resource (``delete-insert``) in two steps: each file of the package is
inserted into a staging table, then one job deletes the table's rows whose keys were
staged and inserts the staged rows. On DuckDB both steps compress and write every row:
at 1M records the load took 2.05 s, and 1.09 s with the files inserted into the table
directly. When the table is empty (or not there yet: a connector's first run, a
backfill into a new dataset) and Headwater has vouched that the package holds each key
once (:mod:`headwater.load.unique`), the merge's result is exactly those rows, and
that is what the straight insert gives.

:func:`straight_tables` picks the tables (merged with dlt's default strategy, keys
vouched for, no nested tables, no ``hard_delete`` or ``dedup_sort`` column, the table
missing or empty); :func:`loading_straight` makes dlt's DuckDB client skip the
staging table and the merge job for them while the load runs in this thread. A
load that fails part-way leaves what it inserted, as an append does; the next run
loads the rest of the package through staging and dlt's deduplicating merge (the
package's hint is withdrawn first, :func:`headwater.load.unique.distrust_pending`),
which leaves each key once.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from headwater.load.packages import Pending
from headwater.load.unique import DEDUPLICATED
from headwater.run.destinations import drop_empty_staging

__all__ = ["loading_straight", "straight_tables"]

_loading = threading.local()

#: column hints under which dlt's merge does more than insert the staged rows
_MERGE_COLUMN_HINTS = ("hard_delete", "dedup_sort")


def straight_tables(packages: Sequence[Pending], client: Any) -> frozenset[str]:
    """The tables of ``packages`` (those waiting to load,
    :func:`headwater.load.packages.pending`) whose merge can be a plain insert into
    their table, read through ``client`` (a DuckDB job client whose connection is
    open)."""
    from dlt.common.schema.utils import get_nested_tables

    candidates: set[str] = set()
    refused: set[str] = set()
    for package in packages:
        tables = package.schema.tables
        for name in package.tables & set(tables):
            table = tables[name]
            simple = (
                table.get("write_disposition") == "merge"
                and table.get(DEDUPLICATED) is True
                and table.get("x-merge-strategy", "delete-insert") == "delete-insert"
                and not table.get("parent")
                and len(get_nested_tables(tables, name)) == 1
                and not any(
                    column.get(hint)
                    for column in table.get("columns", {}).values()
                    for hint in _MERGE_COLUMN_HINTS
                )
            )
            # a table in two packages is merged twice: a plain insert would repeat keys
            once = sum(name in other.tables for other in packages) == 1
            (candidates if simple and once else refused).add(name)
    return frozenset(name for name in candidates - refused if _empty(client, name))


def _empty(client: Any, name: str) -> bool:
    """Whether the destination table ``name`` has no row (or is not there)."""
    from dlt.destinations.exceptions import DatabaseUndefinedRelation

    sql_client = client.sql_client
    try:
        rows = sql_client.execute_sql(
            f"SELECT 1 FROM {sql_client.make_qualified_table_name(name)} LIMIT 1"
        )
    except DatabaseUndefinedRelation:
        return True
    return not rows


@contextmanager
def loading_straight(client: Any, tables: frozenset[str]) -> Iterator[None]:
    """Meanwhile, in this thread, dlt's DuckDB client loads ``tables`` straight into
    their table: no staging table, no merge job. Without ``tables``, or where dlt's
    client has no such steps to skip, nothing changes.

    An empty staging schema the load leaves is dropped again
    (:func:`~headwater.run.destinations.drop_empty_staging`; ``client``: a DuckDB job
    client, its connection open)."""
    if not tables or not _skippable():
        yield
        return
    _loading.tables = tables
    try:
        yield
    finally:
        _loading.tables = frozenset()
        drop_empty_staging(client)


@functools.cache
def _skippable() -> bool:
    """Teach dlt's DuckDB client to skip the two steps for the tables this thread is
    loading straight (once per process); ``False`` where its methods are not found."""
    from dlt.destinations.impl.duckdb.duck import DuckDbClient

    stage = getattr(DuckDbClient, "should_load_data_to_staging_dataset", None)
    merge = getattr(DuckDbClient, "_create_merge_followup_jobs", None)
    if stage is None or merge is None:
        return False

    def should_load_data_to_staging_dataset(self: Any, table_name: str) -> bool:
        if table_name in getattr(_loading, "tables", ()):
            return False
        return bool(stage(self, table_name))

    def _create_merge_followup_jobs(self: Any, table_chain: Any) -> Any:
        if table_chain and table_chain[0]["name"] in getattr(_loading, "tables", ()):
            return []
        return merge(self, table_chain)

    DuckDbClient.should_load_data_to_staging_dataset = should_load_data_to_staging_dataset  # type: ignore[method-assign]
    DuckDbClient._create_merge_followup_jobs = _create_merge_followup_jobs  # type: ignore[method-assign]
    return True
