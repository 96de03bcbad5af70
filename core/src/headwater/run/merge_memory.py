"""The memory a DuckDB merge needs for its keys, given from the merge to its load's end.

dlt's merge (``delete-insert``) deletes the table's rows whose keys were staged
(``DELETE ... WHERE EXISTS (SELECT 1 FROM staging ...)``) and inserts the staged rows.
DuckDB cannot spill that delete: it holds 16-80 bytes a staged row whatever its memory
limit says. Under what was then Headwater's limit for a large load (48MB), a second
run of 3M ``directory`` records into the table of the first failed with "Out of Memory
Error" (1M passed); 10M staged rows needed between 256MB and 384MB.

While :func:`memory_for_merges` is active, a merge job (dlt's SQL job of a table
that has a staging table) counts the staged rows first and, when
:data:`BYTES_PER_STAGED_ROW` of them on top of the load's limit is more than the
limit, runs under that larger limit, which stays until the load ends: dlt empties the
staging tables after the last job, and emptying 10M staged rows failed under 48MB
too. The inserts before the merge, which spill, keep the smaller one.
"""

from __future__ import annotations

import functools
import logging
import math
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from headwater.run.duckdb_jobs import wrapping_jobs

__all__ = ["BYTES_PER_STAGED_ROW", "memory_for_merges", "size_bytes"]

log = logging.getLogger(__name__)

#: Memory a merge is given per staged row, on top of the load's limit. Measured
#: (DuckDB 1.5, ids of 11 and of 32 characters): 200k rows needed 12-16MB, 3M
#: 48-96MB, 10M 256-384MB (16-80 bytes a row; the most per row at the smallest).
BYTES_PER_STAGED_ROW = 48

_UNITS = {
    "b": 1,
    "byte": 1,
    "bytes": 1,
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
    "tb": 1000**4,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
    "tib": 1024**4,
}


def size_bytes(size: str) -> int | None:
    """The bytes of a DuckDB size setting such as ``96MB`` or ``1.5 GiB`` (``None``:
    not a size this reads)."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", size)
    if match is None:
        return None
    unit = _UNITS.get(match.group(2).lower() or "b")
    return None if unit is None else int(float(match.group(1)) * unit)


@contextmanager
def memory_for_merges(client: Any, limit: str | None) -> Iterator[None]:
    """Meanwhile, a merge job dlt's DuckDB client runs in this thread, and the rest of
    the load after it, run under ``limit`` plus :data:`BYTES_PER_STAGED_ROW` a staged
    row; ``limit`` is set back at the end (``client``: the DuckDB job client whose
    connection the load holds open; ``limit``: the load's DuckDB memory limit, as
    DuckDB reads it; ``None``: no limit of Headwater's to widen, nothing changes)."""
    base = None if limit is None else size_bytes(limit)
    if limit is None or base is None:
        yield
        return
    widened = [base]  # the largest limit set so far
    with wrapping_jobs(functools.partial(_widen_merge, base=base, widened=widened)):
        try:
            yield
        finally:
            if widened[0] > base:
                try:
                    client.sql_client.execute_sql(f"SET memory_limit = '{limit}'")
                except Exception as exc:  # the connection closes next: its limit goes too
                    log.debug("could not set memory_limit back to %s: %s", limit, exc)


def _widen_merge(job: Any, *, base: int, widened: list[int]) -> None:
    """Make an SQL job of a table with a staging table run under a wider limit."""
    from dlt.destinations.job_client_impl import SqlLoadJob

    if isinstance(job, SqlLoadJob):
        job.run = functools.partial(_run_widened, job, job.run, base, widened)


def _run_widened(job: Any, run: Any, base: int, widened: list[int]) -> None:
    sql_client = job._job_client.sql_client
    rows = _staged_rows(sql_client, job.load_table_name)
    need = base + rows * BYTES_PER_STAGED_ROW
    if need > widened[0]:
        limit = f"{math.ceil(need / 1000**2)}MB"
        log.debug("merging %d staged rows of %s under %s", rows, job.load_table_name, limit)
        sql_client.execute_sql(f"SET memory_limit = '{limit}'")
        widened[0] = need
    run()


def _staged_rows(sql_client: Any, table: str) -> int:
    """Rows of ``table`` in the staging dataset (0: no such table)."""
    from dlt.destinations.exceptions import DatabaseUndefinedRelation

    with sql_client.with_staging_dataset():
        name = sql_client.make_qualified_table_name(table)
    try:
        rows = sql_client.execute_sql(f"SELECT count(*) FROM {name}")
    except DatabaseUndefinedRelation:
        return 0
    return int(rows[0][0]) if rows else 0
