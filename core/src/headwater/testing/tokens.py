"""The simulator's credentials and token endpoint: the credentials it accepts for the
connector's auth kind, the OAuth2 client-credentials endpoint that issues (and revokes)
expiring tokens, and the check of every API request's credentials."""

from __future__ import annotations

import base64
import binascii
import secrets
import threading
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs, unquote_plus, urlsplit

from headwater.spec import ApiKeyAuth, AuthSpec, BasicAuth, BearerAuth, OAuth2ClientCredentials
from headwater.testing.server import Response, dumps, error_response

__all__ = ["DEFAULT_TOKEN_PATH", "TokenEndpoint"]

#: Where the token endpoint is served when the spec's token URL is not on the API host.
DEFAULT_TOKEN_PATH = "/oauth2/token"


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
        #: the credentials accepted, by setting name
        self.credentials = self._make_credentials(dict(given))
        #: the token endpoint's path on the API host (``None`` without OAuth2)
        self.path = self._find_path()
        self.issued = 0  # tokens issued since construction or the last reset_count()
        self._tokens: dict[str, float] = {}  # token -> monotonic expiry

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
            creds["username"] = given.get("username", f"user-{secrets.token_hex(4)}")
            creds["password"] = given.get("password", secrets.token_urlsafe(18))
        return creds

    def _find_path(self) -> str | None:
        auth = self.auth
        if not isinstance(auth, OAuth2ClientCredentials):
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

    def reset_count(self) -> None:
        """Start counting issued tokens from zero (issued tokens stay valid).

        The caller holds the lock (the simulator resets its log at the same time)."""
        self.issued = 0

    # token endpoint

    def answer(self, method: str, headers: Mapping[str, str], body: bytes) -> Response:
        """The token endpoint's answer to one request."""
        auth = self.auth
        assert isinstance(auth, OAuth2ClientCredentials)
        if method != "POST":
            return error_response(
                405, "invalid_request", "the token endpoint accepts POST only", {"Allow": "POST"}
            )
        form = {
            k: v[-1]
            for k, v in parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True).items()
        }
        if form.get("grant_type") != "client_credentials":
            return error_response(
                400, "unsupported_grant_type", "grant_type must be client_credentials"
            )
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
        token = secrets.token_urlsafe(24)
        with self._lock:
            self._tokens[token] = time.monotonic() + self.ttl
            self.issued += 1
        payload: dict[str, Any] = {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": max(1, int(self.ttl)),
        }
        if expected_scope is not None:
            payload["scope"] = expected_scope
        return Response(200, dumps(payload), headers={"Cache-Control": "no-store"})

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
        header = headers.get("authorization", "")
        if isinstance(auth, BasicAuth):
            pair = basic_pair(header) if header[:6].lower() == "basic " else None
            if pair == (self.credentials["username"], self.credentials["password"]):
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
        elif token is not None:
            with self._lock:
                expiry = self._tokens.get(token)
            if expiry is not None and time.monotonic() < expiry:
                return None
        return error_response(
            401,
            "invalid_token",
            "the access token is missing, invalid or expired",
            {"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )


def basic_pair(header: str) -> tuple[str, str] | None:
    """The user and password of a ``Basic`` ``Authorization`` header (``None``: malformed)."""
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    return (user, password) if sep else None
