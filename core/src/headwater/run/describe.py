"""``headwater describe``: everything a connector declares, as text.

Built from the declared specs (never from resolved settings), so no secret can appear.
"""

from __future__ import annotations

from typing import Any

import attrs

from headwater.plugin.manager import get_registry
from headwater.schema import column_type, columns_from_schema
from headwater.settings import env_var, settings_schema
from headwater.spec import Connector, Resource

__all__ = ["describe_connector", "pagination_text"]


def pagination_text(resource: Resource) -> str:
    """A one-line description of a resource's pagination spec."""
    spec = resource.pagination
    fields = {
        a.name: getattr(spec, a.name)
        for a in attrs.fields(type(spec))
        if a.name != "kind" and getattr(spec, a.name) is not None
    }
    args = ", ".join(f"{k}={v!r}" for k, v in fields.items())
    return f"{spec.kind}({args})" if args else spec.kind


def _resource_lines(connector: Connector, resource: Resource) -> list[str]:
    pm = get_registry().pm
    schema = pm.hook.headwater_record_schema(connector=connector, resource=resource)
    lines = [
        f"  {resource.name}",
        f"    path:              GET {resource.path}",
        f"    data selector:     {resource.data_selector!r}",
        f"    pagination:        {pagination_text(resource)}",
        f"    primary key:       {', '.join(resource.primary_key_columns) or '-'}",
        f"    write disposition: {resource.write_disposition}",
    ]
    if resource.parent is not None:
        p = resource.parent
        lines.append(
            f"    parent:            one request per {p.resource}.{p.field} "
            f"(as {{{p.placeholder}}}; stored in column {p.column})"
        )
    if resource.incremental is not None:
        inc = resource.incremental
        lines.append(
            f"    incremental:       on {inc.cursor_field}, sent as ?{inc.param}= "
            f"(initial {inc.initial!r})"
        )
    if resource.params:
        lines.append(f"    fixed params:      {dict(resource.params)!r}")
    lines.append(f"    schema:            {connector.package}/{resource.schema}")
    columns = columns_from_schema(schema, resource.primary_key_columns)
    width = max((len(c) for c in columns), default=4)
    for name, hint in columns.items():
        prop = schema["properties"][name]
        declared = column_type(prop) or "(inferred)"
        flags = "not null" if not hint["nullable"] else "nullable"
        if hint.get("primary_key"):
            flags += ", primary key"
        lines.append(f"      {name.ljust(width)}  {declared:<10} {flags}")
    return lines


def _settings_lines(connector: Connector) -> list[str]:
    schema = settings_schema(connector)
    required = set(schema["required"])
    lines = []
    for key, prop in schema["properties"].items():
        secret = bool(prop.get("writeOnly"))
        default: Any = prop.get("default")
        what = "secret" if secret else "required" if key in required and default is None else ""
        shown = f"default {default!r}" if default is not None else what or "optional"
        if secret:
            shown = "secret, required" if key in required else "secret"
        lines.append(
            f"  {key:<14} {shown}\n"
            f"  {'':<14} env {env_var(connector.name, key)}; "
            f"TOML [sources.{connector.name}] {key} in "
            f"{'.dlt/secrets.toml' if secret else '.dlt/config.toml'}"
            + (f"; {prop['description']}" if prop.get("description") else "")
        )
        for alias in prop.get("aliases", ()):
            lines.append(f"  {'':<14} also accepted as {alias} ({env_var(connector.name, alias)})")
    return lines


def describe_connector(name: str) -> str:
    """The text of ``headwater describe NAME``."""
    registry = get_registry()
    connector = registry.get(name)
    dist = registry.plugin_distribution(registry.owner(name))
    auth = connector.auth
    retry = connector.retry
    lines = [
        f"{connector.name}: {connector.description}".rstrip(": "),
        f"  provided by:  {f'{dist[0]} {dist[1]}' if dist else registry.owner(name)}",
        f"  base URL:     {connector.base_url} (setting base_url)",
        f"  auth:         {auth.kind if auth else 'none'}"
        + (
            f" ({auth.location} parameter {auth.name!r})" if auth and auth.kind == "api_key" else ""
        ),
        "",
        "settings (secrets are never shown):",
        *_settings_lines(connector),
        "",
        "resources:",
    ]
    for resource in connector.resources:
        lines.extend(_resource_lines(connector, resource))
    lines += [
        "",
        "error handling:",
        f"  retry on:     {', '.join(map(str, retry.status_codes))}, dropped connections, timeouts",
        f"  max retries:  {retry.max_retries} (backoff factor {retry.backoff_factor}, "
        f"max delay {retry.max_delay} s, Retry-After "
        f"{'honoured' if retry.respect_retry_after else 'ignored'}, "
        f"timeout {retry.timeout} s per attempt)",
    ]
    if connector.rate_limit is not None:
        lines.append(
            f"  rate limit:   {connector.rate_limit} for the whole run (setting rate_limit)"
        )
    for resource in connector.resources:
        if resource.rate_limit is not None:
            lines.append(f"  rate limit:   {resource.rate_limit} for {resource.name}")
    for rule in connector.response_rules:
        cond = " and ".join(
            x
            for x in (
                f"status {rule.status_code}" if rule.status_code is not None else "",
                f"body contains {rule.contains!r}" if rule.contains else "",
            )
            if x
        )
        lines.append(f"  rule:         {cond} -> {rule.action}")
    return "\n".join(lines) + "\n"
