"""The extraction loop: pages of one endpoint, with rules applied and errors explained.

Headwater drives dlt's paginators, retrying session and authenticators itself rather
than through ``rest_api_resources``, for three reasons the specs need: every error
is turned into one redacted line *before* dlt sees it (dlt pickles exceptions into its
trace file and prints raw URLs); response rules can warn with the resource's name; and
each page is decoded once with the data selector read by key or through a JSONPath
compiled once at assembly, never per page.
"""

from __future__ import annotations

import copy
import hashlib
import logging
import re
import time
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import orjson
import requests
from attrs import define, field
from dlt.sources.helpers.rest_client.paginators import BasePaginator
from dlt.sources.helpers.rest_client.utils import join_url
from requests.auth import AuthBase

from headwater.errors import RedirectRefused, ResponseError, ResponseTooLarge, printable
from headwater.http.paginators import CompiledPath, compile_path, lookup, page_body
from headwater.http.session import ResponseDeadlineExceeded
from headwater.redact import redact
from headwater.spec import OffsetPagination, ResponseRule, RetryPolicy

__all__ = [
    "Endpoint",
    "failure_reason",
    "fetch_first_page",
    "iter_pages",
    "iter_pages_parallel",
    "records_read",
]

log = logging.getLogger(__name__)

#: records the page loops of this process have read (progress lines show the change)
_records_read = 0


def records_read() -> int:
    """How many records the page loops of this process have read so far: a run's
    progress shows what it read while its first rows have not reached dlt yet."""
    return _records_read


@define
class Endpoint:
    """Everything needed to read one resource's endpoint, fixed at assembly.

    ``path``, ``params``, ``headers`` and ``json`` are the resource's, with their
    ``{setting}`` templates already filled in (a child's parent placeholder stays in
    ``path``); ``data_selector`` is compiled once here (:func:`compile_path`).
    """

    connector: str
    resource: str
    base_url: str
    path: str
    session: requests.Session
    auth: AuthBase | None
    paginator: BasePaginator
    data_selector: CompiledPath | None = field(converter=compile_path)
    rules: Sequence[ResponseRule]
    retry: RetryPolicy
    params: dict[str, Any]
    #: seconds per attempt: one number, or ``(connect, read)``
    timeout: float | tuple[float, float] = 60.0
    #: most pages one read may take (the ``max_pages`` setting); ``None``: no limit
    max_pages: int | None = None
    #: the HTTP method: ``GET``, or ``POST`` with :attr:`json` as the body
    method: str = "GET"
    #: request headers of every request (the connector's and the resource's)
    headers: dict[str, str] = field(factory=dict)
    #: the JSON body (``None``: no body); paginators may set fields of a copy of it
    json: Any = None

    def url_for(self, path: str) -> str:
        """The absolute URL of ``path`` on this endpoint's API."""
        return join_url(self.base_url, path)


def _rule_for(rules: Sequence[ResponseRule], response: requests.Response) -> ResponseRule | None:
    if not rules:
        return None
    text: str | None = None
    for rule in rules:
        if rule.contains is not None and text is None:
            text = response.text
        if rule.matches(response.status_code, text or ""):
            return rule
    return None


def _status_error(endpoint: Endpoint, response: requests.Response, label: str) -> ResponseError:
    status = response.status_code
    reason = printable(response.reason or "")
    if status in (401, 403):
        fix = "check the credentials and their permissions"
    elif status == 404:
        fix = "check base_url and the resource path"
    elif status == 429 or status >= 500:
        attempts = endpoint.retry.max_retries + 1
        retried = status in endpoint.retry.status_codes
        fix = (
            f"still failing after {attempts} attempts; the API may be down — try again later"
            if retried
            else "the API failed; try again later"
        )
    else:
        fix = "the API rejected the request"
    return ResponseError(
        f"resource {label}: {endpoint.method} {redact(response.url)} answered HTTP {status} "
        f"{reason}; {fix}"
    )


def _a(noun: str) -> str:
    return f"an {noun}" if noun[0] in "aeiou" else f"a {noun}"


def _json_type(value: Any) -> str:
    """What ``value`` is in JSON's words (``null``, not Python's ``NoneType``)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    return {"str": "string", "list": "array", "dict": "object"}.get(type(value).__name__, "value")


_HTML_START = re.compile(rb"[ \t\r\n]*<")


def _records(endpoint: Endpoint, response: requests.Response, label: str) -> list[Any]:
    """The records of one page: JSON decoded once, selector read by key, shape checked."""
    url = f"{endpoint.method} {redact(response.url)}"
    content_type = response.headers.get("Content-Type", "")
    try:
        body = page_body(response)
    except ValueError as exc:
        # the first byte that is not blank, without decoding (or copying) the body
        if "html" in content_type.lower() or _HTML_START.match(response.content):
            raise ResponseError(
                f"resource {label}: {url} answered an HTML page instead of JSON "
                f"(HTTP {response.status_code}, Content-Type {content_type or 'missing'}); "
                "check base_url — a proxy or login page may be in the way"
            ) from None
        if "depth limit" in str(exc).lower() or "recursion" in str(exc).lower():
            raise ResponseError(
                f"resource {label}: {url} answered JSON nested deeper than the 1024 levels "
                "a JSON parser reads (valid JSON, but no table can hold it); report it to "
                "the API provider"
            ) from None
        raise ResponseError(
            f"resource {label}: {url} answered malformed JSON "
            f"(Content-Type {content_type or 'missing'}: {redact(str(exc))}); "
            "the API sent a broken page — retry later or report it to the API provider"
        ) from None
    selector = endpoint.data_selector
    if selector is None:
        # the body is the list of records; a body that is one object is one record (a
        # detail endpoint such as GET /pokemon/{name}, as dlt's rest_api reads it)
        data = [body] if isinstance(body, dict) else body
    else:
        if not isinstance(body, dict):
            raise ResponseError(
                f"resource {label}: {url} answered a JSON {_json_type(body)}, "
                f"expected an object with field {selector!r}"
            )
        data = selector.value(body)
        if data is None:
            keys = ", ".join(sorted(map(str, body))[:10]) or "none"
            present = "is null" if selector.exists(body) else "is missing"
            raise ResponseError(
                f"resource {label}: field {selector!r} {present} in the response of {url} "
                f"(fields: {keys}); check the resource's data_selector"
            )
    if not isinstance(data, list):
        raise ResponseError(
            f"resource {label}: {url} answered a JSON {_json_type(data)} where a list "
            f"of records was expected{f' at {selector!r}' if selector else ''}"
        )
    for item in data:
        if not isinstance(item, dict):
            raise ResponseError(
                f"resource {label}: {url} answered a list holding {_a(_json_type(item))}, "
                "not records (JSON objects)"
            )
    return data


def _fetch(
    endpoint: Endpoint, request: requests.Request, label: str, *, page: int = 1
) -> tuple[requests.Response, list[dict[str, Any]]] | None:
    """Send ``request`` once (the session retries transient failures), apply the
    response rules, and return the response with its records; ``None`` when a rule
    says to ignore it. Raises :class:`ResponseError` with a one-line, redacted message.
    """
    session = endpoint.session
    lean = getattr(session, "headwater_lean", None)
    rule_retries = 0
    while True:
        prepared = lean.prepare(request) if lean is not None else None
        if prepared is not None:
            send = lean.send
        else:
            prepared, send = session.prepare_request(request), session.send
        try:
            response = send(prepared, timeout=endpoint.timeout)
        except (RedirectRefused, ResponseTooLarge) as exc:
            # The session's refusals (see headwater.http.session) name the URL, the limit or
            # both origins, and the fix; this adds which resource.
            raise type(exc)(f"resource {label}: {exc}") from None
        except requests.TooManyRedirects:
            raise ResponseError(
                f"resource {label}: {endpoint.method} {redact(prepared.url or '')} was "
                "redirected in a loop (too many redirects); set base_url to the address the "
                "API really answers at"
            ) from None
        except requests.RequestException as exc:
            raise ResponseError(
                f"resource {label}: {endpoint.method} {redact(prepared.url or '')} failed after "
                f"{endpoint.retry.max_retries + 1} attempts ({failure_reason(exc)}); "
                "check that the API is reachable and try again"
            ) from None
        rule = _rule_for(endpoint.rules, response)
        if rule is not None and rule.action == "ignore" and page > 1:
            # Ignoring a later page would silently drop the rest of the resource.
            raise ResponseError(
                f"resource {label}: {endpoint.method} {redact(response.url)} answered HTTP "
                f"{response.status_code} on page {page} ({_describe_rule(rule)} applies to "
                "a resource's first page only); the data would be incomplete — try again"
            )
        if rule is not None and rule.action == "ignore":
            log.warning(
                "resource %s: ignoring HTTP %s from %s %s (response rule: %s)",
                label,
                response.status_code,
                endpoint.method,
                redact(response.url),
                _describe_rule(rule),
            )
            return None
        if rule is not None and rule.action == "retry":
            if rule_retries < endpoint.retry.max_retries:
                delay = min(
                    endpoint.retry.backoff_factor * 2**rule_retries, endpoint.retry.max_delay
                )
                rule_retries += 1
                log.info("resource %s: retrying (%s) in %.1f s", label, _describe_rule(rule), delay)
                time.sleep(delay)
                continue
            raise ResponseError(
                f"resource {label}: {endpoint.method} {redact(response.url)} still matched "
                f"{_describe_rule(rule)} after {rule_retries + 1} attempts; try again later"
            )
        if rule is not None and rule.action == "fail":
            raise ResponseError(
                f"resource {label}: {endpoint.method} {redact(response.url)} answered HTTP "
                f"{response.status_code}, which the connector treats as fatal "
                f"({_describe_rule(rule)})"
            )
        if response.status_code >= 400:
            raise _status_error(endpoint, response, label)
        records = _records(endpoint, response, label)
        global _records_read
        _records_read += len(records)  # a progress count: a lost race costs nothing
        return response, records


def failure_reason(exc: requests.RequestException) -> str:
    """What went wrong with the last attempt, in a few words (never a URL: requests'
    messages hold them unredacted)."""
    if isinstance(exc, ResponseDeadlineExceeded):
        return f"{exc}; raise the response_deadline setting if the API is this slow"
    broken = _http_violation(exc)
    if broken is not None:
        # http.client's own words hold no URL ("got more than 100 headers")
        return f"{type(exc).__name__}: the answer was not valid HTTP: {printable(broken)}"
    if isinstance(exc, requests.exceptions.ChunkedEncodingError):
        # requests' name for any body cut short, chunked or not
        return f"{type(exc).__name__}: the connection closed before the whole body came"
    return type(exc).__name__


def _http_violation(exc: BaseException, depth: int = 0) -> str | None:
    """The message of the :class:`http.client.HTTPException` behind ``exc`` (an answer
    that broke HTTP: too many headers, a line too long), found in its arguments (how
    urllib3 wraps it) or its chain; ``None`` when there is none."""
    import http.client

    if isinstance(exc, http.client.HTTPException) and not isinstance(
        exc, http.client.RemoteDisconnected | http.client.IncompleteRead
    ):
        return str(exc) or type(exc).__name__
    if depth > 4:
        return None
    inner = [a for a in exc.args if isinstance(a, BaseException)]
    inner += [e for e in (exc.__cause__, exc.__context__) if e is not None]
    for item in inner:
        found = _http_violation(item, depth + 1)
        if found is not None:
            return found
    return None


def _request(
    endpoint: Endpoint, path: str | None, params: dict[str, Any] | None
) -> requests.Request:
    return requests.Request(
        endpoint.method,
        endpoint.url_for(path or endpoint.path),
        headers=endpoint.headers,
        params=dict(endpoint.params if params is None else params),
        json=endpoint.json,
        auth=endpoint.auth,
    )


def fetch_first_page(endpoint: Endpoint) -> list[dict[str, Any]] | None:
    """The records of the endpoint's first page, from one request (``None``: a rule
    ignored the response). Raises :class:`ResponseError` as the page loop would."""
    paginator = copy.deepcopy(endpoint.paginator)
    request = _request(endpoint, None, None)
    paginator.init_request(request)
    fetched = _fetch(endpoint, request, f"{endpoint.connector}.{endpoint.resource}")
    return None if fetched is None else fetched[1]


def iter_pages(
    endpoint: Endpoint,
    *,
    path: str | None = None,
    params: dict[str, Any] | None = None,
    paginator: BasePaginator | None = None,
    label: str | None = None,
) -> Iterator[list[dict[str, Any]]]:
    """Yield the records of each page of ``endpoint`` (lists of dicts), one request
    after another.

    ``path``/``params``/``paginator`` override the endpoint's (child requests use
    them); the endpoint's paginator is copied so the endpoint can be read again.
    Raises :class:`ResponseError` with a one-line, redacted message.
    """
    label = label or f"{endpoint.connector}.{endpoint.resource}"
    paginator = paginator if paginator is not None else copy.deepcopy(endpoint.paginator)
    request = _request(endpoint, path, params)
    paginator.init_request(request)
    if getattr(paginator, "read_nothing", False):
        return  # a page limit spent before this read (headwater record --pages)
    guard = _LoopGuard(label, endpoint.max_pages)
    while True:
        guard.request(request)
        fetched = _fetch(endpoint, request, label, page=guard.pages)
        if fetched is None:
            return
        response, data = fetched
        guard.page(response, data)
        try:
            paginator.update_state(response, data)
        except ResponseError as exc:
            if str(exc).startswith("resource "):
                raise
            # a paginator's refusal (a next page on another origin): which resource
            raise type(exc)(f"resource {label}: {exc}") from None
        unsure = getattr(paginator, "unsure", None)
        if unsure:
            # a full page that ended the resource for want of a field the API never sent
            log.warning("resource %s: %s", label, unsure)
            paginator.unsure = None
        paginator.update_request(request)
        yield data
        if not paginator.has_next_page:
            return


class _LoopGuard:
    """Stops pagination that would never end, with an error that says why: a request
    (cursor, next link, offset) repeated, a page identical to the one before, or more
    pages than the ``max_pages`` setting allows."""

    def __init__(self, label: str, max_pages: int | None) -> None:
        self.label = label
        self.max_pages = max_pages
        self.pages = 0
        self.seen: set[bytes] = set()
        self.previous: bytes | None = None

    def request(self, request: requests.Request) -> None:
        params = sorted((str(k), str(v)) for k, v in (request.params or {}).items())
        # a POST's body holds its paging fields (location="body"): part of the request
        body = None if request.json is None else orjson.dumps(request.json, default=str)
        key = hashlib.blake2b(repr((request.url, params, body)).encode(), digest_size=16).digest()
        if key in self.seen:
            raise ResponseError(
                f"resource {self.label}: the API sent the same next page twice "
                f"({request.method} {redact(request.url)} with "
                f"{redact(str(dict(params)) + ('' if body is None else ' ' + body.decode()))}); "
                "stopping instead of looping — the API's cursor or next link does not advance"
            )
        self.seen.add(key)
        self.pages += 1
        if self.max_pages is not None and self.pages > self.max_pages:
            raise ResponseError(
                f"resource {self.label}: stopped at max_pages={self.max_pages}; raise the "
                "max_pages setting if the API really has more pages"
            )

    def page(self, response: requests.Response, data: list[Any]) -> None:
        if not data:
            return
        # The page itself, not a hash of it: comparing bytes costs next to nothing
        # (lengths first), hashing 20 KB costs 20 µs a page; one page is kept.
        content = response.content
        if content == self.previous:
            raise ResponseError(
                f"resource {self.label}: {getattr(response.request, 'method', None) or 'GET'} "
                f"{redact(response.url)} answered the same page as "
                "the request before; stopping instead of looping — the API ignores the "
                "pagination parameters"
            )
        self.previous = content


def iter_pages_parallel(
    endpoint: Endpoint,
    pagination: OffsetPagination,
    workers: int,
    *,
    params: dict[str, Any] | None = None,
) -> Iterator[list[dict[str, Any]]]:
    """Yield the pages of an offset endpoint that reports a total, ``workers`` at once.

    The first page is read alone to learn the total; the other offsets are then
    requested concurrently and yielded in order, with at most ``2 * workers`` pages in
    flight or waiting, so memory stays flat. Records added to the API after the first
    page are read by the next run. Without a total, or when the API serves fewer
    records than the limit asks for (it caps its pages), it reads page after page.
    """
    label = f"{endpoint.connector}.{endpoint.resource}"
    base = dict(endpoint.params if params is None else params)
    limit = pagination.limit

    def page(offset: int) -> list[dict[str, Any]]:
        request = _request(
            endpoint,
            None,
            {**base, pagination.offset_param: offset, pagination.limit_param: limit},
        )
        fetched = _fetch(endpoint, request, label, page=offset // limit + 1)
        return [] if fetched is None else fetched[1]

    first_request = _request(
        endpoint, None, {**base, pagination.offset_param: 0, pagination.limit_param: limit}
    )
    fetched = _fetch(endpoint, first_request, label)
    if fetched is None:
        return
    response, data = fetched
    yield data
    total = lookup(page_body(response), pagination.total_path)
    usable = isinstance(total, int) and not isinstance(total, bool)
    if not data or (usable and len(data) >= total) or (not usable and len(data) < limit):
        return
    if not usable or len(data) < limit:
        # No usable total, or an API that serves fewer records than the limit asked
        # for (its own cap) while its total says more remain: offsets a limit apart
        # would skip records, so carry on one page after another, each starting where
        # the one before ended.
        if usable:
            log.info(
                "resource %s: the API served %d of the %d records asked for; reading its "
                "pages one after another",
                label,
                len(data),
                limit,
            )
        paginator = copy.deepcopy(endpoint.paginator)
        paginator.offset = len(data)  # type: ignore[attr-defined]
        yield from iter_pages(endpoint, params=base, paginator=paginator, label=label)
        return
    pages = -(-total // limit)
    if endpoint.max_pages is not None and pages > endpoint.max_pages:
        raise ResponseError(
            f"resource {label}: the API reports {total} records ({pages} pages), more than "
            f"max_pages={endpoint.max_pages}; raise the max_pages setting to read them"
        )
    offsets = iter(range(limit, total, limit))
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="headwater-page")
    window: deque[Future[list[dict[str, Any]]]] = deque()
    try:
        for offset in offsets:
            window.append(pool.submit(page, offset))
            if len(window) >= 2 * workers:
                break
        while window:
            done = window.popleft().result()
            nxt = next(offsets, None)
            if nxt is not None:
                window.append(pool.submit(page, nxt))
            yield done
    finally:
        # On an error or an early close, pages not started yet are not requested.
        for future in window:
            future.cancel()
        pool.shutdown(wait=False, cancel_futures=True)


def _describe_rule(rule: ResponseRule) -> str:
    parts = []
    if rule.status_code is not None:
        parts.append(f"status {rule.status_code}")
    if rule.contains is not None:
        parts.append(f"body containing {rule.contains!r}")
    return f"{' and '.join(parts)} -> {rule.action}"
