"""Headwater: REST APIs into any dlt destination, one plugin per connector.

The public face::

    import dlt, headwater
    pipeline = dlt.pipeline("users", destination="duckdb", dataset_name="directory_data")
    pipeline.run(headwater.source("directory", client_id=..., client_secret=...))

Importing this package is cheap: dlt and the plugins are loaded on first use.

This module is the one import path for connector authors: the specs, ``hookimpl``,
:class:`Settings` (what hooks receive), the errors, the retry default, and the runtime
paginators and authenticators a hook may return (loaded on first use: they import dlt
and requests). For orchestrators: :class:`RunPlan` and :func:`plan_runs` (a run as
picklable data, loaded on first use) and the ``headwater.dagster`` package (the
``headwater[dagster]`` extra). ``headwater.spec`` and ``headwater.testing`` are public
too; the layer packages (``headwater.http``, ``plugin``, ``load``, ``run``, ``cli``) are
internal.
"""

from __future__ import annotations

from importlib import import_module
from importlib.metadata import version
from typing import TYPE_CHECKING, Any

from headwater.errors import (
    ConfigError,
    ConnectorNotFound,
    HeadwaterError,
    PluginError,
    ResponseError,
    RunError,
    SchemaFileError,
    SettingsError,
)
from headwater.markers import hookimpl
from headwater.settings import Settings
from headwater.spec import (
    DEFAULT_RETRY,
    ApiKeyAuth,
    BasicAuth,
    BearerAuth,
    Connector,
    CursorPagination,
    HeaderCursorPagination,
    IncrementalSpec,
    JwtBearer,
    JwtGrant,
    LastRecordPagination,
    LinkHeaderPagination,
    NextLinkPagination,
    OAuth2ClientCredentials,
    OAuth2RefreshToken,
    OffsetPagination,
    PageNumberPagination,
    ParentSpec,
    RateLimit,
    Resource,
    ResponseRule,
    RetryPolicy,
    SessionLogin,
    SinglePage,
    TemplateAuth,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

    from dlt.extract import DltSource

    from headwater.http.authenticators import (
        ApiKeyAuthenticator,
        BasicAuthenticator,
        BearerAuthenticator,
        JwtBearerAuthenticator,
        JwtGrantAuthenticator,
        OAuth2ClientCredentialsAuthenticator,
        OAuth2RefreshTokenAuthenticator,
        SessionLoginAuthenticator,
        TemplateAuthenticator,
    )
    from headwater.http.paginators import (
        CursorPaginator,
        HeaderCursorPaginator,
        LastRecordPaginator,
        LinkHeaderPaginator,
        NextLinkPaginator,
        OffsetPaginator,
        PageNumberPaginator,
        SinglePagePaginator,
    )
    from headwater.http.token_store import FileTokenStore, TokenStore
    from headwater.run.plan import RunPlan, plan_runs

#: The installed distribution's version: written once, in core/pyproject.toml.
__version__ = version("headwater")

#: Runtime classes a hook may build and return, loaded on first use (they import dlt
#: and requests; ``import headwater`` and ``headwater --help`` must not).
_RUNTIME = {
    "ApiKeyAuthenticator": "headwater.http.authenticators",
    "BasicAuthenticator": "headwater.http.authenticators",
    "BearerAuthenticator": "headwater.http.authenticators",
    "OAuth2ClientCredentialsAuthenticator": "headwater.http.authenticators",
    "OAuth2RefreshTokenAuthenticator": "headwater.http.authenticators",
    "JwtGrantAuthenticator": "headwater.http.authenticators",
    "JwtBearerAuthenticator": "headwater.http.authenticators",
    "SessionLoginAuthenticator": "headwater.http.authenticators",
    "TemplateAuthenticator": "headwater.http.authenticators",
    "TokenStore": "headwater.http.token_store",
    "FileTokenStore": "headwater.http.token_store",
    "CursorPaginator": "headwater.http.paginators",
    "HeaderCursorPaginator": "headwater.http.paginators",
    "LastRecordPaginator": "headwater.http.paginators",
    "LinkHeaderPaginator": "headwater.http.paginators",
    "NextLinkPaginator": "headwater.http.paginators",
    "OffsetPaginator": "headwater.http.paginators",
    "PageNumberPaginator": "headwater.http.paginators",
    "SinglePagePaginator": "headwater.http.paginators",
    # a run described as data, for Dask, Ray or Airflow workers (docs: orchestrators)
    "RunPlan": "headwater.run.plan",
    "plan_runs": "headwater.run.plan",
}

__all__ = [
    "DEFAULT_RETRY",
    "ApiKeyAuth",
    "ApiKeyAuthenticator",
    "BasicAuth",
    "BasicAuthenticator",
    "BearerAuth",
    "BearerAuthenticator",
    "ConfigError",
    "Connector",
    "ConnectorNotFound",
    "CursorPagination",
    "CursorPaginator",
    "FileTokenStore",
    "HeaderCursorPagination",
    "HeaderCursorPaginator",
    "HeadwaterError",
    "IncrementalSpec",
    "JwtBearer",
    "JwtBearerAuthenticator",
    "JwtGrant",
    "JwtGrantAuthenticator",
    "LastRecordPagination",
    "LastRecordPaginator",
    "LinkHeaderPagination",
    "LinkHeaderPaginator",
    "NextLinkPagination",
    "NextLinkPaginator",
    "OAuth2ClientCredentials",
    "OAuth2ClientCredentialsAuthenticator",
    "OAuth2RefreshToken",
    "OAuth2RefreshTokenAuthenticator",
    "OffsetPagination",
    "OffsetPaginator",
    "PageNumberPagination",
    "PageNumberPaginator",
    "ParentSpec",
    "PluginError",
    "RateLimit",
    "Resource",
    "ResponseError",
    "ResponseRule",
    "RetryPolicy",
    "RunError",
    "RunPlan",
    "SchemaFileError",
    "SessionLogin",
    "SessionLoginAuthenticator",
    "Settings",
    "SettingsError",
    "SinglePage",
    "SinglePagePaginator",
    "TemplateAuth",
    "TemplateAuthenticator",
    "TokenStore",
    "connectors",
    "from_rest_api",
    "hookimpl",
    "plan_runs",
    "source",
]


def __getattr__(name: str) -> Any:
    module = _RUNTIME.get(name)
    if module is None:
        raise AttributeError(f"module 'headwater' has no attribute {name!r}")
    return getattr(import_module(module), name)


def source(
    name: str, *, resources: list[str] | None = None, arrow: bool | None = None, **settings: Any
) -> DltSource:
    """Build the dlt source of connector ``name``.

    ``settings`` override the environment (``SOURCES__<NAME>__<KEY>``) and
    ``.dlt/secrets.toml`` / ``.dlt/config.toml`` (``[sources.<name>]``). ``resources``
    limits the source to those resources. ``arrow=False`` forces dlt's row-by-row path
    instead of typed Arrow tables (default: Arrow when the resource's schema allows and
    no per-record step — ``add_map``, ``add_filter``, ``add_yield_map`` — was added to
    the resource; with one, its function gets dict records, as on a ``rest_api``
    resource).

    Nothing is resolved here but the connector: the source can be built where its
    settings are not available (definitions of an orchestrator, listing
    ``source.resources``), and no secret is read. The settings are resolved and checked
    when the source is first extracted; every problem then stops the extraction with
    one :class:`SettingsError` (dlt wraps it in its ``PipelineStepFailed``) before the
    first HTTP request.
    """
    from headwater.load.assemble import build_source  # imports dlt: on first use only

    return build_source(name, settings, resources=resources, arrow=arrow, lazy=True)


def connectors() -> list[Connector]:
    """Every connector declared by the installed (and not disabled) plugins."""
    from headwater.plugin.manager import get_registry  # loads the plugins: on first use

    return get_registry().connectors()


def from_rest_api(
    config: Mapping[str, Any],
    *,
    name: str = "rest_api",
    resources: list[str] | None = None,
    arrow: bool | None = None,
    **settings: Any,
) -> DltSource:
    """Run a dlt ``rest_api`` config through Headwater.

    ``config`` is the dict ``dlt.sources.rest_api.rest_api_source`` takes (``client``,
    ``resource_defaults``, ``resources``); the source loads the same tables, columns and
    rows, with Headwater's token renewal, retries, redaction and validation. ``name``
    names the source (and its settings: ``SOURCES__<NAME>__<KEY>``). ``settings``
    override the values the config spells out (``base_url``, credentials, a token URL)
    and are resolved like :func:`source`'s, when the source is first extracted.

    What was understood on the way (a seed's ``"type": "oauth2"``, a
    ``{{ response... }}`` template) is logged at INFO on ``headwater.convert``; a key
    Headwater does not support is one :class:`ConfigError` naming it, raised here.
    See the "Coming from dlt rest_api" page for what maps to what.
    """
    import logging

    from headwater.convert.plugin import InMemoryConnector
    from headwater.convert.rest_api import convert_rest_api
    from headwater.load.assemble import build_source  # imports dlt: on first use only
    from headwater.plugin.manager import make_plugin_manager

    converted = convert_rest_api(config, name)
    log = logging.getLogger("headwater.convert")
    for note in converted.notes:
        log.info(note)
    pm = make_plugin_manager(
        entry_points=False,
        plugins=[(f"rest_api.{name}", InMemoryConnector(converted))],
        strict=True,
    )
    merged = {**converted.settings, **settings}
    return build_source(name, merged, resources=resources, arrow=arrow, pm=pm, lazy=True)
