"""HTTP sessions with a retry policy, built from dlt's retrying ``requests`` pieces."""

from __future__ import annotations

import email.utils
import os
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit

import requests
import requests.adapters

from headwater.spec import RetryPolicy

if TYPE_CHECKING:
    from headwater.throttle import Throttle

__all__ = ["MAX_RETRY_AFTER", "LeanGet", "retrying_session"]

#: Longest ``Retry-After`` honoured (seconds). A server asking for longer gets this.
MAX_RETRY_AFTER = 300.0


def retrying_session(
    policy: RetryPolicy, *, url: str | None = None, throttles: Sequence[Throttle] = ()
) -> requests.Session:
    """A session that retries ``policy.status_codes``, dropped connections and timeouts.

    ``max_retries`` retries after the first attempt; the wait grows as
    ``backoff_factor * 2**n`` up to ``max_delay``. A ``Retry-After`` header (seconds or
    an HTTP date) is honoured when the policy says so, up to :data:`MAX_RETRY_AFTER` —
    not capped by ``max_delay`` (dlt caps it there, so a client would come back before
    the server asked and be refused again); ``0`` or a past date falls back to the
    exponential wait, so it never spins.

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
    from dlt.sources.helpers.requests.session import Session
    from tenacity import (
        Retrying,
        retry_any,
        retry_if_exception_type,
        stop_after_attempt,
        wait_exponential,
    )

    class WaitRetryAfter(wait_exponential_retry_after):
        # dlt clamps the header to the backoff cap (self.max); this clamps it to ours.
        # The wait object is shared by every thread: it must not change its own state.
        def _parse_retry_after(self, retry_after: str) -> float | None:
            text = retry_after.strip()
            if text.isdigit():
                seconds = float(text)
            else:
                parsed = email.utils.parsedate_tz(text)
                if parsed is None:
                    return None
                seconds = email.utils.mktime_tz(parsed) - time.time()
            if seconds <= 0:
                return None
            return min(MAX_RETRY_AFTER, seconds)

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
    session: Any = Session(timeout=policy.timeout, raise_for_status=False)
    adapter = _PoolCachingAdapter(pool_maxsize=50)
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

    session.send = retrying.wraps(throttled(plain_send))
    lean = LeanGet(session, adapter)
    lean.send = retrying.wraps(throttled(lean.send_once))  # type: ignore[method-assign]
    session.headwater_lean = lean
    session.trust_env = False
    if url is not None:
        session.proxies.update(requests.utils.get_environ_proxies(url))
    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    if bundle:
        session.verify = bundle
    return session


class _PoolCachingAdapter(requests.adapters.HTTPAdapter):
    """requests' adapter, remembering the connection pool of each host and TLS setting
    (requests works it out again for every request: a tenth of a local page's time)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._pools: dict[tuple[Any, ...], Any] = {}

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
        super().close()


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
            or request.headers
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
        prepared.prepare_url(request.url, _encode_params(request.params))
        prepared.headers = requests.structures.CaseInsensitiveDict(
            (k, v) for k, v in session.headers.items() if v is not None
        )
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
            prepared._cookies = requests.cookies.RequestsCookieJar()  # type: ignore[attr-defined]
            history = [response, *session.resolve_redirects(response, prepared, **settings)]
            response = history.pop()
            response.history = history
        response.content  # read it all, as Session.send does  # noqa: B018
        return response

    #: one request with the session's retry policy and rate limits (set by
    #: :func:`retrying_session`)
    send = send_once
