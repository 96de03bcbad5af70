"""Running a connector into a destination, as ``headwater run`` does."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from attrs import field, frozen

from headwater.errors import ConfigError, HeadwaterError, RunError
from headwater.redact import redact
from headwater.spec import Connector
from headwater.validation import collect_outcomes

__all__ = [
    "DUCKDB_DEFAULTS",
    "RunResult",
    "apply_duckdb_defaults",
    "default_names",
    "duckdb_destination",
    "duckdb_file",
    "explain",
    "file_format_for",
    "folder_pipelines_dir",
    "held_lock",
    "lock_path",
    "pipeline_lock",
    "run_connector",
]

#: Where, in the folder it runs in, ``headwater run`` keeps dlt's working state.
STATE_FOLDER = ".headwater"

# Destinations whose default load format is slow for REST data (DuckDB's is SQL text
# INSERTs: ~20x slower and GBs of memory) get a faster one they support: Parquet on the
# Arrow fast path (Arrow tables are written as Parquet as they are; asking for jsonl
# would convert them row by row), else jsonl.
_FAST_DESTINATIONS = ("duckdb", "motherduck")

# Destinations whose key comparisons are exact (no case-insensitive or trailing-space
# collations by default, as SQL Server's and MySQL's have): there, keys Headwater saw
# once each are unique to the merge too, and it may skip deduplicating them
# (headwater.unique). Elsewhere dlt deduplicates as usual.
_EXACT_KEYS = ("duckdb", "postgres")


@frozen
class RunResult:
    """What a run loaded and where."""

    pipeline_name: str
    destination: str
    dataset_name: str
    row_counts: Mapping[str, int] = field(factory=dict)
    location: str = ""
    hint: str = ""
    #: one line per resource that failed (its data was not loaded; the others' was)
    failures: tuple[str, ...] = ()
    #: one line per resource some of whose records broke its schema, with the counts
    warnings: tuple[str, ...] = ()


def _compares_keys_exactly(destination: str) -> bool:
    """Whether ``destination`` compares keys as Headwater does (:data:`_EXACT_KEYS`),
    which a DuckDB configured with a collation (``default_collation``: ``nocase``
    makes ``u1`` and ``U1`` one key) does not."""
    if destination not in _EXACT_KEYS:
        return False
    if destination == "duckdb":
        import dlt

        for setting in ("global_config", "local_config", "pragmas"):
            value = dlt.config.get(f"destination.duckdb.credentials.{setting}")
            if value and "collat" in str(value).lower():
                return False
    return True


def default_names(connector: str) -> tuple[str, str]:
    """Default ``(pipeline_name, dataset_name)``: distinct, because a DuckDB file whose
    stem equals the dataset name fails to load ("Ambiguous reference")."""
    return f"headwater_{connector}", f"{connector}_data"


#: dlt settings Headwater defaults for DuckDB loads (an environment variable of the
#: same name wins). Measured on 1M records: peak memory flat in the record count.
DUCKDB_DEFAULTS = {
    # Intermediate files are deleted after the load: compressing them is wasted time.
    "DATA_WRITER__DISABLE_COMPRESSION": "true",
    # Files of at most 100k records: normalize and load work file by file, so their
    # memory does not grow with the run.
    "DATA_WRITER__FILE_MAX_ITEMS": "100000",
    # DuckDB's buffer pool otherwise grows towards 80% of RAM during the merge. 96MB:
    # 1M-record peak 314 -> 282 MB (200k: 270 -> 256 MB) at the same load time; 64MB
    # saves 30 MB more but the 1M merge takes 1.5x as long. Row order in a table is
    # not kept anyway: not preserving it lets DuckDB insert without ordering.
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
    os.makedirs(path, exist_ok=True)
    ignore = os.path.join(base, ".gitignore")
    if not os.path.exists(ignore):
        # working state, not something to commit with the project around it
        with open(ignore, "w", encoding="utf-8") as f:
            f.write("# headwater run's working state (dlt pipelines): not for version control\n*\n")
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
    """Set :data:`DUCKDB_DEFAULTS` where the environment does not already."""
    for key, value in DUCKDB_DEFAULTS.items():
        os.environ.setdefault(key, value)


def file_format_for(destination: str, arrow: bool | None = None) -> str | None:
    """The load file format Headwater uses for ``destination`` (``None``: dlt's default).

    ``arrow``: whether the Arrow fast path is on (default: as :func:`arrow_enabled`).
    """
    from headwater.assemble import arrow_enabled

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
    :class:`RunError` names the pipeline and the lock file. Wrap your own pipeline's
    runs of :func:`headwater.source` in it to get the same protection::

        with pipeline_lock(pipeline.pipeline_name, pipeline.pipelines_dir):
            pipeline.run(headwater.source("directory"))
    """
    path = lock_path(pipeline_name, pipelines_dir)
    refusal = (
        f"pipeline {pipeline_name} is already running in another process (it holds "
        f"{path}); wait for that run to finish, or give this one another --pipeline-name"
    )
    with held_lock(path, refusal, timeout=timeout):
        yield path


@contextmanager
def held_lock(path: Path, refusal: str, *, timeout: float = 0.0) -> Iterator[None]:
    """Hold the OS file lock ``path`` meanwhile (its folder is created); when another
    process holds it for longer than ``timeout`` seconds, raise :class:`RunError` with
    ``refusal``. The lock file stays (empty) when released: removing it would let a
    process that opened it just before lock a file nobody else sees."""
    from filelock import FileLock, Timeout

    path.parent.mkdir(parents=True, exist_ok=True)
    # thread_local=False: one lock per run, whichever thread releases it
    lock = FileLock(str(path), timeout=timeout, thread_local=False)
    try:
        lock.acquire()
    except Timeout:
        raise RunError(refusal) from None
    except OSError as exc:  # owned by another user, a folder in its place, read-only...
        raise RunError(
            f"cannot open the lock file {path} ({exc.strerror or type(exc).__name__}); "
            "make it a file you can write (remove it if no run is using it)"
        ) from None
    try:
        yield
    finally:
        lock.release()


def run_connector(
    name: str,
    settings: Mapping[str, Any] | None = None,
    *,
    resources: Sequence[str] | None = None,
    destination: str = "duckdb",
    dataset_name: str | None = None,
    pipeline_name: str | None = None,
    full_refresh: bool = False,
    all_or_nothing: bool = False,
    pipelines_dir: str | None = None,
    progress: Any = None,
    lock_timeout: float = 0.0,
) -> RunResult:
    """Build connector ``name``'s source and load it.

    Each top-level resource is extracted on its own (with its child resources), and
    whatever was extracted is loaded: a resource that fails does not lose the others'
    data; its error is in :attr:`RunResult.failures`. With ``all_or_nothing`` (and
    with ``full_refresh``) any failure loads nothing and raises. Raises
    :class:`HeadwaterError` for configuration errors and when nothing could be loaded.
    ``progress``: a dlt collector (see :func:`headwater.progress.make_progress`).
    ``pipelines_dir``: dlt's working state (default: :func:`folder_pipelines_dir`, in
    the current folder, as is the default DuckDB file).
    ``lock_timeout``: seconds to wait when another run of the same pipeline holds its
    lock (:func:`pipeline_lock`; default: refuse at once).
    """
    from headwater.assemble import build_source
    from headwater.destinations import check_destination, register_destination_secrets
    from headwater.plugins import get_registry

    register_destination_secrets()
    default_pipeline, default_dataset = default_names(name)
    pipeline_name = default_pipeline if pipeline_name is None else pipeline_name
    dataset_name = default_dataset if dataset_name is None else dataset_name
    check_names(pipeline_name, dataset_name)
    source = build_source(
        name, settings, resources=resources, unique_keys=_compares_keys_exactly(destination)
    )
    connector = get_registry().get(name)
    check_destination(destination)
    if destination == "duckdb" and dataset_name == pipeline_name:
        raise ConfigError(
            f"--dataset-name {dataset_name} equals the pipeline name, and DuckDB cannot load a "
            f"dataset named like its file ({pipeline_name}.duckdb); choose another dataset name"
        )
    file_format = file_format_for(destination)
    if destination in _FAST_DESTINATIONS:
        apply_duckdb_defaults()
    pipelines_dir = pipelines_dir or folder_pipelines_dir()
    # Everything that reads or writes the pipeline's working folder happens under its
    # lock: a second run of this pipeline meanwhile is refused (see pipeline_lock).
    with pipeline_lock(pipeline_name, pipelines_dir, timeout=lock_timeout):
        return _locked_run(
            source,
            connector,
            default_pipeline=default_pipeline,
            resources=resources,
            destination=destination,
            dataset_name=dataset_name,
            pipeline_name=pipeline_name,
            full_refresh=full_refresh,
            all_or_nothing=all_or_nothing,
            pipelines_dir=pipelines_dir,
            progress=progress,
            file_format=file_format,
        )


def _locked_run(
    source: Any,
    connector: Connector,
    *,
    default_pipeline: str,
    resources: Sequence[str] | None,
    destination: str,
    dataset_name: str,
    pipeline_name: str,
    full_refresh: bool,
    all_or_nothing: bool,
    pipelines_dir: str,
    progress: Any,
    file_format: str | None,
) -> RunResult:
    """The part of :func:`run_connector` that runs the pipeline (under its lock)."""
    import dlt

    try:
        pipeline = dlt.pipeline(
            pipeline_name=pipeline_name,
            # DuckDB: the file is where this run is, not where the pipeline first ran
            destination=duckdb_destination() if destination == "duckdb" else destination,
            dataset_name=dataset_name,
            pipelines_dir=pipelines_dir,
            **({"progress": progress} if progress is not None else {}),
        )
        # Resolve the destination's settings (credentials) before anything is fetched;
        # this neither connects nor creates anything.
        client = pipeline.destination_client()
        credentials = client.config.credentials
        from headwater.unique import distrust_pending

        distrust_pending(pipeline)
        if all_or_nothing or full_refresh:
            # One extract: any failure discards everything (and a refresh is never
            # applied to only some resources). dlt runs all steps: no connection is
            # held, or the DuckDB file would be locked for the whole extract.
            info = pipeline.run(
                source,
                loader_file_format=file_format,
                # only the chosen resources' tables and state when resources are named
                refresh=("drop_resources" if resources else "drop_sources")
                if full_refresh
                else None,
            )
            failures: list[str] = []
            warnings: list[str] = []
        else:
            hold = client if destination == "duckdb" else None
            info, failures, warnings = _run_isolated(pipeline, source, connector, file_format, hold)
    except Exception as exc:
        known = explain(exc)
        if known is not None:
            raise known from None
        raise
    counts: dict[str, int] = {}
    trace = pipeline.last_trace
    if trace is not None and trace.last_normalize_info is not None:
        counts = {
            t: n
            for t, n in trace.last_normalize_info.row_counts.items()
            if not t.startswith("_dlt")
        }
    location = redact(str(getattr(info, "destination_displayable_credentials", "") or ""))
    hint = ""
    # a table to look at: none when the API never returned a record (none was created)
    first = _first_table_with_data(pipeline, [*sorted(counts), *source.resources])
    if destination == "duckdb":
        # where the data really went: DESTINATION__DUCKDB__CREDENTIALS may name the file
        database = getattr(credentials, "database", None)
        path = os.path.abspath(database or f"{pipeline_name}.duckdb")
        location = path
        if first is not None:
            from headwater.query import query_hint

            hint = query_hint(
                connector.name,
                dataset_name,
                first,
                pipeline_name=None if pipeline_name == default_pipeline else pipeline_name,
            )
    elif destination == "postgres" and first is not None:
        # psql with everything but the password (psql asks, or reads ~/.pgpass / PGPASSWORD)
        hint = (
            f"psql -h {credentials.host} -p {credentials.port} -U {credentials.username} "
            f"-d {credentials.database} "
            f"-c 'select * from {dataset_name}.\"{first}\" limit 5'"
        )
    return RunResult(
        pipeline_name=pipeline_name,
        destination=destination,
        dataset_name=dataset_name,
        row_counts=counts,
        location=location,
        hint=hint,
        failures=tuple(failures),
        warnings=tuple(warnings),
    )


def _first_table_with_data(pipeline: Any, tables: Sequence[str]) -> str | None:
    """The first of ``tables`` that has held data in the destination (this run or an
    earlier one): a table of an API that never returned a record is not created."""
    from dlt.common.schema.utils import has_table_seen_data

    known = pipeline.default_schema.tables if pipeline.default_schema_name else {}
    return next((t for t in tables if t in known and has_table_seen_data(known[t])), None)


@contextmanager
def _kept_open(client: Any) -> Iterator[None]:
    """Hold one connection of ``client`` (a DuckDB job client) open meanwhile.

    dlt's DuckDB connection pool opens the database when a job borrows a connection and
    closes it when the last one is returned, and closing checkpoints. A load of 200k
    records opened the database about ten times and checkpointed three times; held
    open, it checkpoints once, when this connection closes: load 1.69 -> 1.12 s
    (medians of 4). The pool belongs to the client's credentials: the load must be
    given them (``pipeline.load(credentials=...)``) to share it."""
    client.sql_client.open_connection()
    try:
        yield
    finally:
        client.sql_client.close_connection()


def _run_isolated(
    pipeline: Any,
    source: Any,
    connector: Connector,
    file_format: str | None,
    hold: Any = None,
) -> tuple[Any, list[str], list[str]]:
    """Extract every selected resource into one package; when a resource fails (dlt
    discards the failed package), extract again without it and its children. Then
    normalize and load that one package. Returns the load info, the failures and the
    warnings.

    A failure every resource shares (:func:`_shared`: the access token refused, the
    host unreachable) ends the run at once with one error, not one per resource. A
    resource whose every record broke its schema fails after the load: its records
    are loaded into its quarantine table, and the other resources as usual
    (:func:`headwater.validation.collect_outcomes`).

    One package, not one per resource: dlt migrates the destination per package, only
    for that package's tables, and records the schema's hash, so a later package with
    the same hash skipped migration and its tables were never created (seen when the
    destination had lost them while the pipeline's state remained).

    ``hold``: a DuckDB job client whose connection stays open through the load
    (:func:`_kept_open`).
    """
    remaining = list(source.resources.selected)
    failures: list[str] = []
    if pipeline.config.restore_from_destination:
        # What pipeline.run() does first: on a runner whose working directory starts
        # empty (a container, CI), incremental cursors come back from the destination.
        pipeline.sync_destination()
    while True:
        # each attempt counts afresh: a failed attempt's records are discarded
        with collect_outcomes() as outcomes:
            try:
                pipeline.extract(source.with_resources(*remaining), loader_file_format=file_format)
                break
            except Exception as exc:
                known = explain(exc)
                failed = getattr(known, "resource", None)
                if known is None or isinstance(known, ConfigError) or failed not in remaining:
                    raise
                if str(known) not in failures:
                    failures.append(str(known))
                if _shared(known):
                    # every other resource would fail the same way: one line, not one each
                    raise RunError("; ".join(failures)) from None
                dropped = _with_descendants(connector, failed)
                remaining = [name for name in remaining if name not in dropped]
                if not remaining:
                    raise RunError("; ".join(failures)) from None
    warnings = []
    for outcome in outcomes.values():
        if outcome.all_invalid:
            failures.append(outcome.failure())
        elif (warning := outcome.warning()) is not None:
            warnings.append(warning)
    pipeline.normalize()
    if hold is None:
        return pipeline.load(), failures, warnings
    # the load resolves to hold's credentials, so its jobs share hold's open connection
    with _kept_open(hold):
        return pipeline.load(credentials=hold.config.credentials), failures, warnings


def _shared(known: BaseException) -> bool:
    """Whether a resource's failure is one every resource shares: the access token
    could not be obtained (one authenticator serves every resource), or no connection
    to the host could be made (after the retries)."""
    from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

    frame = known.__traceback__
    while frame is not None and frame.tb_next is not None:
        frame = frame.tb_next
    if frame is not None and frame.tb_frame.f_globals.get("__name__") == "headwater.auth":
        return True
    return any(isinstance(item, ConnectTimeoutError | NewConnectionError) for item in _chain(known))


def _with_descendants(connector: Connector, name: str) -> set[str]:
    """``name`` and every resource that, directly or not, has it as parent."""
    names = {name}
    changed = True
    while changed:
        changed = False
        for resource in connector.resources:
            if resource.parent and resource.parent.resource in names and resource.name not in names:
                names.add(resource.name)
                changed = True
    return names


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    todo: list[BaseException | None] = [exc]
    while todo:
        current = todo.pop(0)
        if current is None or any(current is s for s in seen):
            continue
        seen.append(current)
        todo.extend([getattr(current, "exception", None), current.__cause__, current.__context__])
    return seen


#: DuckDB's message when another process holds the database file.
_DUCKDB_LOCK = re.compile(
    r'Could not set lock on file "(?P<path>[^"]+)": Conflicting lock is held in .*?'
    r"\(PID (?P<pid>\d+)\)"
)


def explain(exc: BaseException) -> HeadwaterError | None:
    """The Headwater error behind ``exc`` (dlt wraps extraction errors), or a one-line
    Headwater error for dlt failures users cause; ``None`` when unknown."""
    chain = _chain(exc)
    for item in chain:
        if isinstance(item, HeadwaterError):
            return item
    from dlt.common.configuration.exceptions import (
        ConfigFieldMissingException,
        InvalidNativeValue,
    )
    from dlt.common.destination.exceptions import UnknownDestinationModule
    from dlt.common.exceptions import MissingDependencyException

    for item in chain:
        if isinstance(item, ConfigFieldMissingException):
            return ConfigError(
                f"the destination's {_missing(item)}: {_where_to_set(item) or _first_line(item)}"
            )
        if isinstance(item, InvalidNativeValue):
            path = [str(p) for p in getattr(item, "embedded_sections", ()) if p]
            where = (
                f" in {'__'.join(p.upper() for p in path)} or [{'.'.join(path[:-1])}] {path[-1]}"
                if len(path) >= 2
                else ""
            )
            inner = getattr(item, "inner_exception", None) or item
            return ConfigError(
                f"the destination's credentials{where} cannot be read: {_first_line(inner)}"
            )
        if isinstance(item, UnknownDestinationModule):
            return ConfigError(
                f"unknown destination {item.ref!r}; use a dlt destination name "
                "such as duckdb, postgres, bigquery, snowflake or filesystem"
            )
        if isinstance(item, MissingDependencyException):
            return ConfigError(_first_line(item))
    for item in chain:
        locked = _DUCKDB_LOCK.search(str(item))
        if locked is not None:
            return RunError(
                f"the DuckDB file {locked['path']} is open in another process "
                f"(PID {locked['pid']}): close it there (a DuckDB shell, a notebook) and "
                "run again"
            )
    step = next((s for s in chain if type(s).__name__ == "PipelineStepFailed"), None)
    if step is not None:
        inner = chain[-1]
        return RunError(
            f"the {getattr(step, 'step', 'pipeline')} step failed: "
            f"{type(inner).__name__}: {_first_line(inner)}"
        )
    return None


def _missing(exc: Any) -> str:
    """``credentials lack database, password`` / ``setting x is not set`` for dlt's
    ``ConfigFieldMissingException``."""
    parts = []
    for name, traces in exc.traces.items():
        nested = next((t.traces for t in traces if getattr(t, "traces", None)), None)
        if nested:
            parts.append(f"{name} lack {', '.join(nested)}")
        else:
            parts.append(f"setting {name} is not set")
    return "; ".join(parts) or "settings are incomplete"


def _where_to_set(exc: Any) -> str | None:
    """Where to set the first missing destination setting of dlt's
    ``ConfigFieldMissingException``: its environment variable and its TOML key."""
    from headwater.destinations import is_secret_name

    for name, traces in exc.traces.items():
        for trace in traces:
            nested = getattr(trace, "traces", None)  # a config of its own: credentials
            if nested is not None:
                sections = [t.sections for ts in nested.values() for t in ts]
            else:
                sections = [[*trace.sections, name]]
            for path in sections:
                if len(path) >= 3 and path[0] == "destination":
                    env = "__".join(part.upper() for part in path)
                    toml = "secrets.toml" if is_secret_name(path[-1]) else "config.toml"
                    return f"set {env} or [{'.'.join(path[:-1])}] {path[-1]} in .dlt/{toml}"
    return None


def _first_line(exc: BaseException) -> str:
    """The first line of ``exc``'s message, redacted (its type when it has none)."""
    lines = redact(str(exc)).strip().splitlines()
    return lines[0] if lines else type(exc).__name__
