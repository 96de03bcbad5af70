"""What a connector author tells the simulator about their own hooks.

The simulator derives everything it serves from the declaration. A connector whose own
``headwater_auth`` or ``headwater_paginator`` hook replaces a declared kind sends
requests the declaration does not describe; the author says what the API expects
instead, and the simulator (and the conformance suite) serve that::

    from headwater.testing import CustomAuth, Page, Simulator

    def signed(request, settings):  # what the connector's headwater_auth hook sends
        return request.headers.get("x-api-token") == settings["api_token"]

    def pages(records, request):  # what its headwater_paginator reads
        start = int(request.param("from") or 0)
        page = records[start : start + 20]
        more = start + 20 < len(records)
        return Page(page, headers={"X-Next-From": str(start + 20)} if more else {})

    sim = Simulator(connector, auth=CustomAuth({"api_token": "t0k"}, signed),
                    pages={"widgets": pages})
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any

import attrs

from headwater.spec import Resource, field_path, is_jsonpath

__all__ = ["CustomAuth", "Page", "PageFunction", "SimRequest", "compose_page"]


@attrs.frozen
class SimRequest:
    """One API request as the simulator received it, for an author-supplied behaviour.

    ``query`` maps each parameter to its values, ``headers`` has lower-case names,
    ``body`` is the raw request body (``None``: none), ``resource`` the resource the path
    routes to.
    """

    method: str
    path: str
    query: Mapping[str, list[str]]
    headers: Mapping[str, str]
    body: bytes | None = None
    resource: str | None = None

    def param(self, name: str) -> str | None:
        """The last value of query parameter ``name`` (``None``: not sent)."""
        values = self.query.get(name)
        return values[-1] if values else None

    def header(self, name: str) -> str | None:
        """The value of header ``name`` (any case; ``None``: not sent)."""
        return self.headers.get(name.lower())

    def json(self) -> Any:
        """The request body decoded as JSON (``None`` when there is none)."""
        return json.loads(self.body) if self.body else None


@attrs.frozen
class CustomAuth:
    """How the API authenticates a connector whose own ``headwater_auth`` hook builds
    the credentials.

    ``settings`` are the settings a client needs (name -> the value the simulated API
    accepts); they join the simulator's ``settings``, and its ``credentials`` option
    replaces any of them (the conformance
    suite sends canary secrets that way). ``check(request, settings)`` says whether a
    request carries valid credentials; one that does not is answered 401. The declared
    auth, if any, is not checked: the hook replaced it.
    """

    settings: Mapping[str, str] = attrs.field(converter=dict)
    check: Callable[[SimRequest, Mapping[str, str]], bool] = attrs.field()

    @check.validator
    def _callable(self, attribute: attrs.Attribute, value: Any) -> None:
        if not callable(value):
            raise TypeError(f"CustomAuth.check must be callable, got {type(value).__name__}")


@attrs.frozen
class Page:
    """One page a connector's own ``headwater_paginator`` hook reads.

    ``records`` go where the resource's ``data_selector`` says (the body itself when it
    is ``None``); ``fields`` are other body fields by dotted path
    (``{"meta.next": "abc"}``); ``headers`` are response headers (a ``Link``, a cursor).
    """

    records: list[Any] = attrs.field(converter=list)
    fields: Mapping[str, Any] = attrs.field(factory=dict, converter=dict)
    headers: Mapping[str, str] = attrs.field(factory=dict, converter=dict)


#: ``function(records, request) -> Page``: ``records`` are every record the request may
#: see (a child's for its parent; an incremental resource's after the cursor sent), in
#: order; the function cuts the page the request asks for.
PageFunction = Callable[[list[dict[str, Any]], SimRequest], Page]

_SIMPLE_JSONPATH = re.compile(r"\$\.([A-Za-z0-9_@-]+(?:\.[A-Za-z0-9_@-]+)*)(?:\[\*\])?")


def _selector_keys(resource: Resource) -> tuple[str, ...] | None:
    selector = resource.data_selector
    if selector is None:
        return None
    if is_jsonpath(selector):
        match = _SIMPLE_JSONPATH.fullmatch(selector)
        if match is None:
            raise ValueError(
                f"resource {resource.name!r}: a custom page cannot place records at "
                f"{selector!r}; use a plain path such as '$.data' or 'data.items'"
            )
        return tuple(match.group(1).split("."))
    return field_path(selector)


def _put(doc: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    for key in path[:-1]:
        doc = doc.setdefault(key, {})
    doc[path[-1]] = value


def compose_page(resource: Resource, page: Page) -> tuple[bytes, dict[str, str]]:
    """The response body and headers of ``page`` for ``resource``."""
    if not isinstance(page, Page):
        raise TypeError(
            f"the page function of {resource.name!r} must return a Page, got {type(page).__name__}"
        )
    keys = _selector_keys(resource)
    if keys is None:
        if page.fields:
            raise ValueError(
                f"resource {resource.name!r}: the body is the list of records "
                "(data_selector=None), so a page cannot carry fields"
            )
        return json.dumps(page.records).encode(), dict(page.headers)
    doc: dict[str, Any] = {}
    _put(doc, keys, page.records)
    for name, value in page.fields.items():
        _put(doc, tuple(name.split(".")), value)
    return json.dumps(doc).encode(), dict(page.headers)
