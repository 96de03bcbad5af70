"""A run described as data: what a worker (Dask, Ray, an Airflow task) turns into a run.

A dlt source cannot be pickled (its sessions hold locks, its resources close over
functions), so it cannot be built in one process and shipped to another. A
:class:`RunPlan` can: it names the connector, the resources, the settings the worker
must provide (names only, never values) and where the run goes. The worker calls
:meth:`RunPlan.run`, which builds a fresh source there and runs it as ``headwater run``
does, resolving the settings from the worker's environment and ``.dlt`` files.

:func:`plan_runs` splits one connector's run into plans that may run at the same time:
one per top-level resource (with its child resources), each with its own pipeline (name
and working state), so no two plans share a pipeline's lock or state.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from attrs import field, frozen

from headwater.errors import ConfigError
from headwater.load.assemble import select_resources
from headwater.plugin.manager import get_registry
from headwater.run.pipeline import RunResult, run_connector
from headwater.run.workdir import default_names
from headwater.settings import settings_schema

__all__ = ["RunPlan", "plan_runs"]


@frozen
class RunPlan:
    """One run of one connector, as data: picklable, importable, free of secrets.

    ``resources``: the resources to load (empty: all of them; a child's parent is
    loaded with it). ``settings``: the names of the settings the worker must provide
    (``SOURCES__<CONNECTOR>__<KEY>`` or ``.dlt/secrets.toml``), for a check or the docs
    of a deployment; their values are read only by :meth:`run`, in the worker.
    ``pipelines_dir``: the pipeline's working state (default: ``.headwater/pipelines``
    in the worker's current folder). ``start``/``end``: a backfill window, passed to
    the run only when set.
    """

    connector: str
    resources: tuple[str, ...] = field(default=(), converter=tuple)
    settings: tuple[str, ...] = field(default=(), converter=tuple)
    pipeline_name: str | None = None
    dataset_name: str | None = None
    destination: str = "duckdb"
    pipelines_dir: str | None = None
    start: str | None = None
    end: str | None = None

    def run(self, **options: Any) -> RunResult:
        """Build the source here (settings from this process's environment) and run it
        as ``headwater run`` does: the resources that fail are in
        :attr:`RunResult.failures` and the others are loaded; raises
        :class:`~headwater.errors.HeadwaterError` for configuration errors and when
        nothing could be loaded. ``options``: more of
        :func:`headwater.run.pipeline.run_connector`'s (e.g. ``lock_timeout``)."""
        window = {k: v for k, v in (("start", self.start), ("end", self.end)) if v is not None}
        return run_connector(
            self.connector,
            None,
            resources=list(self.resources) or None,
            destination=self.destination,
            dataset_name=self.dataset_name,
            pipeline_name=self.pipeline_name,
            pipelines_dir=self.pipelines_dir,
            **window,
            **options,
        )


def plan_runs(
    name: str,
    per: Literal["resource", "connector"] = "resource",
    *,
    resources: Sequence[str] | None = None,
    destination: str = "duckdb",
    pipeline_name: str | None = None,
    dataset_name: str | None = None,
    pipelines_dir: str | None = None,
) -> list[RunPlan]:
    """Plans for a run of connector ``name`` (its declaration only: no settings are
    read, nothing is fetched).

    ``per="resource"``: one plan per top-level resource (of ``resources``, default all),
    with its child resources, under the pipeline name ``<pipeline_name>_<resource>``
    (default ``headwater_<name>_<resource>``): the plans may run at once, each on its
    own pipeline. They share ``dataset_name`` (default ``<name>_data``), so a
    destination that accepts concurrent loads (PostgreSQL, a warehouse) gets one
    dataset. DuckDB allows one writer per file: each plan then writes its own file
    (``<pipeline>.duckdb``), or run the plans one after another.
    ``per="connector"``: one plan for the whole run, as ``headwater run`` does.
    """
    connector = get_registry().get(name)
    chosen = select_resources(connector, resources)
    default_pipeline, default_dataset = default_names(name)
    base = pipeline_name or default_pipeline
    common: dict[str, Any] = {
        "settings": settings_schema(connector).get("required", ()),
        "dataset_name": dataset_name or default_dataset,
        "destination": destination,
        "pipelines_dir": pipelines_dir,
    }
    if per == "connector":
        named = [r.name for r in chosen] if resources else []
        return [RunPlan(name, named, pipeline_name=base, **common)]
    if per != "resource":
        raise ConfigError(f"per={per!r} is not a way to split a run; use 'resource' or 'connector'")
    plans = []
    for top in (r for r in chosen if r.parent is None):
        family = [r.name for r in chosen if _root(connector, r.name) == top.name]
        plans.append(RunPlan(name, family, pipeline_name=f"{base}_{top.name}", **common))
    return plans


def _root(connector: Any, name: str) -> str:
    """The top-level resource ``name`` descends from (itself when it has no parent)."""
    parent = connector.resource(name).parent
    while parent is not None:
        name = parent.resource
        parent = connector.resource(name).parent
    return name
