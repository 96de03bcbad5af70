"""Running a connector into a destination, as ``headwater run`` does."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import attrs
from attrs import field, frozen
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

from headwater.errors import ConfigError, RunError
from headwater.http import authenticators
from headwater.load.assemble import build_source
from headwater.load.incremental import RunBounds
from headwater.load.packages import (
    Pending,
    finish_normalize_commits,
    migrate_again,
    pending,
    pending_rows_by_package,
)
from headwater.load.unique import collect_repeated_keys, deduplicates, distrust_pending
from headwater.load.validation import collect_outcomes
from headwater.plugin.manager import get_registry
from headwater.redact import redact
from headwater.run import workdir
from headwater.run.destinations import (
    check_destination,
    drop_empty_staging,
    register_destination_secrets,
)
from headwater.run.dlt_errors import exception_chain, explain, interrupted
from headwater.run.drift import drift_lines
from headwater.run.empty_merge import loading_straight, straight_tables
from headwater.run.merge_memory import memory_for_merges
from headwater.run.query import query_hint
from headwater.run.sampling import Sample, watching
from headwater.run.wal import checkpointing_each_file
from headwater.run.workdir import (
    _FAST_DESTINATIONS,
    DUCKDB_CONFIG,
    DUCKDB_CONFIG_UNLIMITED,
    apply_duckdb_defaults,
    check_names,
    default_names,
    duckdb_destination,
    duckdb_memory_limit_for,
    duckdb_memory_limited,
    file_format_for,
    folder_pipelines_dir,
    pipeline_lock,
)
from headwater.spec import Connector

__all__ = ["RunResult", "run_connector"]

log = logging.getLogger(__name__)

# Destinations whose key comparisons are exact (no case-insensitive or trailing-space
# collations by default, as SQL Server's and MySQL's have): there, keys Headwater saw
# once each are unique to the merge too, and it may skip deduplicating them
# (headwater.load.unique). Elsewhere dlt deduplicates as usual.
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
    #: the names of the resources that failed (with the children they took along)
    failed: tuple[str, ...] = ()
    #: of :attr:`row_counts`, the rows by table that an earlier run extracted and did
    #: not load (it was killed, or its load failed), loaded by this run
    leftover_counts: Mapping[str, int] = field(factory=dict)


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


def run_connector(
    name: str, settings: Mapping[str, Any] | None = None, **options: Any
) -> RunResult:
    """Build connector ``name``'s source and load it (the options: :func:`_run`), and
    warn in :attr:`RunResult.warnings` where the first pages' records disagree with the
    declared schemas (:mod:`headwater.run.drift`). Ctrl-C during a step raises
    ``KeyboardInterrupt`` (dlt's wrapping step failure is its ``__cause__``)."""
    sample = Sample()
    with watching(name, sample=sample):
        result = _run(name, settings, **options)
    drift = drift_lines(get_registry().get(name), sample)
    return attrs.evolve(result, warnings=(*result.warnings, *drift)) if drift else result


def _run(
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
    start: str | None = None,
    end: str | None = None,
    now: datetime | None = None,
) -> RunResult:
    """Build connector ``name``'s source and load it.

    Each top-level resource is extracted on its own (with its child resources), and
    whatever was extracted is loaded: a resource that fails does not lose the others'
    data; its error is in :attr:`RunResult.failures`. With ``all_or_nothing`` (and
    with ``full_refresh``) any failure loads nothing and raises. Raises
    :class:`HeadwaterError` for configuration errors and when nothing could be loaded.
    ``progress``: a dlt collector (see :func:`headwater.run.progress.make_progress`).
    ``pipelines_dir``: dlt's working state (default: :func:`folder_pipelines_dir`, in
    the current folder, as is the default DuckDB file).
    ``lock_timeout``: seconds to wait when another run of the same pipeline holds its
    lock (:func:`pipeline_lock`; default: refuse at once).
    ``start``/``end`` (ISO 8601 dates or date-times): a backfill of ``[start, end)``
    (``end`` default: now) of the incremental resources, which leaves the position of
    the normal run where it was (see :mod:`headwater.load.incremental`). Windowed
    resources load after each slice (or ``parallel_windows`` slices) that returned
    records, empty slices together: a run killed midway resumes after the last slice
    loaded.
    ``now``: the time the run starts, where its incremental reads end (default: the
    clock's; a replay gives the recorded run's, :func:`headwater.run.replay.recorded_end`).
    """
    register_destination_secrets()
    bounds = RunBounds.for_run(start, end, now=now)
    if start is not None:
        resources = _backfilled(name, resources, full_refresh)
    default_pipeline, default_dataset = default_names(name)
    pipeline_name = default_pipeline if pipeline_name is None else pipeline_name
    dataset_name = default_dataset if dataset_name is None else dataset_name
    check_names(pipeline_name, dataset_name)
    source = build_source(
        name,
        settings,
        resources=resources,
        unique_keys=_compares_keys_exactly(destination),
        bounds=bounds,
    )
    if start is not None and resources:
        # a child's parent is read to find the children, not loaded again
        source = source.with_resources(*resources)
    dataset_name = _dataset_as_named(source, dataset_name, given=dataset_name != default_dataset)
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
    # A loaded package's files are the API's data (personal data, maybe) kept beside the
    # destination: dlt keeps them, and a run from cron grew the folder by a copy of every
    # run. Deleted once loaded, unless you set it.
    os.environ.setdefault("LOAD__DELETE_COMPLETED_JOBS", "true")
    pipelines_dir = pipelines_dir or folder_pipelines_dir()
    # Everything that reads or writes the pipeline's working folder happens under its
    # lock: a second run of this pipeline meanwhile is refused (see pipeline_lock).
    with (
        pipeline_lock(pipeline_name, pipelines_dir, timeout=lock_timeout),
        _urls_without_sqlalchemy(destination),
    ):
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
            bounds=bounds,
        )


def _dataset_as_named(source: Any, dataset_name: str, *, given: bool) -> str:
    """The dataset name as dlt will name the dataset: dlt renames one its naming
    convention changes (``HR-Data`` is loaded into ``hr_data``), and the summary, the
    ``look:`` command and ``headwater query`` would name a dataset that is not there.
    A name the user gave is refused with the one to give instead; a default one
    (a connector named ``x__y``) is taken as dlt will name it."""
    normalized = source.schema.naming.normalize_table_identifier(dataset_name)
    if normalized == dataset_name:
        return dataset_name
    if given:
        raise ConfigError(
            f"--dataset-name {dataset_name!r} would be loaded as {normalized} (dlt's naming "
            f"changes it); give --dataset-name {normalized}"
        )
    return str(normalized)


#: dlt's module that gives ``URL`` and ``make_url``: SQLAlchemy's when it is installed,
#: else dlt's own ports of them (``dlt.common.libs.sql_alchemy_shims``)
_URL_MODULE = "dlt.common.libs.sql_alchemy_compat"


@contextmanager
def _urls_without_sqlalchemy(destination: str) -> Iterator[None]:
    """Meanwhile, dlt renders connection strings with its own port of SQLAlchemy's
    ``URL`` even where SQLAlchemy is installed (with Dagster, or dlt's ``sqlalchemy``
    extra), for a DuckDB run.

    dlt's load step describes the destination by rendering its credentials as a URL
    (``Load.get_step_info``), which imports SQLAlchemy, when installed, for that one
    string: 0.2 s and 11 MB of a run that never uses it. The port is what dlt uses
    wherever SQLAlchemy is absent. Other destinations, and a process that imported
    SQLAlchemy already, are left as they are."""
    if destination != "duckdb" or "sqlalchemy" in sys.modules or _URL_MODULE in sys.modules:
        yield
        return
    from dlt.common.libs import sql_alchemy_shims

    sys.modules[_URL_MODULE] = sql_alchemy_shims
    try:
        yield
    finally:
        if sys.modules.get(_URL_MODULE) is sql_alchemy_shims:
            del sys.modules[_URL_MODULE]


def _backfilled(name: str, resources: Sequence[str] | None, full_refresh: bool) -> list[str]:
    """The resources a backfill reads: the chosen (default: all) that are incremental,
    and the chosen children of those (the children of the parents in the range: they
    have no range of their own, and a Dagster partition promises them).

    The others are left out, so that a backfill does not reload (or, appending,
    duplicate) a table that has no range to fill; a child's parent is still read to
    find the children, as for any selected child, but not loaded. Refused when none
    is incremental, and with a full refresh.
    """
    connector = get_registry().get(name)
    chosen = [r for r in connector.resources if not resources or r.name in resources]
    timed = [r.name for r in chosen if r.incremental is not None]
    if not timed:
        raise ConfigError(
            f"--start/--end backfill incremental resources, and connector {name} has none "
            f"among {', '.join(r.name for r in chosen)}; run without them"
        )
    if full_refresh:
        raise ConfigError("--full-refresh reloads everything: run it without --start/--end")
    ranged = set().union(*(_with_descendants(connector, t) for t in timed))
    return [r.name for r in chosen if r.name in ranged]


#: the schemes of the credentials URLs a destination's driver connects with
_URL_SCHEMES = {"postgres": ("postgresql", "postgres")}


def _check_url_scheme(destination: str, credentials: Any) -> None:
    """Raise :class:`ConfigError` (one line, no password) when ``destination``'s
    credentials came as a URL of another scheme (``mysql://``): dlt reads any URL, and
    the driver refused it only once the run had fetched everything."""
    schemes = _URL_SCHEMES.get(destination)
    found = getattr(credentials, "drivername", None)
    if schemes is None or found is None or found in schemes:
        return
    expected = " or ".join(f"{scheme}://" for scheme in schemes)
    setting = f"DESTINATION__{destination.upper()}__CREDENTIALS"
    raise ConfigError(
        f"{setting} (or [destination.{destination}] credentials in .dlt/secrets.toml) is a "
        f"{found}:// URL, and a {destination} destination needs {expected}: write it as "
        f"{schemes[0]}://user:password@host:port/database"
    )


# Long for a reason: one run's steps in order under its lock (pipeline, full refresh,
# extract/normalize/load, where the data went and how to look at it), sharing the
# pipeline and its destination client.
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
    bounds: RunBounds | None = None,
) -> RunResult:
    """The part of :func:`run_connector` that runs the pipeline (under its lock)."""
    import dlt

    try:
        with _until_the_destination_resolves(pipelines_dir, pipeline_name):
            pipeline = dlt.pipeline(
                pipeline_name=pipeline_name,
                # DuckDB: the file is where this run is, not where the pipeline first ran
                destination=duckdb_destination() if destination == "duckdb" else destination,
                dataset_name=dataset_name,
                pipelines_dir=pipelines_dir,
                **({"progress": progress} if progress is not None else {}),
            )
            # Resolve the destination's settings (credentials) before anything is
            # fetched; this neither connects nor creates anything.
            client = pipeline.destination_client()
        credentials = client.config.credentials
        _check_url_scheme(destination, credentials)
        distrust_pending(pipeline)
        finish_normalize_commits(pipeline)  # a run killed in dlt's normalize commit
        migrate_again(pipeline)  # a load that failed midway may have lost its migration
        # a killed run's normalized package loads with this run's: its rows count too
        left = pending_rows_by_package(pipeline)
        leftover = _sum_rows(left.values())
        if all_or_nothing or full_refresh:
            if bounds is not None:
                bounds.checkpoint = False  # one extract reads every slice: no partial loads
            if full_refresh:
                _without_empty_staging(client)
            # One extract: any failure discards everything (and a refresh is never
            # applied to only some resources). dlt runs all steps: no connection is
            # held, or the DuckDB file would be locked for the whole extract.
            with _unlimited_merges(connector, source, destination):
                leftover = _load_leftovers(pipeline, leftover)
                info = pipeline.run(
                    source,
                    loader_file_format=file_format,
                    # only the chosen resources' tables and state when resources are named
                    refresh=("drop_resources" if resources else "drop_sources")
                    if full_refresh
                    else None,
                )
            if full_refresh:  # the leftovers' rows in the tables replaced are gone
                replaced = {t for package in info.load_packages for t in package.dropped_tables}
                leftover = {t: n for t, n in leftover.items() if t not in replaced}
            failures: list[str] = []
            warnings: list[str] = []
            counts = _normalized_rows(pipeline)
        else:
            hold = client if destination == "duckdb" else None
            info, failures, warnings = _run_isolated(pipeline, source, connector, file_format, hold)
            counts = _normalized_rows(pipeline)
            loaded = _checkpoints(
                pipeline, source, connector, file_format, hold, bounds, failures, warnings
            )
            counts = {t: counts.get(t, 0) + loaded.get(t, 0) for t in {*counts, *loaded}}
            # dlt drops the packages left when the destination has no dataset yet (the
            # first load failed): only the leftovers loaded count
            done = set(pipeline.list_completed_load_packages())
            leftover = _sum_rows(rows for load_id, rows in left.items() if load_id in done)
        counts = {t: counts.get(t, 0) + leftover.get(t, 0) for t in {*counts, *leftover}}
    except Exception as exc:
        if interrupted(exc):
            raise KeyboardInterrupt from exc  # Ctrl-C, which dlt wrapped in a step failure
        known = explain(exc)
        if known is not None:
            raise known from None
        raise
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
            hint = query_hint(
                connector.name,
                dataset_name,
                first,
                pipeline_name=None if pipeline_name == default_pipeline else pipeline_name,
                # DESTINATION__DUCKDB__CREDENTIALS named another file: query finds it so
                file=None if path == os.path.abspath(f"{pipeline_name}.duckdb") else path,
            )
    elif destination == "postgres" and first is not None:
        # psql with everything but the password (psql asks, or reads ~/.pgpass / PGPASSWORD)
        hint = (
            f"psql -h {credentials.host} -p {credentials.port} -U {credentials.username} "
            f"-d {credentials.database} "
            f'-c \'select * from "{dataset_name}"."{first}" limit 5\''
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
        failed=tuple(getattr(failures, "resources", ())),
        leftover_counts={t: n for t, n in leftover.items() if n},
    )


@contextmanager
def _until_the_destination_resolves(pipelines_dir: str, pipeline_name: str) -> Iterator[None]:
    """Hold dlt's log records, and a copy of the pipeline's local state, while the
    pipeline is made and its destination's settings resolved: a run refused there
    (exit 2: a setting missing) leaves the state as it was, and says one line.

    ``dlt.pipeline()`` with another destination than the last run's writes it into
    the state at once, and warns that the state's "differs": the refused run printed
    that before its error, and the next run warned of a destination never used."""
    state = os.path.join(pipelines_dir, pipeline_name, "state.json")
    try:
        with open(state, "rb") as file:
            before: bytes | None = file.read()
    except OSError:
        before = None
    held: list[logging.LogRecord] = []

    def hold(record: logging.LogRecord) -> bool:
        held.append(record)
        return False

    dlt_logger = logging.getLogger("dlt")
    dlt_logger.addFilter(hold)
    try:
        yield
    except BaseException:
        with contextlib.suppress(OSError):
            if before is None:
                os.remove(state)
            else:
                with open(state, "wb") as file:
                    file.write(before)
        raise
    finally:
        dlt_logger.removeFilter(hold)
    for record in held:  # the destination resolved: what dlt had to say is said
        dlt_logger.handle(record)


def _load_leftovers(pipeline: Any, normalized: Mapping[str, int]) -> dict[str, int]:
    """Load the packages a killed or interrupted run left (extracted or normalized,
    not loaded), before a run of every step at once; returns the rows loaded, by
    table (``normalized``: the rows of the normalized ones, :func:`pending_rows`).

    dlt's ``pipeline.run()`` with pending packages loads them *instead of* extracting
    (it warns, and returns): an ``--all-or-nothing`` or ``--full-refresh`` run after
    a killed one loaded the killed run's data, never asked the API, and exited 0.
    Loaded first, as a plain run loads them with its own package: their data and
    state are not lost (a refresh of some resources keeps the others' tables), and a
    refresh then replaces its tables as it always does. ``run()`` without data is
    dlt's own way to restore state from the destination and finish those packages;
    it finds none where the destination lost the dataset (dlt wipes the folder)."""
    if not pipeline.has_pending_data:
        return dict(normalized)
    if pipeline.run() is None:
        return {}  # nothing was left to load after dlt's sync with the destination
    extracted = _normalized_rows(pipeline)  # packages killed before their normalize
    return {t: normalized.get(t, 0) + extracted.get(t, 0) for t in {*normalized, *extracted}}


def _sum_rows(counts: Iterable[Mapping[str, int]]) -> dict[str, int]:
    """Rows by table, ``counts`` added up."""
    total: dict[str, int] = {}
    for rows in counts:
        for table, n in rows.items():
            total[table] = total.get(table, 0) + n
    return total


def _normalized_rows(pipeline: Any) -> dict[str, int]:
    """Rows of the last normalize, by table (dlt's own tables left out)."""
    trace = pipeline.last_trace
    if trace is None or trace.last_normalize_info is None:
        return {}
    return {
        t: n for t, n in trace.last_normalize_info.row_counts.items() if not t.startswith("_dlt")
    }


def _first_table_with_data(pipeline: Any, tables: Sequence[str]) -> str | None:
    """The first of ``tables`` that has held data in the destination (this run or an
    earlier one): a table of an API that never returned a record is not created."""
    from dlt.common.schema.utils import has_table_seen_data

    known = pipeline.default_schema.tables if pipeline.default_schema_name else {}
    return next((t for t in tables if t in known and has_table_seen_data(known[t])), None)


def _without_empty_staging(client: Any) -> None:
    """Before a full refresh: an empty staging schema an earlier load left behind is
    dropped (:func:`~headwater.run.destinations.drop_empty_staging`), or dropping the
    refreshed tables there fails. A destination that cannot be reached or read is
    left for the run itself to report."""
    try:
        with client:
            if drop_empty_staging(client):
                log.debug("dropped an empty staging dataset before the full refresh")
    except Exception as exc:  # the run that follows reports what is wrong
        log.debug("could not look at the staging dataset before the refresh: %s", redact(str(exc)))


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


class _Failures(list):
    """One line per failed resource (a list of str, as before), and in ``resources``
    the names of the resources that failed, with the children they took along."""

    def __init__(self) -> None:
        super().__init__()
        self.resources: list[str] = []


def _run_isolated(
    pipeline: Any,
    source: Any,
    connector: Connector,
    file_format: str | None,
    hold: Any = None,
    *,
    restore: bool = True,
) -> tuple[Any, _Failures, list[str]]:
    """Extract every selected resource into one package; when a resource fails (dlt
    discards the failed package), extract again without it and its children. Then
    normalize and load that one package. Returns the load info, the failures and the
    warnings.

    A failure every resource shares (:func:`_shared`: the access token refused, the
    host unreachable) ends the run at once with one error, not one per resource. A
    resource whose every record broke its schema fails after the load: its records
    are loaded into its quarantine table, and the other resources as usual
    (:func:`headwater.load.validation.collect_outcomes`).

    One package, not one per resource: dlt migrates the destination per package, only
    for that package's tables, and records the schema's hash, so a later package with
    the same hash skipped migration and its tables were never created (seen when the
    destination had lost them while the pipeline's state remained).

    ``hold``: a DuckDB job client whose connection stays open through the load
    (:func:`_kept_open`). The failures are :class:`_Failures`: their ``resources`` name
    the resources that failed. ``restore=False``: do not first restore state from the
    destination (a later round of the same run: this run's state is the newest).
    """
    remaining = list(source.resources.selected)
    failures = _Failures()
    if restore and pipeline.config.restore_from_destination:
        # What pipeline.run() does first: on a runner whose working directory starts
        # empty (a container, CI), incremental cursors come back from the destination.
        pipeline.sync_destination()
    while True:
        # each attempt counts afresh: a failed attempt's records are discarded
        with collect_outcomes() as outcomes, collect_repeated_keys() as repeated:
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
                failures.resources.extend(n for n in remaining if n in dropped)
                remaining = [name for name in remaining if name not in dropped]
                if not remaining:
                    raise RunError("; ".join(failures)) from None
    warnings = list(repeated)
    for outcome in outcomes.values():
        if outcome.all_invalid:
            failures.append(outcome.failure())
            failures.resources.append(outcome.label.partition(".")[2])
        elif (warning := outcome.warning()) is not None:
            warnings.append(warning)
    pipeline.normalize()
    if hold is None:
        return pipeline.load(), failures, warnings
    # the load resolves to hold's credentials, so its jobs share hold's open connection
    credentials = hold.config.credentials
    limited = credentials.global_config
    setting = None  # the held connection's memory limit, when this load has its own
    large = False  # a load of more than DUCKDB_LARGE_LOAD_BYTES of Parquet files
    base = None  # Headwater's memory limit for this load, which a merge may widen
    packages = list(pending(pipeline))  # what the load step will load, read once
    sizes = _pending_bytes(packages)
    if duckdb_memory_limited():
        rest = {k: v for k, v in (limited or {}).items() if k != "memory_limit"}
        base = (limited or {}).get("memory_limit")
        if deduplicates(packages):
            # dlt's deduplicating merge cannot spill (duckdb_memory_limited): DuckDB's
            # own limit for this load
            credentials.global_config, setting, base = rest, "RESET memory_limit", None
        elif (limit := duckdb_memory_limit_for(*sizes, _widest(packages))) is not None:
            credentials.global_config = {**rest, "memory_limit": limit}
            setting = f"SET memory_limit = '{limit}'"
            large, base = sizes[0] > workdir.DUCKDB_LARGE_LOAD_BYTES, limit
    try:
        with _kept_open(hold):
            if setting is not None:
                hold.sql_client.execute_sql(setting)
            # a merge into an empty table, of keys vouched for: straight into the table;
            # a large load checkpoints file by file, not all at the end (headwater.run.wal);
            # a merge gets the memory its staged keys need (headwater.run.merge_memory)
            with (
                loading_straight(hold, straight_tables(packages, hold)),
                checkpointing_each_file(large),
                memory_for_merges(hold, base),
            ):
                return pipeline.load(credentials=credentials), failures, warnings
    finally:
        credentials.global_config = limited


def _widest(packages: Sequence[Pending]) -> int:
    """The most columns one load job of the packages writes in one transaction: a
    table with files to load and, as dlt merges them with it, its nested tables."""
    from dlt.common.schema.utils import get_root_table

    widest = 0
    for package in packages:
        tables = package.schema.tables
        roots: dict[str, int] = {}
        for name in package.tables:
            if name not in tables:
                continue
            root = get_root_table(tables, name)["name"]
            roots[root] = roots.get(root, 0) + len(tables[name].get("columns", {}))
        widest = max(widest, *roots.values(), 0)
    return widest


def _pending_bytes(packages: Sequence[Pending]) -> tuple[int, int]:
    """The size of the Parquet files, and of the other files, of the packages waiting
    to load."""
    sizes = [0, 0]
    for package in packages:
        for job in package.jobs:
            sizes[job.job_file_info.file_format != "parquet"] += job.file_size
    return sizes[0], sizes[1]


@contextmanager
def _unlimited_merges(connector: Connector, source: Any, destination: str) -> Iterator[None]:
    """Meanwhile, DuckDB without Headwater's memory limit when a selected resource
    merges (a run of every step at once: whether dlt will deduplicate is known only
    after the extract; see :func:`~headwater.run.workdir.duckdb_memory_limited`)."""
    merges = any(
        r.write_disposition == "merge"
        for r in connector.resources
        if r.name in source.resources.selected
    )
    if destination != "duckdb" or not merges or not duckdb_memory_limited():
        yield
        return
    limited = os.environ[DUCKDB_CONFIG]
    os.environ[DUCKDB_CONFIG] = DUCKDB_CONFIG_UNLIMITED
    try:
        yield
    finally:
        if os.environ.get(DUCKDB_CONFIG) == DUCKDB_CONFIG_UNLIMITED:
            os.environ[DUCKDB_CONFIG] = limited


def _checkpoints(
    pipeline: Any,
    source: Any,
    connector: Connector,
    file_format: str | None,
    hold: Any,
    bounds: RunBounds | None,
    failures: _Failures,
    warnings: list[str],
) -> dict[str, int]:
    """Extract, normalize and load again while windowed resources have slices left
    (:attr:`RunBounds.pending`): each load commits the slices read and their position,
    so a run killed midway resumes after the last slice loaded. Returns the rows
    loaded by these extra loads, by table.

    Each round is a :func:`_run_isolated` of the resources with slices left, so it
    handles failures as the first round does: a resource that fails (or whose every
    record broke its schema) is added to ``failures`` and not read further, the others
    go on; schema warnings are added to ``warnings``.
    """
    if bounds is None or not bounds.pending:
        return {}
    loaded: dict[str, int] = {}
    while bounds.pending:
        names: set[str] = set()
        for name in bounds.pending:
            names |= _with_descendants(connector, name)
        bounds.pending.clear()
        names -= set(failures.resources)
        selected = [n for n in source.resources if n in names]
        if not selected:
            break
        try:
            _, more, notes = _run_isolated(
                pipeline,
                source.with_resources(*selected),
                connector,
                file_format,
                hold,
                restore=False,
            )
        except RunError as exc:
            # every resource of this round failed (or shared a failure): the rounds
            # before are loaded; report it as the failure of these resources
            if str(exc) not in failures:
                failures.append(str(exc))
            failures.resources.extend(n for n in selected if n not in failures.resources)
            bounds.pending.clear()
            break
        for line in more:
            if line not in failures:
                failures.append(line)
        failures.resources.extend(n for n in more.resources if n not in failures.resources)
        warnings.extend(w for w in notes if w not in warnings)
        for table, rows in _normalized_rows(pipeline).items():
            loaded[table] = loaded.get(table, 0) + rows
    return loaded


def _shared(known: BaseException) -> bool:
    """Whether a resource's failure is one every resource shares: the access token
    could not be obtained (one authenticator serves every resource), or no connection
    to the host could be made (after the retries)."""
    frame = known.__traceback__
    while frame is not None and frame.tb_next is not None:
        frame = frame.tb_next
    # raised in the authenticators' module: the access token could not be obtained
    if frame is not None and frame.tb_frame.f_globals.get("__name__") == authenticators.__name__:
        return True
    return any(
        isinstance(item, ConnectTimeoutError | NewConnectionError)
        for item in exception_chain(known)
    )


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
