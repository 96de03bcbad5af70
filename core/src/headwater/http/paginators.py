"""Paginators for the pagination specs, as dlt ``BasePaginator`` subclasses.

They differ from dlt's own in ways that the specs need:

* response fields are read by literal key (``"@odata.nextLink"`` is one key), or through
  a JSONPath compiled once when the source is assembled (:func:`compile_path`), never
  per page; a JSONPath naming keys only (``$.data.items``, ``$.results[*]``) is read
  by key like a dotted path;
* the page body is decoded once (:func:`page_body` caches it on the response);
* offset and page-number pagination stop at the total the API reports, however short
  its pages (an API may serve fewer records than asked for), and on a short page only
  when it reports no total (dlt's ``OffsetPaginator`` raises when ``total`` is
  missing); an empty page always ends them;
* paging parameters can go in the JSON body of a POST (``location="body"``; a dotted
  name such as ``variables.after`` sets a nested field);
* a next page on another origin (a next link, a ``Link`` header) is refused: the
  request's credentials would follow it there.

Any ``BasePaginator`` works in Headwater's extraction loop, so a plugin may also
return one of dlt's paginators from ``headwater_paginator``.
"""

from __future__ import annotations

import functools
import json
from typing import Any
from urllib.parse import urljoin

import orjson
import requests.utils
from dlt.sources.helpers.rest_client.paginators import BasePaginator
from requests import Request, Response

from headwater.errors import ResponseError
from headwater.http.session import origin, unambiguous
from headwater.spec import FieldPath, field_path, is_jsonpath

__all__ = [
    "CompiledPath",
    "CursorPaginator",
    "HeaderCursorPaginator",
    "LastRecordPaginator",
    "LinkHeaderPaginator",
    "NextLinkPaginator",
    "OffsetPaginator",
    "PageNumberPaginator",
    "SinglePagePaginator",
    "compile_path",
    "decode_json",
    "lookup",
    "page_body",
    "set_request_param",
]

_MISSING = object()

# Bytes of a body with every digit made b"0", "-" kept and everything else b".": orjson
# reads an integer above 2**64-1 (20 digits or more) or below -2**63 ("-" then 19
# digits or more) as a float, losing digits; the stdlib decoder keeps it exact. A
# 19-digit id (a snowflake id, up to 2**63-1) is read exactly by orjson. translate +
# find costs ~1 µs per KB, a regex ~15.
_DIGITS_ONLY = bytes(0x30 if 0x30 <= i <= 0x39 else 0x2D if i == 0x2D else 0x2E for i in range(256))
_LONG_DIGIT_RUN = b"0" * 20
_LONG_NEGATIVE_RUN = b"-" + b"0" * 19


def page_body(response: Response) -> Any:
    """The decoded JSON body of ``response``, decoded at most once."""
    cached = response.__dict__.get("_headwater_body", _MISSING)
    if cached is _MISSING:
        cached = decode_json(response.content)
        response.__dict__["_headwater_body"] = cached
    return cached


def decode_json(content: bytes) -> Any:
    """``content`` decoded as JSON, integers of any size kept exact.

    orjson is several times faster than the stdlib decoder requests uses (its
    JSONDecodeError is a ValueError like the stdlib's), but turns integers above
    2**64-1 or below -2**63 into floats. A body with a run of 20 or more digits, or a
    "-" followed by 19 or more (such an integer, or a long digit string), is decoded by
    the stdlib instead, whose integers are exact, so that the record checks see the
    real value; 19-digit ids stay on orjson.
    """
    scan = content.translate(_DIGITS_ONLY)
    if scan.find(_LONG_DIGIT_RUN) == -1 and scan.find(_LONG_NEGATIVE_RUN) == -1:
        return orjson.loads(content)
    try:
        return json.loads(content)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None


class CompiledPath:
    """A :data:`~headwater.spec.FieldPath` made ready to read responses, once.

    A key path (a literal key, a dotted path, a tuple of keys) and a JSONPath naming
    only keys (``$.data.items``, ``$['a.b'].c``, with an optional trailing ``[*]``) are
    read by dict lookups; any other JSONPath (``$..id``, ``$.data[0]``, filters) by
    jsonpath-ng, parsed here. Immutable, so copies of a paginator share it.
    """

    __slots__ = ("expr", "keys", "spread", "text")

    def __init__(self, path: FieldPath) -> None:
        #: the path as declared (shown in messages)
        self.text: Any = path
        #: the keys to follow, or ``None`` when jsonpath-ng reads the path
        self.keys: tuple[str, ...] | None = None
        #: the path ends with ``[*]``: its matches are the items of a list
        self.spread = False
        self.expr: Any = None
        if not is_jsonpath(path):
            self.keys = field_path(path)
            return
        expr = _parse_jsonpath(path)
        keys, spread = _plain_keys(expr)
        if keys is not None:
            self.keys, self.spread = keys, spread
        else:
            self.expr = expr
            self.spread = _matches_many(expr)

    def value(self, body: Any) -> Any:
        """The value at this path in ``body``: the first match; ``None`` when missing."""
        keys = self.keys
        if keys is not None:
            value = body
            for key in keys:
                if not isinstance(value, dict):
                    return None
                value = value.get(key)
                if value is None:
                    return None
            if self.spread:
                return _items(value)
            return value
        matches = self.expr.find(body)
        if not matches:
            return None
        if self.spread:
            return [m.value for m in matches]
        return matches[0].value

    def exists(self, body: Any) -> bool:
        """Whether the path is in ``body`` (its value may be ``null``)."""
        if self.keys is not None:
            value = body
            for key in self.keys:
                if not isinstance(value, dict) or key not in value:
                    return False
                value = value[key]
            return True
        return bool(self.expr.find(body))

    def __repr__(self) -> str:
        return repr(self.text)

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CompiledPath) and other.text == self.text

    def __hash__(self) -> int:
        return hash(self.text)

    def __copy__(self) -> CompiledPath:
        return self

    def __deepcopy__(self, memo: dict) -> CompiledPath:
        return self


def _items(value: Any) -> Any:
    if isinstance(value, list):
        return value
    if isinstance(value, dict):
        return list(value.values())
    return None


def _parse_jsonpath(text: str) -> Any:
    # imported here: only connectors declaring a JSONPath pay for the parser
    from jsonpath_ng.exceptions import JSONPathError
    from jsonpath_ng.ext import parse

    try:
        return parse(text)
    except (JSONPathError, ValueError, TypeError, AttributeError, IndexError) as exc:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise ValueError(f"{text!r} is not a JSONPath ({reason})") from None


def _plain_keys(expr: Any) -> tuple[tuple[str, ...] | None, bool]:
    """The keys of a JSONPath made of ``$`` and single field names (and whether it
    ends with ``[*]``), or ``(None, False)`` for any other JSONPath."""
    from jsonpath_ng.jsonpath import Child, Fields, Root, Wildcard

    keys: list[str] = []
    spread = False
    node = expr
    if isinstance(node, Child) and type(node.right) is Wildcard:
        spread, node = True, node.left
    while isinstance(node, Child):
        right = node.right
        if type(right) is not Fields or len(right.fields) != 1 or right.fields[0] == "*":
            return None, False
        keys.append(right.fields[0])
        node = node.left
    if type(node) is not Root:
        return None, False
    return tuple(reversed(keys)), spread


def _matches_many(expr: Any) -> bool:
    """Whether a JSONPath can match more than one value (a wildcard, a slice, a filter,
    ``..``, a union): its matches are then a list of records."""
    from jsonpath_ng import jsonpath

    many = tuple(
        getattr(jsonpath, name)
        for name in ("Wildcard", "Slice", "Descendants", "_Union", "Where")
        if hasattr(jsonpath, name)
    )
    stack = [expr]
    while stack:
        node = stack.pop()
        if isinstance(node, many) or type(node).__name__ == "Filter":
            return True
        if isinstance(node, jsonpath.Fields) and (len(node.fields) > 1 or "*" in node.fields):
            return True
        if isinstance(node, jsonpath.Index) and len(getattr(node, "indices", (0,))) > 1:
            return True
        for attr in ("left", "right"):
            child = getattr(node, attr, None)
            if child is not None:
                stack.append(child)
    return False


@functools.lru_cache(maxsize=1024)
def _compiled(path: FieldPath) -> CompiledPath:
    return CompiledPath(path)


def compile_path(path: FieldPath | CompiledPath | list[str] | None) -> CompiledPath | None:
    """``path`` ready to read responses (``None`` stays ``None``). A JSONPath that does
    not parse raises :class:`ValueError` naming it. Compiled paths are cached: a path
    declared once is parsed once per process."""
    if path is None or isinstance(path, CompiledPath):
        return path
    if isinstance(path, list):
        path = tuple(path)
    return _compiled(path)


def lookup(body: Any, path: FieldPath | CompiledPath | tuple[str, ...] | None) -> Any:
    """The value at ``path`` (a literal key, a dotted path, a tuple of keys, a JSONPath
    or a :class:`CompiledPath`) in ``body``; ``None`` when any step is missing."""
    if path is None:
        return body
    if isinstance(path, CompiledPath):
        return path.value(body)
    if is_jsonpath(path):
        return _compiled(path).value(body)
    value = body
    for key in field_path(path):
        if not isinstance(value, dict):
            return None
        value = value.get(key)
        if value is None:
            return None
    return value


def set_request_param(request: Request, name: str, value: Any, location: str = "query") -> None:
    """Set paging parameter ``name`` of ``request``: in its query string, or (``location``
    ``"body"``) in its JSON body, where a dotted name sets a nested field
    (``variables.after``). The body is copied along the path, never changed in place:
    the endpoint's declared body is shared by every request."""
    if location != "body":
        params = request.params = dict(request.params or {})
        params[name] = value
        return
    keys = name.split(".")
    body = dict(request.json) if isinstance(request.json, dict) else {}
    request.json = body
    for key in keys[:-1]:
        inner = body.get(key)
        inner = dict(inner) if isinstance(inner, dict) else {}
        body[key] = inner
        body = inner
    body[keys[-1]] = value


def _same_origin(response: Response, link: str, what: str) -> str:
    """``link`` resolved against the page it came from; a :class:`ResponseError` when it
    points to another origin (or one URL parsers read differently)."""
    url = urljoin(response.url, link)
    here, there = origin(response.url), origin(url)
    if here != there or not unambiguous(url):
        # requests drops credentials on a redirect to another host; so do we.
        raise ResponseError(
            f"the {what} points to {there or 'an address that cannot be parsed'}, not the "
            f"API's {here}; refusing to send the credentials there — set base_url to the "
            "address the API's own links use"
        )
    return url


def _is_end(path: CompiledPath | None, response: Response) -> bool:
    """Whether the end flag at ``path`` says ``response`` is the last page: JSON
    ``true`` does; ``false``, ``null`` or a missing field do not; any other value is a
    :class:`ResponseError` (a ``"true"`` or a ``1`` is not guessed at)."""
    if path is None:
        return False
    value = path.value(page_body(response))
    if value is True:
        return True
    if value is None or value is False:
        return False
    raise ResponseError(
        f"the end flag at {path!r} is {value!r}, not JSON true or false; check the "
        "pagination's end_path (only JSON true ends the resource)"
    )


class SinglePagePaginator(BasePaginator):
    """One request, no further pages."""

    def update_state(self, response: Response, data: list[Any] | None = None) -> None:
        self._has_next_page = False

    def update_request(self, request: Request) -> None:
        return None


def _number(value: Any, path: CompiledPath | None, what: str) -> int:
    try:
        if isinstance(value, bool):
            raise TypeError
        return int(value)
    except (TypeError, ValueError):
        raise ResponseError(f"the {what} at {path!r} is not a number: {value!r}") from None


class OffsetPaginator(BasePaginator):
    """``offset``/``limit`` parameters, the offset advanced by the records received;
    stops at the reported total, on an empty page, or (no total reported) on a page
    shorter than ``limit``."""

    def __init__(
        self,
        limit: int,
        offset_param: str = "offset",
        limit_param: str = "limit",
        total_path: FieldPath | CompiledPath | None = None,
        offset: int = 0,
        location: str = "query",
    ) -> None:
        super().__init__()
        self.limit = limit
        self.offset_param = offset_param
        self.limit_param = limit_param
        self.total_path = compile_path(total_path)
        self.offset = offset
        self.location = location

    def init_request(self, request: Request) -> None:
        self.update_request(request)

    def update_state(self, response: Response, data: list[Any] | None = None) -> None:
        count = len(data or ())
        self.offset += count  # the records received: an API may serve fewer than limit
        if count == 0:
            self._has_next_page = False
            return
        if self.total_path is not None:
            total = self.total_path.value(page_body(response))
            if total is not None:
                # a reported total decides, not the page's length: many APIs cap the
                # page below the limit asked for (Jira Cloud serves 50 of maxResults=100)
                self._has_next_page = self.offset < _number(total, self.total_path, "total")
                return
        if count < self.limit:
            self._has_next_page = False

    def update_request(self, request: Request) -> None:
        if self.location == "query":  # the page loop's hot path: one copy of the params
            params = request.params = dict(request.params or {})
            params[self.offset_param] = self.offset
            params[self.limit_param] = self.limit
            return
        set_request_param(request, self.offset_param, self.offset, self.location)
        set_request_param(request, self.limit_param, self.limit, self.location)

    def __str__(self) -> str:
        return f"OffsetPaginator(limit={self.limit}, total_path={self.total_path!r})"


class PageNumberPaginator(BasePaginator):
    """A page number parameter; stops at the reported page count (``total_pages_path``)
    or record count (``total_path``), on an empty page, or (no count reported) on a
    page shorter than ``page_size`` when one is set."""

    def __init__(
        self,
        page_param: str = "page",
        start: int = 1,
        page_size: int | None = None,
        page_size_param: str = "per_page",
        total_pages_path: FieldPath | CompiledPath | None = None,
        total_path: FieldPath | CompiledPath | None = None,
        location: str = "query",
    ) -> None:
        super().__init__()
        self.page_param = page_param
        self.page = start
        self.start = start
        self.page_size = page_size
        self.page_size_param = page_size_param
        self.total_pages_path = compile_path(total_pages_path)
        self.total_path = compile_path(total_path)
        self.location = location
        self.read = 0

    def _apply(self, request: Request) -> None:
        set_request_param(request, self.page_param, self.page, self.location)
        if self.page_size:
            set_request_param(request, self.page_size_param, self.page_size, self.location)

    def init_request(self, request: Request) -> None:
        self._apply(request)

    def update_state(self, response: Response, data: list[Any] | None = None) -> None:
        count = len(data or ())
        self.read += count
        if count == 0:
            self._has_next_page = False
            return
        # A reported page or record count decides, not the page's length: many APIs
        # cap the page below the page_size asked for.
        reported = False
        if self.total_pages_path is not None:
            total = self.total_pages_path.value(page_body(response))
            if total is not None:
                reported = True
                pages = self.page - self.start + 1
                if pages >= _number(total, self.total_pages_path, "page count"):
                    self._has_next_page = False
                    return
        if self.total_path is not None:
            total = self.total_path.value(page_body(response))
            if total is not None:
                reported = True
                if self.read >= _number(total, self.total_path, "total"):
                    self._has_next_page = False
                    return
        if not reported and self.page_size and count < self.page_size:
            self._has_next_page = False
            return
        self.page += 1

    def update_request(self, request: Request) -> None:
        self._apply(request)


class CursorPaginator(BasePaginator):
    """A cursor token read from the response body and sent back as a parameter; ends
    when it is missing or empty, or after a page whose ``end_path`` is JSON true."""

    def __init__(
        self,
        cursor_path: FieldPath | CompiledPath,
        cursor_param: str,
        page_size: int | None = None,
        page_size_param: str = "page_size",
        location: str = "query",
        end_path: FieldPath | CompiledPath | None = None,
    ) -> None:
        super().__init__()
        self.cursor_path = compile_path(cursor_path)
        self.cursor_param = cursor_param
        self.page_size = page_size
        self.page_size_param = page_size_param
        self.location = location
        #: a response field whose JSON true ends the resource after its page
        self.end_path = compile_path(end_path)
        self.cursor: str | None = None

    def init_request(self, request: Request) -> None:
        if self.page_size:
            set_request_param(request, self.page_size_param, self.page_size, self.location)

    def _cursor(self, response: Response) -> Any:
        assert self.cursor_path is not None
        value = self.cursor_path.value(page_body(response))
        if isinstance(value, list) and self.cursor_path.spread:
            # a path that can match many ("$.data[-1:].id"): its first match, as
            # rest_api takes it, not the list's text
            return value[0] if value else None
        return value

    def update_state(self, response: Response, data: list[Any] | None = None) -> None:
        if _is_end(self.end_path, response):
            self._has_next_page = False  # the API flags its last page, cursor or not
            return
        cursor = self._cursor(response)
        if cursor in (None, ""):
            self._has_next_page = False
            if self.page_size and data is not None and len(data) >= self.page_size:
                self.unsure = self._absent(response)
        else:
            self.cursor = str(cursor)

    def _absent(self, response: Response) -> str | None:
        """Why a full last page may not be the last (the cursor's field is not in the
        response at all, not even empty: often a misspelled cursor_path)."""
        assert self.cursor_path is not None
        if self.cursor_path.exists(page_body(response)):
            return None
        return (
            f"a full page ({self.page_size} records) came without {self.cursor_path}, so "
            "reading stopped there; if the API has more pages, check the pagination's "
            "cursor_path"
        )

    def update_request(self, request: Request) -> None:
        set_request_param(request, self.cursor_param, self.cursor, self.location)


class HeaderCursorPaginator(CursorPaginator):
    """A cursor read from a response header (``header``) and sent back as a parameter;
    ends when the header is missing or empty."""

    def __init__(
        self,
        header: str = "X-Next-Cursor",
        cursor_param: str = "cursor",
        page_size: int | None = None,
        page_size_param: str = "page_size",
        location: str = "query",
    ) -> None:
        super().__init__(("unused",), cursor_param, page_size, page_size_param, location)
        self.header = header

    def _cursor(self, response: Response) -> Any:
        return (response.headers.get(self.header) or "").strip()

    def _absent(self, response: Response) -> str | None:
        return None  # a header that is not sent is how such APIs end


class LastRecordPaginator(BasePaginator):
    """The cursor is a field of the page's last record (Stripe's ``starting_after``):
    sent as ``cursor_param`` after each page. Ends when ``has_more_path`` is false or
    missing (when declared), on an empty page, or on one shorter than ``page_size``."""

    def __init__(
        self,
        cursor_field: FieldPath | CompiledPath = "id",
        cursor_param: str = "starting_after",
        has_more_path: FieldPath | CompiledPath | None = "has_more",
        page_size: int | None = None,
        page_size_param: str = "limit",
        location: str = "query",
    ) -> None:
        super().__init__()
        self.cursor_field = compile_path(cursor_field)
        self.cursor_param = cursor_param
        self.has_more_path = compile_path(has_more_path)
        self.page_size = page_size
        self.page_size_param = page_size_param
        self.location = location
        self.cursor: Any = None

    def init_request(self, request: Request) -> None:
        if self.page_size:
            set_request_param(request, self.page_size_param, self.page_size, self.location)

    def update_state(self, response: Response, data: list[Any] | None = None) -> None:
        if not data or (self.page_size and len(data) < self.page_size):
            self._has_next_page = False
            return
        if self.has_more_path is not None and not self.has_more_path.value(page_body(response)):
            self._has_next_page = False
            if self.page_size and not self.has_more_path.exists(page_body(response)):
                self.unsure = (
                    f"a full page ({self.page_size} records) came without "
                    f"{self.has_more_path}, so reading stopped there; if the API has more "
                    "pages, check the pagination's has_more_path"
                )
            return
        assert self.cursor_field is not None
        cursor = self.cursor_field.value(data[-1])
        if cursor in (None, ""):
            raise ResponseError(
                f"the last record of the page has no {self.cursor_field!r}, the cursor of "
                "the next page; check the pagination's cursor_field"
            )
        self.cursor = cursor

    def update_request(self, request: Request) -> None:
        set_request_param(request, self.cursor_param, self.cursor, self.location)


class NextLinkPaginator(BasePaginator):
    """Follows an absolute next-page URL read from the response (its query included);
    ends when there is none, or after a page whose ``end_path`` is JSON true (an API
    that always sends a next link, such as Zendesk's incremental exports)."""

    def __init__(
        self,
        next_path: FieldPath | CompiledPath,
        end_path: FieldPath | CompiledPath | None = None,
    ) -> None:
        super().__init__()
        self.next_path = compile_path(next_path)
        #: a response field whose JSON true ends the resource after its page
        self.end_path = compile_path(end_path)
        self.next_url: str | None = None

    def update_state(self, response: Response, data: list[Any] | None = None) -> None:
        assert self.next_path is not None
        if _is_end(self.end_path, response):
            self._has_next_page = False  # the API flags its last page, link or not
            return
        link = self.next_path.value(page_body(response))
        if not link:
            self._has_next_page = False
            return
        # Relative links are resolved against the page they came from.
        self.next_url = _same_origin(response, str(link), "next link")

    def update_request(self, request: Request) -> None:
        # The link carries its own query (e.g. $skiptoken): the original parameters
        # must not be sent again next to it.
        request.url = self.next_url
        request.params = {}


class LinkHeaderPaginator(NextLinkPaginator):
    """Follows the ``Link`` response header's (RFC 8288) entry whose ``rel`` is ``rel``
    (``next``); ends when there is none. Parsed by requests' header-link parser."""

    def __init__(self, rel: str = "next") -> None:
        super().__init__(("unused",))
        self.rel = rel.lower()

    def update_state(self, response: Response, data: list[Any] | None = None) -> None:
        link = None
        header = response.headers.get("Link")
        if header:
            for entry in requests.utils.parse_header_links(header):
                # rel may hold several space-separated relation types ("next last")
                if self.rel in str(entry.get("rel", "")).lower().split():
                    link = entry.get("url")
                    break
        if not link:
            self._has_next_page = False
            return
        self.next_url = _same_origin(response, link, "Link header's next page")
