"""``headwater check``: settings resolved, a token obtained, one page of each resource
fetched — nothing loaded."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from headwater.errors import HeadwaterError
from headwater.redact import redact

__all__ = ["check_connector"]


def check_connector(name: str, settings: Mapping[str, Any]) -> list[tuple[str, bool, str]]:
    """``(resource, ok, detail)`` per top-level resource. Settings errors raise."""
    from headwater.assemble import build_source

    source = build_source(name, settings)
    results: list[tuple[str, bool, str]] = []
    for resource in source.resources.values():
        if resource.is_transformer:
            results.append((resource.name, True, "not checked: one request per parent record"))
            continue
        try:
            first = next(iter(resource), None)
        except HeadwaterError as exc:
            results.append((resource.name, False, redact(str(exc))))
            continue
        except Exception as exc:  # dlt wraps errors raised inside the resource
            from headwater.run import explain

            known = explain(exc) or exc
            lines = redact(str(known)).splitlines() or [type(known).__name__]
            results.append((resource.name, False, lines[0]))
            continue
        count = 0 if first is None else 1
        results.append((resource.name, True, f"first page answered (saw {count}+ record)"))
    return results
