"""Headwater: REST APIs into any dlt destination, one plugin per connector.

The public face::

    import dlt, headwater
    pipeline = dlt.pipeline("users", destination="duckdb", dataset_name="directory_data")
    pipeline.run(headwater.source("directory", client_id=..., client_secret=...))

Importing this package is cheap: dlt and the plugins are loaded on first use.
"""

from __future__ import annotations

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
from headwater.spec import (
    ApiKeyAuth,
    BasicAuth,
    BearerAuth,
    Connector,
    CursorPagination,
    IncrementalSpec,
    NextLinkPagination,
    OAuth2ClientCredentials,
    OffsetPagination,
    PageNumberPagination,
    ParentSpec,
    RateLimit,
    Resource,
    ResponseRule,
    RetryPolicy,
    SinglePage,
)

if TYPE_CHECKING:
    from dlt.extract import DltSource

__version__ = "0.1.0"

__all__ = [
    "ApiKeyAuth",
    "BasicAuth",
    "BearerAuth",
    "ConfigError",
    "Connector",
    "ConnectorNotFound",
    "CursorPagination",
    "HeadwaterError",
    "IncrementalSpec",
    "NextLinkPagination",
    "OAuth2ClientCredentials",
    "OffsetPagination",
    "PageNumberPagination",
    "ParentSpec",
    "PluginError",
    "RateLimit",
    "Resource",
    "ResponseError",
    "ResponseRule",
    "RetryPolicy",
    "RunError",
    "SchemaFileError",
    "SettingsError",
    "SinglePage",
    "connectors",
    "hookimpl",
    "source",
]


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
    from headwater.assemble import build_source

    return build_source(name, settings, resources=resources, arrow=arrow, lazy=True)


def connectors() -> list[Connector]:
    """Every connector declared by the installed (and not disabled) plugins."""
    from headwater.plugins import get_registry

    return get_registry().connectors()
