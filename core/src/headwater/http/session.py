"""HTTP sessions with a retry policy, built from dlt's retrying ``requests`` pieces.

Whatever the server sends, a session stays bounded and keeps credentials at home:

* a redirect to another origin (scheme, host or port), https -> http included, is
  refused with :class:`~headwater.errors.RedirectRefused` before anything is sent there;
* a response body is read with a running count of its decompressed bytes and stops at
  :attr:`HttpLimits.max_response_bytes` (:class:`~headwater.errors.ResponseTooLarge`);
* a response that is not complete within :attr:`HttpLimits.response_deadline` is
  abandoned like a timeout (:class:`ResponseDeadlineExceeded`) and retried;
* a ``Retry-After`` header is parsed by :func:`parse_retry_after`, which never raises,
  and waited for at most :attr:`HttpLimits.max_retry_after` seconds.
"""

from __future__ import annotations

import contextlib
import email.utils
import functools
import http.client
import logging
import math
import os
import re
import socket
import ssl
import threading
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit

import requests
import requests.adapters
from attrs import frozen

from headwater.errors import RedirectRefused, ResponseTooLarge
from headwater.http import wire
from headwater.redact import redact
from headwater.spec import (
    DEFAULT_MAX_RESPONSE_BYTES,
    DEFAULT_RESPONSE_DEADLINE,
    MAX_RETRY_AFTER,
    RetryPolicy,
)

if TYPE_CHECKING:
    from headwater.http.throttle import Throttle

__all__ = [
    "DEFAULT_MAX_RESPONSE_BYTES",
    "DEFAULT_RESPONSE_DEADLINE",
    "MAX_RETRY_AFTER",
    "HttpLimits",
    "LeanGet",
    "ResponseDeadlineExceeded",
    "check_redirect",
    "origin",
    "parse_retry_after",
    "retrying_session",
    "unambiguous",
]

log = logging.getLogger(__name__)


# One network read at most per chunk (``read1``): a trickling body is seen as it comes,
# and a compressed body is inflated at most this much at a time.
_CHUNK = 64 * 1024
# A plain body of at most this declared length is read in one call (a lying
# Content-Length costs at most this much memory for a moment).
_WHOLE = 16 * _CHUNK


@frozen
class HttpLimits:
    """The user's limits for every response of a run (the common settings of the same
    names; ``None``: the default described there).

    ``connect_timeout`` / ``read_timeout`` default to the retry policy's ``timeout``;
    ``response_deadline`` bounds a whole response (connecting, headers and body) and
    defaults to :data:`DEFAULT_RESPONSE_DEADLINE`, or the read timeout if that is longer.
    ``connector`` names the connector in the errors' hints (its environment variables).
    """

    connector: str | None = None
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES
    connect_timeout: float | None = None
    read_timeout: float | None = None
    response_deadline: float | None = None
    max_retry_after: float = MAX_RETRY_AFTER

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any], connector: str | None = None) -> HttpLimits:
        """The limits from resolved settings (missing or ``None`` values: defaults)."""
        values = {
            key: settings.get(key)
            for key in (
                "max_response_bytes",
                "connect_timeout",
                "read_timeout",
                "response_deadline",
                "max_retry_after",
            )
            if settings.get(key) is not None
        }
        return cls(connector=connector, **values)

    def timeout(self, policy: RetryPolicy) -> tuple[float, float]:
        """``(connect, read)`` timeouts for requests under ``policy``."""
        connect = self.connect_timeout if self.connect_timeout is not None else policy.timeout
        read = self.read_timeout if self.read_timeout is not None else policy.timeout
        return (connect, read)

    def deadline(self, policy: RetryPolicy) -> float:
        """Seconds a whole response may take under ``policy``."""
        if self.response_deadline is not None:
            return self.response_deadline
        return max(DEFAULT_RESPONSE_DEADLINE, self.timeout(policy)[1])

    def hint(self, key: str) -> str:
        """Where the user raises setting ``key``."""
        if self.connector:
            return f"the {key} setting (SOURCES__{self.connector.upper()}__{key.upper()})"
        return f"the {key} setting"


class ResponseDeadlineExceeded(requests.exceptions.ReadTimeout):
    """No complete response within the deadline: retried like any timeout."""


# ------------------------------------------------------------------- Retry-After

_DELTA_SECONDS = re.compile(r"[0-9]+(?:\.[0-9]+)?")  # ASCII digits only, unlike str.isdigit


def parse_retry_after(value: Any, *, now: float | None = None) -> float | None:
    """The seconds a ``Retry-After`` value asks to wait, or ``None`` when it asks for
    nothing usable (garbage, a negative or zero delay, a date in the past).

    Never raises, whatever the server sent: only ASCII digits count as a delay
    (``str.isdigit`` and ``float`` also accept ``'٣'``), an HTTP date is checked for
    being representable (year 99999 is not), and a very large delay is returned as
    ``math.inf`` for the caller to cap. ``NaN`` and ``inf`` spelled out are garbage.
    """
    try:
        text = str(value).strip()
        if _DELTA_SECONDS.fullmatch(text):
            # leading zeros say nothing: "00000000000000001" is one second
            whole, _, fraction = text.partition(".")
            whole = whole.lstrip("0")
            if len(whole) > 15:  # float() of a huge digit string is slow or refused
                return math.inf
            seconds = float(f"{whole or 0}.{fraction[:15] or 0}")
        elif not text or len(text) > 200:
            return None
        else:
            parsed = email.utils.parsedate_tz(text)
            if parsed is None:
                return None
            seconds = email.utils.mktime_tz(parsed) - (time.time() if now is None else now)
    except (TypeError, ValueError, OverflowError, IndexError, AttributeError):
        return None
    if not math.isfinite(seconds):
        return math.inf if seconds > 0 else None
    return seconds if seconds > 0 else None


def _retry_after_header(retry_state: Any) -> str:
    """The ``Retry-After`` header of the answer tenacity is about to retry."""
    outcome = retry_state.outcome
    response = None if outcome is None or outcome.failed else outcome.result()
    return str(getattr(response, "headers", {}).get("Retry-After", ""))


def _log_capped(asked: float, header: str, wait: float, cap: float) -> None:
    """Warn that a ``Retry-After`` was cut, naming the wait really used (the cap, or
    the backoff when that is longer)."""
    if wait == cap:
        how = f"waiting {wait:g} s, the max_retry_after cap, instead"
    else:
        how = f"waiting {wait:g} s instead (the backoff; the max_retry_after cap is {cap:g} s)"
    log.warning(
        "the API asked to wait %s before retrying (Retry-After: %s); %s",
        "forever" if math.isinf(asked) else f"{asked:.0f} s",
        redact(header.strip()[:40]),
        how,
    )


# --------------------------------------------------------------------- origins


def _before_query(url: str) -> str:
    """``url`` up to its first ``?`` or ``#``: what both URL parsers read the scheme,
    host and port from (each ends the authority at the first ``/``, ``?`` or ``#``, and
    urllib3 at a backslash too), so :func:`origin` and :func:`unambiguous` of a page
    loop's URLs, which differ in the query only, are worked out once."""
    return url.partition("?")[0].partition("#")[0]


def origin(url: str | None) -> str:
    """``scheme://host:port`` of ``url`` (the default port spelled out), for comparing
    origins and for messages (no path, query or credentials).

    Parsed as requests' transport adapter parses a prepared URL to choose the host it
    connects to (``urllib.parse``); a URL that cannot be parsed has no origin (an
    empty string), so it never matches one."""
    return _origin(_before_query(url or ""))


@functools.lru_cache(maxsize=256)
def _origin(url: str) -> str:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return ""
    scheme = parts.scheme.lower()
    if not scheme and not parts.hostname:
        return ""
    if port is None:
        port = {"http": 80, "https": 443}.get(scheme)
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    return f"{scheme}://{host}" + (f":{port}" if port is not None else "")


def unambiguous(url: str | None) -> bool:
    """Whether ``url`` names one host: ``urllib.parse`` (which requests' adapter uses
    to pick the host it connects to) and urllib3's ``parse_url`` (which requests uses
    to prepare a URL) read the same host and port in it.

    They differ on a backslash (``http://a:1\\@b:2/`` is host ``a`` to urllib3, ``b``
    to ``urllib.parse``), and ``urllib.parse`` refuses some Unicode (U+FF20, a fullwidth @): such an
    address is never followed, whoever is right about it."""
    return _unambiguous(_before_query(url or ""))


@functools.lru_cache(maxsize=256)
def _unambiguous(url: str) -> bool:
    from urllib3.exceptions import LocationParseError
    from urllib3.util import parse_url

    try:
        split = urlsplit(url)
        parsed = parse_url(url)
        split_port = split.port
    except (ValueError, LocationParseError):
        return False
    return (parsed.host or "").lower().strip("[]") == (split.hostname or "") and (
        parsed.port == split_port
    )


def check_redirect(
    from_url: str | None, to_url: str | None, status: int | None = None, method: str | None = None
) -> None:
    """Raise :class:`~headwater.errors.RedirectRefused` unless ``to_url`` has the
    origin of ``from_url``: the credentials of a request must not follow it elsewhere.
    An address that URL parsers read differently (:func:`unambiguous`) is refused."""
    here, there = origin(from_url), origin(to_url)
    if here == there and unambiguous(to_url):
        return
    code = f"HTTP {status} " if status else ""
    method = "GET" if method is None else method
    if here == there or not there:
        raise RedirectRefused(
            f"{method} {redact(from_url or '')} was redirected ({code}to an address that "
            "cannot be parsed unambiguously); Headwater follows redirects within the "
            "API's origin only, so that no credential is sent elsewhere — set base_url "
            "to the address the API really answers at"
        )
    downgrade = here.startswith("https://") and there.startswith("http://")
    why = (
        "a downgrade from https to http is never followed"
        if downgrade
        else "Headwater follows redirects within the API's origin only, so that no "
        "credential is sent elsewhere"
    )
    raise RedirectRefused(
        f"{method} {redact(from_url or '')} was redirected ({code}to {there}), another origin "
        f"than {here}; {why} — set base_url to the address the API really answers at"
    )


class _OriginBound:
    """A ``requests.Session`` mix-in: redirects are followed within the request's
    origin only.

    ``rebuild_auth`` runs for every hop (in ``Session.send`` and in
    :meth:`LeanGet.send_once` alike) on the request about to follow the redirect; one
    to another origin is marked there, and :meth:`send` refuses to send it, so no
    header, query parameter or response hook of the original request reaches the
    other origin (requests itself strips only ``Authorization``, and only on a host
    change). Marking rather than raising in ``rebuild_auth``: requests also builds the
    next request of a response it does not follow (``allow_redirects=False``).
    """

    def get_redirect_target(self, response: Any) -> str | None:
        # requests parses the target with urllib.parse next, which raises a bare
        # ValueError on some Unicode (U+FF20): that is a refused redirect, not a crash.
        target = super().get_redirect_target(response)  # type: ignore[misc]
        if target is not None:
            try:
                urlsplit(target)
            except ValueError:
                check_redirect(
                    response.request.url, None, response.status_code, response.request.method
                )
        return target

    def rebuild_auth(self, prepared_request: Any, response: Any) -> None:
        try:
            check_redirect(
                response.request.url,
                prepared_request.url,
                response.status_code,
                response.request.method,
            )
        except RedirectRefused as refused:
            prepared_request.headwater_refused = refused
        super().rebuild_auth(prepared_request, response)  # type: ignore[misc]

    def send(self, request: Any, **kwargs: Any) -> Any:
        refused = getattr(request, "headwater_refused", None)
        if refused is not None:
            raise refused
        return super().send(request, **kwargs)  # type: ignore[misc]


@functools.cache
def _session_class() -> type:
    from dlt.sources.helpers.requests.session import Session

    class HeadwaterSession(_OriginBound, Session):
        """dlt's session, with redirects bound to the request's origin."""

    return HeadwaterSession


# Long for a reason: most of it is the docstring and two closures (the Retry-After wait,
# the throttled send) that capture this session's policy, limits and throttles.
def retrying_session(
    policy: RetryPolicy,
    *,
    url: str | None = None,
    throttles: Sequence[Throttle] = (),
    limits: HttpLimits | None = None,
) -> requests.Session:
    """A session that retries ``policy.status_codes``, dropped connections and timeouts.

    ``max_retries`` retries after the first attempt; the wait grows as
    ``backoff_factor * 2**n`` up to ``max_delay``. A ``Retry-After`` header (seconds or
    an HTTP date) is honoured when the policy says so, up to ``limits.max_retry_after``
    (logged when a wait is cut) and at least the exponential wait — not capped by
    ``max_delay`` (dlt caps it there, so a
    client would come back before the server asked and be refused again); ``0``, a past
    date or garbage falls back to the exponential wait, so it never spins.

    ``limits`` (default: :class:`HttpLimits` defaults) bound each response's size and
    time; redirects are followed within the request's origin only.
    ``throttles`` are waited on before every attempt, retries included.

    Proxy settings (``HTTPS_PROXY``, ``NO_PROXY``, ...) and the CA bundle
    (``REQUESTS_CA_BUNDLE``, ``CURL_CA_BUNDLE``) are read from the environment once, for
    ``url``'s host: requests would otherwise scan the whole environment three times per
    request, which cost a quarter of the time of reading a page from a local API.
    """
    from dlt.sources.helpers.requests.retry import (
        DEFAULT_RETRY_EXCEPTIONS,
        retry_if_status,
        wait_exponential_retry_after,
    )
    from tenacity import (
        Retrying,
        retry_any,
        retry_if_exception_type,
        stop_after_attempt,
        wait_exponential,
    )

    limits = limits or HttpLimits()
    cap = limits.max_retry_after

    last_attempt = policy.max_retries + 1

    class WaitRetryAfter(wait_exponential_retry_after):
        # dlt clamps the header to the backoff cap (self.max); this clamps it to ours.
        # The wait object is shared by every thread: it must not change its own state.
        def _parse_retry_after(self, retry_after: str) -> float | None:
            return parse_retry_after(retry_after)  # uncapped: __call__ caps and logs

        def __call__(self, retry_state: Any) -> float:
            # A Retry-After shorter than the backoff ("0.001") does not make the
            # client hammer the server: the exponential wait is the floor.
            backoff = wait_exponential.__call__(self, retry_state)
            asked = self._get_retry_after(retry_state)
            if asked is None:
                return backoff
            wait = max(min(asked, cap), backoff)
            # tenacity asks for the wait before it checks whether to stop: after the
            # last attempt nothing is waited for, so nothing is said
            if asked > wait and retry_state.attempt_number < last_attempt:
                _log_capped(asked, _retry_after_header(retry_state), wait, cap)
            return wait

    wait_cls = WaitRetryAfter if policy.respect_retry_after else wait_exponential
    retrying = Retrying(
        wait=wait_cls(multiplier=policy.backoff_factor, max=policy.max_delay),
        retry=retry_any(
            retry_if_status(policy.status_codes),
            retry_if_exception_type(DEFAULT_RETRY_EXCEPTIONS),
        ),
        stop=stop_after_attempt(policy.max_retries + 1),
        reraise=True,
        retry_error_callback=lambda state: state.outcome.result(),
    )
    session: Any = _session_class()(timeout=limits.timeout(policy), raise_for_status=False)
    adapter = _PoolCachingAdapter(
        pool_maxsize=50,
        max_response_bytes=limits.max_response_bytes,
        deadline=limits.deadline(policy),
        limits=limits,
    )
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    plain_send = session.send

    def throttled(send: Any) -> Any:
        if not throttles:
            return send

        def throttled_send(*args: Any, **kwargs: Any) -> requests.Response:
            for throttle in throttles:
                throttle.wait()
            return send(*args, **kwargs)

        return throttled_send

    session.send = _retried(retrying, throttled(plain_send), policy.status_codes)
    lean = LeanGet(session, adapter)
    lean.send = _retried(  # type: ignore[method-assign]
        retrying, throttled(lean.send_once), policy.status_codes
    )
    session.headwater_lean = lean
    session.trust_env = False
    if url is not None:
        session.proxies.update(requests.utils.get_environ_proxies(url))
    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    if bundle:
        session.verify = bundle
    return session


def _retried(retrying: Any, send: Any, status_codes: Sequence[int]) -> Any:
    """``send`` under ``retrying``, its first attempt made directly.

    tenacity copies its controller and builds the state of a call for every call (7% of
    the page loop's instructions for a page from a local API), for a first attempt that
    nearly always succeeds. An answer whose status is not one to retry is returned as is (tenacity
    would return it too); any other outcome, an exception included, is handed to
    tenacity as the call's first attempt, so the retries, waits and limits that follow
    are tenacity's, decided as before.
    """
    retryable = frozenset(status_codes)

    @functools.wraps(send)
    def first_then_retried(*args: Any, **kwargs: Any) -> Any:
        try:
            response = send(*args, **kwargs)
        except Exception as exc:
            first: Any = exc
        else:
            if getattr(response, "status_code", None) not in retryable:
                return response
            first = response
        replay = [first]

        def attempt(*args: Any, **kwargs: Any) -> Any:
            if replay:
                outcome = replay.pop()
                if isinstance(outcome, BaseException):
                    raise outcome
                return outcome
            return send(*args, **kwargs)

        return retrying.wraps(attempt)(*args, **kwargs)

    return first_then_retried


class _Watch:
    """One request under the deadline watchdog: the connection it uses and its socket
    (set when the request is sent on it), and whether the deadline fired.

    The socket is kept apart from the connection: http.client drops ``conn.sock`` as
    soon as the head of a response that closes the connection is read (HTTP/1.0,
    ``Connection: close``) while the body is still read from that socket, so the
    connection alone no longer leads to what must be shut down."""

    __slots__ = ("at", "conn", "fired", "sock")

    def __init__(self, at: float) -> None:
        self.at = at
        self.conn: Any = None
        self.sock: Any = None
        self.fired = False

    def fire(self) -> None:
        # Shutting the socket down ends any blocked or looping read on it at once
        # (a header trickle, a body, urllib3 inflating empty gzip blocks forever);
        # the reading thread sees a dropped connection and reports the deadline.
        self.fired = True
        sock = self.sock if self.sock is not None else getattr(self.conn, "sock", None)
        if not isinstance(sock, socket.socket):  # urllib3's TLS in TLS: its carrier
            sock = getattr(sock, "socket", None)
        if isinstance(sock, socket.socket):
            with contextlib.suppress(OSError):
                # the plain socket's shutdown, also for TLS: ``SSLSocket.shutdown``
                # would drop its TLS state under the reading thread, which would then
                # read the encrypted bytes as the body
                socket.socket.shutdown(sock, socket.SHUT_RDWR)


class _Watchdog:
    """One daemon thread for every response deadline of the process.

    :meth:`watch` and :meth:`done` cost a lock and a dict operation per request (no
    thread or timer per request). The thread sleeps until the earliest deadline of
    the requests in flight, and is woken only when a new request's deadline is
    earlier than that (deadlines of one session grow with time, so rarely)."""

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._active: dict[int, _Watch] = {}
        self._wake_at = math.inf
        self._thread: threading.Thread | None = None

    def watch(self, seconds: float) -> _Watch:
        entry = _Watch(time.monotonic() + seconds)
        with self._cond:
            self._active[id(entry)] = entry
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="headwater-deadlines", daemon=True
                )
                self._thread.start()
            if entry.at < self._wake_at:
                self._cond.notify()
        return entry

    def done(self, entry: _Watch) -> None:
        with self._cond:
            self._active.pop(id(entry), None)

    def _run(self) -> None:
        with self._cond:
            while True:
                now = time.monotonic()
                for entry in [e for e in self._active.values() if e.at <= now]:
                    del self._active[id(entry)]
                    entry.fire()
                self._wake_at = min((e.at for e in self._active.values()), default=math.inf)
                self._cond.wait(None if math.isinf(self._wake_at) else self._wake_at - now)


_watchdog = _Watchdog()
#: the watch of the request this thread is sending (its connection registers there)
_sending = threading.local()


def _watched(conn: Any) -> None:
    entry = getattr(_sending, "entry", None)
    if entry is not None:
        entry.conn = conn
        if conn.sock is not None:  # None until connected
            entry.sock = conn.sock
        if entry.fired:  # the deadline passed while connecting
            entry.fire()


@functools.cache
def _watched_pool_classes() -> dict[str, type]:
    """urllib3 pool classes whose connections register with the request's watch
    when they connect and when a request is sent on them (a kept-alive one too)."""
    from urllib3.connection import HTTPConnection, HTTPSConnection
    from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

    def watched(base: type) -> type:
        class Watched(base):  # type: ignore[misc, valid-type]
            def connect(self) -> None:
                super().connect()
                _watched(self)

            def request(self, *args: Any, **kwargs: Any) -> Any:
                _watched(self)
                return super().request(*args, **kwargs)

        Watched.__name__ = f"Watched{base.__name__}"
        return Watched

    class WatchedHTTPConnectionPool(HTTPConnectionPool):
        ConnectionCls = watched(HTTPConnection)

    class WatchedHTTPSConnectionPool(HTTPSConnectionPool):
        ConnectionCls = watched(HTTPSConnection)

    return {"http": WatchedHTTPConnectionPool, "https": WatchedHTTPSConnectionPool}


class _PoolCachingAdapter(requests.adapters.HTTPAdapter):
    """requests' adapter, remembering the connection pool of each host and TLS setting
    (requests works it out again for every request: a tenth of a local page's time),
    and reading each body itself, bounded in size and time (see :func:`_read_body`).

    The body is read here, under every caller — ``Session.send``, :class:`LeanGet`,
    the redirect loop and the OAuth2 401 hook only find it already read — so no path
    lets requests read a body unbounded.
    """

    def __init__(
        self,
        *args: Any,
        max_response_bytes: int | None = None,
        deadline: float | None = None,
        limits: HttpLimits | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self._pools: dict[tuple[Any, ...], Any] = {}
        self._hosts: dict[int, tuple[Any, str]] = {}
        if os.environ.get("HEADWATER_WIRE", "").strip() == "0":
            self.wire = False  # every request through urllib3 (docs/performance.md)
        self.max_response_bytes = max_response_bytes
        self.deadline = deadline
        self.limits = limits or HttpLimits()

    def send(  # type: ignore[override]
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: Any = None,
        verify: Any = True,
        cert: Any = None,
        proxies: Any = None,
    ) -> requests.Response:
        if self.wire and not stream and not proxies and cert is None:
            head = self._wire_head(request, verify)
            if head is not None:
                response = self._send_on_wire(request, head, timeout)
                if response is not None:
                    return response
        deadline = self.deadline
        if deadline is None:
            response = super().send(
                request, stream=True, timeout=timeout, verify=verify, cert=cert, proxies=proxies
            )
            if not stream:
                _read_body(response, self, None)
            return response
        entry = _sending.entry = _watchdog.watch(deadline)
        try:
            try:
                response = super().send(
                    request,
                    stream=True,
                    timeout=timeout,
                    verify=verify,
                    cert=cert,
                    proxies=proxies,
                )
            finally:
                _sending.entry = None
            if entry.fired:
                response.close()
                raise _deadline_exceeded(deadline, response)
            if not stream:
                _read_body(response, self, entry)
            return response
        except requests.exceptions.RequestException as exc:
            if entry.fired and not isinstance(exc, ResponseDeadlineExceeded):
                raise _deadline_exceeded(deadline, exc.response) from None
            raise
        finally:
            _watchdog.done(entry)

    #: whether a GET on a kept-alive connection is sent and read by
    #: :mod:`headwater.http.wire` (the tests compare both ways); ``HEADWATER_WIRE=0``
    #: in the environment turns it off for the sessions made afterwards
    wire = True

    def _wire_head(self, request: requests.PreparedRequest, verify: Any) -> Any:
        """``(pool, bytes of the request)`` for a GET without a body to a host urllib3
        already reached, or ``None``: urllib3 sends it (and connects)."""
        if request.method != "GET" or request.body is not None:
            return None
        try:
            pool = self.get_connection_with_tls_context(request, verify, None, None)
        except Exception:  # urllib3's own path raises it as it should
            return None
        host = self._hosts.get(id(pool))
        if host is None or host[0] is not pool:
            default = getattr(pool.ConnectionCls, "default_port", None)
            if pool.host is None or default is None:
                return None
            host = self._hosts[id(pool)] = (pool, wire.host_header(pool.host, pool.port, default))
        head = wire.request_head("GET", request.path_url, host[1], list(request.headers.items()))
        return None if head is None else (pool, head)

    def _send_on_wire(
        self, request: requests.PreparedRequest, head: Any, timeout: Any
    ) -> requests.Response | None:
        """``request`` sent on an idle kept-alive connection of its pool and its
        response read by :class:`headwater.http.wire.Exchange`, or ``None`` when the
        pool has no such connection (urllib3 then connects and sends it).

        Errors are requests' own, as urllib3 and requests raise them for the same
        failure: a dropped connection or a broken head a ``ConnectionError``
        (``Connection aborted.``), a read timeout a ``ReadTimeout``, a body cut
        short a ``ChunkedEncodingError``; the limits and the deadline are kept as
        :func:`_read_body` keeps them."""
        pool, data = head
        try:
            conn = pool._get_conn()
        except Exception:  # a closed pool: urllib3 opens another
            return None
        sock = getattr(conn, "sock", None)
        if sock is None or type(sock) not in _WIRE_SOCKETS:
            pool._put_conn(conn)
            return None
        read_timeout = timeout[1] if isinstance(timeout, tuple) else timeout
        deadline = self.deadline
        entry = _watchdog.watch(deadline) if deadline is not None else None
        kept = False
        try:
            if entry is not None:  # the watchdog shuts this connection down
                entry.conn = conn
                entry.sock = sock
            exchange = wire.Exchange(sock)
            try:
                sock.settimeout(read_timeout)
                # as urllib3: a server that hung up may have answered; read it
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    sock.sendall(data)
                exchange.read_head("GET")
            except (OSError, http.client.HTTPException) as exc:
                if entry is not None and entry.fired:
                    raise _deadline_exceeded(deadline, None) from None
                if isinstance(exc, ssl.SSLError):
                    from urllib3.exceptions import SSLError

                    raise requests.exceptions.SSLError(SSLError(exc), request=request) from None
                if isinstance(exc, socket.timeout):
                    raise requests.exceptions.ReadTimeout(
                        _read_timeout_error(
                            pool, request.path_url, f"Read timed out. (read timeout={read_timeout})"
                        ),
                        request=request,
                    ) from None
                if isinstance(exc, wire.ConflictingLength):
                    raise requests.exceptions.InvalidHeader(str(exc), request=request) from None
                raise requests.exceptions.ConnectionError(
                    _protocol_error("Connection aborted.", exc), request=request
                ) from None
            response = self._wire_response(request, exchange)
            _read_wire_body(response, exchange, self, pool, entry)
            kept = exchange.reusable
            return response
        finally:
            if entry is not None:
                _watchdog.done(entry)
            if kept:
                pool._put_conn(conn)
            else:
                conn.close()
                pool._put_conn(None)

    def _wire_response(
        self, request: requests.PreparedRequest, exchange: wire.Exchange
    ) -> requests.Response:
        """requests' response for the head ``exchange`` read (the body still to come),
        as :meth:`build_response` makes it."""
        spellings = exchange.spellings
        headers = {spellings[key]: value for key, value in exchange.headers.items()}
        raw = _WireRaw(exchange)
        response = self._response(request, exchange.status, headers, raw, exchange.reason)
        if "set-cookie" in exchange.headers or "set-cookie2" in exchange.headers:
            requests.cookies.extract_cookies_to_jar(response.cookies, request, raw)
        return response

    def build_response(self, req: requests.PreparedRequest, resp: Any) -> requests.Response:
        """requests' response for ``resp``, without its cookie parsing when the server
        set no cookie (requests runs ``http.cookiejar`` over every response's headers,
        finding nothing: 1% of the page loop's instructions)."""
        headers = getattr(resp, "headers", None)
        if headers is None or "set-cookie" in headers or "set-cookie2" in headers:
            return super().build_response(req, resp)
        return self._response(req, resp.status, headers, resp, resp.reason)

    def _response(
        self, req: requests.PreparedRequest, status: int, headers: Any, raw: Any, reason: str
    ) -> requests.Response:
        """requests' response as ``build_response`` makes it, without its cookie pass."""
        response = requests.Response()
        response.status_code = status
        response.headers = requests.structures.CaseInsensitiveDict(headers)
        response.encoding = requests.utils.get_encoding_from_headers(response.headers)
        response.raw = raw
        response.reason = reason
        url = req.url
        response.url = url.decode("utf-8") if isinstance(url, bytes) else url  # type: ignore[assignment]
        response.request = req
        response.connection = self
        return response

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _watched_pool_classes()

    def proxy_manager_for(self, proxy: Any, **proxy_kwargs: Any) -> Any:
        from urllib3.poolmanager import ProxyManager

        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if type(manager) is ProxyManager:  # not SOCKS, which has pool classes of its own
            manager.pool_classes_by_scheme = _watched_pool_classes()
        return manager

    def get_connection_with_tls_context(
        self, request: Any, verify: Any, proxies: Any = None, cert: Any = None
    ) -> Any:
        if proxies:
            return super().get_connection_with_tls_context(request, verify, proxies, cert)
        parts = urlsplit(request.url)
        key = (parts.scheme.lower(), parts.netloc.lower(), verify, cert)
        pool = self._pools.get(key)
        # the pool manager closes pools it evicts: never hand out a closed one
        if pool is None or pool.pool is None:
            pool = super().get_connection_with_tls_context(request, verify, proxies, cert)
            self._pools[key] = pool
        return pool

    def close(self) -> None:
        self._pools.clear()
        self._hosts.clear()
        super().close()


@functools.lru_cache(maxsize=512)
def _prepared_base(url: str) -> str | None:
    """``url`` as requests prepares it without parameters, or ``None`` when parameters
    cannot simply be appended to it (a fragment, a scheme other than HTTP).

    requests parses, re-quotes and reassembles the whole URL for every request; a page
    loop's URL differs only in its query. Appending parameters encoded as requests
    encodes them (``urlencode``, whose output requests' re-quoting leaves as it is) gives
    the URL requests would make (``tests/http/test_lean_get.py`` compares them)."""
    prepared = requests.PreparedRequest()
    prepared.prepare_url(url, None)
    base = prepared.url or ""
    if "#" in base or not base.lower().startswith(("http://", "https://")):
        return None
    return base


def _encode_params(params: Any) -> Any:
    """``params`` encoded as requests encodes them, for a mapping of plain values
    (anything else is returned for requests to encode). requests' own encoder tests
    each value against typing protocols: a tenth of the lean path's time."""
    if not isinstance(params, dict):
        return params
    pairs: list[tuple[str, Any]] = []
    for key, value in params.items():
        if isinstance(value, (str, int, float)):
            pairs.append((key, value))
        elif isinstance(value, (list, tuple)):
            if not all(isinstance(v, (str, int, float)) or v is None for v in value):
                return params
            pairs.extend((key, v) for v in value if v is not None)
        elif value is not None:
            return params
    if not all(isinstance(key, str) for key, _ in pairs):
        return params
    return urlencode(pairs)


def _session_send_is_requests() -> bool:
    """Whether ``requests.Session.send`` is requests' own: mocking libraries
    (requests-mock) replace it to swap the transport, and must see every request."""
    send = requests.Session.send
    return getattr(send, "__module__", None) == "requests.sessions" and (
        getattr(send, "__qualname__", None) == "Session.send"
    )


class LeanGet:
    """GET requests without ``requests.Session``'s per-request machinery.

    Other methods (a search or GraphQL POST with a JSON body) go through the session
    itself: its retry policy, rate limits, response limits and origin-bound redirects
    are the same (they live in its ``send`` and its adapter), only slower per request.

    ``Session.prepare_request`` and ``Session.send`` merge settings, cookies and hooks,
    scan for redirects and time the request: half of the client's time for a page
    from a local API. For the plain GETs of the page loop this builds the prepared
    request directly (the session's headers, the URL with its parameters, the auth
    object applied, as requests does) and hands it to the session's own adapter, so
    retries, timeouts, connection errors and responses are requests' own.

    :meth:`prepare` returns ``None`` whenever the session has anything this shortcut
    does not reproduce (cookies, proxies, session hooks, params or auth, another
    transport adapter, ``Session.send`` patched by requests-mock): the caller then uses
    the session.
    Responses are redirected through the session; response hooks (the OAuth2 renewal
    on 401) run as the session would run them.
    """

    def __init__(self, session: requests.Session, adapter: requests.adapters.HTTPAdapter) -> None:
        self.session = session
        self.adapter = adapter

    def prepare(self, request: requests.Request) -> requests.PreparedRequest | None:
        """``request`` prepared as the session would, or ``None``: use the session."""
        session = self.session
        if (
            request.method != "GET"
            or request.data
            or request.json is not None
            or request.files
            or request.cookies
            or any(request.hooks.values())
            or session.auth is not None
            or session.params
            or session.proxies
            or any(session.hooks.values())
            or len(session.cookies)
            or session.get_adapter(request.url) is not self.adapter
            or not _session_send_is_requests()
        ):
            return None
        prepared = requests.PreparedRequest()
        prepared.method = "GET"
        encoded = _encode_params(request.params)
        base = _prepared_base(request.url) if isinstance(encoded, str) else None
        if base is None:
            prepared.prepare_url(request.url, encoded)
        else:
            prepared.url = f"{base}{'&' if '?' in base else '?'}{encoded}" if encoded else base
        headers = requests.structures.CaseInsensitiveDict(
            (k, v) for k, v in session.headers.items() if v is not None
        )
        if request.headers:
            # the request's own headers over the session's, as requests merges them
            for key, value in request.headers.items():
                if value is None:
                    headers.pop(key, None)
                else:
                    headers[key] = value
        prepared.headers = headers
        prepared._cookies = None  # type: ignore[attr-defined]
        prepared.body = None
        prepared.hooks = requests.hooks.default_hooks()
        prepared._body_position = None  # type: ignore[attr-defined]
        prepared.prepare_auth(request.auth, request.url)
        return prepared

    def send_once(self, prepared: requests.PreparedRequest, *, timeout: Any) -> requests.Response:
        """One attempt (the session's retry policy wraps :attr:`send`)."""
        session = self.session
        settings = {
            "timeout": timeout,
            "verify": session.verify,
            "cert": session.cert,
            "proxies": {},
            "stream": False,
        }
        response = self.adapter.send(prepared, **settings)
        response = requests.hooks.dispatch_hook("response", prepared.hooks, response, **settings)
        if "set-cookie" in response.headers:
            # The API keeps state in cookies: keep them, as the session would; with
            # cookies in the jar, later requests go through the session, which sends them.
            requests.cookies.extract_cookies_to_jar(session.cookies, prepared, response.raw)
        if response.is_redirect:
            # The session's redirect loop: other origins refused (``_OriginBound``).
            prepared._cookies = requests.cookies.RequestsCookieJar()  # type: ignore[attr-defined]
            history = [response, *session.resolve_redirects(response, prepared, **settings)]
            response = history.pop()
            response.history = history
        # The body was read by the adapter, bounded in size and time.
        return response

    #: one request with the session's retry policy and rate limits (set by
    #: :func:`retrying_session`)
    send = send_once


def _read_body(response: requests.Response, adapter: _PoolCachingAdapter, watch: Any) -> None:
    """Read ``response``'s body as ``Response.content`` would, but with a running count
    of the decompressed bytes, and under the deadline of the whole response.

    ``read1`` makes at most one network read per chunk and urllib3 (>= 2.6) inflates a
    compressed body at most a chunk at a time, so a gzip bomb never sits in memory
    whole. The deadline is kept by the watchdog (``watch``), which shuts the socket
    down when it passes — whatever the read is doing: waiting for a byte, or urllib3
    inflating a stream of empty blocks that never yields one. A body over the limit
    (or whose compressed bytes alone exceed it) is not drained: the connection is
    closed.
    """
    from urllib3.exceptions import DecodeError, ProtocolError, ReadTimeoutError, SSLError

    raw = response.raw
    limit = adapter.max_response_bytes
    url = response.url or ""
    method = getattr(response.request, "method", None) or "GET"
    headers = response.headers
    whole = False  # read in one call: a plain body of a declared, small length
    if "Content-Encoding" not in headers:
        declared = headers.get("Content-Length", "")
        if declared.isascii() and declared.isdigit() and len(declared) < 30:
            length = int(declared)
            if limit is not None and length > limit:
                response.close()
                raise _too_large(method, url, limit, adapter.limits)
            whole = length <= _WHOLE and "Transfer-Encoding" not in headers
    # One buffer grown in place: a list of chunks joined at the end would hold the
    # body twice at its peak. A body of one chunk (most pages) is kept as it came.
    first = b""
    body: bytearray | None = None
    try:
        while True:
            if whole:
                # http.client reads exactly the declared length (or fails on a body
                # cut short), and the connection goes back to the pool: no second
                # call to find the end.
                first = raw.read(decode_content=True)
                break
            chunk = raw.read1(_CHUNK, decode_content=True)
            if not chunk:
                break
            if not first:
                first = chunk
            else:
                if body is None:
                    body = bytearray(first)
                body += chunk
            if limit is not None and (
                (len(body) if body is not None else len(first)) > limit or raw.tell() > limit
            ):
                response.close()
                raise _too_large(method, url, limit, adapter.limits)
    except (ProtocolError, DecodeError, ReadTimeoutError, SSLError, OSError) as exc:
        response.close()
        if watch is not None and watch.fired:
            raise _deadline_exceeded(adapter.deadline, response) from None
        if isinstance(exc, ProtocolError):
            raise requests.exceptions.ChunkedEncodingError(exc) from None
        if isinstance(exc, DecodeError):
            raise requests.exceptions.ContentDecodingError(exc) from None
        if isinstance(exc, SSLError):
            raise requests.exceptions.SSLError(exc) from None
        raise requests.exceptions.ConnectionError(exc) from None
    if watch is not None and watch.fired:  # the shut-down socket read as the end
        response.close()
        raise _deadline_exceeded(adapter.deadline, response)
    # a bytearray for a body of many chunks: converting it to bytes would copy it
    response._content = body if body is not None else first  # type: ignore[attr-defined]
    response._content_consumed = True  # type: ignore[attr-defined]


#: the sockets :mod:`headwater.http.wire` reads (not urllib3's TLS-in-TLS transport)
_WIRE_SOCKETS = (socket.socket, ssl.SSLSocket)


class _WireRaw:
    """``Response.raw`` of a response read by :mod:`headwater.http.wire`: its body
    already read (``Response.content``); the status, reason, version and headers as
    urllib3's response offers them, and the header lines for cookie parsing."""

    decode_content = True
    closed = True

    def __init__(self, exchange: wire.Exchange) -> None:
        self.status = exchange.status
        self.reason = exchange.reason
        self.version = exchange.version
        self._pairs = exchange.pairs

    @functools.cached_property
    def headers(self) -> Any:
        from urllib3 import HTTPHeaderDict

        return HTTPHeaderDict(self._pairs)

    @functools.cached_property
    def msg(self) -> http.client.HTTPMessage:
        """The header lines as http.client's message (what cookie parsing reads)."""
        message = http.client.HTTPMessage()
        for name, value in self._pairs:
            message[name] = value
        return message

    @property
    def _original_response(self) -> _WireRaw:
        return self

    def read(self, *args: Any, **kwargs: Any) -> bytes:
        return b""

    def stream(self, *args: Any, **kwargs: Any) -> Any:
        return iter(())

    def close(self) -> None:
        pass

    def release_conn(self) -> None:
        pass

    def tell(self) -> int:
        return 0


def _read_timeout_error(pool: Any, url: str | None, message: str) -> Exception:
    from urllib3.exceptions import ReadTimeoutError

    return ReadTimeoutError(pool, url, message)


def _protocol_error(message: str, exc: BaseException) -> Exception:
    from urllib3.exceptions import ProtocolError

    return ProtocolError(message, exc)


@functools.cache
def _decoders() -> tuple[Any, frozenset[str]]:
    from urllib3.response import HTTPResponse, _get_decoder

    return _get_decoder, frozenset(HTTPResponse.CONTENT_DECODERS)


def _decoder_for(content_encoding: str) -> Any:
    """urllib3's decoder for ``content_encoding`` (``HTTPResponse._init_decoder``),
    or ``None``: the body is kept as it came."""
    if not content_encoding:
        return None
    get_decoder, known = _decoders()
    if content_encoding in known:
        return get_decoder(content_encoding)
    if "," in content_encoding and any(e.strip() in known for e in content_encoding.split(",")):
        return get_decoder(content_encoding)
    return None


def _read_wire_body(
    response: requests.Response,
    exchange: wire.Exchange,
    adapter: _PoolCachingAdapter,
    pool: Any,
    watch: Any,
) -> None:
    """The body of ``response`` read by ``exchange``, bounded as :func:`_read_body`
    bounds it, errors raised as requests raises them for the same failure."""
    limit = adapter.max_response_bytes
    url = response.url or ""
    encoding = exchange.headers.get("content-encoding", "").lower()
    try:
        body = exchange.read_body(limit, _decoder_for(encoding))
    except wire.TooLarge:
        raise _too_large("GET", url, limit or 0, adapter.limits) from None
    except (OSError, http.client.HTTPException, wire.DecodeFailed) as exc:
        if watch is not None and watch.fired:
            raise _deadline_exceeded(adapter.deadline, response) from None
        if isinstance(exc, wire.DecodeFailed):
            from urllib3.exceptions import DecodeError

            raise requests.exceptions.ContentDecodingError(
                DecodeError(
                    f"Received response with content-encoding: {encoding}, but "
                    "failed to decode it.",
                    exc.__cause__,
                )
            ) from None
        if isinstance(exc, socket.timeout):
            raise requests.exceptions.ConnectionError(
                _read_timeout_error(pool, None, "Read timed out.")
            ) from None
        if isinstance(exc, ssl.SSLError):
            raise requests.exceptions.SSLError(exc) from None
        raise requests.exceptions.ChunkedEncodingError(
            _protocol_error(f"Connection broken: {exc!r}", exc)
        ) from None
    if watch is not None and watch.fired:  # the shut-down socket read as the end
        raise _deadline_exceeded(adapter.deadline, response)
    response._content = body  # type: ignore[attr-defined]
    response._content_consumed = True  # type: ignore[attr-defined]


def _deadline_exceeded(deadline: float | None, response: Any) -> ResponseDeadlineExceeded:
    return ResponseDeadlineExceeded(
        f"no complete response within the response_deadline of {deadline:g} s",
        response=response,
    )


def _too_large(method: str, url: str, limit: int, limits: HttpLimits) -> ResponseTooLarge:
    return ResponseTooLarge(
        f"{method} {redact(url)} answered more than {limit} bytes (decompressed), the "
        f"max_response_bytes limit; stopped reading — raise {limits.hint('max_response_bytes')} "
        "if the API really sends responses this large"
    )
