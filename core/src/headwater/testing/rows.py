"""Records out of what a source yields, for assertions in tests."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

__all__ = ["rows_of"]


def rows_of(items: Iterable[Any]) -> list[dict[str, Any]]:
    """Every record a dlt source or resource yields, as dicts.

    Headwater yields typed Arrow tables on its fast path and lists of dicts otherwise
    (and quarantine items); iterate a source through this to compare records.
    """
    out: list[dict[str, Any]] = []
    for item in items:
        if hasattr(item, "to_pylist"):
            out.extend(item.to_pylist())
        elif isinstance(item, list):
            out.extend(item)
        else:
            out.append(item)
    return out
