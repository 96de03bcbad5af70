"""The ``analytics_odata`` connector (seed 001): OData entity sets behind OAuth2.

Entity sets ``users``, ``groups`` and ``conversations`` live at
``/v1/resource/<name>``, answer ``{"@odata.context": ..., "value": [...],
"@odata.nextLink": "<absolute URL with $skiptoken>"}`` and are read by following
``@odata.nextLink`` until a page has none. A 404 or 403 for one entity set is ignored
(with a warning) so the others still load. More entity sets can be added with the
``extra_resources`` setting (see :func:`extra_resources`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from headwater.errors import SettingsError
from headwater.settings import env_var
from headwater.spec import (
    DEFAULT_RETRY,
    Connector,
    NextLinkPagination,
    OAuth2ClientCredentials,
    Resource,
    ResponseRule,
)

__all__ = ["ANALYTICS_ODATA", "ENTITY_SCHEMA", "entity_resource", "extra_resources"]

NAME = "analytics_odata"
#: The generic schema of entity sets added through ``extra_resources``: only ``id``.
ENTITY_SCHEMA = "schemas/odata_entity.json"
#: One page of an entity set: records under ``value``, the next page's URL under
#: ``@odata.nextLink`` (one key, dots and all).
PAGINATION = NextLinkPagination(next_path="@odata.nextLink")
SELECTOR = "value"

_RESOURCE_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


def entity_resource(
    name: str, path: str, schema: str = ENTITY_SCHEMA, description: str = ""
) -> Resource:
    """An OData entity set: ``value`` selector, next-link paging, merged on ``id``."""
    return Resource(
        name=name,
        path=path,
        schema=schema,
        data_selector=SELECTOR,
        pagination=PAGINATION,
        primary_key="id",
        write_disposition="merge",
        description=description,
    )


ANALYTICS_ODATA = Connector(
    name=NAME,
    package=__package__,
    description="OData entity sets of an analytics API (OAuth2 client credentials with "
    "scope, @odata.nextLink paging; 403/404 per entity set ignored).",
    base_url="https://api.example.com",
    auth=OAuth2ClientCredentials(
        token_url="https://login.example.com/oauth2/token",
        scope="https://api.example.com/.default",
    ),
    retry=DEFAULT_RETRY,
    response_rules=[
        # Seed 001: known 404/403 answers are skipped and the other entity sets loaded.
        ResponseRule(action="ignore", status_code=404),
        ResponseRule(action="ignore", status_code=403),
    ],
    settings={
        "extra_resources": {
            "type": "object",
            "default": {},
            "description": "more entity sets to load, as {name: path}, e.g. "
            '{"devices": "/v1/resource/devices"} (JSON text in the environment variable); '
            "each is paged like the others and merged on id",
        }
    },
    resources=[
        entity_resource(
            "users", "/v1/resource/users", "schemas/odata_users.json", "Users of the tenant."
        ),
        entity_resource(
            "groups", "/v1/resource/groups", "schemas/odata_groups.json", "Groups of the tenant."
        ),
        entity_resource(
            "conversations",
            "/v1/resource/conversations",
            "schemas/odata_conversations.json",
            "Conversations (threads) of the tenant.",
        ),
    ],
)


def _path_problem(path: Any) -> str | None:
    """Why ``path`` cannot be an entity set's path (``None``: it can)."""
    if not isinstance(path, str) or not path.strip():
        return "must be a non-empty string"
    if "://" in path or path.startswith("//"):
        # The bearer token goes with every request: never to another host.
        return "must be a path on base_url, not a URL"
    if not path.startswith("/"):
        return f"must start with '/' (e.g. '/{path}')"
    if any(c.isspace() for c in path) or any(c in path for c in "{}#"):
        return "must not contain spaces, '{', '}' or '#'"
    return None


def extra_resources(value: Mapping[str, Any] | None) -> list[Resource]:
    """The resources named by the ``extra_resources`` setting (``{name: path}``).

    Each inherits the entity sets' selector, pagination, key and write disposition
    and uses the generic :data:`ENTITY_SCHEMA`. Raises :class:`SettingsError` naming
    every bad entry.
    """
    if not value:
        return []
    where = f"set {env_var(NAME, 'extra_resources')} or [sources.{NAME}] extra_resources"
    if not isinstance(value, Mapping):
        raise SettingsError(
            f"setting extra_resources for connector {NAME} must map resource names to paths, "
            f"got {type(value).__name__}; {where}"
        )
    declared = set(ANALYTICS_ODATA.resource_names)
    problems: list[str] = []
    resources: list[Resource] = []
    for name, path in value.items():
        if not isinstance(name, str) or not _RESOURCE_NAME.match(name):
            problems.append(
                f"resource name {name!r} must be a lower-case identifier "
                "(letters, digits, underscores; starting with a letter)"
            )
            continue
        if name in declared:
            problems.append(f"{name!r} is already a resource of {NAME}; choose another name")
            continue
        problem = _path_problem(path)
        if problem is not None:
            problems.append(f"path {path!r} of {name!r} {problem}")
            continue
        resources.append(
            entity_resource(name, path, description=f"Entity set {path} (extra_resources).")
        )
    if problems:
        raise SettingsError(
            f"invalid setting extra_resources for connector {NAME}: "
            + "; ".join(problems)
            + f"; {where}"
        )
    return resources
