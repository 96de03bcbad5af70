"""Builtin ``headwater_auth``: an authenticator from the connector's auth spec."""

from __future__ import annotations

from typing import TYPE_CHECKING

from headwater.markers import hookimpl
from headwater.spec import ApiKeyAuth, BasicAuth, BearerAuth, Connector, OAuth2ClientCredentials

if TYPE_CHECKING:
    from requests.auth import AuthBase

    from headwater.settings import Settings


@hookimpl(trylast=True)
def headwater_auth(connector: Connector, settings: Settings) -> AuthBase | None:
    """Build the authenticator declared by ``connector.auth`` (``None``: no auth)."""
    # imports requests: the plugin manager is built for `headwater list` too
    from headwater.http import authenticators
    from headwater.http.session import HttpLimits, retrying_session

    spec = connector.auth
    if isinstance(spec, OAuth2ClientCredentials):
        # The run's limits (response size, deadline, Retry-After cap, timeouts) hold
        # for the token endpoint too.
        limits = HttpLimits.from_settings(settings, connector.name)
        timeouts_set = settings.get("connect_timeout") or settings.get("read_timeout")
        return authenticators.OAuth2ClientCredentialsAuthenticator(
            token_url=settings["token_url"],
            client_id=settings["client_id"],
            client_secret=settings["client_secret"],
            scope=settings.get("scope"),
            extra_form=spec.extra_form,
            # The token endpoint gets the connector's retry policy: a token endpoint
            # that is briefly failing must not fail the run.
            session=retrying_session(connector.retry, url=settings["token_url"], limits=limits),
            timeout=limits.timeout(connector.retry) if timeouts_set else 30.0,
        )
    if isinstance(spec, ApiKeyAuth):
        return authenticators.ApiKeyAuthenticator(spec.name, settings["api_key"], spec.location)
    if isinstance(spec, BearerAuth):
        return authenticators.BearerAuthenticator(settings["token"])
    if isinstance(spec, BasicAuth):
        return authenticators.BasicAuthenticator(settings["username"], settings["password"])
    return None
