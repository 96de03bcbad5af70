"""``headwater check``: settings resolved, a token obtained, one page of each resource
fetched — nothing loaded."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from headwater.errors import HeadwaterError
from headwater.http.extract import fetch_first_page
from headwater.load.assemble import build_endpoints
from headwater.redact import redact
from headwater.run.drift import declared_schemas, find_drift

__all__ = ["NOT_CHECKED", "check_connector"]

#: How the detail of a resource ``check`` does not request begins (a child resource:
#: one request per parent record); ``headwater check`` marks it ``skip``.
NOT_CHECKED = "not checked:"


def check_connector(
    name: str, settings: Mapping[str, Any], *, drift: list[str] | None = None
) -> list[tuple[str, bool, str]]:
    """``(resource, ok, detail)`` per top-level resource, from exactly one request each
    (a token is obtained first where there is one). Settings errors raise.

    ``drift``: a list to which the schema drift of each first page is added, one line
    per disagreement (:mod:`headwater.run.drift`)."""
    connector, endpoints = build_endpoints(name, settings)
    schemas = declared_schemas(connector) if drift is not None else {}
    results: list[tuple[str, bool, str]] = []
    for resource_name, endpoint in endpoints.items():
        try:
            records = fetch_first_page(endpoint)
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
