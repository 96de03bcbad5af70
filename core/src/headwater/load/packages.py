"""The load packages a pipeline has normalized and not loaded yet: what its next load
step will load, read before that step runs.

A run decides some things about its load from them — whether dlt's merge will
deduplicate (:mod:`headwater.load.unique`), the DuckDB memory limit the load needs,
which merges can go straight into their table — and a run that finds packages an
earlier run left behind corrects them before they load.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from attrs import frozen

__all__ = [
    "Pending",
    "finish_normalize_commits",
    "migrate_again",
    "pending",
    "pending_rows",
    "pending_rows_by_package",
]


@frozen
class Pending:
    """One normalized package waiting to load: its ``schema`` (dlt's, as the load
    step will read it) and its ``jobs`` (dlt's ``LoadJobInfo``, in any state)."""

    load_id: str
    schema: Any
    jobs: tuple[Any, ...]
    storage: Any

    @property
    def tables(self) -> set[str]:
        """The tables that have a file to load in this package."""
        return {job.job_file_info.table_name for job in self.jobs}

    def save_schema(self) -> None:
        """Write :attr:`schema` back, as the load step will read it."""
        self.storage.save_schema(self.load_id, self.schema)


def pending(pipeline: Any) -> Iterator[Pending]:
    """The packages ``pipeline`` has normalized and not yet loaded, oldest first."""
    storage = pipeline._get_load_storage().normalized_packages
    for load_id in pipeline.list_normalized_load_packages():
        info = storage.get_load_package_info(load_id)
        jobs = tuple(job for state in info.jobs.values() for job in state)
        yield Pending(load_id, storage.load_schema(load_id), jobs, storage)


def pending_rows(pipeline: Any) -> dict[str, int]:
    """The rows, by table, of the packages an earlier run normalized and did not load:
    :func:`pending_rows_by_package`, added up."""
    counts: dict[str, int] = {}
    for rows in pending_rows_by_package(pipeline).values():
        for table, n in rows.items():
            counts[table] = counts.get(table, 0) + n
    return counts


def pending_rows_by_package(pipeline: Any) -> dict[str, dict[str, int]]:
    """The rows, by package (its load id) and table, of the packages an earlier run
    normalized and did not load (it was killed or stopped before its load, or its
    load failed): the next load step loads them, and the run's summary counts them
    (dlt's own tables left out).

    Read from the files, exactly for every format dlt writes (gzip-compressed or not):
    a Parquet file's footer; a JSON lines file's lines; a CSV file's records, parsed
    (a quoted value may hold line breaks), its header line left out; an
    ``insert_values`` file's lines that begin a row. Jobs that hold no rows of their
    own (a reference to a staged file, a merge's SQL) count none."""
    by_package: dict[str, dict[str, int]] = {}
    csv_format: Any = None
    for package in pending(pipeline):
        counts = by_package.setdefault(package.load_id, {})
        for job in package.jobs:
            table = job.job_file_info.table_name
            file_format = job.job_file_info.file_format
            if table.startswith("_dlt") or file_format not in _ROW_FORMATS:
                continue
            if file_format == "csv" and csv_format is None:
                csv_format = _csv_format(pipeline)
            try:
                rows = _rows_in(job.file_path, file_format, csv_format)
            except Exception:  # a file the load will report on: no count, not a failure
                continue
            counts[table] = counts.get(table, 0) + rows
    return by_package


#: the load file formats whose files hold a table's rows
_ROW_FORMATS = ("parquet", "jsonl", "csv", "insert_values")


def _csv_format(pipeline: Any) -> Any:
    """The CSV settings (delimiter, header, quoting, encoding) dlt's writer had when it
    wrote ``pipeline``'s files: resolved as in its normalize step."""
    import io

    from dlt.common.configuration.container import Container
    from dlt.common.configuration.specs.config_section_context import ConfigSectionContext
    from dlt.common.configuration.specs.known_sections import NORMALIZE
    from dlt.common.data_writers.writers import CsvWriter

    context = ConfigSectionContext(pipeline_name=pipeline.pipeline_name, sections=(NORMALIZE,))
    with Container().injectable_context(context):
        return CsvWriter(io.BytesIO())


def _rows_in(path: str, file_format: str, csv_format: Any = None) -> int:
    import gzip

    if file_format == "parquet":
        import pyarrow.parquet as pq

        return pq.read_metadata(path).num_rows
    with open(path, "rb") as raw:
        gzipped = raw.read(2) == b"\x1f\x8b"
    with gzip.open(path, "rb") if gzipped else open(path, "rb") as lines:
        if file_format == "csv":
            return _csv_rows(lines, csv_format)
        if file_format == "insert_values":
            # "INSERT INTO ...(columns)", "VALUES" (not with SELECT ... UNION ALL), then
            # one line per row: every destination's literals escape their line breaks
            return sum(1 for line in lines if line.startswith((b"(", b"SELECT ")))
        # JSON lines: one record per line (JSON escapes the line breaks of strings)
        return sum(1 for line in lines if line.strip())


def _csv_rows(binary: Any, csv_format: Any) -> int:
    """The records of a CSV file dlt wrote with ``csv_format`` (its ``CsvWriter``)."""
    import csv
    import io
    import sys

    text = io.TextIOWrapper(binary, encoding=csv_format.encoding, errors="replace", newline="")
    quoting = csv.QUOTE_NONE if csv_format.quoting == "quote_none" else csv.QUOTE_MINIMAL
    reader = csv.reader(text, delimiter=csv_format.delimiter, quoting=quoting)
    limit = csv.field_size_limit(sys.maxsize)  # a value may be longer than 128 KiB
    try:
        records = sum(1 for _ in reader)
    finally:
        csv.field_size_limit(limit)
    return max(records - 1, 0) if csv_format.include_header else records


def migrate_again(pipeline: Any) -> int:
    """Make the load step migrate the destination again for the packages an earlier
    load began and did not finish; returns how many.

    dlt migrates the destination (creates the datasets and tables, its staging dataset
    too) once per package, and records that it did before the first job runs. A load
    that then failed so that DuckDB lost what it had not checkpointed (it ran out of
    memory) left the package marked as migrated and the staging dataset missing:
    every later load failed on a table that "does not exist", whatever the setting
    changed. Migrating again is harmless: dlt compares with what the destination has."""
    import os

    from dlt.common.storages.load_package import PackageStorage

    storage = pipeline._get_load_storage().normalized_packages
    restored = 0
    for load_id in pipeline.list_normalized_load_packages():
        folder = storage.get_package_path(load_id)
        applied = os.path.join(folder, PackageStorage.APPLIED_SCHEMA_UPDATES_FILE_NAME)
        expected = os.path.join(folder, PackageStorage.SCHEMA_UPDATES_FILE_NAME)
        if storage.storage.has_file(applied) and not storage.storage.has_file(expected):
            files = storage.storage
            os.replace(files.make_full_path(applied), files.make_full_path(expected))
            restored += 1
    return restored


def finish_normalize_commits(pipeline: Any) -> int:
    """Finish the normalize commits a killed run left half done; returns how many.

    dlt commits a normalized package in two moves: it renames the new package into
    the packages to load, then deletes the extracted package it came from. A process
    killed between the two (``kill -9``, the machine's OOM killer) left the package
    in both places, and every later run normalized it again and failed on the
    rename ("Directory not empty"), whatever resource or ``--full-refresh`` it ran.
    The normalized package is complete (the rename is atomic): the extracted one is
    what the second move would have deleted."""
    try:
        extracted = pipeline._get_normalize_storage().extracted_packages.list_packages()
        if not extracted:
            return 0
        loads = pipeline._get_load_storage()
        committed = {*loads.list_normalized_packages(), *loads.list_loaded_packages()}
    except FileNotFoundError:  # a pipeline that never ran so far
        return 0
    normalized = pipeline._get_normalize_storage().extracted_packages
    finished = 0
    for load_id in extracted:
        if load_id in committed:
            normalized.delete_package(load_id)
            finished += 1
    return finished
