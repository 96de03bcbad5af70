"""Paging of the simulator: each resource's records encoded once, cursor indexes for
incremental requests, the page tokens and query parameters clients send, and the
:class:`Pager` that cuts records into the pages a pagination spec describes."""

from __future__ import annotations

import base64
import binascii
import bisect
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import urlencode

from headwater.spec import (
    CursorPagination,
    FieldPath,
    HeaderCursorPagination,
    LastRecordPagination,
    LinkHeaderPagination,
    NextLinkPagination,
    OffsetPagination,
    PageNumberPagination,
    Resource,
    SinglePage,
    key_path,
    last_record_field,
)
from headwater.testing.records import gc_paused, parse_timestamp
from headwater.testing.server import ClientError, dumps

__all__ = [
    "MAX_PAGE_SIZE",
    "Pager",
    "Slice",
    "State",
    "cursor_key",
    "cursor_keys",
    "cursor_record_field",
    "decode_position",
    "encode_position",
    "int_param",
    "paging_params",
    "response_keys",
    "set_path",
]

#: Largest page a client may ask for (bigger requests are capped, not refused).
MAX_PAGE_SIZE = 1000

_PLACEHOLDER = "__headwater_simulator_records__"
_PLACEHOLDER_BYTES = dumps(_PLACEHOLDER)


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


#: Records of a top-level resource above which the simulator generates them a page at a
#: time instead of up front (about 4.6 GB per million records kept).
LAZY_RECORDS = 2_000_000


class LazyRecords(Sequence[Any]):
    """``count`` records made on demand by ``make(start, count)`` (a pure function of
    the index), JSON-encoded with ``encode``: what :class:`LazySlice` serves."""

    def __init__(
        self, make: Callable[[int, int], list[dict[str, Any]]], count: int, encode: bool
    ) -> None:
        self._make, self._count, self._encode = make, count, encode

    def __len__(self) -> int:
        return self._count

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            start, stop, step = index.indices(self._count)
            made = self._make(start, max(0, stop - start)) if stop > start else []
            items = [dumps(r) for r in made] if self._encode else made
            return items[::step] if step != 1 else items
        if index < 0:
            index += self._count
        if not 0 <= index < self._count:
            raise IndexError(index)
        return self[index : index + 1][0]


class LazySlice:
    """A :class:`Slice` of records generated a page at a time (see :data:`LAZY_RECORDS`)."""

    __slots__ = ("encoded", "indexes", "records")

    def __init__(self, make: Callable[[int, int], list[dict[str, Any]]], count: int) -> None:
        self.records = LazyRecords(make, count, encode=False)
        self.encoded = LazyRecords(make, count, encode=True)
        self.indexes = range(count)


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


def response_keys(path: FieldPath) -> tuple[str, ...]:
    """The keys of a response field the simulator serves: a key path as
    :func:`~headwater.spec.field_path` reads it, or a JSONPath naming keys only
    (``$.data.items``, ``$['@odata.nextLink']``, ``$.results[*]``: the list at
    ``results``). Other JSONPaths (``$..id``, filters) match fields the simulator cannot
    place: :class:`ValueError`."""
    keys = key_path(path)
    if not keys:
        raise ValueError(
            f"the simulator serves JSONPaths naming keys only ($.data.items, $.results[*]), "
            f"not {path!r}"
        )
    return keys


def cursor_record_field(resource: Resource) -> str | None:
    """The field of the page's last record that is the cursor of ``resource``: that of
    a :class:`~headwater.spec.LastRecordPagination`, or of a
    :class:`~headwater.spec.CursorPagination` whose ``cursor_path`` reads it (Stripe's
    ``$.data[-1].id``); ``None`` when the cursor is a response field of its own."""
    spec = resource.pagination
    if isinstance(spec, LastRecordPagination):
        keys = key_path(spec.cursor_field)
        return keys[0] if keys and len(keys) == 1 else None
    if isinstance(spec, CursorPagination):
        return last_record_field(spec.cursor_path, resource.data_selector)
    return None


def cursor_keys(resource: Resource) -> tuple[str, ...]:
    """The keys of the response field a :class:`~headwater.spec.CursorPagination`
    reads its cursor from; :class:`ValueError` naming what the simulator serves when it
    cannot serve ``cursor_path``."""
    path = resource.pagination.cursor_path  # type: ignore[union-attr]
    keys = key_path(path)
    if not keys:
        raise ValueError(
            f"the simulator serves a cursor_path naming keys only ($.meta.next) or a field "
            f"of the last record ($.data[-1].id, with data_selector 'data'), not {path!r}"
        )
    return keys


def paging_params(spec: Any) -> tuple[str, ...]:
    """The names of the parameters a pagination spec sends (its cursor, page, offset and
    page size), wherever it sends them."""
    names = (
        "offset_param",
        "limit_param",
        "cursor_param",
        "page_param",
        "page_size_param",
    )
    return tuple(getattr(spec, n) for n in names if getattr(spec, n, None))


def set_path(doc: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    for key in path[:-1]:
        doc = doc.setdefault(key, {})
    doc[path[-1]] = value


class Pager:
    """Cuts a resource's records into the pages its pagination spec describes, with the
    page tokens, next links and totals that go with them.

    ``page_size`` is the page size of next-link pagination (the other kinds take theirs
    from the spec or the query). ``max_page_size`` caps the page size a client asks
    for, as many APIs do (Jira Cloud answers at most 50 issues whatever ``maxResults``
    says): a bigger request is served a page of ``max_page_size`` records.
    """

    def __init__(self, page_size: int, max_page_size: int = MAX_PAGE_SIZE) -> None:
        self.page_size = page_size
        self.max_page_size = max_page_size

    def page(
        self,
        resource: Resource,
        items: list[bytes],
        path: str,
        query: dict[str, list[str]],
        base_url: str,
    ) -> bytes:
        """The body of the page of ``items`` that ``query`` asks for; ``path`` and
        ``base_url`` make next links."""
        return self.respond(resource, items, path, query, base_url)[0]

    def respond(
        self,
        resource: Resource,
        items: list[bytes],
        path: str,
        query: dict[str, list[str]],
        base_url: str,
    ) -> tuple[bytes, dict[str, str]]:
        """The body and the response headers (a ``Link``, a cursor header) of the page of
        ``items`` that ``query`` asks for (paging fields sent in a POST body are in
        ``query`` too); ``path`` and ``base_url`` make next links."""
        cap = self.max_page_size
        spec = resource.pagination
        extras: list[tuple[tuple[str, ...], Any]] = []
        headers: dict[str, str] = {}
        total = len(items)
        if isinstance(spec, OffsetPagination):
            offset = int_param(query, spec.offset_param, 0, 0)
            limit = min(int_param(query, spec.limit_param, spec.limit, 1), cap)
            page = items[offset : offset + limit]
            if spec.total_path is not None:
                extras.append((response_keys(spec.total_path), total))
        elif isinstance(spec, CursorPagination):
            size = min(int_param(query, spec.page_size_param, spec.page_size or 30, 1), cap)
            values = query.get(spec.cursor_param)
            token = values[-1] if values else ""
            field = last_record_field(spec.cursor_path, resource.data_selector)
            if field is not None:
                # the cursor is the last record's field (Stripe's data[-1].id): the
                # page after the record it names; an empty page ends the resource
                offset = self._after(items, (field,), token) if token else 0
                page = items[offset : offset + size]
                top = set()
            else:
                offset = decode_position("c", token, "cursor") if token else 0
                page = items[offset : offset + size]
                following = offset + size
                keys = cursor_keys(resource)
                # with an end flag the cursor is always sent, as such APIs do
                more = following < total or spec.end_path is not None
                extras.append((keys, encode_position("c", following) if more else ""))
                top = {keys[0]}
            if spec.end_path is not None:
                end = response_keys(spec.end_path)
                extras.append((end, offset + size >= total))
                top.add(end[0])
            if resource.data_selector is not None:
                top.add(response_keys(resource.data_selector)[0])
            if "page_size" not in top:
                extras.append((("page_size",), size))
            if "total_records" not in top:
                extras.append((("total_records",), total))
        elif isinstance(spec, NextLinkPagination):
            values = query.get("$skiptoken")
            token = values[-1] if values else ""
            offset = decode_position("s", token, "$skiptoken") if token else 0
            size = self.page_size
            page = items[offset : offset + size]
            next_path = response_keys(spec.next_path)
            if next_path[0] != "@odata.context":
                extras.insert(0, (("@odata.context",), f"{base_url}/$metadata#{resource.name}"))
            # with an end flag the next link is always sent, as Zendesk's incremental
            # exports do: only the flag says the page is the last
            if offset + size < total or spec.end_path is not None:
                kept = [(k, v) for k, vs in query.items() if k != "$skiptoken" for v in vs]
                kept.append(("$skiptoken", encode_position("s", min(offset + size, total))))
                link = f"{base_url}{path}?{urlencode(kept, safe='$:')}"
                extras.append((next_path, link))
            if spec.end_path is not None:
                extras.append((response_keys(spec.end_path), offset + size >= total))
        elif isinstance(spec, PageNumberPagination):
            size = min(int_param(query, spec.page_size_param, spec.page_size or 50, 1), cap)
            number = int_param(query, spec.page_param, spec.start, spec.start)
            offset = (number - spec.start) * size
            page = items[offset : offset + size]
            if spec.total_pages_path is not None:
                extras.append((response_keys(spec.total_pages_path), math.ceil(total / size)))
            if spec.total_path is not None:
                extras.append((response_keys(spec.total_path), total))
        elif isinstance(spec, LinkHeaderPagination):
            size = min(int_param(query, "per_page", self.page_size, 1), cap)
            number = int_param(query, "page", 1, 1)
            offset = (number - 1) * size
            page = items[offset : offset + size]
            kept = [(k, v) for k, vs in query.items() if k != "page" for v in vs]
            if not any(k == "per_page" for k, _ in kept):
                kept.append(("per_page", str(size)))
            links = []
            if offset + size < total:
                url = f"{base_url}{path}?{urlencode([*kept, ('page', number + 1)])}"
                links.append(f'<{url}>; rel="{spec.rel}"')
            last = max(1, math.ceil(total / size))
            links.append(f'<{base_url}{path}?{urlencode([*kept, ("page", last)])}>; rel="last"')
            headers["Link"] = ", ".join(links)
        elif isinstance(spec, HeaderCursorPagination):
            size = min(int_param(query, spec.page_size_param, spec.page_size or 30, 1), cap)
            values = query.get(spec.cursor_param)
            token = values[-1] if values else ""
            offset = decode_position("h", token, "cursor") if token else 0
            page = items[offset : offset + size]
            if offset + size < total:
                headers[spec.header] = encode_position("h", offset + size)
        elif isinstance(spec, LastRecordPagination):
            size = min(int_param(query, spec.page_size_param, spec.page_size or 25, 1), cap)
            values = query.get(spec.cursor_param)
            after = values[-1] if values else ""
            offset = self._after(items, response_keys(spec.cursor_field), after) if after else 0
            page = items[offset : offset + size]
            if spec.has_more_path is not None:
                extras.append((response_keys(spec.has_more_path), offset + size < total))
        else:
            assert isinstance(spec, SinglePage)
            page = items
        return _compose(resource, page, extras), headers

    def warm(self, resource: Resource, items: list[bytes]) -> None:
        """Build now what paging ``items`` would build on a later page's request: the
        index of a cursor after the last record (decoding every record once), so that
        request is answered as fast as the others."""
        spec = resource.pagination
        if isinstance(spec, LastRecordPagination) and items:
            self._index(items, response_keys(spec.cursor_field))
        elif isinstance(spec, CursorPagination) and items:
            field = last_record_field(spec.cursor_path, resource.data_selector)
            if field is not None:
                self._index(items, (field,))

    def _after(self, items: list[bytes], keys: tuple[str, ...], cursor: str) -> int:
        """The position after the record whose ``keys`` field is ``cursor`` (a Stripe
        ``starting_after``): records are looked up through an index built once per
        list of records."""
        position = self._index(items, keys).get(cursor)
        if position is None:
            raise ClientError(f"no record with {'.'.join(keys)} {cursor!r} to start after")
        return position + 1

    def _index(self, items: list[bytes], keys: tuple[str, ...]) -> dict[str, int]:
        """``keys`` field value (as text) -> first position in ``items``, built once per
        list of records."""
        cache = self.__dict__.setdefault("_indexes", {})
        entry = cache.get((id(items), keys))
        if entry is None or entry[0] is not items:
            index: dict[str, int] = {}
            for i, encoded in enumerate(items):
                value: Any = _loads(encoded)
                for key in keys:
                    value = value.get(key) if isinstance(value, dict) else None
                if value is not None:
                    index.setdefault(str(value), i)
            if len(cache) > 64:
                cache.clear()
            entry = cache[(id(items), keys)] = (items, index)
        return entry[1]


def _loads(data: bytes) -> Any:
    try:
        import orjson

        return orjson.loads(data)
    except ImportError:  # pragma: no cover
        import json

        return json.loads(data)


def _compose(
    resource: Resource, page: list[bytes], extras: list[tuple[tuple[str, ...], Any]]
) -> bytes:
    joined = b"[" + b",".join(page) + b"]"
    if resource.data_selector is None:
        return joined
    doc: dict[str, Any] = {}
    context = [e for e in extras if e[0] == ("@odata.context",)]
    for path, value in context:
        set_path(doc, path, value)
    set_path(doc, response_keys(resource.data_selector), _PLACEHOLDER)
    for path, value in extras:
        if path != ("@odata.context",):
            set_path(doc, path, value)
    return dumps(doc).replace(_PLACEHOLDER_BYTES, joined, 1)
