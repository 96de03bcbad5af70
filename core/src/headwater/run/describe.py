"""``headwater describe``: everything a connector declares, as text.

Built from the declared specs (never from resolved secrets), so no secret can appear:
templates are shown as templates (``Token {api_key}``), settings by name. Where a
plugin's own ``headwater_auth`` or ``headwater_paginator`` hook replaces the declared
kind, it says ``custom (plugin NAME)``: the hooks are asked with placeholder settings
(:func:`placeholder_settings`; see :func:`headwater.plugin.manager.custom_implementation`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from typing import Any

import attrs

from headwater.errors import HeadwaterError, PluginError
from headwater.load.assemble import ConnectorHooks, check_declaration
from headwater.plugin.manager import custom_implementation, get_registry
from headwater.schema import column_type, columns_from_schema
from headwater.settings import (
    NAMING_CONVENTIONS,
    Settings,
    env_var,
    preview_settings,
    settings_schema,
)
from headwater.spec import (
    ApiKeyAuth,
    AuthSpec,
    BasicAuth,
    BearerAuth,
    Connector,
    CursorPagination,
    HeaderCursorPagination,
    JwtBearer,
    JwtGrant,
    LastRecordPagination,
    LinkHeaderPagination,
    NextLinkPagination,
    OAuth2ClientCredentials,
    OAuth2RefreshToken,
    OffsetPagination,
    PageNumberPagination,
    Resource,
    SessionLogin,
    SinglePage,
    TemplateAuth,
    literal_text,
    template_names,
)

__all__ = [
    "PLACEHOLDER",
    "CustomHooks",
    "auth_lines",
    "custom_hooks",
    "describe_connector",
    "incremental_lines",
    "pagination_details",
    "pagination_text",
    "placeholder_settings",
    "request_rows",
    "token_store_text",
]

#: The value of every secret (and unset required) setting when hooks are asked whether
#: they handle a connector: describe never reads a secret.
PLACEHOLDER = "headwater-placeholder"

Code = Callable[[str], str]


def _plain(text: str) -> str:
    return text


def _field(path: Any) -> str:
    """A :data:`~headwater.spec.FieldPath` as written: ``data.items``, ``$.results[*]``."""
    if isinstance(path, tuple):
        return ".".join(path) if not any("." in k for k in path) else repr(path)
    return str(path)


def _where(location: str, name: str, code: Code) -> str:
    """``?name=`` in the query, ``body field name`` in a JSON body."""
    return f"body field {code(name)}" if location == "body" else code(f"?{name}=")


def incremental_lines(resource: Resource) -> list[str]:
    """The incremental declaration of ``resource`` in a few phrases (``[]``: none): the
    cursor, the bounds sent and where, their format, the first start, lookback, window,
    client-side filter, per-parent positions."""
    inc = resource.incremental
    if inc is None:
        return []
    where = "in the JSON body" if inc.location == "body" else "in the query"
    bounds = f"{inc.param} (start)"
    if inc.end_param is not None:
        bounds += f" and {inc.end_param} (end)"
    fmt = inc.format or "as the cursor values (numbers: unix, text: iso8601)"
    lines = [
        f"on {_field_text(inc.cursor_field)}; sends {bounds} {where}, format {fmt}",
        "position: "
        + (
            "the end of the last completed range or slice"
            if inc.end_param is not None or inc.window
            else "the latest cursor loaded (with a window setting: the end of the last "
            "completed slice)"
        )
        + (", kept per parent" if resource.parent is not None else ""),
        f"first run from {inc.initial or 'the beginning'} (setting start_date overrides)",
    ]
    extras = []
    if inc.lookback:
        extras.append(f"lookback {inc.lookback}")
    if inc.window:
        extras.append(f"window {inc.window}")
    if inc.client_filter:
        extras.append("records outside the range dropped client-side")
    if inc.cursor_format:
        extras.append(f"cursor values in {inc.cursor_format}")
    if extras:
        lines.append(", ".join(extras))
    return lines


def _field_text(path: Any) -> str:
    return ".".join(path) if isinstance(path, tuple) else str(path)


def pagination_text(resource: Resource) -> str:
    """A one-line description of a resource's pagination spec, as declared."""
    spec = resource.pagination
    fields = {
        a.name: getattr(spec, a.name)
        for a in attrs.fields(type(spec))
        if a.name != "kind" and getattr(spec, a.name) is not None
    }
    args = ", ".join(f"{k}={v!r}" for k, v in fields.items())
    return f"{spec.kind}({args})" if args else spec.kind


def pagination_details(resource: Resource, code: Code = _plain) -> str:
    """What a resource's pagination spec does, in words (``code`` marks names)."""
    spec = resource.pagination
    size = ""
    if getattr(spec, "page_size", None):
        size = f", {_where(spec.location, spec.page_size_param, code)} {spec.page_size}"
    if isinstance(spec, OffsetPagination):
        stop = f"a page shorter than {spec.limit}"
        if spec.total_path is not None:
            # a reported total decides, however short the pages the API serves
            stop = (
                f"the total at {code(_field(spec.total_path))} or an empty page (a page "
                f"shorter than {spec.limit} only when the API sends no total)"
            )
        return (
            f"offset in {_where(spec.location, spec.offset_param, code)}, "
            f"limit {spec.limit} in {_where(spec.location, spec.limit_param, code)}; "
            f"stops at {stop}"
        )
    if isinstance(spec, CursorPagination):
        return (
            f"cursor from body field {code(_field(spec.cursor_path))} sent back in "
            f"{_where(spec.location, spec.cursor_param, code)}{size}; stops when it is "
            f"missing or empty{_end(spec.end_path, code)}"
        )
    if isinstance(spec, NextLinkPagination):
        return (
            f"next page URL from body field {code(_field(spec.next_path))} (same host "
            f"only); stops when it is missing or empty{_end(spec.end_path, code)}"
        )
    if isinstance(spec, PageNumberPagination):
        counted = spec.total_pages_path is not None or spec.total_path is not None
        short = " (a short one only when the API sends no count)" if counted else " or a short one"
        stops = [
            f"the page count at {code(_field(spec.total_pages_path))}"
            if spec.total_pages_path is not None
            else "",
            f"the record count at {code(_field(spec.total_path))}"
            if spec.total_path is not None
            else "",
            "an empty page" + (short if spec.page_size else ""),
        ]
        return (
            f"page number in {_where(spec.location, spec.page_param, code)} from "
            f"{spec.start}{size}; stops at {' or '.join(s for s in stops if s)}"
        )
    if isinstance(spec, LinkHeaderPagination):
        return (
            f'next page URL from the {code("Link")} response header (rel="{spec.rel}", '
            "RFC 8288; same host only); stops when there is none"
        )
    if isinstance(spec, HeaderCursorPagination):
        return (
            f"cursor from the {code(spec.header)} response header sent back in "
            f"{_where(spec.location, spec.cursor_param, code)}{size}; stops when it is "
            "missing or empty"
        )
    if isinstance(spec, LastRecordPagination):
        more = f"{code(_field(spec.has_more_path))} is false, or " if spec.has_more_path else ""
        return (
            f"the last record's {code(_field(spec.cursor_field))} sent in "
            f"{_where(spec.location, spec.cursor_param, code)}{size}; stops when {more}"
            "a page is empty" + (" or short" if spec.page_size else "")
        )
    if isinstance(spec, SinglePage):
        return "everything in one response"
    return code(spec.kind)


def _end(end_path: Any, code: Code) -> str:
    """The end flag's part of a pagination's stop condition (empty without one)."""
    if end_path is None:
        return ""
    return f", or when {code(_field(end_path))} is true (that page is the last)"


def _settings_named(names: tuple[str, ...], code: Code) -> str:
    return ", ".join(code(n) for n in names)


def _client_auth(spec: OAuth2ClientCredentials | OAuth2RefreshToken, code: Code) -> str:
    if spec.client_auth == "basic":
        return "client id and secret sent as HTTP basic (client_secret_basic)"
    return "client id and secret sent in the form body"


def _token_url(spec: Any, code: Code) -> str:
    where = code(spec.token_url) if spec.token_url else "(no default: set it)"
    aliases = getattr(spec, "token_url_aliases", ())
    also = f", also accepted as {_settings_named(aliases, code)}" if aliases else ""
    return f"token URL {where} (setting {code('token_url')}{also})"


def _extra(spec: Any, code: Code) -> str:
    parts = []
    if getattr(spec, "scope", None):
        parts.append(f"scope {code(spec.scope)}")
    extra_form = getattr(spec, "extra_form", None)
    if extra_form:
        parts.append("form fields " + ", ".join(code(f"{k}={v}") for k, v in extra_form.items()))
    return "; " + "; ".join(parts) if parts else ""


def _templates(mapping: Mapping[str, Any], code: Code) -> str:
    return ", ".join(code(f"{k}: {v}") for k, v in mapping.items())


def auth_lines(auth: AuthSpec | None, code: Code = _plain) -> list[str]:
    """What an auth spec sends and where, in words (settings by name, never values)."""
    if auth is None:
        return ["none: requests carry no credentials"]
    if isinstance(auth, OAuth2ClientCredentials):
        return [
            "OAuth2 client credentials: access token from the " + _token_url(auth, code),
            f"{_client_auth(auth, code)}{_extra(auth, code)}; sent as "
            f"{code('Authorization: Bearer <token>')}, renewed before it expires and on a 401",
        ]
    if isinstance(auth, OAuth2RefreshToken):
        return [
            f"OAuth2 refresh token: access token from the {code('refresh_token')} setting at the "
            + _token_url(auth, code),
            f"{_client_auth(auth, code)}{_extra(auth, code)}; sent as "
            f"{code('Authorization: Bearer <token>')}, renewed before it expires and on a 401",
            "a rotated refresh token is kept in the token store for the next run",
        ]
    if isinstance(auth, JwtGrant):
        audience = code(auth.audience) if auth.audience else "the token URL"
        claims = f", claims {code(json.dumps(dict(auth.claims)))}" if auth.claims else ""
        return [
            f"JWT grant (RFC 7523): an assertion signed {auth.algorithm} with the "
            f"{code('private_key')} setting, exchanged at the " + _token_url(auth, code),
            f"iss = setting {code('issuer')}, sub = setting {code('subject')} (if set), "
            f"aud = {audience}, lifetime {auth.lifetime} s{claims}"
            + (f"; scope {code(auth.scope)}" if auth.scope else ""),
            f"access token sent as {code('Authorization: Bearer <token>')}, renewed before "
            "it expires and on a 401",
        ]
    if isinstance(auth, JwtBearer):
        audience = code(auth.audience) if auth.audience else f"setting {code('base_url')}"
        claims = f", claims {code(json.dumps(dict(auth.claims)))}" if auth.claims else ""
        return [
            f"self-signed JWT ({auth.algorithm}, setting {code('private_key')}) sent as "
            f"{code('Authorization: Bearer <jwt>')}",
            f"iss = setting {code('issuer')}, aud = {audience}, lifetime {auth.lifetime} s"
            f"{claims}; a new one is signed before the last expires",
        ]
    if isinstance(auth, SessionLogin):
        source = (
            f"response header {code(auth.token_header)}"
            if auth.token_header
            else f"body field {code(_field(auth.token_path))}"
        )
        where = {"header": "header", "query": "query parameter", "cookie": "cookie"}[auth.location]
        expiry = ""
        if auth.expires_in is not None:
            expiry = f" and after {auth.expires_in:g} s"
        elif auth.expires_in_path is not None:
            expiry = f" and after the seconds at {code(_field(auth.expires_in_path))}"
        return [
            f"session login: {auth.method} {code(auth.login_path)} with the {auth.body_format} "
            f"body {code(json.dumps(dict(auth.body)))}",
            f"token from {source}, sent as {where} {code(auth.name)}: {code(auth.template)}",
            f"logs in again on a 401{expiry}",
        ]
    if isinstance(auth, TemplateAuth):
        lines = []
        if auth.headers:
            lines.append("headers " + _templates(auth.headers, code))
        if auth.query:
            lines.append("query parameters " + _templates(auth.query, code))
        return [f"templated credentials: {'; '.join(lines)} ({{name}} is the setting name)"]
    if isinstance(auth, ApiKeyAuth):
        where = "query parameter" if auth.location == "query" else "header"
        return [f"API key: setting {code('api_key')} sent in the {where} {code(auth.name)}"]
    if isinstance(auth, BearerAuth):
        return [f"bearer token: setting {code('token')} sent as {code('Authorization: Bearer …')}"]
    if isinstance(auth, BasicAuth):
        if not auth.password:
            return [f"HTTP basic: the secret setting {code('username')} alone, no password"]
        return [f"HTTP basic: settings {code('username')} and {code('password')}"]
    return [code(auth.kind)]


def _as_sent(template: Any) -> Any:
    """``template`` (a string, or strings in a mapping or list) as it is sent, but for
    its settings: a doubled literal brace as one, each ``{name}`` kept."""
    if isinstance(template, str):
        return literal_text(template)
    if isinstance(template, Mapping):
        return {_as_sent(k): _as_sent(v) for k, v in template.items()}
    if isinstance(template, (list, tuple)):
        return [_as_sent(v) for v in template]
    return template


def _pairs(mapping: Mapping[str, Any], sep: str) -> str:
    return ", ".join(f"{k}{sep}{v}" for k, v in _as_sent(mapping).items())


def request_rows(resource: Resource) -> list[tuple[str, str]]:
    """``(label, text)`` rows of what one request of ``resource`` sends: method and
    path, params, headers and body as sent (a doubled literal brace as one) with each
    ``{name}`` where a setting goes, and the settings they name."""
    rows = [("request", f"{resource.method} {_as_sent(resource.path)}")]
    if resource.params:
        rows.append(("params", _pairs(resource.params, "=")))
    if resource.headers:
        rows.append(("headers", _pairs(resource.headers, ": ")))
    if resource.json is not None:
        rows.append(("body", json.dumps(_as_sent(dict(resource.json)))))
    placeholder = resource.parent.placeholder if resource.parent else None
    templated = [resource.path, dict(resource.params), dict(resource.headers)]
    names = [n for n in template_names([*templated, dict(resource.json or {})]) if n != placeholder]
    if names:
        rows.append(("templates", ", ".join(f"{{{n}}} = setting {n}" for n in names)))
    return rows


def placeholder_settings(
    connector: Connector, explicit: Mapping[str, Any] | None = None
) -> Settings:
    """Settings to ask hooks with, as a run would have them without its secrets: what
    can be known now (:func:`~headwater.settings.preview_settings`, ``explicit`` first),
    and :data:`PLACEHOLDER` for every secret and every required setting still unset
    (a run cannot lack those). An optional setting left unset stays unset, as in a run
    where nobody sets it. Nothing secret is read."""
    preview = preview_settings(connector, explicit)
    schema = settings_schema(connector)
    values = dict(preview.values)
    for key, prop in schema["properties"].items():
        if prop.get("writeOnly") or key in schema["required"]:
            values.setdefault(key, PLACEHOLDER)
    return Settings(
        connector=connector.name,
        values=values,
        origins=dict(preview.origins),
        secret_names=preview.secret_names,
    )


@attrs.frozen
class CustomHooks:
    """Which plugins' own hooks replace a connector's declared kinds."""

    #: the plugin whose ``headwater_auth`` answers instead of the builtin one
    auth: str | None = None
    #: resource name -> the plugin whose ``headwater_paginator`` answers for it
    paginators: Mapping[str, str] = attrs.field(factory=dict)


def custom_hooks(
    connector: Connector, pm: Any = None, settings: Mapping[str, Any] | None = None
) -> CustomHooks:
    """Which of ``connector``'s auth and paginators a plugin's own hook provides
    (``pm``: the process's plugin manager; ``settings``: known settings, e.g. a test's,
    to ask the hooks with — see :func:`placeholder_settings`). A hook answering with
    the wrong type is the :class:`PluginError` a run raises."""
    pm = pm if pm is not None else get_registry().pm
    placeholders = placeholder_settings(connector, settings)
    # as a run asks them: a wrong answer is an error naming the plugin that gave it
    hooks = ConnectorHooks(pm, connector)
    auth = hooks.custom_auth(placeholders)
    paginators = {}
    for resource in connector.resources:
        plugin = hooks.custom_paginator(resource, placeholders)
        if plugin is not None:
            paginators[resource.name] = plugin
    return CustomHooks(auth=auth, paginators=paginators)


_LABEL = 19  # width of "    write disposition: "' label column, kept from the first layout


def _row(label: str, text: str, indent: int = 4) -> str:
    return f"{' ' * indent}{(label + ':' if label else '').ljust(_LABEL)}{text}"


def _resource_lines(
    connector: Connector, resource: Resource, hooks: CustomHooks, naming: Any
) -> list[str]:
    # as a run asks it: a plugin's wrong answer or exception is an error naming it
    schema = ConnectorHooks(get_registry().pm, connector).record_schema(resource)
    lines = [f"  {resource.name}"]
    lines += [_row(label, text) for label, text in request_rows(resource)]
    lines.append(_row("data selector", repr(resource.data_selector)))
    custom = hooks.paginators.get(resource.name)
    if custom is not None:
        lines.append(_row("pagination", f"custom (plugin {custom})"))
        lines.append(_row("", f"declared {pagination_text(resource)}, replaced by the hook"))
    else:
        lines.append(_row("pagination", pagination_text(resource)))
        lines.append(_row("", pagination_details(resource)))
    lines += [
        _row("primary key", ", ".join(resource.primary_key_columns) or "-"),
        _row("write disposition", resource.write_disposition),
    ]
    if resource.parent is not None:
        p = resource.parent
        lines.append(
            _row(
                "parent",
                f"one request per {p.resource}.{p.field} (as {{{p.placeholder}}}"
                + (f"; stored in column {p.column})" if p.column else ")"),
            )
        )
    for i, text in enumerate(incremental_lines(resource)):
        lines.append(_row("incremental" if i == 0 else "", text))
    lines.append(_row("schema", f"{connector.package}/{resource.schema}"))
    columns = columns_from_schema(schema, resource.primary_key_columns)
    # as loaded: dlt's naming (the naming setting) names the columns
    loaded = {name: naming.normalize_identifier(name) for name in columns}
    width = max((len(c) for c in loaded.values()), default=4)
    for name, hint in columns.items():
        prop = schema["properties"][name]
        declared = column_type(prop) or "(inferred)"
        flags = "not null" if not hint["nullable"] else "nullable"
        if hint.get("primary_key"):
            flags += ", primary key"
        if loaded[name] != name:
            flags += f" (API field {name})"
        lines.append(f"      {loaded[name].ljust(width)}  {declared:<10} {flags}")
    return lines


def _naming(connector: Connector) -> Any:
    """The naming convention that names ``connector``'s columns (its naming setting)."""
    from dlt.common.schema import Schema

    preview = preview_settings(connector, {})
    names = NAMING_CONVENTIONS[preview.get("naming") or "snake_case"]
    return Schema("describe", normalizers={"names": names}).naming


def _effective_rules(hooks: ConnectorHooks, connector: Connector) -> dict[Any, list[str]]:
    """The response rules runs get (every plugin's, in the order they are tried), each
    once across the resources, with the names of the resources it applies to."""
    rules: dict[Any, list[str]] = {}
    for resource in connector.resources:
        for rule in hooks.response_rules(resource):
            rules.setdefault(rule, []).append(resource.name)
    return rules


def _setting_marks(key: str, prop: Mapping[str, Any], required: set[str]) -> str:
    """``secret, required``, ``required``, ``secret``, ``default 'x'`` or ``optional``."""
    secret = bool(prop.get("writeOnly"))
    default: Any = prop.get("default")
    if secret:  # a secret's default is not shown either
        return "secret, required" if key in required and default is None else "secret"
    if default is not None:
        return f"default {default!r}"
    return "required" if key in required else "optional"


def _settings_lines(connector: Connector) -> list[str]:
    schema = settings_schema(connector)
    required = set(schema["required"])
    lines = []
    for key, prop in schema["properties"].items():
        secret = bool(prop.get("writeOnly"))
        lines.append(
            f"  {key:<14} {_setting_marks(key, prop, required)}\n"
            f"  {'':<14} env {env_var(connector.name, key)}; "
            f"TOML [sources.{connector.name}] {key} in "
            f"{'.dlt/secrets.toml' if secret else '.dlt/config.toml'}"
            + (f"; {prop['description']}" if prop.get("description") else "")
        )
        for alias in prop.get("aliases", ()):
            lines.append(f"  {'':<14} also accepted as {alias} ({env_var(connector.name, alias)})")
    return lines


def _auth_rows(connector: Connector, hooks: CustomHooks) -> list[str]:
    auth = connector.auth
    if hooks.auth is not None:
        declared = f"declared {auth.kind}, replaced by the hook" if auth else "nothing declared"
        return [f"  auth:         custom (plugin {hooks.auth}): {declared}"]
    if auth is None:
        return ["  auth:         none"]
    return [f"  auth:         {auth.kind}"] + [f"                {x}" for x in auth_lines(auth)]


def token_store_text(connector: Connector, pm: Any = None) -> str | None:
    """Where ``connector``'s rotated refresh tokens are kept, in words (``None``: its
    auth keeps none). The ``headwater_token_store`` hook is asked with placeholder
    settings (:func:`placeholder_settings`); a plugin's store is named by its class
    only, so neither a setting nor a credential the store was built with is shown."""
    from headwater.http.token_store import TOKEN_DIR_ENV, FileTokenStore

    if not isinstance(connector.auth, OAuth2RefreshToken):
        return None
    pm = pm if pm is not None else get_registry().pm
    placeholders = placeholder_settings(connector)
    kwargs = {"connector": connector, "settings": placeholders}
    plugin = custom_implementation(pm, "headwater_token_store", **kwargs)
    try:  # as a run asks it: a wrong answer is an error naming the plugin that gave it
        store = ConnectorHooks(pm, connector).token_store(placeholders)
    except PluginError as exc:
        if exc.__cause__ is None:  # not an exception inside the hook: a wrong answer
            raise
        store = None  # a store that needs the real settings to be built
    except HeadwaterError:  # e.g. a setting the placeholders lack, asked for on purpose
        store = None
    if plugin is not None:  # by its class only: its repr may hold a vault's credentials
        return f"custom (plugin {plugin})" + (f": {type(store).__name__}" if store else "")
    if isinstance(store, FileTokenStore):
        origin = (
            TOKEN_DIR_ENV if os.environ.get(TOKEN_DIR_ENV) else f"default; {TOKEN_DIR_ENV} moves it"
        )
        return f"file {store.path(connector.name)} (owner-only; {origin})"
    return repr(store)


def describe_connector(name: str) -> str:
    """The text of ``headwater describe NAME``."""
    registry = get_registry()
    connector = registry.get(name)
    for resource in connector.resources:
        check_declaration(connector, resource)  # what a run would refuse, told alike
    dist = registry.plugin_distribution(registry.owner(name))
    hooks = custom_hooks(connector, registry.pm)
    lines = [
        f"{connector.name}: {connector.description}".rstrip(": "),
        f"  provided by:  {f'{dist[0]} {dist[1]}' if dist else registry.owner(name)}",
        f"  base URL:     {connector.base_url} (setting base_url)",
        *_auth_rows(connector, hooks),
    ]
    store = token_store_text(connector, registry.pm) if hooks.auth is None else None
    if store is not None:
        lines.append(f"  token store:  {store}")
    if connector.headers:
        lines.append("  headers:      " + _pairs(connector.headers, ": ") + " (every request)")
    lines += [
        "",
        "settings (secrets are never shown):",
        *_settings_lines(connector),
        "",
        "resources:",
    ]
    naming = _naming(connector)
    for resource in connector.resources:
        lines.extend(_resource_lines(connector, resource, hooks, naming))
    # as runs get them: through the hooks, which plugins may wrap or replace
    asked = ConnectorHooks(registry.pm, connector)
    policies = {r.name: asked.retry_policy(r) for r in connector.resources}
    distinct = list(dict.fromkeys(policies.values())) or [connector.retry]
    shown: list[tuple[str | None, Any]] = (
        [(None, distinct[0])] if len(distinct) == 1 else list(policies.items())
    )
    lines += ["", "error handling:"]
    for name, retry in shown:
        scope = "" if name is None else f" ({name})"
        lines += [
            f"  retry on{scope}:     {', '.join(map(str, retry.status_codes))}, dropped "
            "connections, timeouts",
            f"  max retries{scope}:  {retry.max_retries} (backoff factor "
            f"{retry.backoff_factor}, max delay {retry.max_delay} s, Retry-After "
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
    for rule, names in _effective_rules(asked, connector).items():
        cond = " and ".join(
            x
            for x in (
                f"status {rule.status_code}" if rule.status_code is not None else "",
                f"body contains {rule.contains!r}" if rule.contains else "",
            )
            if x
        )
        only = "" if len(names) == len(connector.resources) else f" ({', '.join(names)} only)"
        lines.append(f"  rule:         {cond} -> {rule.action}{only}")
    return "\n".join(lines) + "\n"
