"""The peers' configurations, generated from one Headwater declaration.

The Airbyte manifest and the Singer tap's settings come from the same
:class:`~headwater.spec.Resource` that ``headwater run`` loads (path, data selector,
offset pagination, OAuth2 client credentials, primary key and JSON schema), so every
peer reads the same API the same way. Only what the benchmarks need is translated:
a top-level resource with offset pagination, a one-field data selector and OAuth2
client credentials; anything else raises :class:`NotTranslated`, and the case that
needed it is reported as unable to load the API.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

from headwater.spec import Connector, OAuth2ClientCredentials, OffsetPagination, Resource

__all__ = ["NotTranslated", "airbyte_manifest", "peer_declaration", "resource_schema"]

#: The manifest format version written (must not be newer than the Airbyte CDK).
MANIFEST_VERSION = "6.0.0"


class NotTranslated(ValueError):
    """The declaration uses something the peer translation does not cover."""


def resource_schema(connector: Connector, resource: Resource) -> dict[str, Any]:
    """The resource's JSON schema, read from the connector's package."""
    text = resources.files(connector.package).joinpath(resource.schema).read_text()
    schema = json.loads(text)
    schema.pop("$schema", None)
    return schema


def peer_declaration(connector: Connector, resource_name: str) -> dict[str, Any]:
    """What every peer needs to know about ``resource_name``, as plain JSON data."""
    resource = next((r for r in connector.resources if r.name == resource_name), None)
    if resource is None:
        raise NotTranslated(f"connector {connector.name} has no resource {resource_name!r}")
    if resource.parent is not None:
        raise NotTranslated(f"{resource_name}: child resources are not translated")
    paging = resource.pagination
    if not isinstance(paging, OffsetPagination) or paging.location != "query":
        raise NotTranslated(f"{resource_name}: only offset pagination in the query is translated")
    if not isinstance(connector.auth, OAuth2ClientCredentials):
        raise NotTranslated(f"{resource_name}: only OAuth2 client credentials are translated")
    selector = resource.data_selector
    keys = [selector] if isinstance(selector, str) else list(selector or ())
    if len(keys) != 1:
        raise NotTranslated(f"{resource_name}: only a one-field data selector is translated")
    key = resource.primary_key
    return {
        "name": resource.name,
        "path": resource.path,
        "data_field": keys[0],
        "offset_param": paging.offset_param,
        "limit_param": paging.limit_param,
        "page_size": paging.limit,
        "primary_key": [key] if isinstance(key, str) else list(key or ()),
        "schema": resource_schema(connector, resource),
    }


def airbyte_manifest(declaration: dict[str, Any]) -> dict[str, Any]:
    """An Airbyte low-code (declarative) manifest reading the declared resource.

    The base URL, token URL and client credentials come from the source's config
    (``base_url``, ``token_url``, ``client_id``, ``client_secret``)."""
    name = declaration["name"]
    requester = {
        "type": "HttpRequester",
        "url_base": "{{ config['base_url'] }}",
        "path": declaration["path"],
        "http_method": "GET",
        "authenticator": {
            "type": "OAuthAuthenticator",
            "token_refresh_endpoint": "{{ config['token_url'] }}",
            "client_id": "{{ config['client_id'] }}",
            "client_secret": "{{ config['client_secret'] }}",
            "grant_type": "client_credentials",
        },
    }
    paginator = {
        "type": "DefaultPaginator",
        "page_token_option": {
            "type": "RequestOption",
            "inject_into": "request_parameter",
            "field_name": declaration["offset_param"],
        },
        "page_size_option": {
            "type": "RequestOption",
            "inject_into": "request_parameter",
            "field_name": declaration["limit_param"],
        },
        "pagination_strategy": {"type": "OffsetIncrement", "page_size": declaration["page_size"]},
    }
    stream = {
        "type": "DeclarativeStream",
        "name": name,
        "primary_key": declaration["primary_key"],
        "schema_loader": {"type": "InlineSchemaLoader", "schema": declaration["schema"]},
        "retriever": {
            "type": "SimpleRetriever",
            "requester": requester,
            "record_selector": {
                "type": "RecordSelector",
                "extractor": {"type": "DpathExtractor", "field_path": [declaration["data_field"]]},
            },
            "paginator": paginator,
        },
    }
    settings = {k: {"type": "string"} for k in ("base_url", "token_url", "client_id")}
    settings["client_secret"] = {"type": "string", "airbyte_secret": True}
    return {
        "version": MANIFEST_VERSION,
        "type": "DeclarativeSource",
        "check": {"type": "CheckStream", "stream_names": [name]},
        "streams": [stream],
        "spec": {
            "type": "Spec",
            "connection_specification": {
                "type": "object",
                "required": sorted(settings),
                "properties": settings,
            },
        },
    }
