"""Request authenticators built from the auth specs (``requests`` ``AuthBase`` objects).

These are plain ``requests`` authenticators, not dlt configuration specs, so no
environment variable can silently replace a value Headwater resolved (a dlt auth object
not marked resolved is re-resolved from the environment).

Every expiring credential shares one lifecycle (:class:`_RenewingAuthenticator`), which
fixes what dlt's ``OAuth2ClientCredentials`` lacks: one token for every resource and
thread of a run, renewed shortly *before* it expires, renewed once (and the request
re-sent) when the API answers 401, the secret never logged, and a clear error when the
endpoint refuses the credentials. It serves OAuth2 client credentials
(:class:`OAuth2ClientCredentialsAuthenticator`, client authentication in the form or as
``client_secret_basic``), refresh tokens whose rotation is kept in a token store
(:class:`OAuth2RefreshTokenAuthenticator`), the RFC 7523 JWT grant
(:class:`JwtGrantAuthenticator`), self-signed JWTs (:class:`JwtBearerAuthenticator`) and
session logins (:class:`SessionLoginAuthenticator`). Every token obtained is registered
for redaction. Credentials are never re-sent to another origin: a token or login
endpoint redirecting elsewhere is an error naming both origins, and the 401 renewal
applies to answers from the origin the token was sent to only.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import logging
import re
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qsl, quote_plus, urlencode, urljoin, urlsplit, urlunsplit

import requests
from requests.auth import AuthBase

from headwater import redact
from headwater.errors import RedirectRefused, ResponseError, RunError
from headwater.http.session import origin as origin_of
from headwater.http.session import unambiguous
from headwater.http.token_store import TOKEN_DIR_ENV, FileTokenStore, TokenStore, setting_key

__all__ = [
    "ApiKeyAuthenticator",
    "BasicAuthenticator",
    "BearerAuthenticator",
    "JwtBearerAuthenticator",
    "JwtGrantAuthenticator",
    "JwtSigner",
    "OAuth2ClientCredentialsAuthenticator",
    "OAuth2RefreshTokenAuthenticator",
    "SessionLoginAuthenticator",
    "TemplateAuthenticator",
]

log = logging.getLogger(__name__)

#: characters no header value can carry (a token holding one is refused)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


class _NoCopy:
    """Authenticators are shared by every resource of a run: copies would each fetch a
    token of their own, so ``copy``/``deepcopy`` return the same object."""

    def __copy__(self) -> Any:
        return self

    def __deepcopy__(self, memo: dict) -> Any:
        return self


class _RenewingAuthenticator(_NoCopy, AuthBase):
    """The lifecycle every expiring credential shares: one token for every resource and
    thread of a run, renewed shortly before it expires, renewed once (and the request
    re-sent) when the API answers 401 — from the origin the token was sent to only.

    Subclasses implement :meth:`_fetch` (a new token and its lifetime in seconds) and
    may override :meth:`_apply` (how the token goes on a request; default: a bearer
    ``Authorization`` header).
    """

    def __init__(
        self,
        *,
        renew_margin: float = 60.0,
        default_ttl: float = 3600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.renew_margin = renew_margin
        self.default_ttl = default_ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._token: str | None = None
        self._renew_at = 0.0
        #: how many tokens this object obtained (for tests and ``headwater check``)
        self.tokens_obtained = 0

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
        token, ttl = self._fetch()
        token = self._header_safe(token)
        margin = min(self.renew_margin, ttl / 10)
        self._token = token
        self._renew_at = now + ttl - margin
        self.tokens_obtained += 1

    def _fetch(self) -> tuple[str, float]:
        """A new token and its lifetime (seconds)."""
        raise NotImplementedError

    def _header_safe(self, token: str) -> str:
        """``token`` registered as a secret and fit for a header: surrounding whitespace
        (a trailing newline) dropped; a line break or control character inside is a
        one-line error (a header cannot carry it, and the error requests raises would
        show the token with the break escaped, past its redaction)."""
        parts = [part for part in _CONTROL.split(token) if part]
        redact.register([token, *parts])
        stripped = token.strip()
        if not stripped or _CONTROL.search(stripped):
            where = getattr(self, "url", None) or getattr(self, "token_url", None) or ""
            what = getattr(self, "what", "token endpoint")
            raise ResponseError(
                f"{what} {redact.redact(where)} answered an access token with a line break "
                "or control character in it, which no request header can carry; check "
                "the endpoint's answer"
            )
        return stripped

    # -- requests integration ----------------------------------------------------

    def _apply(self, request: requests.PreparedRequest, token: str) -> None:
        request.headers["Authorization"] = f"Bearer {token}"

    def _sent(self, request: requests.PreparedRequest) -> str | None:
        """The token ``request`` carried (``None``: unknown)."""
        sent = getattr(request, "_headwater_token", None)
        if sent is not None:
            return sent
        header = request.headers.get("Authorization", "")
        return header[len("Bearer ") :] if header.startswith("Bearer ") else None

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        token = self.token()
        self._apply(request, token)
        request._headwater_token = token  # type: ignore[attr-defined]
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
        stale = self._sent(response.request)
        log.info("the API answered 401: renewing the access token and retrying once")
        token = self.token(stale=stale)
        response.content  # consume the body so the connection can be reused  # noqa: B018
        response.close()
        retry = response.request.copy()
        self._apply(retry, token)
        retry._headwater_token = token  # type: ignore[attr-defined]
        retry._headwater_retried = True  # type: ignore[attr-defined]
        new_response = response.connection.send(retry, **kwargs)
        new_response.history.append(response)
        new_response.request = retry
        return new_response


class _Endpoint:
    """Requests to a credential endpoint (a token URL, a login path) that carry secrets:
    redirects are followed by hand, within the endpoint's origin only, the body re-sent
    there (requests would re-post it on a 307/308 to any host, or turn it into a GET); a
    303 is followed with a GET, without the body (RFC 9110).

    The origin checked is the one of the request as prepared — the URL the transport
    connects to — not of the ``Location`` text: URL parsers disagree about some
    addresses (a backslash before ``@``), and the check must read the address as the
    connection will."""

    #: redirects of the credential request followed (within the endpoint's origin)
    max_redirects: int = 5
    #: what the request carries, for the redirect error
    carries: str = "client credentials"
    #: the endpoint's name in errors
    what: str = "token endpoint"

    url: str
    session: requests.Session
    timeout: float | tuple[float, float]

    def _send(
        self,
        method: str = "POST",
        *,
        data: Mapping[str, Any] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        url: str | None = None,
    ) -> requests.Response:
        session = self.session
        target, home, status = url or self.url, None, None
        for _ in range(self.max_redirects + 1):
            prepared = session.prepare_request(
                requests.Request(
                    method,
                    target,
                    data=dict(data) if data is not None else None,
                    json=json,
                    headers=dict(headers or {}),
                )
            )
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
                method, data, json = "GET", None, None
        raise ResponseError(
            f"{self.what} {redact.redact(self.url)} redirected more than "
            f"{self.max_redirects} times; set {self._url_setting} to the real {self.what}"
        )

    _url_setting = "token_url"

    def _refused(self, status: int | None, there: str, home: str | None) -> RedirectRefused:
        code = f" (HTTP {status})" if status else ""
        where = (
            f"another origin, {there},"
            if there
            else "an address that cannot be parsed unambiguously"
        )
        return RedirectRefused(
            f"{self.what} {redact.redact(self.url)} redirected the "
            f"request{code} to {where} from {home}; refusing to send the "
            f"{self.carries} there — set {self._url_setting} to the real {self.what}"
        )


class _TokenEndpointAuthenticator(_Endpoint, _RenewingAuthenticator):
    """An access token from an OAuth2 token endpoint (RFC 6749 section 5)."""

    #: the hint of the error when the endpoint refuses the grant
    refused_hint = "check client_id, client_secret and scope"

    def __init__(
        self,
        token_url: str,
        *,
        session: requests.Session | None = None,
        renew_margin: float = 60.0,
        default_ttl: float = 3600.0,
        timeout: float | tuple[float, float] = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(renew_margin=renew_margin, default_ttl=default_ttl, clock=clock)
        self.token_url = self.url = token_url
        # a bounded session (redirects within the origin, body size and deadline)
        self.session = session if session is not None else _default_session()
        self.timeout = timeout

    def _grant(self) -> tuple[dict[str, Any], dict[str, str]]:
        """The token request's form and headers."""
        raise NotImplementedError

    def _request_token(self, form: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
        """POST the grant; the endpoint's JSON answer, or a one-line error."""
        url = redact.redact(self.token_url)
        try:
            response = self._send("POST", data=form, headers=headers)
        except requests.RequestException as exc:
            raise ResponseError(
                f"token request to {url} failed ({_failure(exc)}); "
                "check token_url and that the token endpoint is reachable"
            ) from None
        if response.status_code in (400, 401, 403):
            raise ResponseError(self._refusal(response))
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
        return body

    def _refusal(self, response: requests.Response) -> str:
        return (
            f"token endpoint {redact.redact(self.token_url)} refused the client credentials "
            f"(HTTP {response.status_code}{_oauth_error(response)}); {self.refused_hint}"
        )

    def _fetch(self) -> tuple[str, float]:
        form, headers = self._grant()
        body = self._request_token(form, headers)
        return self._accept(body)

    def _accept(self, body: Mapping[str, Any]) -> tuple[str, float]:
        ttl = _positive_float(body.get("expires_in"), self.default_ttl)
        log.info(
            "obtained an access token from %s (valid %.0f s)", redact.redact(self.token_url), ttl
        )
        return body["access_token"], ttl


def _client_auth(
    client_id: str, client_secret: str, how: str
) -> tuple[dict[str, str], dict[str, str]]:
    """The form fields and headers that authenticate an OAuth2 client: in the form body
    (``"form"``) or as HTTP basic (``"basic"``, ``client_secret_basic``: both parts
    form-urlencoded first, RFC 6749 section 2.3.1)."""
    if how == "basic":
        user, password = quote_plus(client_id), quote_plus(client_secret)
        redact.register_basic(user, password)
        pair = f"{user}:{password}".encode()
        return {}, {"Authorization": "Basic " + base64.b64encode(pair).decode()}
    return {"client_id": client_id, "client_secret": client_secret}, {}


class OAuth2ClientCredentialsAuthenticator(_TokenEndpointAuthenticator):
    """OAuth2 client-credentials tokens, shared and thread-safe.

    Args:
        token_url: the token endpoint.
        client_id, client_secret: the client's credentials.
        scope: sent as ``scope`` when not ``None``.
        extra_form: more form fields for the token request.
        client_auth: ``"form"`` (the credentials in the form body) or ``"basic"``
            (HTTP basic, ``client_secret_basic``).
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
        client_auth: str = "form",
        session: requests.Session | None = None,
        renew_margin: float = 60.0,
        default_ttl: float = 3600.0,
        timeout: float | tuple[float, float] = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(
            token_url,
            session=session,
            renew_margin=renew_margin,
            default_ttl=default_ttl,
            timeout=timeout,
            clock=clock,
        )
        self.client_id = client_id
        self._client_secret = client_secret
        self.scope = scope
        self.extra_form = dict(extra_form or {})
        self.client_auth = client_auth

    def __repr__(self) -> str:
        return f"OAuth2ClientCredentialsAuthenticator(token_url={self.token_url!r}, client_id=***)"

    def _grant(self) -> tuple[dict[str, Any], dict[str, str]]:
        fields, headers = _client_auth(self.client_id, self._client_secret, self.client_auth)
        form = {"grant_type": "client_credentials", **fields, **self.extra_form}
        if self.scope:
            form["scope"] = self.scope
        return form, headers


def _store_name(store: Any) -> str:
    """How a token store is named in a repr or an error: the builtin stores by their
    repr (a folder), any other (a vault client, from a hook) by its class only, since
    its repr may hold the credentials it was built with."""
    from headwater.http.token_store import FileTokenStore, MemoryTokenStore

    if isinstance(store, (FileTokenStore, MemoryTokenStore)):
        return redact.redact(repr(store))
    return type(store).__name__


class OAuth2RefreshTokenAuthenticator(_TokenEndpointAuthenticator):
    """OAuth2 refresh-token grant (RFC 6749 section 6) with rotation kept in a store.

    Every refresh runs under the store's lock: the refresh token used is the one the
    store holds for the ``refresh_token`` setting (else the setting itself), and a new
    refresh token in the answer (rotation) is saved to the store before the access
    token is used, so the next run — or a concurrent one — continues with it.

    Args:
        token_url: the token endpoint.
        client_id, client_secret: the client's credentials (``None``: a public client).
        refresh_token: the ``refresh_token`` setting.
        store: a :class:`~headwater.http.token_store.TokenStore` (``None``: the
            assembler sets the ``headwater_token_store`` hook's answer before the first
            request; used alone, a :class:`~headwater.http.token_store.FileTokenStore`).
        connector: the connector's name (the store's key, with the setting's digest).
        scope, extra_form, client_auth, session, renew_margin, default_ttl, timeout,
        clock: as for :class:`OAuth2ClientCredentialsAuthenticator`.
    """

    refused_hint = "check client_id and client_secret"

    def __init__(
        self,
        token_url: str,
        client_id: str | None,
        client_secret: str | None,
        refresh_token: str,
        *,
        store: TokenStore | None,
        connector: str,
        scope: str | None = None,
        extra_form: Mapping[str, str] | None = None,
        client_auth: str = "form",
        session: requests.Session | None = None,
        renew_margin: float = 60.0,
        default_ttl: float = 3600.0,
        timeout: float | tuple[float, float] = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(
            token_url,
            session=session,
            renew_margin=renew_margin,
            default_ttl=default_ttl,
            timeout=timeout,
            clock=clock,
        )
        self.client_id = client_id
        self._client_secret = client_secret
        self._setting = refresh_token
        self.store = store
        self.connector = connector
        self._key = setting_key(connector, refresh_token)
        self.scope = scope
        self.extra_form = dict(extra_form or {})
        self.client_auth = client_auth
        #: how many rotated refresh tokens were saved to the store
        self.rotations = 0

    def __repr__(self) -> str:
        return (
            f"OAuth2RefreshTokenAuthenticator(token_url={self.token_url!r}, "
            f"refresh_token=***, store={_store_name(self.store)})"
        )

    def _fetch(self) -> tuple[str, float]:
        if self.store is None:
            self.store = FileTokenStore()
        with contextlib.ExitStack() as stack:
            try:
                stack.enter_context(_locked(self.store, self.connector))
            except Exception as exc:
                raise RunError(
                    f"connector {self.connector}: the token store "
                    f"{_store_name(self.store)} could not be locked "
                    f"({type(exc).__name__}); check it is writable (or set {TOKEN_DIR_ENV})"
                ) from None
            try:
                stored = self.store.load(self.connector, self._key)
            except Exception as exc:
                raise RunError(
                    f"connector {self.connector}: the token store "
                    f"{_store_name(self.store)} could not be read "
                    f"({type(exc).__name__}); check it is reachable (or set {TOKEN_DIR_ENV})"
                ) from None
            current = stored or self._setting
            redact.register([current])
            form: dict[str, Any] = {"grant_type": "refresh_token", "refresh_token": current}
            headers: dict[str, str] = {}
            if self.client_id is not None:
                fields, headers = _client_auth(
                    self.client_id, self._client_secret or "", self.client_auth
                )
                form.update(fields)
            form.update(self.extra_form)
            if self.scope:
                form["scope"] = self.scope
            body = self._request_token(form, headers)
            rotated = body.get("refresh_token")
            if isinstance(rotated, str) and rotated and rotated != current:
                redact.register([rotated])
                try:
                    self.store.save(self.connector, self._key, rotated)
                except Exception as exc:
                    raise RunError(
                        f"connector {self.connector}: the token endpoint rotated the refresh "
                        f"token but the token store {_store_name(self.store)} could "
                        f"not keep it ({type(exc).__name__}); make the store writable "
                        f"(or set {TOKEN_DIR_ENV}), then get a new refresh_token"
                    ) from None
                self.rotations += 1
                log.info("kept the rotated refresh token in the token store")
        return self._accept(body)

    def _refusal(self, response: requests.Response) -> str:
        error = _oauth_error(response)
        url = redact.redact(self.token_url)
        if response.status_code == 400 and "invalid_grant" in error:
            return (
                f"token endpoint {url} refused refresh_token of connector {self.connector} "
                f"(HTTP 400{error}): it was revoked, expired or already used; get a new "
                f"refresh_token and set it (environment variable "
                f"SOURCES__{self.connector.upper()}__REFRESH_TOKEN)"
            )
        return super()._refusal(response)


def _locked(store: Any, connector: str) -> Any:
    """``store.lock(connector)``, or no lock for a minimal store without one."""
    lock = getattr(store, "lock", None)
    return lock(connector) if lock is not None else contextlib.nullcontext()


class JwtSigner:
    """Signs JWTs with a private key (PEM; for HS256 a shared secret) through PyJWT.

    The key is loaded once, here: a key that does not load is a ``ValueError`` whose
    text names the algorithm but never the key.
    """

    def __init__(
        self,
        private_key: str,
        algorithm: str,
        *,
        issuer: str,
        audience: str,
        lifetime: float,
        subject: str | None = None,
        key_id: str | None = None,
        scope: str | None = None,
        claims: Mapping[str, Any] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        import jwt

        key_text = private_key
        if "\\n" in key_text and "\n" not in key_text.strip():
            key_text = key_text.replace("\\n", "\n")  # a PEM pasted from a JSON file
        try:
            self._key = jwt.get_algorithm_by_name(algorithm).prepare_key(key_text)
        except Exception:
            kind = "an HS256 secret" if algorithm.startswith("HS") else "a PEM private key"
            raise ValueError(f"is not {kind} for {algorithm}") from None
        if not algorithm.startswith("HS") and not hasattr(self._key, "sign"):
            raise ValueError(f"is a public key, not a private key for {algorithm}")
        self.algorithm = algorithm
        self.issuer = issuer
        self.audience = audience
        self.lifetime = lifetime
        self.subject = subject
        self.key_id = key_id
        self.scope = scope
        self.claims = dict(claims or {})
        self._clock = clock

    def __repr__(self) -> str:
        return f"JwtSigner(algorithm={self.algorithm!r}, issuer={self.issuer!r}, key=***)"

    def sign(self) -> str:
        """A new JWT valid for :attr:`lifetime` seconds from now."""
        import jwt

        now = int(self._clock())
        payload: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.audience,
            "iat": now,
            "exp": now + int(self.lifetime),
            "jti": secrets.token_hex(16),
        }
        if self.subject:
            payload["sub"] = self.subject
        if self.scope:
            payload["scope"] = self.scope
        payload.update(self.claims)
        headers = {"kid": self.key_id} if self.key_id else None
        return jwt.encode(payload, self._key, algorithm=self.algorithm, headers=headers)


class JwtGrantAuthenticator(_TokenEndpointAuthenticator):
    """JWT bearer grant (RFC 7523): a signed assertion exchanged at the token URL for an
    access token, renewed like the client-credentials one.

    Args:
        token_url: the token endpoint.
        signer: a :class:`JwtSigner` (its audience is usually the token URL).
        grant_type: the grant type sent (default: RFC 7523's).
        session, renew_margin, default_ttl, timeout, clock: as for
            :class:`OAuth2ClientCredentialsAuthenticator`.
    """

    refused_hint = "check issuer, private_key, subject and scope"
    carries = "signed assertion"

    def __init__(
        self,
        token_url: str,
        signer: JwtSigner,
        *,
        grant_type: str = "urn:ietf:params:oauth:grant-type:jwt-bearer",
        session: requests.Session | None = None,
        renew_margin: float = 60.0,
        default_ttl: float = 3600.0,
        timeout: float | tuple[float, float] = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(
            token_url,
            session=session,
            renew_margin=renew_margin,
            default_ttl=default_ttl,
            timeout=timeout,
            clock=clock,
        )
        self.signer = signer
        self.grant_type = grant_type

    def __repr__(self) -> str:
        return f"JwtGrantAuthenticator(token_url={self.token_url!r}, signer={self.signer!r})"

    def _grant(self) -> tuple[dict[str, Any], dict[str, str]]:
        assertion = self.signer.sign()
        redact.register([assertion])
        return {"grant_type": self.grant_type, "assertion": assertion}, {}

    def _refusal(self, response: requests.Response) -> str:
        return (
            f"token endpoint {redact.redact(self.token_url)} refused the signed assertion "
            f"(HTTP {response.status_code}{_oauth_error(response)}); {self.refused_hint}"
        )


class JwtBearerAuthenticator(_RenewingAuthenticator):
    """A self-signed JWT sent as a bearer token, signed again before it expires (and
    once on a 401)."""

    def __init__(self, signer: JwtSigner, *, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(renew_margin=60.0, default_ttl=float(signer.lifetime), clock=clock)
        self.signer = signer

    def __repr__(self) -> str:
        return f"JwtBearerAuthenticator(signer={self.signer!r})"

    def _fetch(self) -> tuple[str, float]:
        return self.signer.sign(), float(self.signer.lifetime)


class SessionLoginAuthenticator(_Endpoint, _RenewingAuthenticator):
    """Log in (credentials to a login URL), then send the session token with every
    request; log in again when the session's age reaches its lifetime, and once on 401.

    Args:
        login_url: where to log in.
        body: the login request's body (credentials filled in).
        body_format: ``"json"`` or ``"form"``.
        method: ``"POST"`` or ``"GET"`` (a GET sends the body as query parameters).
        token_path: where the token is in the login response's JSON body.
        token_header: the response header holding the token (instead of ``token_path``).
        location, name, template: the token is sent as ``template`` (``{token}``
            replaced) in the header, query parameter or cookie ``name``.
        expires_in: the session's lifetime in seconds (``None``: ``expires_in_path`` of
            the login response, else until a 401).
        credential_names: the settings in ``body`` (named in the refusal error).
    """

    carries = "login credentials"
    what = "login endpoint"
    _url_setting = "base_url"

    def __init__(
        self,
        login_url: str,
        body: Mapping[str, Any],
        *,
        body_format: str = "json",
        method: str = "POST",
        token_path: Any = "token",
        token_header: str | None = None,
        location: str = "header",
        name: str = "Authorization",
        template: str = "Bearer {token}",
        expires_in: float | None = None,
        expires_in_path: Any = None,
        credential_names: tuple[str, ...] = (),
        session: requests.Session | None = None,
        timeout: float | tuple[float, float] = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        # log in again a little before the session's end (a tenth of it, at most 60 s)
        super().__init__(renew_margin=60.0, default_ttl=float("inf"), clock=clock)
        self.url = login_url
        self._body = dict(body)
        self.body_format = body_format
        self.method = method
        self.token_path = token_path
        self.token_header = token_header
        self.location = location
        self.name = name
        self.template = template
        self.expires_in = expires_in
        self.expires_in_path = expires_in_path
        self.credential_names = credential_names
        self.session = session if session is not None else _default_session()
        self.timeout = timeout
        if location == "query":
            redact.register_parameter(name)

    def __repr__(self) -> str:
        return f"SessionLoginAuthenticator(login_url={self.url!r}, credentials=***)"

    def _fetch(self) -> tuple[str, float]:
        from headwater.http.paginators import lookup

        url = redact.redact(self.url)
        try:
            if self.method == "GET":
                query = urlencode({k: str(v) for k, v in self._body.items()})
                target = self.url + ("&" if "?" in self.url else "?") + query
                response = self._send("GET", url=target)
            elif self.body_format == "form":
                response = self._send("POST", data=self._body)
            else:
                response = self._send("POST", json=self._body)
        except requests.RequestException as exc:
            raise ResponseError(
                f"login request to {url} failed ({_failure(exc)}); "
                "check base_url and that the API is reachable"
            ) from None
        names = ", ".join(self.credential_names) or "the login credentials"
        if response.status_code in (400, 401, 403):
            raise ResponseError(
                f"login at {url} was refused (HTTP {response.status_code}); check {names}"
            )
        if response.status_code >= 300:
            raise ResponseError(
                f"login at {url} answered HTTP {response.status_code}; "
                "the API may be down — try again later"
            )
        body: Any = None
        if self.token_header is not None:
            token = response.headers.get(self.token_header)
            where = f"header {self.token_header!r}"
        else:
            try:
                body = _json(response)
            except (ValueError, RecursionError):
                body = None
            token = lookup(body, self.token_path)
            where = f"token_path {self.token_path!r}"
        if not isinstance(token, str) or not token:
            raise ResponseError(
                f"login at {url} answered without a session token at {where}; "
                "check the connector's SessionLogin declaration"
            )
        ttl = self.expires_in
        if ttl is None and self.expires_in_path is not None:
            if body is None:
                try:
                    body = _json(response)
                except (ValueError, RecursionError):
                    body = None
            ttl = _positive_float(lookup(body, self.expires_in_path), float("inf"))
        log.info("logged in at %s", url)
        return token, float("inf") if not ttl else float(ttl)

    def _value(self, token: str) -> str:
        return self.template.replace("{token}", token)

    def _apply(self, request: requests.PreparedRequest, token: str) -> None:
        value = self._value(token)
        if self.location == "header":
            request.headers[self.name] = value
        elif self.location == "query":
            _set_query(request, self.name, value)
        else:
            cookies = [
                c
                for c in (request.headers.get("Cookie") or "").split("; ")
                if c and not c.startswith(f"{self.name}=")
            ]
            request.headers["Cookie"] = "; ".join([*cookies, f"{self.name}={value}"])


class TemplateAuthenticator(_NoCopy, AuthBase):
    """Static credentials sent as templated headers and query parameters, filled once
    from the settings (``{"Authorization": "Token <api_key>"}``)."""

    def __init__(self, headers: Mapping[str, str], query: Mapping[str, str] | None = None) -> None:
        self._headers = dict(headers)
        self._query = dict(query or {})
        for name in self._query:
            redact.register_parameter(name)

    def __repr__(self) -> str:
        return (
            f"TemplateAuthenticator(headers={sorted(self._headers)!r}, "
            f"query={sorted(self._query)!r}, values=***)"
        )

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers.update(self._headers)
        for name, value in self._query.items():
            _set_query(request, name, value)
        return request


def _set_query(request: requests.PreparedRequest, name: str, value: str) -> None:
    """Set query parameter ``name`` of ``request`` (replacing, not appending: a next link
    may already carry it)."""
    parts = urlsplit(request.url or "")
    query = parse_qsl(parts.query, keep_blank_values=True)
    kept = [(k, v) for k, v in query if k != name]
    request.url = urlunsplit(parts._replace(query=urlencode(kept)))
    request.prepare_url(request.url, {name: value})


def _failure(exc: requests.RequestException) -> str:
    """What went wrong, in the words a page's error uses (the response deadline and the
    setting to raise, an answer that broke HTTP, a body cut short), never a URL."""
    from headwater.http.extract import failure_reason

    return redact.redact(failure_reason(exc))


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
            _set_query(request, self.name, self._api_key)
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
        redact.register_basic(username, password)

    def __repr__(self) -> str:
        return f"BasicAuthenticator(username={self.username!r}, password=***)"

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        pair = f"{self.username}:{self._password}".encode()
        request.headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()
        return request
