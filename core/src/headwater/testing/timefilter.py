"""How the simulator answers incremental requests: records of a time range.

An :class:`~headwater.spec.IncrementalSpec` says where the bounds are (query or
body), how they are written (its ``format``) and how records' cursors are written
(``cursor_format``). The simulator reads the bounds back as the API would and serves
the records whose cursor is in ``[start, end)`` (no end parameter: from ``start``).
A spec that declares no format and no end parameter is a plain ``since`` API:
records strictly after it. A bound the declared format cannot read is a 400 naming
the parameter.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from headwater.spec import IncrementalSpec
from headwater.testing.paging import cursor_key
from headwater.testing.server import ClientError
from headwater.timebounds import parse_auto, parse_value

__all__ = ["bounds_of", "record_key", "select_range"]


def _parse(spec: IncrementalSpec, name: str, raw: str) -> float:
    try:
        if spec.format is None:
            key = cursor_key(raw)
            if key is None:
                raise ValueError
            return key
        moment: datetime = parse_value(raw, spec.format)
    except ValueError:
        raise ClientError(
            f"parameter {name!r} must be a {spec.format or 'RFC 3339 date-time'} value, got {raw!r}"
        ) from None
    return moment.timestamp()


def bounds_of(
    spec: IncrementalSpec, query: Mapping[str, list[str]]
) -> tuple[float | None, float | None]:
    """The ``(start, end)`` of a request as epoch seconds (``None``: not sent)."""
    out: list[float | None] = []
    for name in (spec.param, spec.end_param):
        values = query.get(name) if name else None
        if not values or values[-1] == "":
            out.append(None)
        else:
            out.append(_parse(spec, name or "", values[-1]))
    return out[0], out[1]


def record_key(spec: IncrementalSpec, value: Any) -> float | None:
    """A record's cursor as epoch seconds (``None``: missing or unreadable)."""
    fmt = spec.record_format
    try:
        if fmt is None:
            return parse_auto(value)[0].timestamp() if value is not None else None
        return parse_value(value, fmt).timestamp()
    except ValueError:
        return None


def select_range(
    spec: IncrementalSpec,
    records: list[dict[str, Any]],
    encoded: list[bytes],
    lower: float | None,
    upper: float | None,
) -> list[bytes]:
    """The encoded records in the range, ascending by cursor (records without a
    readable cursor are served too: the client decides what to do with them)."""
    field = spec.cursor_field
    pairs = []
    unreadable = []
    for i, record in enumerate(records):
        key = record_key(spec, record.get(field)) if isinstance(field, str) else None
        if key is None:
            unreadable.append(i)
        else:
            pairs.append((key, i))
    pairs.sort()
    keys = [p[0] for p in pairs]
    first = 0 if lower is None else bisect.bisect_left(keys, lower)
    last = len(keys) if upper is None else bisect.bisect_left(keys, upper)
    chosen = [encoded[i] for _, i in pairs[first:last]]
    return chosen + [encoded[i] for i in unreadable]
