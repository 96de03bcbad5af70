"""Builtin ``headwater_auth``: an authenticator from the connector's auth spec; builtin
``headwater_token_store``: the owner-only file store of rotated refresh tokens."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from headwater.errors import ConfigError
from headwater.markers import hookimpl
from headwater.settings import env_var
from headwater.spec import (
    TEMPLATE_TOKEN,
    ApiKeyAuth,
    BasicAuth,
    BearerAuth,
    Connector,
    JwtBearer,
    JwtGrant,
    OAuth2ClientCredentials,
    OAuth2RefreshToken,
    SessionLogin,
    TemplateAuth,
)

if TYPE_CHECKING:
    from requests.auth import AuthBase

    from headwater.http.token_store import TokenStore
    from headwater.settings import Settings


@hookimpl(trylast=True)
def headwater_token_store(connector: Connector, settings: Settings) -> TokenStore | None:
    """The default token store: one owner-only file per connector under
    ``HEADWATER_TOKEN_DIR`` or the user data directory."""
    from headwater.http.token_store import FileTokenStore

    return FileTokenStore()


@hookimpl(trylast=True)
def headwater_auth(connector: Connector, settings: Settings) -> AuthBase | None:
    """Build the authenticator declared by ``connector.auth`` (``None``: no auth)."""
    # imports requests: the plugin manager is built for `headwater list` too
    from headwater.http import authenticators

    spec = connector.auth
    if isinstance(spec, (OAuth2ClientCredentials, OAuth2RefreshToken, JwtGrant)):
        return _token_endpoint_auth(connector, spec, settings)
    if isinstance(spec, JwtBearer):
        signer = _signer(connector, spec, settings, str(settings["base_url"]))
        return authenticators.JwtBearerAuthenticator(signer)
    if isinstance(spec, SessionLogin):
        session, timeout = _credential_session(connector, settings, settings["base_url"])
        base = str(settings["base_url"]).rstrip("/")
        login = spec.login_path
        url = login if "://" in login else f"{base}/{login.lstrip('/')}"
        return authenticators.SessionLoginAuthenticator(
            url,
            _fill(connector, "body", dict(spec.body), settings),
            body_format=spec.body_format,
            method=spec.method,
            token_path=spec.token_path,
            token_header=spec.token_header,
            location=spec.location,
            name=spec.name,
            template=spec.template,
            expires_in=spec.expires_in,
            expires_in_path=spec.expires_in_path,
            credential_names=spec.settings,
            session=session,
            timeout=timeout,
        )
    if isinstance(spec, TemplateAuth):
        return authenticators.TemplateAuthenticator(
            _fill(connector, "headers", dict(spec.headers), settings),
            _fill(connector, "query", dict(spec.query), settings),
        )
    if isinstance(spec, ApiKeyAuth):
        return authenticators.ApiKeyAuthenticator(spec.name, settings["api_key"], spec.location)
    if isinstance(spec, BearerAuth):
        return authenticators.BearerAuthenticator(settings["token"])
    if isinstance(spec, BasicAuth):
        password = settings["password"] if spec.password else ""  # the username alone
        return authenticators.BasicAuthenticator(settings["username"], password)
    return None


def _credential_session(connector: Connector, settings: Settings, url: str) -> tuple[Any, Any]:
    """The session and timeout of requests to a token or login endpoint: the run's limits
    (response size, deadline, Retry-After cap, timeouts) and the connector's retry policy
    hold there too — a briefly failing token endpoint must not fail the run."""
    from headwater.http.session import HttpLimits, retrying_session

    limits = HttpLimits.from_settings(settings, connector.name)
    timeouts_set = settings.get("connect_timeout") or settings.get("read_timeout")
    session = retrying_session(connector.retry, url=url, limits=limits)
    return session, limits.timeout(connector.retry) if timeouts_set else 30.0


def _token_endpoint_auth(
    connector: Connector,
    spec: OAuth2ClientCredentials | OAuth2RefreshToken | JwtGrant,
    settings: Settings,
) -> AuthBase:
    from headwater.http import authenticators

    token_url = settings["token_url"]
    session, timeout = _credential_session(connector, settings, token_url)
    if isinstance(spec, OAuth2ClientCredentials):
        return authenticators.OAuth2ClientCredentialsAuthenticator(
            token_url=token_url,
            client_id=settings["client_id"],
            client_secret=settings["client_secret"],
            scope=settings.get("scope"),
            extra_form=spec.extra_form,
            client_auth=spec.client_auth,
            session=session,
            timeout=timeout,
        )
    if isinstance(spec, OAuth2RefreshToken):
        # The store is the headwater_token_store hook's answer, set by the assembler
        # (builtin implementations do not call hooks themselves).
        return authenticators.OAuth2RefreshTokenAuthenticator(
            token_url=token_url,
            client_id=settings.get("client_id"),
            client_secret=settings.get("client_secret"),
            refresh_token=settings["refresh_token"],
            store=None,
            connector=connector.name,
            scope=settings.get("scope"),
            extra_form=spec.extra_form,
            client_auth=spec.client_auth,
            session=session,
            timeout=timeout,
        )
    signer = _signer(connector, spec, settings, token_url)
    return authenticators.JwtGrantAuthenticator(
        token_url, signer, grant_type=spec.grant_type, session=session, timeout=timeout
    )


def _signer(
    connector: Connector, spec: JwtGrant | JwtBearer, settings: Settings, default_aud: str
) -> Any:
    from headwater.http.authenticators import JwtSigner

    try:
        return JwtSigner(
            str(settings["private_key"]),
            spec.algorithm,
            issuer=str(settings["issuer"]),
            audience=spec.audience or default_aud,
            lifetime=spec.lifetime,
            subject=settings.get("subject"),
            key_id=settings.get("key_id"),
            scope=settings.get("scope") if isinstance(spec, JwtGrant) else None,
            claims=spec.claims,
        )
    except ValueError as exc:
        raise ConfigError(
            f"connector {connector.name}, auth {spec.kind}: setting private_key {exc}; "
            f"set {env_var(connector.name, 'private_key')} to the whole key, "
            "BEGIN and END lines included"
        ) from None


def _fill(connector: Connector, field: str, template: Any, settings: Settings) -> Any:
    """``template`` (a string, or strings in a mapping or list) with every ``{name}``
    replaced by setting ``name``; a placeholder naming no setting is a ConfigError
    naming the connector and the field."""
    if isinstance(template, str):

        def fill(match: re.Match[str]) -> str:
            name = match.group(1)
            if name is None:
                return match.group(0)[0]
            value = settings.get(name)
            if value is None:
                raise ConfigError(
                    f"connector {connector.name}, auth {connector.auth.kind} "  # type: ignore[union-attr]
                    f"{field}: {{{name}}} names setting {name}, which is not set; set it "
                    f"(environment variable {env_var(connector.name, name)})"
                )
            return str(value)

        return TEMPLATE_TOKEN.sub(fill, template)
    if isinstance(template, Mapping):
        return {k: _fill(connector, field, v, settings) for k, v in template.items()}
    if isinstance(template, (list, tuple)):
        return [_fill(connector, field, v, settings) for v in template]
    return template
