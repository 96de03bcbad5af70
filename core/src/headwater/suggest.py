"""Did-you-mean suggestions for names users type (connectors, resources, settings, hooks)."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = ["closest"]


def closest(name: str, choices: Iterable[str]) -> str | None:
    """The choice ``name`` most likely meant: a close spelling, or else the only choice
    that contains it or that it contains (``users`` -> ``directory_users``)."""
    options = list(choices)
    match = difflib.get_close_matches(name, options, n=1, cutoff=0.6)
    if match:
        return match[0]
    lowered = name.lower()
    containing = [c for c in options if lowered in c.lower() or c.lower() in lowered]
    return containing[0] if len(containing) == 1 else None
