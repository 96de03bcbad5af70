"""Where a run keeps its state and data: pipeline and dataset names, the folder's
pipelines directory, the DuckDB file and its defaults, the load file format, and the
OS lock that keeps two runs of one pipeline apart."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from headwater.errors import ConfigError, RunError
from headwater.load.assemble import arrow_enabled

__all__ = [
    "DUCKDB_CONFIG",
    "DUCKDB_CONFIG_UNLIMITED",
    "DUCKDB_DEFAULTS",
    "DUCKDB_LARGE_LOAD_BYTES",
    "DUCKDB_LARGE_LOAD_LIMIT",
    "DUCKDB_PARQUET_LOAD_LIMIT",
    "EXTRACT_FILE_MAX_ITEMS",
    "STATE_FOLDER",
    "apply_duckdb_defaults",
    "check_names",
    "default_names",
    "duckdb_destination",
    "duckdb_file",
    "duckdb_memory_limit_for",
    "duckdb_memory_limited",
    "file_format_for",
    "folder_pipelines_dir",
    "held_lock",
    "lock_path",
    "pipeline_lock",
]

#: Where, in the folder it runs in, ``headwater run`` keeps dlt's working state.
STATE_FOLDER = ".headwater"

# Destinations whose default load format is slow for REST data (DuckDB's is SQL text
# INSERTs: ~20x slower and GBs of memory) get a faster one they support: Parquet on the
# Arrow fast path (Arrow tables are written as Parquet as they are; asking for jsonl
# would convert them row by row), else jsonl.
_FAST_DESTINATIONS = ("duckdb", "motherduck")


def default_names(connector: str) -> tuple[str, str]:
    """Default ``(pipeline_name, dataset_name)``: distinct, because a DuckDB file whose
    stem equals the dataset name fails to load ("Ambiguous reference")."""
    return f"headwater_{connector}", f"{connector}_data"


#: dlt's rotation of the files extract writes (a source's data writer): more specific
#: than ``DATA_WRITER__FILE_MAX_ITEMS``, which also rotates the files normalize writes.
EXTRACT_FILE_MAX_ITEMS = "SOURCES__DATA_WRITER__FILE_MAX_ITEMS"

#: dlt settings Headwater defaults for DuckDB loads (an environment variable of the
#: same name wins). Measured on 1M records: peak memory flat in the record count.
DUCKDB_DEFAULTS = {
    # Intermediate files are deleted after the load: compressing them is wasted time.
    "DATA_WRITER__DISABLE_COMPRESSION": "true",
    # The files normalize writes (the row path's JSON lines) hold at most 100k records:
    # DuckDB loads them file by file, so its memory does not grow with the run.
    "DATA_WRITER__FILE_MAX_ITEMS": "100000",
    # The Arrow path's Parquet files, which normalize passes on as they are, hold up
    # to 1M records: DuckDB inserts each in one statement, compressing full row groups
    # as it goes, instead of keeping each 100k file's last row group in its write-ahead
    # log until a checkpoint. 1M records: load 2.23-2.44 -> 1.39-1.49 s at a lower
    # peak (see duckdb_memory_limit_for); 10M records: load 21 -> 11-12.6 s. Files of
    # 1M, not one per table: a statement's memory grows with its rows (alone in
    # DuckDB, 10M records +91 MB in one file, +80 MB in ten). Not set when you set
    # DATA_WRITER__FILE_MAX_ITEMS yourself.
    EXTRACT_FILE_MAX_ITEMS: "1000000",
    # DuckDB's buffer pool otherwise grows towards 80% of RAM during the merge. 96MB:
    # 1M-record peak 314 -> 282 MB (200k: 270 -> 256 MB) at the same load time; a
    # large load runs under a smaller limit (duckdb_memory_limit_for). Row order in a
    # table is not kept anyway: not preserving it lets DuckDB insert without ordering.
    "DESTINATION__DUCKDB__CREDENTIALS__GLOBAL_CONFIG": (
        '{"memory_limit": "96MB", "preserve_insertion_order": false}'
    ),
    # One load job at a time: parallel jobs into one DuckDB file only add memory.
    "LOAD__WORKERS": "1",
    # The merge's staging copy is emptied once loaded, not kept in the file until the
    # next load: at 200k records the file is 15 MB instead of 29 MB, and the final
    # checkpoint takes 0.28 s instead of 0.55 s (medians of 4).
    "LOAD__TRUNCATE_STAGING_DATASET": "true",
}


def folder_pipelines_dir(folder: str | None = None) -> str:
    """The pipelines directory (dlt's working state: schemas, incremental cursors, load
    packages) of ``headwater run`` in ``folder`` (default: the current one):
    ``<folder>/.headwater/pipelines``, created on first use.

    Per folder, not dlt's global ``~/.dlt/pipelines``: a run in another folder then
    never merges into, or resumes from, this folder's run. State that also lives in the
    destination still comes back from it on a first run (:func:`_run_isolated`)."""
    base = os.path.abspath(os.path.join(folder or os.getcwd(), STATE_FOLDER))
    path = os.path.join(base, "pipelines")
    try:
        os.makedirs(path, exist_ok=True)
        ignore = os.path.join(base, ".gitignore")
        if not os.path.exists(ignore):
            # working state, not something to commit with the project around it
            with open(ignore, "w", encoding="utf-8") as f:
                f.write(
                    "# headwater run's working state (dlt pipelines): not for version control\n*\n"
                )
    except OSError as exc:
        raise ConfigError(
            f"headwater keeps its working state in {path}, which cannot be made "
            f"({exc.strerror or type(exc).__name__}); run in a folder you can write to, "
            f"or move what is at {base} away"
        ) from None
    return path


def duckdb_destination(**params: Any) -> Any:
    """dlt's DuckDB destination with relative paths — the default ``<pipeline>.duckdb``
    and a relative ``DESTINATION__DUCKDB__CREDENTIALS`` — resolved in the current
    folder. dlt would resolve them in the folder where the pipeline first ran (its
    remembered ``initial_cwd``). ``params``: more of the destination's settings."""
    import dlt

    return dlt.destinations.duckdb(local_dir=os.getcwd(), **params)


def duckdb_file(pipeline_name: str, dataset_name: str) -> str:
    """The absolute path of the DuckDB file ``headwater run`` writes for
    ``pipeline_name`` from the current folder (as :func:`duckdb_destination` resolves
    it, ``DESTINATION__DUCKDB__CREDENTIALS`` included). Opens nothing."""
    destination = duckdb_destination(pipeline_name=pipeline_name, dataset_name=dataset_name)
    return os.path.abspath(destination.configuration(None).credentials.database)


def apply_duckdb_defaults() -> None:
    """Set :data:`DUCKDB_DEFAULTS` where the environment does not already (and no
    rotation of extract's files where you set ``DATA_WRITER__FILE_MAX_ITEMS``: yours
    rotates them)."""
    rotation = "DATA_WRITER__FILE_MAX_ITEMS"
    yours = os.environ.get(rotation, DUCKDB_DEFAULTS[rotation]) != DUCKDB_DEFAULTS[rotation]
    for key, value in DUCKDB_DEFAULTS.items():
        if not (key == EXTRACT_FILE_MAX_ITEMS and yours):
            os.environ.setdefault(key, value)


#: The setting that holds Headwater's DuckDB memory limit (:data:`DUCKDB_DEFAULTS`).
DUCKDB_CONFIG = "DESTINATION__DUCKDB__CREDENTIALS__GLOBAL_CONFIG"

#: :data:`DUCKDB_DEFAULTS`' DuckDB settings without the memory limit: for a load whose
#: merge dlt deduplicates (see :func:`duckdb_memory_limited`).
DUCKDB_CONFIG_UNLIMITED = json.dumps(
    {k: v for k, v in json.loads(DUCKDB_DEFAULTS[DUCKDB_CONFIG]).items() if k != "memory_limit"}
)


#: A load of more than this many bytes of Parquet files runs under
#: :data:`DUCKDB_LARGE_LOAD_LIMIT` (see :func:`duckdb_memory_limit_for`).
DUCKDB_LARGE_LOAD_BYTES = 32 * 1024**2
#: DuckDB's memory limit for a large load (:data:`DUCKDB_LARGE_LOAD_BYTES`).
DUCKDB_LARGE_LOAD_LIMIT = "16MB"
#: DuckDB's memory limit for a smaller load of Parquet files.
DUCKDB_PARQUET_LOAD_LIMIT = "64MB"
#: Files of other formats a load of Parquet files may hold and still run under a
#: smaller limit (dlt's state, the merge's SQL).
_OTHER_FILE_BYTES = 1024**2


#: Memory DuckDB needs per column of the tables a load job writes in one transaction:
#: it pins about two blocks of 256 KiB a column to commit (measured, DuckDB 1.5: a
#: merge of one record adding 150 columns to a table of 250 rows failed at 80MB, 200
#: at 96MB, 300 at 128MB, 600 at 320MB; 200 passed at 112MB, 400 at 224MB, 600 at
#: 384MB: 0.53-0.56 MB a column).
DUCKDB_BYTES_PER_COLUMN = 640 * 1024
#: The most :func:`duckdb_memory_limit_for` gives a load for its columns (1,600 of
#: them); a load that needs more stops with the line that says to raise memory_limit.
DUCKDB_COLUMNS_LIMIT_CAP = 1000**3


def duckdb_memory_limit_for(
    parquet_bytes: int, other_bytes: int = 0, columns: int = 0
) -> str | None:
    """The memory limit for a load of ``parquet_bytes`` bytes of Parquet files and
    ``other_bytes`` of others, under Headwater's default DuckDB settings (``None``: the
    default's own, 96MB).

    A table's Parquet file is inserted in one statement, which compresses full row
    groups as it reads them and, past DuckDB's limit, writes them out: a large load
    (:data:`DUCKDB_LARGE_LOAD_BYTES`) outgrows any limit, and the smallest costs no
    time and bounds the peak (1M ``directory`` records, 95 MB of Parquet, in-process
    pairs: load 1.39-1.49 s and peak 253-255 MB at 16MB, 1.30-1.35 s and 261-264 MB at
    24MB, 1.22-1.27 s and 263-275 MB at 32MB; 10M records alone in DuckDB: 11.2 s, +91
    MB at 16MB). A smaller load is faster under more (200k records, 19 MB: load
    0.39-0.42 s and peak 277-280 MB at 64MB, 0.48-0.49 s and 248-251 MB at 32MB,
    287-291 MB at 96MB). A load of JSON lines (the row path) keeps the default: DuckDB
    reads them through buffers of 32 MiB, which do not fit 48MB. A merge into a table
    with rows gets more for its keys (:mod:`headwater.run.merge_memory`).

    ``columns``: the most columns one load job writes at once (a table and, for a
    merge, its nested tables): DuckDB pins blocks for each of them to commit, whatever
    the rows (:data:`DUCKDB_BYTES_PER_COLUMN`). A load of wide tables (a record of a
    few hundred fields; a second load adding them to a table with rows failed with
    "failed to pin block") gets a limit that fits them when that is more than the
    one above (64MB fits 100 columns, 96MB 150, 16MB 25), up to
    :data:`DUCKDB_COLUMNS_LIMIT_CAP`."""
    limit = _limit_for_files(parquet_bytes, other_bytes)
    need = min(columns * DUCKDB_BYTES_PER_COLUMN, DUCKDB_COLUMNS_LIMIT_CAP)
    from headwater.run.merge_memory import size_bytes

    current = size_bytes(limit or json.loads(DUCKDB_DEFAULTS[DUCKDB_CONFIG])["memory_limit"])
    if current is not None and need > current:
        return f"{-(-need // 1000**2)}MB"
    return limit


def _limit_for_files(parquet_bytes: int, other_bytes: int) -> str | None:
    if other_bytes > _OTHER_FILE_BYTES or parquet_bytes == 0:
        return None
    if parquet_bytes > DUCKDB_LARGE_LOAD_BYTES:
        return DUCKDB_LARGE_LOAD_LIMIT
    return DUCKDB_PARQUET_LOAD_LIMIT


def duckdb_memory_limited() -> bool:
    """Whether DuckDB runs under Headwater's memory limit (:data:`DUCKDB_DEFAULTS`),
    not under settings of the user's own.

    The limit bounds the plain merge Headwater makes when every key came once
    (:mod:`headwater.load.unique`). A merge dlt deduplicates (a compound key, a key
    seen twice, a date-time key) ranks the staged rows with a window function,
    which DuckDB cannot spill: at 96 MB, 1M records of the ``directory`` shape failed
    with "Out of Memory Error" (and at 256 MB). Such a load runs with DuckDB's own
    limit (80% of RAM) instead."""
    return os.environ.get(DUCKDB_CONFIG) == DUCKDB_DEFAULTS[DUCKDB_CONFIG]


def file_format_for(destination: str, arrow: bool | None = None) -> str | None:
    """The load file format Headwater uses for ``destination`` (``None``: dlt's default).

    ``arrow``: whether the Arrow fast path is on (default: as :func:`arrow_enabled`).
    """
    if destination not in _FAST_DESTINATIONS:
        return None
    return "parquet" if (arrow_enabled() if arrow is None else arrow) else "jsonl"


#: longest pipeline name (bytes): it names a folder and the lock file ``<name>.lock``
_MAX_PIPELINE_NAME = 200


def check_names(pipeline_name: str, dataset_name: str) -> None:
    """Raise :class:`ConfigError` (one line) for a pipeline or dataset name dlt rejects
    or cannot use: the pipeline name names its working folder (no ``/``, not empty);
    the dataset name must keep a letter or digit once made SQL-safe."""
    from dlt.common.schema import Schema
    from dlt.common.schema.exceptions import InvalidSchemaName
    from dlt.common.storages import FileStorage

    try:
        FileStorage.validate_file_name_component(pipeline_name)
        if not pipeline_name.strip():
            raise ValueError("it is empty")
        if len(pipeline_name.encode()) > _MAX_PIPELINE_NAME:
            # a file name holds 255 bytes; the lock file adds ".lock" to the name
            raise ValueError(f"it is longer than {_MAX_PIPELINE_NAME} bytes")
    except ValueError as exc:
        # dlt's "[PV1100] invalid characters found: invalids=('/'), platform=..., value=..."
        detail = re.sub(r", platform=.*", "", str(exc).split("] ", 1)[-1])
        detail = detail.replace("invalids=", "") or "it is empty"
        raise ConfigError(
            f"--pipeline-name {pipeline_name!r} cannot be used: it names the pipeline's "
            f"working folder ({detail}); use letters, digits and _ (e.g. headwater_directory)"
        ) from None
    try:
        Schema(pipeline_name)  # dlt names the pipeline's state schema after it
    except InvalidSchemaName:  # not what else it may raise (a .dlt TOML that does not parse)
        suggestion = re.sub(r"\W+", "_", pipeline_name).strip("_") or "headwater_directory"
        raise ConfigError(
            f"--pipeline-name {pipeline_name!r} cannot be used: dlt names a schema after "
            f"it, which takes letters, digits and _ only; use e.g. {suggestion}"
        ) from None
    try:
        # the SQL-safe convention keeps letters and digits only (snake_case would turn
        # "__" into "xx" and hide that nothing names the dataset)
        naming = Schema("check", normalizers={"names": "sql_cs_v1"}).naming
        normalized = naming.normalize_identifier(dataset_name)
    except ValueError:
        normalized = ""
    if not normalized.strip("_"):
        raise ConfigError(
            f"--dataset-name {dataset_name!r} cannot be used: it has no letter or digit to "
            "name a dataset (schema) by; use letters, digits and _ (e.g. directory_data)"
        )


def lock_path(pipeline_name: str, pipelines_dir: str | None = None) -> Path:
    """The lock file of pipeline ``pipeline_name``: beside its working folder
    (``<pipelines_dir>/<pipeline_name>``), by default in the pipelines directory
    ``headwater run`` uses in the current folder (:func:`folder_pipelines_dir`).

    Beside, not inside: dlt may wipe the working folder itself (``--full-refresh``,
    state restored from the destination), and a lock file must outlive that."""
    return Path(pipelines_dir or folder_pipelines_dir()) / f"{pipeline_name}.lock"


@contextmanager
def pipeline_lock(
    pipeline_name: str, pipelines_dir: str | None = None, *, timeout: float = 0.0
) -> Iterator[Path]:
    """Hold the lock of pipeline ``pipeline_name``'s working folder meanwhile.

    ``headwater run`` holds it for the whole run (extract, normalize, load): two runs of
    one pipeline would otherwise share its working folder, normalize and load each
    other's packages and load rows twice. It is an OS lock (``flock``, ``LockFileEx``,
    through the ``filelock`` library): the operating system releases it when the
    process ends, so a killed run (SIGKILL, out of memory) never blocks the next one.

    ``timeout``: seconds to wait for another holder (0: refuse at once); then
    :class:`RunError` names the pipeline and the lock file. A folder where the lock
    file cannot be made (read-only) is a :class:`ConfigError`. Wrap your own pipeline's
    runs of :func:`headwater.source` in it to get the same protection::

        with pipeline_lock(pipeline.pipeline_name, pipeline.pipelines_dir):
            pipeline.run(headwater.source("directory"))
    """
    path = lock_path(pipeline_name, pipelines_dir)
    refusal = (
        f"pipeline {pipeline_name} is already running in another process (it holds "
        f"{path}); wait for that run to finish, or give this one another --pipeline-name"
    )
    unwritable = (
        "headwater keeps its working state in {folder}, which cannot be written to "
        "({reason}); run in a folder you can write to"
    )
    with held_lock(path, refusal, timeout=timeout, unwritable=unwritable):
        yield path


@contextmanager
def held_lock(
    path: Path, refusal: str, *, timeout: float = 0.0, unwritable: str | None = None
) -> Iterator[None]:
    """Hold the OS file lock ``path`` meanwhile (its folder is created); when another
    process holds it for longer than ``timeout`` seconds, raise :class:`RunError` with
    ``refusal``. The lock file stays (empty) when released: removing it would let a
    process that opened it just before lock a file nobody else sees.

    A lock file that is there and cannot be opened (another user's, a folder in its
    place) is a :class:`RunError` naming it; one that is not there and cannot be made
    (the folder is read-only, or not yours) is a :class:`ConfigError`: ``unwritable``
    with ``{path}``, ``{folder}`` and ``{reason}`` (the system's) filled in."""
    from filelock import FileLock, Timeout

    path.parent.mkdir(parents=True, exist_ok=True)
    # thread_local=False: one lock per run, whichever thread releases it
    lock = FileLock(str(path), timeout=timeout, thread_local=False)
    try:
        lock.acquire()
    except Timeout:
        raise RunError(refusal) from None
    except OSError as exc:  # owned by another user, a folder in its place, read-only...
        reason = exc.strerror or type(exc).__name__
        if not os.path.lexists(path):  # not there to remove: its folder is the problem
            message = unwritable or (
                "cannot make the lock file {path} ({reason}); make {folder} a folder you "
                "can write to"
            )
            raise ConfigError(
                message.format(path=path, folder=path.parent, reason=reason)
            ) from None
        raise RunError(
            f"cannot open the lock file {path} ({reason}); "
            "make it a file you can write (remove it if no run is using it)"
        ) from None
    try:
        yield
    finally:
        lock.release()
