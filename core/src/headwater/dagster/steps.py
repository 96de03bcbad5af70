"""The assets :func:`assets` builds: one per resource, in one subsettable step.

Definitions come from the declaration (the registry's :class:`~headwater.spec.Connector`
and each resource's record schema), never from a built source: no setting is resolved
and no request made while Dagster loads them (``dagster definitions validate``, the
UI, CI). Each materialization then runs :func:`headwater.run.pipeline.run_connector`
for the selected resources, in that step's process, with ``headwater run``'s tuning
(the file format, DuckDB's settings, unique-key dedup, per-resource failure isolation).
"""

from __future__ import annotations

import inspect
import re
import traceback
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import dagster as dg

from headwater import timebounds
from headwater.errors import ConfigError, HeadwaterError
from headwater.load.assemble import ConnectorHooks, select_resources
from headwater.plugin.manager import get_registry
from headwater.redact import redact
from headwater.run.pipeline import _run, run_connector
from headwater.run.workdir import default_names
from headwater.schema import column_type, columns_from_schema
from headwater.spec import Connector, Resource

__all__ = ["assets"]

#: A translator: the asset key of one resource (default ``[connector, resource]``), or
#: a ``dagster_dlt.DagsterDltTranslator``.
Translator = Callable[[Connector, Resource], "dg.AssetKey | str | Sequence[str]"] | Any

#: How long a step waits for another step's run of the same pipeline to end (seconds):
#: Dagster may run a connector's steps (its partitions, its windowed and other assets)
#: at once, and one pipeline runs once at a time (``headwater run``'s lock).
DEFAULT_LOCK_TIMEOUT = 600.0

#: Window length -> the Dagster partitions of that length.
_PARTITIONS: Mapping[timedelta, type] = {
    timedelta(hours=1): dg.HourlyPartitionsDefinition,
    timedelta(days=1): dg.DailyPartitionsDefinition,
    timedelta(weeks=1): dg.WeeklyPartitionsDefinition,
}

#: run_connector's options a definition may fix (its own: name, settings, resources)
_RUN_OPTIONS = frozenset(inspect.signature(_run).parameters) - {
    "name",
    "settings",
    "resources",
    # a partition is the window of a windowed step
    "start",
    "end",
}


def assets(
    name: str,
    *,
    pipeline: str | None = None,
    resources: Sequence[str] | None = None,
    group: str | None = None,
    translator: Translator | None = None,
    partitions_start: str | None = None,
    **run_kwargs: Any,
) -> list[dg.AssetsDefinition]:
    """Dagster assets for connector ``name``: one per resource (of ``resources``, default
    all; a child's parent is included), keyed ``[name, resource]`` or by ``translator``
    (a function of the :class:`~headwater.spec.Connector` and
    :class:`~headwater.spec.Resource` returning an asset key, or a
    ``dagster_dlt.DagsterDltTranslator``, whose key, group, owners, tags and automation
    condition are used), in group ``group`` (default ``name``). A child resource's asset
    depends on its parent's.

    Loading them needs the connector's declaration only: no settings, no network. Each
    materialization builds a fresh source in its step, with the settings resolved there
    (environment, ``.dlt/secrets.toml``), and runs the selected resources as
    ``headwater run`` does, into pipeline ``pipeline`` (default ``headwater_<name>``,
    as ``headwater run``): a resource that fails fails its own asset, the others are
    materialized. ``run_kwargs``: ``headwater run``'s options (``destination``,
    ``dataset_name``, ``pipelines_dir``, ``full_refresh``, ``lock_timeout``, default
    :data:`DEFAULT_LOCK_TIMEOUT`; ``settings``: fixed settings, not secrets).

    A resource whose incremental spec declares a ``window`` (e.g. ``"1d"``) becomes a
    time-partitioned asset, one partition per window from the spec's ``initial`` (or
    ``partitions_start``) on: the first partition holds it (hours and days are UTC's,
    weeks begin on its weekday). Materializing a partition runs Headwater's backfill
    of that window. Another window (``"6h"``) has no Dagster partitions: its resource
    is an unpartitioned asset (a materialization is an incremental run, cut in its
    window's slices), with a warning.

    Raises :class:`~headwater.errors.ConfigError` (one line) for an unknown connector,
    resource or option.
    """
    connector = get_registry().get(name)
    chosen = select_resources(connector, resources)
    unknown = sorted(set(run_kwargs) - _RUN_OPTIONS - {"settings"})
    if unknown:
        known = {"resources", "pipeline", "group", "translator", "partitions_start", "settings"}
        raise ConfigError(
            f"headwater.dagster.assets() got unknown option(s) {', '.join(unknown)}; "
            f"its options: {', '.join(sorted(known | _RUN_OPTIONS))}"
        )
    options = dict(run_kwargs)
    settings = options.pop("settings", None)
    options.setdefault("lock_timeout", DEFAULT_LOCK_TIMEOUT)
    # pipeline_name, headwater run's spelling, is accepted for pipeline
    options["pipeline_name"] = pipeline or options.get("pipeline_name") or default_names(name)[0]
    destination = options.get("destination", "duckdb")

    translated = _from_dlt_translator(name, chosen, translator)

    def key(resource: Resource) -> dg.AssetKey:
        if resource.name in translated:
            return translated[resource.name].key
        if translator is None:
            return dg.AssetKey([connector.name, resource.name])
        return dg.AssetKey.from_coercible(translator(connector, resource))  # type: ignore[operator]

    # Dagster partitions a whole step alike: the resources of one incremental window
    # (with their children) are one step, the others another. A window that has no
    # Dagster partitions leaves its resources in the unpartitioned step: each
    # materialization is an incremental run, cut in that window's slices.
    steps: dict[str | None, list[Resource]] = {}
    for resource in chosen:
        window = _window(connector, resource.name)
        if window is not None and _partitions_kind(window) is None:
            if resource.parent is None:
                warnings.warn(
                    f"resource {connector.name}.{resource.name}: incremental window "
                    f"{window!r} has no Dagster partitions (1h, 1d or 7d), so its asset is "
                    f"not partitioned: a materialization is an incremental run in {window} "
                    "slices; declare a window of 1h, 1d or 7d for a partitioned asset",
                    UserWarning,
                    stacklevel=2,
                )
            window = None
        steps.setdefault(window, []).append(resource)
    built = []
    for window, members in steps.items():
        partitions = _partitions(connector, members, window, partitions_start)
        specs = {
            r.name: dg.AssetSpec(
                key(r),
                deps=[key(connector.resource(r.parent.resource))] if r.parent else [],
                description=r.description or f"{connector.name} resource {r.name} ({r.path})",
                group_name=group or _translated(translated, r, "group_name") or connector.name,
                metadata=_declared_metadata(connector, r),
                kinds={"headwater", destination},
                owners=_translated(translated, r, "owners"),
                tags=_translated(translated, r, "tags"),
                automation_condition=_translated(translated, r, "automation_condition"),
                skippable=True,
            )
            for r in members
        }
        step = re.sub(r"\W", "_", f"{connector.name}_{window or 'resources'}")
        built.append(
            _step(connector, step, specs, partitions, window is not None, settings, options)
        )
    return built


def _from_dlt_translator(
    name: str, chosen: Sequence[Resource], translator: Any
) -> dict[str, dg.AssetSpec]:
    """With a ``dagster_dlt.DagsterDltTranslator`` (a user's from a ``@dlt_assets``
    setup): its asset spec of each resource, from the resources of a source built
    without settings (nothing resolved, nothing fetched). Otherwise nothing."""
    try:
        from dagster_dlt import DagsterDltTranslator
        from dagster_dlt.translator import DltResourceTranslatorData
    except ImportError:  # dagster-dlt is in the extra; a bare dagster install works too
        return {}
    if not isinstance(translator, DagsterDltTranslator):
        return {}
    from headwater.load.assemble import build_source

    source = build_source(name, resources=[r.name for r in chosen], lazy=True)
    return {
        r.name: translator.get_asset_spec(
            DltResourceTranslatorData(resource=source.resources[r.name], pipeline=None)
        )
        for r in chosen
    }


def _translated(translated: Mapping[str, dg.AssetSpec], resource: Resource, attr: str) -> Any:
    """``attr`` of the dlt translator's spec of ``resource`` (``None`` without one)."""
    spec = translated.get(resource.name)
    return None if spec is None else getattr(spec, attr)


def _window(connector: Connector, name: str) -> str | None:
    """The incremental window of the top-level resource ``name`` descends from."""
    resource = connector.resource(name)
    while resource.parent is not None:
        resource = connector.resource(resource.parent.resource)
    return getattr(resource.incremental, "window", None)


def _partitions_kind(window: str) -> type | None:
    """The Dagster partitions of windows of ``window`` (``None``: there are none)."""
    try:
        return _PARTITIONS.get(timebounds.parse_duration(window, "window"))
    except ValueError:  # the spec checks its window: not from a declaration
        return None


def _partitions(
    connector: Connector, members: list[Resource], window: str | None, start: str | None
) -> dg.PartitionsDefinition | None:
    """The time partitions of a step whose top-level resource has windows of ``window``,
    from ``start`` (default: the incremental spec's ``initial``) on."""
    if window is None:
        return None
    top = next(r for r in members if r.parent is None)
    kind = _partitions_kind(window)
    if kind is None:  # assets() keeps such resources out of partitioned steps
        raise ConfigError(
            f"resource {connector.name}.{top.name}: incremental window {window!r} has no "
            "Dagster partitions; use 1h, 1d or 7d"
        )
    incremental = top.incremental
    first = start or (incremental.initial if incremental else None)
    if not first:
        raise ConfigError(
            f"resource {connector.name}.{top.name} declares no incremental initial value "
            "to start its partitions at; pass partitions_start='YYYY-MM-DD'"
        )
    try:
        # the spec reads its own initial (a date, or a value in its declared format)
        parse = getattr(incremental, "parse_initial", None)
        if parse is not None and not start:
            begin = timebounds.parse_instant(parse(first))
        else:
            begin = timebounds.parse_instant(first)
    except ValueError:
        raise ConfigError(
            f"resource {connector.name}.{top.name}: partitions start {first!r} is not an "
            "ISO date; pass partitions_start='YYYY-MM-DD'"
        ) from None
    # Dagster's first partition is the first whole period from its start date on: the
    # start is rounded down to its period (the hour, the day at midnight UTC), never
    # up, so the first partition holds it and no record after it falls before them.
    # Weeks start on the start's weekday (Dagster's default is Sunday; day_offset
    # counts from Sunday, Python's weekday() from Monday).
    if kind is dg.HourlyPartitionsDefinition:
        return kind(start_date=begin.strftime("%Y-%m-%d-%H:00"))
    if kind is dg.WeeklyPartitionsDefinition:
        return kind(start_date=begin.strftime("%Y-%m-%d"), day_offset=(begin.weekday() + 1) % 7)
    return kind(start_date=begin.strftime("%Y-%m-%d"))


def _declared_metadata(connector: Connector, resource: Resource) -> dict[str, Any]:
    """What the declaration says of ``resource``'s table: columns (types, keys,
    descriptions), primary key, write disposition, the request."""
    from dlt.common.normalizers.naming.snake_case import NamingConvention

    naming = NamingConvention()
    hooks = ConnectorHooks(get_registry().pm, connector)
    schema = hooks.record_schema(resource)
    keys = resource.primary_key_columns
    # a column is unique only when it alone is the key; every key column is not null
    unique = len(keys) == 1
    columns = [
        # a key column no record declares (a child's parent column) is listed too
        dg.TableColumn(
            naming.normalize_identifier(key),
            _key_type(connector, resource, key, hooks),
            constraints=dg.TableColumnConstraints(nullable=False, unique=unique),
        )
        for key in keys
        if key not in schema.get("properties", {})
    ]
    for field_name, hint in columns_from_schema(schema, keys).items():
        prop = schema["properties"][field_name]
        columns.append(
            dg.TableColumn(
                naming.normalize_identifier(field_name),
                column_type(prop) or "inferred",
                description=hint.get("description"),
                constraints=dg.TableColumnConstraints(
                    nullable=hint["nullable"], unique=unique and bool(hint.get("primary_key"))
                ),
            )
        )
    return {
        "dagster/column_schema": dg.TableSchema(columns=columns),
        "dagster/table_name": naming.normalize_identifier(resource.name),
        "headwater/connector": connector.name,
        "headwater/resource": resource.name,
        "headwater/request": f"{resource.method} {resource.path}",
        "headwater/primary_key": ", ".join(keys) or "-",
        "headwater/write_disposition": resource.write_disposition,
    }


def _key_type(connector: Connector, resource: Resource, key: str, hooks: ConnectorHooks) -> str:
    """The type of key column ``key`` that ``resource``'s records do not declare: the
    parent's field's when it is the column a child's parent key is stored in, else
    "inferred" (dlt infers it)."""
    parent = resource.parent
    if parent is None or parent.column != key:
        return "inferred"
    props = hooks.record_schema(connector.resource(parent.resource)).get("properties", {})
    prop = props.get(parent.field)
    return (column_type(prop) if isinstance(prop, Mapping) else None) or "inferred"


def _step(
    connector: Connector,
    step: str,
    specs: Mapping[str, dg.AssetSpec],
    partitions: dg.PartitionsDefinition | None,
    windowed: bool,
    settings: Mapping[str, Any] | None,
    options: Mapping[str, Any],
) -> dg.AssetsDefinition:
    """One subsettable multi-asset that runs the selected resources in one run."""

    @dg.multi_asset(
        name=step,
        specs=list(specs.values()),
        can_subset=True,
        partitions_def=partitions,
        description=f"Headwater connector {connector.name}: {', '.join(specs)}",
    )
    # context: an AssetExecutionContext (Dagster rejects the string annotation that
    # `from __future__ import annotations` would make of it)
    def _materialize(context) -> Iterator[dg.MaterializeResult]:  # type: ignore[no-untyped-def]
        selected = [name for name in specs if specs[name].key in context.selected_asset_keys]
        run = list(selected)
        extra: dict[str, str] = {}
        if windowed:
            window = context.partition_time_window
            extra = {"start": _when(window.start), "end": _when(window.end)}
            # a backfill names its incremental resource, also when only a child is
            # selected (the parent is loaded with its child either way); another
            # top-level resource of the step is not run, nor reported materialized
            for name in selected:
                parent = connector.resource(name).parent
                while parent is not None:
                    if parent.resource not in run:
                        run.append(parent.resource)
                    parent = connector.resource(parent.resource).parent
        try:
            result = run_connector(connector.name, settings, resources=run, **options, **extra)
        except HeadwaterError as exc:
            # the one-line, redacted message, not dlt's chain (it may quote a request)
            raise dg.Failure(description=str(exc)) from None
        except Exception as exc:
            # unexpected: the redacted message and traceback, never the raw chain
            raise dg.Failure(
                description=redact(f"{type(exc).__name__}: {exc}"),
                metadata={"traceback": dg.MetadataValue.text(redact(traceback.format_exc()))},
            ) from None
        for line in result.warnings:
            context.log.warning(line)
        for name in selected:
            if name in result.failed:
                continue
            table = specs[name].metadata["dagster/table_name"]
            # rows an earlier run left (a partition whose load failed) are loaded with
            # this one's: counted apart, not as this materialization's
            leftover = result.leftover_counts.get(table, 0)
            if leftover:
                context.log.info(
                    f"{leftover} rows of {specs[name].key.to_user_string()} an earlier run "
                    "left extracted and not loaded (its load failed or it was stopped) "
                    "were loaded with this one: headwater/leftover_rows"
                )
            yield dg.MaterializeResult(
                asset_key=specs[name].key,
                metadata={
                    "dagster/row_count": result.row_counts.get(table, 0) - leftover,
                    **({"headwater/leftover_rows": leftover} if leftover else {}),
                    "headwater/pipeline": result.pipeline_name,
                    "headwater/dataset": result.dataset_name,
                    "headwater/destination": result.destination,
                    "headwater/location": result.location,
                    **extra,
                },
            )
        if result.failures:
            failed = [specs[n].key.to_user_string() for n in selected if n in result.failed]
            which = f"{len(failed)} asset(s) failed ({', '.join(failed)}): " if failed else ""
            raise dg.Failure(description=which + "; ".join(result.failures))

    return _materialize


def _when(moment: datetime) -> str:
    """A window's bound as ``--start``/``--end`` take it: a date at midnight, else ISO."""
    if (moment.hour, moment.minute, moment.second, moment.microsecond) == (0, 0, 0, 0):
        return moment.date().isoformat()
    return moment.isoformat()
