"""Paginators for the pagination specs, as dlt ``BasePaginator`` subclasses.

They differ from dlt's own in three ways that the specs need:

* response fields are read by literal key (``"@odata.nextLink"`` is one key), never
  through a JSONPath compiled per page;
* the page body is decoded once (:func:`page_body` caches it on the response);
* offset and page-number pagination stop on a short or empty page when the API
  reports no total (dlt's ``OffsetPaginator`` raises when ``total`` is missing).

Any ``BasePaginator`` works in Headwater's extraction loop, so a plugin may also
return one of dlt's paginators from ``headwater_paginator``.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urljoin, urlsplit

import orjson
from dlt.sources.helpers.rest_client.paginators import BasePaginator
from requests import Request, Response

from headwater.errors import ResponseError
from headwater.spec import FieldPath, field_path

__all__ = [
    "CursorPaginator",
    "NextLinkPaginator",
    "OffsetPaginator",
    "PageNumberPaginator",
    "SinglePagePaginator",
    "decode_json",
    "lookup",
    "page_body",
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


def lookup(body: Any, path: FieldPath | tuple[str, ...] | None) -> Any:
    """The value at ``path`` (a literal key, or a tuple of keys) in ``body``; ``None``
    when any step is missing."""
    if path is None:
        return body
    value = body
    for key in field_path(path):
        if not isinstance(value, dict):
            return None
        value = value.get(key)
        if value is None:
            return None
    return value


class SinglePagePaginator(BasePaginator):
    """One request, no further pages."""

    def update_state(self, response: Response, data: list[Any] | None = None) -> None:
        self._has_next_page = False

    def update_request(self, request: Request) -> None:
        return None


class OffsetPaginator(BasePaginator):
    """``offset``/``limit`` parameters; stops at the reported total or on a short page."""

    def __init__(
        self,
        limit: int,
        offset_param: str = "offset",
        limit_param: str = "limit",
        total_path: FieldPath | None = None,
        offset: int = 0,
    ) -> None:
        super().__init__()
        self.limit = limit
        self.offset_param = offset_param
        self.limit_param = limit_param
        self.total_path = total_path
        self.offset = offset

    def init_request(self, request: Request) -> None:
        request.params = dict(request.params or {})
        request.params[self.offset_param] = self.offset
        request.params[self.limit_param] = self.limit

    def update_state(self, response: Response, data: list[Any] | None = None) -> None:
        count = len(data or ())
        self.offset += count
        if count == 0 or count < self.limit:
            self._has_next_page = False
            return
        if self.total_path is not None:
            total = lookup(page_body(response), self.total_path)
            if total is not None:
                try:
                    self._has_next_page = self.offset < int(total)
                except (TypeError, ValueError):
                    raise ResponseError(
                        f"the total at {self.total_path!r} is not a number: {total!r}"
                    ) from None

    def update_request(self, request: Request) -> None:
        request.params = dict(request.params or {})
        request.params[self.offset_param] = self.offset
        request.params[self.limit_param] = self.limit

    def __str__(self) -> str:
        return f"OffsetPaginator(limit={self.limit}, total_path={self.total_path!r})"


class PageNumberPaginator(BasePaginator):
    """A page number parameter; stops at the reported page count, or on an empty page
    (or a page shorter than ``page_size`` when one is set)."""

    def __init__(
        self,
        page_param: str = "page",
        start: int = 1,
        page_size: int | None = None,
        page_size_param: str = "per_page",
        total_pages_path: FieldPath | None = None,
    ) -> None:
        super().__init__()
        self.page_param = page_param
        self.page = start
        self.start = start
        self.page_size = page_size
        self.page_size_param = page_size_param
        self.total_pages_path = total_pages_path

    def _apply(self, request: Request) -> None:
        request.params = dict(request.params or {})
        request.params[self.page_param] = self.page
        if self.page_size:
            request.params[self.page_size_param] = self.page_size

    def init_request(self, request: Request) -> None:
        self._apply(request)

    def update_state(self, response: Response, data: list[Any] | None = None) -> None:
        count = len(data or ())
        if count == 0 or (self.page_size and count < self.page_size):
            self._has_next_page = False
            return
        if self.total_pages_path is not None:
            total = lookup(page_body(response), self.total_pages_path)
            if total is not None and self.page - self.start + 1 >= int(total):
                self._has_next_page = False
                return
        self.page += 1

    def update_request(self, request: Request) -> None:
        self._apply(request)


class CursorPaginator(BasePaginator):
    """A cursor token read from the response and sent back as a query parameter."""

    def __init__(
        self,
        cursor_path: FieldPath,
        cursor_param: str,
        page_size: int | None = None,
        page_size_param: str = "page_size",
    ) -> None:
        super().__init__()
        self.cursor_path = cursor_path
        self.cursor_param = cursor_param
        self.page_size = page_size
        self.page_size_param = page_size_param
        self.cursor: str | None = None

    def init_request(self, request: Request) -> None:
        if self.page_size:
            request.params = dict(request.params or {})
            request.params[self.page_size_param] = self.page_size

    def update_state(self, response: Response, data: list[Any] | None = None) -> None:
        cursor = lookup(page_body(response), self.cursor_path)
        if cursor in (None, ""):
            self._has_next_page = False
        else:
            self.cursor = str(cursor)

    def update_request(self, request: Request) -> None:
        request.params = dict(request.params or {})
        request.params[self.cursor_param] = self.cursor


class NextLinkPaginator(BasePaginator):
    """Follows an absolute next-page URL read from the response (its query included)."""

    def __init__(self, next_path: FieldPath) -> None:
        super().__init__()
        self.next_path = next_path
        self.next_url: str | None = None

    def update_state(self, response: Response, data: list[Any] | None = None) -> None:
        link = lookup(page_body(response), self.next_path)
        if not link:
            self._has_next_page = False
            return
        # Relative links are resolved against the page they came from.
        url = urljoin(response.url, str(link))
        here, there = urlsplit(response.url), urlsplit(url)
        if (there.scheme, there.netloc) != (here.scheme, here.netloc):
            # requests drops credentials on a redirect to another host; so do we.
            raise ResponseError(
                f"the next link points to {there.scheme}://{there.netloc}, not the API's "
                f"{here.scheme}://{here.netloc}; refusing to send the credentials there"
            )
        self.next_url = url

    def update_request(self, request: Request) -> None:
        # The link carries its own query (e.g. $skiptoken): the original parameters
        # must not be sent again next to it.
        request.url = self.next_url
        request.params = {}
