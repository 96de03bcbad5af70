"""``headwater check``: settings resolved, a token obtained, one page of each resource
fetched — nothing loaded.

The page is the first one a run from a fresh pipeline reads: an incremental resource's
request carries the bounds of the first range of its plan (the ``start_date`` or
declared ``initial`` to the run's end or the end of the first window), so an API that
requires its start parameter answers ``check`` as it answers a run, and a replay finds
the request recorded."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import attrs

from headwater.errors import HeadwaterError
from headwater.http.extract import fetch_first_page
from headwater.load.assemble import build_endpoints
from headwater.load.incremental import (
    Plan,
    RunBounds,
    bounded_request,
    default_end,
    reading_rules,
)
from headwater.redact import redact
from headwater.run.drift import declared_schemas, find_drift
from headwater.settings import resolve_settings
from headwater.spec import Resource

__all__ = ["NOT_CHECKED", "check_connector"]

#: How the detail of a resource ``check`` does not request begins (a child resource:
#: one request per parent record); ``headwater check`` marks it ``skip``.
NOT_CHECKED = "not checked:"


def check_connector(
    name: str,
    settings: Mapping[str, Any],
    *,
    drift: list[str] | None = None,
    end: datetime | None = None,
) -> list[tuple[str, bool, str]]:
    """``(resource, ok, detail)`` per top-level resource, from exactly one request each
    (a token is obtained first where there is one): the first request a run from a
    fresh pipeline sends. Settings errors raise.

    ``drift``: a list to which the schema drift of each first page is added, one line
    per disagreement (:mod:`headwater.run.drift`). ``end``: where the incremental reads
    end, as a run's end when it starts (default: now; a replay gives the recorded
    run's, :func:`headwater.run.replay.recorded_end`)."""
    connector, endpoints = build_endpoints(name, settings)
    resolved = resolve_settings(connector, settings)
    bounds = RunBounds(end=end or default_end())
    resources = {r.name: r for r in connector.resources}
    schemas = declared_schemas(connector) if drift is not None else {}
    results: list[tuple[str, bool, str]] = []
    for resource_name, endpoint in endpoints.items():
        first = _first_request(endpoint, resources[resource_name], resolved, bounds)
        if first is None:
            results.append((resource_name, True, "no request: its start is not before the end"))
            continue
        try:
            records = fetch_first_page(first)
        except HeadwaterError as exc:
            results.append((resource_name, False, redact(str(exc))))
            continue
        if records is None:
            results.append((resource_name, True, "ignored by a response rule (see the warning)"))
        else:
            results.append((resource_name, True, f"first page: {len(records)} records"))
            if drift is not None and resource_name in schemas:
                drift.extend(find_drift(resource_name, schemas[resource_name], records, 1).lines())
    for resource in connector.resources:
        if resource.parent is not None:
            results.append(
                (resource.name, True, f"{NOT_CHECKED} one request per {resource.parent.resource}")
            )
    return results


def _first_request(
    endpoint: Any, resource: Resource, settings: Mapping[str, Any], bounds: RunBounds
) -> Any:
    """``endpoint`` as a run from a fresh pipeline requests it first: an incremental
    resource's with the bounds of the first slice of its plan (as
    ``headwater.load.assemble`` writes them); ``None`` when the plan has no slice (a
    start not before the end: a run sends nothing)."""
    spec = resource.incremental
    if spec is None:
        return endpoint
    plan = Plan.make(spec, settings, bounds, {})
    if not plan.slices:
        return None
    lower, upper = plan.slices[0]
    _drop, early = reading_rules(plan, bounds)  # as the run asks
    if early and lower is not None:
        lower -= timedelta(seconds=1)
    params, body = bounded_request(spec, endpoint.params, endpoint.json, lower, upper)
    return attrs.evolve(endpoint, params=params, json=body)
