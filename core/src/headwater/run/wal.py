"""DuckDB's write-ahead log during a large load, checkpointed file by file.

dlt inserts each Parquet file of a load in a statement of its own. DuckDB writes the
rows of a row group it did not fill to its write-ahead log, and in a load through
``headwater run``'s held connection it does not checkpoint on its own (dlt sets
``checkpoint_threshold`` to 1GB): with files of 100k records, the whole load's rows
(160 MB at 1M records) stayed in the log until the file closed, and that last
checkpoint compressed them all at once, the run's peak: 274 MB at 1M records. A
``CHECKPOINT`` after each file spread the same work over the load: peak 240 MB. Now
that a table's records come in files of up to 1M records
(:data:`headwater.run.workdir.DUCKDB_DEFAULTS`), whose full row groups DuckDB writes as
it goes, the log holds one partial row group a file, and the checkpoint after it is
short; with your own rotation of the files
(``DATA_WRITER__FILE_MAX_ITEMS``) it works as before.

Only for a large load (more than
:data:`headwater.run.workdir.DUCKDB_LARGE_LOAD_BYTES` of Parquet files): a small
load's one checkpoint at the end costs no more memory than the load itself.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from headwater.run.duckdb_jobs import wrapping_jobs

__all__ = ["checkpointing_each_file"]

log = logging.getLogger(__name__)


@contextmanager
def checkpointing_each_file(enabled: bool = True) -> Iterator[None]:
    """Meanwhile, the Parquet files dlt's DuckDB client loads in this thread are each
    followed by a ``CHECKPOINT`` (without ``enabled``, or where dlt's client cannot be
    taught to, nothing changes)."""
    if not enabled:
        yield
        return
    with wrapping_jobs(_checkpoint_after):
        yield


def _checkpoint_after(job: Any) -> None:
    """Make a copy job (one file's insert) checkpoint after its insert."""
    from dlt.destinations.impl.duckdb.duck import DuckDbCopyJob

    if isinstance(job, DuckDbCopyJob):
        job.run = functools.partial(_run_then_checkpoint, job, job.run)


def _run_then_checkpoint(job: Any, run: Any) -> None:
    run()
    try:
        job._job_client.sql_client.execute_sql("CHECKPOINT")
    except Exception as exc:  # the file is loaded; the checkpoint at the end will do
        log.debug("no checkpoint after %s: %s", getattr(job, "file_name", "a file"), exc)
