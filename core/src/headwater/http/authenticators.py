"""Request authenticators built from the auth specs (``requests`` ``AuthBase`` objects).

These are plain ``requests`` authenticators, not dlt configuration specs, so no
environment variable can silently replace a value Headwater resolved (a dlt auth object
not marked resolved is re-resolved from the environment).

:class:`OAuth2ClientCredentialsAuthenticator` fixes what dlt's ``OAuth2ClientCredentials`` lacks:
one token for every resource and thread of a run, renewed shortly *before* it expires,
renewed once (and the request re-sent) when the API answers 401, the secret never
logged, and a clear error when the token endpoint refuses the credentials. The token
form (with the client secret) is never re-posted to another origin: a token endpoint
redirecting elsewhere is an error naming both origins. The 401 renewal applies to
answers from the origin the token was sent to only.
"""

from __future__ import annotations

import base64
import functools
import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import requests
from requests.auth import AuthBase

from headwater import redact
from headwater.errors import RedirectRefused, ResponseError
from headwater.http.session import origin as origin_of
from headwater.http.session import unambiguous

__all__ = [
    "ApiKeyAuthenticator",
    "BasicAuthenticator",
    "BearerAuthenticator",
    "OAuth2ClientCredentialsAuthenticator",
]

log = logging.getLogger(__name__)


class _NoCopy:
    """Authenticators are shared by every resource of a run: copies would each fetch a
    token of their own, so ``copy``/``deepcopy`` return the same object."""

    def __copy__(self) -> Any:
        return self

    def __deepcopy__(self, memo: dict) -> Any:
        return self


class OAuth2ClientCredentialsAuthenticator(_NoCopy, AuthBase):
    """OAuth2 client-credentials tokens, shared and thread-safe.

    Args:
        token_url: the token endpoint.
        client_id, client_secret: the client's credentials (sent in the form body).
        scope: sent as ``scope`` when not ``None``.
        extra_form: more form fields for the token request.
        session: the session used for token requests (default: a
            :func:`~headwater.http.session.retrying_session` with the default policy and
            limits, so a briefly failing token endpoint is retried and its answers stay
            bounded).
        renew_margin: renew this many seconds before the token expires (capped at a
            tenth of its lifetime, so short-lived tokens are still used).
        default_ttl: lifetime assumed when the endpoint sends no ``expires_in``.
        clock: the time source (for tests).
    """

    def __init__(
        self,
        token_url: str,
        client_id: str,
        client_secret: str,
        *,
        scope: str | None = None,
        extra_form: Mapping[str, str] | None = None,
        session: requests.Session | None = None,
        renew_margin: float = 60.0,
        default_ttl: float = 3600.0,
        timeout: float | tuple[float, float] = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.token_url = token_url
        self.client_id = client_id
        self._client_secret = client_secret
        self.scope = scope
        self.extra_form = dict(extra_form or {})
        # a bounded session (redirects within the origin, body size and deadline)
        self.session = session if session is not None else _default_session()
        self.renew_margin = renew_margin
        self.default_ttl = default_ttl
        self.timeout = timeout
        self._clock = clock
        self._lock = threading.Lock()
        self._token: str | None = None
        self._renew_at = 0.0
        #: how many tokens this object obtained (for tests and ``headwater check``)
        self.tokens_obtained = 0

    def __repr__(self) -> str:
        return f"OAuth2ClientCredentialsAuthenticator(token_url={self.token_url!r}, client_id=***)"

    # -- token lifecycle ---------------------------------------------------------

    def token(self, *, stale: str | None = None) -> str:
        """A valid access token. ``stale``: a token the API just rejected; a new one is
        obtained unless another thread already replaced it."""
        with self._lock:
            now = self._clock()
            if self._token is None or now >= self._renew_at or self._token == stale:
                self._obtain(now)
            assert self._token is not None
            return self._token

    def _obtain(self, now: float) -> None:
        form = {
            "grant_type": "client_credentials",
            "client_id": self.client_id,
            "client_secret": self._client_secret,
            **self.extra_form,
        }
        if self.scope:
            form["scope"] = self.scope
        url = redact.redact(self.token_url)
        try:
            response = self._post(form)
        except requests.RequestException as exc:
            raise ResponseError(
                f"token request to {url} failed: {redact.redact(type(exc).__name__)}; "
                "check token_url and that the token endpoint is reachable"
            ) from None
        if response.status_code in (400, 401, 403):
            raise ResponseError(
                f"token endpoint {url} refused the client credentials "
                f"(HTTP {response.status_code}{_oauth_error(response)}); "
                "check client_id, client_secret and scope"
            )
        if response.status_code >= 300:
            raise ResponseError(
                f"token endpoint {url} answered HTTP {response.status_code}; "
                "it may be down — try again later or check token_url"
            )
        try:
            body = _json(response)
            token = body["access_token"]
            if not isinstance(token, str) or not token:
                raise TypeError
        except (ValueError, KeyError, TypeError, RecursionError):
            raise ResponseError(
                f"token endpoint {url} did not answer with an access_token; check token_url"
            ) from None
        redact.register([token])
        ttl = _positive_float(body.get("expires_in"), self.default_ttl)
        margin = min(self.renew_margin, ttl / 10)
        self._token = token
        self._renew_at = now + ttl - margin
        self.tokens_obtained += 1
        log.info("obtained an access token from %s (valid %.0f s)", url, ttl)

    #: redirects of the token request followed (within the token URL's origin)
    max_redirects: int = 5

    def _post(self, form: dict[str, Any]) -> requests.Response:
        """POST ``form`` to the token URL, following redirects by hand: within the token
        URL's origin only, re-posting the form there (requests would re-post it on a
        307/308 to any host, client secret included, or turn it into a GET); a 303 is
        followed with a GET, without the form (RFC 9110).

        The origin checked is the one of the request as prepared — the URL the
        transport connects to — not of the ``Location`` text: URL parsers disagree
        about some addresses (a backslash before ``@``), and the check must read the
        address as the connection will."""
        session = self.session
        method: str = "POST"
        data: dict[str, Any] | None = form
        target, home, status = self.token_url, None, None
        for _ in range(self.max_redirects + 1):
            prepared = session.prepare_request(requests.Request(method, target, data=data))
            there = origin_of(prepared.url)
            if home is None:
                home = there
            elif there != home or not unambiguous(prepared.url):
                raise self._refused(status, there, home)
            settings = session.merge_environment_settings(prepared.url, {}, None, None, None)
            try:
                response = session.send(
                    prepared, timeout=self.timeout, allow_redirects=False, **settings
                )
            except RedirectRefused:
                # the session could not even parse the Location (see _OriginBound)
                raise self._refused(None, "", home) from None
            if not response.is_redirect:
                return response
            response.close()
            status = response.status_code
            try:
                target = urljoin(prepared.url or "", response.headers["Location"])
                urlsplit(target)
            except ValueError:
                raise self._refused(status, "", home) from None
            if status == 303:
                method, data = "GET", None
        raise ResponseError(
            f"token endpoint {redact.redact(self.token_url)} redirected more than "
            f"{self.max_redirects} times; set token_url to the real token endpoint"
        )

    def _refused(self, status: int | None, there: str, home: str | None) -> RedirectRefused:
        code = f" (HTTP {status})" if status else ""
        where = (
            f"another origin, {there},"
            if there
            else "an address that cannot be parsed unambiguously"
        )
        return RedirectRefused(
            f"token endpoint {redact.redact(self.token_url)} redirected the token "
            f"request{code} to {where} from {home}; refusing to send the "
            "client credentials there — set token_url to the real token endpoint"
        )

    # -- requests integration ----------------------------------------------------

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        token = self.token()
        request.headers["Authorization"] = f"Bearer {token}"
        # Bound to the origin the token is sent to: the hook is copied onto every
        # redirected request, and must never send a fresh token to another origin.
        request.register_hook(
            "response", functools.partial(self._renew_on_401, origin=origin_of(request.url))
        )
        return request

    def _renew_on_401(
        self, response: requests.Response, *, origin: str | None = None, **kwargs: Any
    ) -> requests.Response:
        """On 401, renew the token once and re-send the request (like requests' digest
        auth). A second 401 is returned as is, and the caller reports it; so is a 401
        from another origin than the one the token was sent to."""
        if response.status_code != 401 or getattr(response.request, "_headwater_retried", False):
            return response
        if origin is not None and origin_of(response.request.url) != origin:
            return response
        sent = response.request.headers.get("Authorization", "")
        stale = sent[len("Bearer ") :] if sent.startswith("Bearer ") else None
        log.info("the API answered 401: renewing the access token and retrying once")
        token = self.token(stale=stale)
        response.content  # consume the body so the connection can be reused  # noqa: B018
        response.close()
        retry = response.request.copy()
        retry.headers["Authorization"] = f"Bearer {token}"
        retry._headwater_retried = True  # type: ignore[attr-defined]
        new_response = response.connection.send(retry, **kwargs)
        new_response.history.append(response)
        new_response.request = retry
        return new_response


def _default_session() -> requests.Session:
    from headwater.http.session import retrying_session
    from headwater.spec import RetryPolicy

    return retrying_session(RetryPolicy())


def _json(response: requests.Response) -> Any:
    """The token endpoint's answer decoded as the API's pages are
    (:func:`~headwater.http.paginators.decode_json`): a body nested thousands of levels
    deep is a ValueError, not the RecursionError of ``response.json()``."""
    from headwater.http.paginators import decode_json

    return decode_json(response.content)


def _oauth_error(response: requests.Response) -> str:
    try:
        error = _json(response).get("error")
    except (ValueError, AttributeError, RecursionError):
        return ""
    return f", error {redact.redact(str(error))!r}" if error else ""


def _positive_float(value: Any, default: float) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return default
    return number if number > 0 else default


class ApiKeyAuthenticator(_NoCopy, AuthBase):
    """An API key in a header or in the query string."""

    def __init__(self, name: str, api_key: str, location: str = "header") -> None:
        self.name = name
        self._api_key = api_key
        self.location = location
        if location == "query":
            # in every URL logged or quoted, however short the key
            redact.register_parameter(name)

    def __repr__(self) -> str:
        return f"ApiKeyAuthenticator(name={self.name!r}, location={self.location!r}, api_key=***)"

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        if self.location == "query":
            # Replace, not append: a next link may already carry the key in its query.
            parts = urlsplit(request.url or "")
            query = parse_qsl(parts.query, keep_blank_values=True)
            kept = [(k, v) for k, v in query if k != self.name]
            request.url = urlunsplit(parts._replace(query=urlencode(kept)))
            request.prepare_url(request.url, {self.name: self._api_key})
        else:
            request.headers[self.name] = self._api_key
        return request


class BearerAuthenticator(_NoCopy, AuthBase):
    """A static bearer token."""

    def __init__(self, token: str) -> None:
        self._token = token

    def __repr__(self) -> str:
        return "BearerAuthenticator(token=***)"

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self._token}"
        return request


class BasicAuthenticator(_NoCopy, AuthBase):
    """HTTP basic authentication."""

    def __init__(self, username: str, password: str) -> None:
        self.username = username
        self._password = password

    def __repr__(self) -> str:
        return f"BasicAuthenticator(username={self.username!r}, password=***)"

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        pair = f"{self.username}:{self._password}".encode()
        request.headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()
        return request
