"""The simulator's credentials and token endpoint: the credentials it accepts for the
connector's auth kind, the endpoint that issues (and revokes) expiring tokens — OAuth2
client credentials, refresh tokens that rotate (the old one refused from then on), JWT
assertions it verifies with the public half of a key pair it generates, session logins
— and the check of every API request's credentials (bearer tokens, self-signed JWTs,
session tokens in a header, query parameter or cookie, templated headers)."""

from __future__ import annotations

import base64
import binascii
import contextvars
import json
import re
import secrets
import threading
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs, unquote_plus, urlsplit

from headwater.spec import (
    ApiKeyAuth,
    AuthSpec,
    BasicAuth,
    BearerAuth,
    JwtBearer,
    JwtGrant,
    OAuth2ClientCredentials,
    OAuth2RefreshToken,
    SessionLogin,
    TemplateAuth,
    field_path,
    is_jsonpath,
)
from headwater.testing.server import Response, dumps, error_response

__all__ = ["DEFAULT_TOKEN_PATH", "TokenEndpoint", "generate_private_key"]

#: Auth kinds served by an OAuth2 token endpoint.
_OAUTH = (OAuth2ClientCredentials, OAuth2RefreshToken, JwtGrant)
_FIELD = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*)\}")


def generate_private_key(algorithm: str) -> tuple[str, Any]:
    """A new private key for ``algorithm`` (PEM text; for HS* a random secret) and the
    key that verifies its signatures."""
    if algorithm.startswith("HS"):
        secret = secrets.token_urlsafe(32)
        return secret, secret
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    if algorithm.startswith("ES"):
        curve = ec.SECP384R1() if algorithm == "ES384" else ec.SECP256R1()
        key: Any = ec.generate_private_key(curve)
    else:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return pem, key.public_key()


#: Where the token endpoint is served when the spec's token URL is not on the API host.
DEFAULT_TOKEN_PATH = "/oauth2/token"

#: when the API request being answered arrived (``time.monotonic()``), set by the
#: simulator's server before it waits out its ``latency``: tokens' ages are taken then
ARRIVED: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "headwater_sim_arrived", default=None
)


def _public_key(private_key: str, algorithm: str) -> Any:
    """The key that verifies what ``private_key`` signs (a given key, not a made-up
    string: the simulator must verify real signatures)."""
    if algorithm.startswith("HS"):
        return private_key
    from cryptography.hazmat.primitives import serialization

    try:
        key = serialization.load_pem_private_key(private_key.encode(), password=None)
    except (ValueError, TypeError):
        raise ValueError(
            "credentials['private_key'] is not a PEM private key: leave it out and the "
            "simulator makes a key pair (sim.settings['private_key'])"
        ) from None
    return key.public_key()


class TokenEndpoint:
    """The credentials one simulator accepts for ``auth``, and its token endpoint.

    ``given`` fixes some credentials (the others are random); ``ttl`` is how long an
    issued OAuth2 token stays valid (seconds). ``lock`` guards the issued tokens; the
    simulator passes its own so its log and these counters change together.
    """

    def __init__(
        self,
        auth: AuthSpec | None,
        given: Mapping[str, str],
        ttl: float,
        lock: threading.Lock | None = None,
    ) -> None:
        self.auth = auth
        self.ttl = ttl
        self._lock = lock if lock is not None else threading.Lock()
        #: the key that verifies the connector's JWTs (JWT kinds only)
        self.public_key: Any = None
        #: the credentials accepted, by setting name
        self.credentials = self._make_credentials(dict(given))
        #: the token endpoint's path on the API host (``None`` without OAuth2)
        self.path = self._find_path()
        self.issued = 0  # tokens issued since construction or the last reset_count()
        self._tokens: dict[str, float] = {}  # token -> monotonic expiry
        self._used: set[str] = set()  # tokens some request carried (issued_token_valid)
        #: the refresh token the endpoint accepts now (rotated on every refresh)
        self.refresh_token: str | None = self.credentials.get("refresh_token")
        #: how many refresh tokens were refused (a stale one after rotation, a wrong one)
        self.refresh_refused = 0
        #: whether a refresh rotates the refresh token (RFC 6749 section 10.4)
        self.rotate = True
        #: every access token, session token and rotated refresh token issued (for
        #: canary checks: none of them may show up in an output or a file)
        self.issued_values: list[str] = []

    def _make_credentials(self, given: dict[str, str]) -> dict[str, str]:
        auth = self.auth
        creds: dict[str, str] = {}
        if isinstance(auth, OAuth2ClientCredentials):
            creds["client_id"] = given.get("client_id", f"client-{secrets.token_hex(6)}")
            creds["client_secret"] = given.get("client_secret", secrets.token_urlsafe(24))
            scope = given.get("scope", auth.scope)
            if scope is not None:
                creds["scope"] = scope
        elif isinstance(auth, ApiKeyAuth):
            creds["api_key"] = given.get("api_key", secrets.token_urlsafe(24))
        elif isinstance(auth, BearerAuth):
            creds["token"] = given.get("token", secrets.token_urlsafe(24))
        elif isinstance(auth, BasicAuth):
            default_user = f"user-{secrets.token_hex(4)}" if auth.password else None
            creds["username"] = given.get("username", default_user or secrets.token_urlsafe(18))
            if auth.password:
                creds["password"] = given.get("password", secrets.token_urlsafe(18))
        elif isinstance(auth, OAuth2RefreshToken):
            creds["client_id"] = given.get("client_id", f"client-{secrets.token_hex(6)}")
            creds["client_secret"] = given.get("client_secret", secrets.token_urlsafe(24))
            creds["refresh_token"] = given.get("refresh_token", secrets.token_urlsafe(32))
            scope = given.get("scope", auth.scope)
            if scope is not None:
                creds["scope"] = scope
        elif isinstance(auth, (JwtGrant, JwtBearer)):
            creds["issuer"] = given.get("issuer", f"svc-{secrets.token_hex(4)}@example.test")
            if "private_key" in given:
                creds["private_key"] = given["private_key"]
                self.public_key = _public_key(given["private_key"], auth.algorithm)
            else:
                creds["private_key"], self.public_key = generate_private_key(auth.algorithm)
            for optional in ("subject", "key_id"):
                if optional in given:
                    creds[optional] = given[optional]
            if isinstance(auth, JwtGrant):
                scope = given.get("scope", auth.scope)
                if scope is not None:
                    creds["scope"] = scope
        elif isinstance(auth, (SessionLogin, TemplateAuth)):
            for name in auth.settings:
                secret = name in auth.secrets
                default = secrets.token_urlsafe(18) if secret else f"{name}-{secrets.token_hex(4)}"
                creds[name] = given.get(name, default)
        return creds

    @property
    def has_token_url(self) -> bool:
        """Whether the auth kind reads a ``token_url`` setting (the OAuth2 kinds)."""
        return isinstance(self.auth, _OAUTH)

    def _find_path(self) -> str | None:
        auth = self.auth
        if isinstance(auth, SessionLogin):
            login = auth.login_path
            return urlsplit(login).path if "://" in login else "/" + login.lstrip("/")
        if not isinstance(auth, _OAUTH):
            return None
        template = auth.token_url
        if template and template.startswith("{base_url}"):
            path = urlsplit("http://h" + template[len("{base_url}") :]).path
            return path if path.startswith("/") and path != "/" else DEFAULT_TOKEN_PATH
        return DEFAULT_TOKEN_PATH

    def is_token_path(self, path: str) -> bool:
        """Whether a request for ``path`` is for the token endpoint."""
        return self.path is not None and path.rstrip("/") == self.path.rstrip("/")

    def revoke(self) -> None:
        """Invalidate every token issued so far."""
        with self._lock:
            self._tokens.clear()
            self._used.clear()

    def reset_count(self) -> None:
        """Start counting issued tokens from zero (issued tokens stay valid).

        The caller holds the lock (the simulator resets its log at the same time)."""
        self.issued = 0

    # token endpoint

    def answer(
        self, method: str, headers: Mapping[str, str], body: bytes, query: str = ""
    ) -> Response:
        """The token endpoint's (or login path's) answer to one request."""
        auth = self.auth
        if isinstance(auth, SessionLogin):
            return self._login(auth, method, headers, body, query)
        if isinstance(auth, (OAuth2RefreshToken, JwtGrant)):
            if method != "POST":
                return error_response(
                    405,
                    "invalid_request",
                    "the token endpoint accepts POST only",
                    {"Allow": "POST"},
                )
            form = _form(body)
            if isinstance(auth, JwtGrant):
                return self._jwt_grant(auth, form)
            return self._refresh(auth, form, headers)
        assert isinstance(auth, OAuth2ClientCredentials)
        if method != "POST":
            return error_response(
                405, "invalid_request", "the token endpoint accepts POST only", {"Allow": "POST"}
            )
        form = {
            k: v[-1]
            for k, v in parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True).items()
        }
        # the declaration may send another grant type (Zoom's account_credentials)
        grant = str(auth.extra_form.get("grant_type", "client_credentials"))
        if form.get("grant_type") != grant:
            return error_response(400, "unsupported_grant_type", f"grant_type must be {grant}")
        client_id, client_secret = form.get("client_id"), form.get("client_secret")
        basic = headers.get("authorization", "")
        if client_id is None and basic[:6].lower() == "basic ":
            decoded = basic_pair(basic)
            if decoded is not None:
                client_id, client_secret = decoded
                if (client_id, client_secret) != (
                    self.credentials["client_id"],
                    self.credentials["client_secret"],
                ):
                    client_id, client_secret = unquote_plus(client_id), unquote_plus(client_secret)
        if (
            client_id != self.credentials["client_id"]
            or client_secret != self.credentials["client_secret"]
        ):
            return error_response(401, "invalid_client", "client authentication failed")
        expected_scope = self.credentials.get("scope")
        if expected_scope is not None and form.get("scope") != expected_scope:
            return error_response(400, "invalid_scope", "the requested scope is invalid")
        for key, value in auth.extra_form.items():
            if form.get(key) != str(value):
                return error_response(
                    400, "invalid_request", f"form field {key!r} is missing or wrong"
                )
        return self._issue(expected_scope)

    def _issue(self, scope: str | None, **extra: Any) -> Response:
        token = self._new_token()
        payload: dict[str, Any] = {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": self.announced_ttl,
            **extra,
        }
        if scope is not None:
            payload["scope"] = scope
        return Response(200, dumps(payload), headers={"Cache-Control": "no-store"})

    @property
    def announced_ttl(self) -> float | int:
        """The lifetime a token answer announces (``expires_in``): the true one, in whole
        seconds from one second up, in fractions below (tests' short lifetimes), so that
        a client renewing ahead of the end renews in time."""
        return int(self.ttl) if self.ttl >= 1 else round(self.ttl, 3)

    def _new_token(self) -> str:
        token = secrets.token_urlsafe(24)
        with self._lock:
            self._tokens[token] = time.monotonic() + self.ttl
            self.issued += 1
            self.issued_values.append(token)
        return token

    def _client_ok(self, form: Mapping[str, str], headers: Mapping[str, str]) -> bool:
        """Whether the request authenticates the client (form body or HTTP basic)."""
        client_id, client_secret = form.get("client_id"), form.get("client_secret")
        basic = headers.get("authorization", "")
        if client_id is None and basic[:6].lower() == "basic ":
            decoded = basic_pair(basic)
            if decoded is not None:
                client_id, client_secret = unquote_plus(decoded[0]), unquote_plus(decoded[1])
        return (client_id, client_secret) == (
            self.credentials["client_id"],
            self.credentials["client_secret"],
        )

    def _refresh(
        self, auth: OAuth2RefreshToken, form: Mapping[str, str], headers: Mapping[str, str]
    ) -> Response:
        if form.get("grant_type") != "refresh_token":
            return error_response(400, "unsupported_grant_type", "grant_type must be refresh_token")
        if not self._client_ok(form, headers):
            return error_response(401, "invalid_client", "client authentication failed")
        with self._lock:
            if form.get("refresh_token") != self.refresh_token:
                self.refresh_refused += 1
                return error_response(
                    400, "invalid_grant", "the refresh token is invalid, expired or revoked"
                )
            extra: dict[str, Any] = {}
            if self.rotate:
                self.refresh_token = secrets.token_urlsafe(32)
                self.issued_values.append(self.refresh_token)
                extra["refresh_token"] = self.refresh_token
        expected_scope = self.credentials.get("scope")
        if expected_scope is not None and form.get("scope") != expected_scope:
            return error_response(400, "invalid_scope", "the requested scope is invalid")
        return self._issue(expected_scope, **extra)

    def _jwt_grant(self, auth: JwtGrant, form: Mapping[str, str]) -> Response:
        if form.get("grant_type") != auth.grant_type:
            return error_response(
                400, "unsupported_grant_type", f"grant_type must be {auth.grant_type}"
            )
        claims = self._verify(auth, form.get("assertion", ""), audience_path=self.path)
        if claims is None:
            return error_response(400, "invalid_grant", "the assertion is invalid or expired")
        expected_scope = self.credentials.get("scope")
        if expected_scope is not None and claims.get("scope") != expected_scope:
            return error_response(400, "invalid_scope", "the requested scope is invalid")
        return self._issue(expected_scope)

    def _verify(
        self, auth: JwtGrant | JwtBearer, token: str, audience_path: str | None = None
    ) -> dict[str, Any] | None:
        """The claims of a JWT signed by the connector's key for this issuer (``None``:
        a bad signature, issuer, audience, subject, key id, or an expired JWT)."""
        import jwt

        try:
            header = jwt.get_unverified_header(token)
            claims = jwt.decode(
                token,
                self.public_key,
                algorithms=[auth.algorithm],
                options={"verify_aud": False, "require": ["iss", "exp", "iat", "aud"]},
            )
        except jwt.PyJWTError:
            return None
        if claims.get("iss") != self.credentials["issuer"]:
            return None
        aud = claims.get("aud")
        if auth.audience is not None:
            if aud != auth.audience:
                return None
        elif audience_path is not None:
            if not isinstance(aud, str) or urlsplit(aud).path.rstrip("/") != audience_path.rstrip(
                "/"
            ):
                return None
        elif not isinstance(aud, str) or not aud.startswith(("http://", "https://")):
            return None
        for key, value in auth.claims.items():
            if claims.get(key) != value:
                return None
        if claims.get("sub") != self.credentials.get("subject"):
            return None
        if header.get("kid") != self.credentials.get("key_id"):
            return None
        return claims

    def _login(
        self,
        auth: SessionLogin,
        method: str,
        headers: Mapping[str, str],
        body: bytes,
        query: str,
    ) -> Response:
        if method != auth.method:
            return error_response(
                405, "method_not_allowed", f"log in with {auth.method}", {"Allow": auth.method}
            )
        if method == "GET":
            given: Any = {k: v[-1] for k, v in parse_qs(query, keep_blank_values=True).items()}
        elif auth.body_format == "form":
            given = _form(body)
        else:
            try:
                given = json.loads(body or b"null")
            except ValueError:
                return error_response(400, "bad_request", "the login body is not JSON")
        expected = _filled(dict(auth.body), self.credentials)
        if auth.body_format == "form" or method == "GET":
            expected = {k: str(v) for k, v in expected.items()}
        if given != expected:
            return error_response(401, "invalid_credentials", "wrong login credentials")
        token = self._new_token()
        payload: dict[str, Any] = {}
        extra_headers = {"Cache-Control": "no-store"}
        if auth.token_header is not None:
            extra_headers[auth.token_header] = token
        else:
            _put(payload, auth.token_path, token)
        if auth.expires_in_path is not None:
            _put(payload, auth.expires_in_path, self.announced_ttl)
        return Response(200, dumps(payload), headers=extra_headers)

    def issued_token_valid(self, token: str | None) -> bool:
        """Whether ``token`` is an issued, unrevoked access token that has not expired,
        or that no request carried before.

        A token is accepted on the first request that carries it, however late: with
        a test's short ``ttl`` (a fraction of a second) a busy machine could otherwise
        let a token just issued expire before the request it was fetched for is
        checked, and a renewal would look like a failure to renew. An API answers a
        token it has just issued; only a token in use expires mid-run.

        The token's age is taken when the request arrived (:data:`ARRIVED`), before
        the simulator's ``latency``: a request sent in the token's lifetime is
        accepted, as a real API checks it on arrival."""
        if token is None:
            return False
        with self._lock:
            expiry = self._tokens.get(token)
            if expiry is None:
                return False
            if token not in self._used:
                self._used.add(token)
                return True
        arrived = ARRIVED.get()
        return (arrived if arrived is not None else time.monotonic()) < expiry

    # API requests

    def unauthorized(
        self, headers: Mapping[str, str], query: Mapping[str, list[str]]
    ) -> Response | None:
        """The 401 answer to an API request without valid credentials (``None``: valid)."""
        auth = self.auth
        if auth is None:
            return None
        if isinstance(auth, ApiKeyAuth):
            expected = self.credentials["api_key"]
            if auth.location == "header":
                given = headers.get(auth.name.lower())
            else:
                values = query.get(auth.name)
                given = values[-1] if values else None
            if given == expected:
                return None
            return error_response(
                401, "unauthorized", f"missing or invalid API key ({auth.location} {auth.name!r})"
            )
        if isinstance(auth, TemplateAuth):
            expected_headers = _filled(dict(auth.headers), self.credentials)
            expected_query = _filled(dict(auth.query), self.credentials)
            ok = all(headers.get(k.lower()) == v for k, v in expected_headers.items()) and all(
                (query.get(k) or [None])[-1] == v for k, v in expected_query.items()
            )
            if ok:
                return None
            return error_response(401, "unauthorized", "missing or invalid credentials")
        if isinstance(auth, SessionLogin):
            return self._session_check(auth, headers, query)
        header = headers.get("authorization", "")
        if isinstance(auth, JwtBearer):
            jwt_text = header[7:].strip() if header[:7].lower() == "bearer " else ""
            if jwt_text and self._verify(auth, jwt_text) is not None:
                return None
            return error_response(
                401,
                "invalid_token",
                "the JWT is missing, badly signed or expired",
                {"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )
        if isinstance(auth, BasicAuth):
            pair = basic_pair(header) if header[:6].lower() == "basic " else None
            expected = (self.credentials["username"], self.credentials.get("password", ""))
            if pair == expected:
                return None
            return error_response(
                401,
                "unauthorized",
                "invalid username or password",
                {"WWW-Authenticate": 'Basic realm="api"'},
            )
        token = header[7:].strip() if header[:7].lower() == "bearer " else None
        if isinstance(auth, BearerAuth):
            if token is not None and token == self.credentials["token"]:
                return None
        elif self.issued_token_valid(token):
            return None
        return error_response(
            401,
            "invalid_token",
            "the access token is missing, invalid or expired",
            {"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )

    def _session_check(
        self, auth: SessionLogin, headers: Mapping[str, str], query: Mapping[str, list[str]]
    ) -> Response | None:
        prefix, _, suffix = auth.template.partition("{token}")
        if auth.location == "header":
            sent = headers.get(auth.name.lower())
        elif auth.location == "query":
            sent = (query.get(auth.name) or [None])[-1]
        else:
            sent = None
            for part in (headers.get("cookie") or "").split(";"):
                name, _, value = part.strip().partition("=")
                if name == auth.name:
                    sent = value
        token = None
        if sent is not None and sent.startswith(prefix) and sent.endswith(suffix):
            token = sent[len(prefix) : len(sent) - len(suffix)]
        if self.issued_token_valid(token):
            return None
        return error_response(401, "unauthorized", "no session, or the session expired")


def _form(body: bytes) -> dict[str, str]:
    return {
        k: v[-1]
        for k, v in parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True).items()
    }


def _filled(template: Any, values: Mapping[str, Any]) -> Any:
    """``template`` with ``{name}`` placeholders replaced as the client fills them."""
    if isinstance(template, str):

        def fill(match: re.Match[str]) -> str:
            name = match.group(1)
            return match.group(0)[0] if name is None else str(values.get(name, ""))

        return _FIELD.sub(fill, template)
    if isinstance(template, Mapping):
        return {k: _filled(v, values) for k, v in template.items()}
    if isinstance(template, (list, tuple)):
        return [_filled(v, values) for v in template]
    return template


def _put(body: dict[str, Any], path: Any, value: Any) -> None:
    """Set ``value`` at key path ``path`` of ``body`` (a simple ``$.a.b`` JSONPath too)."""
    if is_jsonpath(path):
        keys: tuple[str, ...] = tuple(k for k in str(path).lstrip("$").split(".") if k)
    else:
        keys = field_path(path)
    for key in keys[:-1]:
        body = body.setdefault(key, {})
    body[keys[-1]] = value


def basic_pair(header: str) -> tuple[str, str] | None:
    """The user and password of a ``Basic`` ``Authorization`` header (``None``: malformed)."""
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    return (user, password) if sep else None
