"""Paging state of the simulator: each resource's records encoded once, cursor
indexes for incremental requests, and the page tokens and query parameters clients send."""

from __future__ import annotations

import base64
import binascii
import bisect
from collections.abc import Mapping
from typing import Any

from headwater.testing.records import gc_paused, parse_timestamp
from headwater.testing.server import ClientError, dumps

__all__ = [
    "Slice",
    "State",
    "cursor_key",
    "decode_position",
    "encode_position",
    "int_param",
    "set_path",
]


def cursor_key(value: Any) -> float | None:
    """A cursor value as a number: epoch seconds for date-times, itself for numbers."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    try:
        return parse_timestamp(str(value)).timestamp()
    except ValueError:
        pass
    try:
        return float(value)
    except ValueError:
        return None


class Slice:
    """The records of one resource (or of one parent of a child resource), with the
    generation index of each record and its JSON encoding."""

    __slots__ = ("_cursor_index", "encoded", "indexes", "records")

    def __init__(self, records: list[dict[str, Any]], indexes: list[int]) -> None:
        self.records = records
        self.indexes = indexes
        with gc_paused():
            self.encoded = [dumps(r) for r in records]
        self._cursor_index: tuple[list[float], list[int]] | None = None

    def since(self, cursor_field: str, since: float) -> list[bytes]:
        """Encoded records whose ``cursor_field`` is later than ``since``, ascending."""
        index = self._cursor_index
        if index is None:
            pairs = []
            for i, record in enumerate(self.records):
                key = cursor_key(record.get(cursor_field))
                if key is not None:
                    pairs.append((key, i))
            pairs.sort()
            index = self._cursor_index = ([p[0] for p in pairs], [p[1] for p in pairs])
        keys, order = index
        start = bisect.bisect_right(keys, since)
        return [self.encoded[i] for i in order[start:]]


class State:
    """An immutable snapshot of one resource's records; replaced on grow / mutate."""

    __slots__ = ("by_key", "data", "filtered", "pages", "slices")

    def __init__(self, slices: dict[Any, Slice], child: bool) -> None:
        self.slices = slices
        # children are looked up by the text of the parent value found in the path
        self.by_key = {str(k): s for k, s in slices.items()} if child else {}
        if child:
            self.data: Any = {k: s.records for k, s in slices.items()}
        else:
            self.data = slices[None].records
        self.pages: dict[Any, tuple[int, bytes, str, dict[str, str]]] = {}
        self.filtered: dict[tuple[Any, str], list[bytes]] = {}


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _unb64(token: str) -> str:
    padded = token + "=" * (-len(token) % 4)
    return base64.urlsafe_b64decode(padded.encode()).decode()


def encode_position(kind: str, offset: int) -> str:
    return _b64(f"{kind}:{offset}")


def decode_position(kind: str, token: str, what: str) -> int:
    try:
        prefix, _, number = _unb64(token).partition(":")
        offset = int(number)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise ClientError(f"invalid {what} {token!r}") from None
    if prefix != kind or offset < 0:
        raise ClientError(f"invalid {what} {token!r}")
    return offset


def int_param(query: Mapping[str, list[str]], name: str, default: int, low: int) -> int:
    values = query.get(name)
    if not values or values[-1] == "":
        return default
    try:
        value = int(values[-1])
    except ValueError:
        raise ClientError(
            f"query parameter {name!r} must be an integer, got {values[-1]!r}"
        ) from None
    if value < low:
        raise ClientError(f"query parameter {name!r} must be >= {low}, got {value}")
    return value


def set_path(doc: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    for key in path[:-1]:
        doc = doc.setdefault(key, {})
    doc[path[-1]] = value
