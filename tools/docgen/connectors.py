"""Connector reference pages, rendered from what the installed plugins declare.

Everything here is read from the specs and the hooks — the same objects
``headwater.source()`` assembles a source from — never written by hand: auth kind,
settings (JSON Schema, env var names, TOML keys, secrets), resources (path,
pagination, selector, key, write disposition, parent, incremental), each resource's
schema columns and types, retry policy and response rules.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from headwater.http.session import MAX_RETRY_AFTER
from headwater.plugin.manager import Registry, make_plugin_manager
from headwater.run import describe
from headwater.schema import column_type, columns_from_schema
from headwater.settings import env_var, settings_schema
from headwater.spec import (
    ApiKeyAuth,
    BasicAuth,
    BearerAuth,
    Connector,
    CursorPagination,
    NextLinkPagination,
    OAuth2ClientCredentials,
    OffsetPagination,
    PageNumberPagination,
    Resource,
    ResponseRule,
    RetryPolicy,
    SinglePage,
)

__all__ = ["load_registry", "render_connector", "render_index", "stub_page"]

#: Where the pages link for how settings are resolved (relative to docs/connectors/).
CONFIGURATION_PAGE = "../configuration.md"
DESTINATIONS_PAGE = "../destinations.md"


def load_registry() -> Registry:
    """The installed connectors, loaded strictly: a broken plugin fails the docs build
    instead of silently missing from it, and ``HEADWATER_DISABLE_PLUGINS`` is ignored."""
    return Registry(make_plugin_manager(strict=True, disabled=()))


# ----------------------------------------------------------------------- helpers


def code(value: Any) -> str:
    """``value`` as inline code (a pipe inside a code span does not split a table cell)."""
    text = value if isinstance(value, str) else json.dumps(value)
    return f"`{text}`"


def cell(text: str) -> str:
    """Free text inside a table cell: no pipes, no newlines, no raw HTML."""
    return text.replace("|", "\\|").replace("\n", " ").replace("<", "&lt;")


def table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def field_text(path: Any) -> str:
    """A response field: one literal key, or nested keys."""
    if isinstance(path, tuple):
        return " → ".join(code(k) for k in path)
    return code(path)


def join(words: Sequence[str]) -> str:
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " and " + words[-1]


# ----------------------------------------------------------------- auth, paging


def auth_summary(connector: Connector) -> str:
    auth = connector.auth
    if auth is None:
        return "none"
    if isinstance(auth, OAuth2ClientCredentials):
        return "OAuth2 client credentials"
    if isinstance(auth, ApiKeyAuth):
        where = "query string" if auth.location == "query" else "header"
        return f"API key in the {where} as {code(auth.name)}"
    if isinstance(auth, BearerAuth):
        return "static bearer token"
    if isinstance(auth, BasicAuth):
        return "HTTP basic"
    # the other kinds: describe's first line, e.g. "OAuth2 refresh token: ..."
    return cell(describe.auth_lines(auth)[0].split(":")[0])


def auth_text(connector: Connector) -> str:
    auth = connector.auth
    if auth is None:
        return "No authentication: requests carry no credentials."
    if isinstance(auth, OAuth2ClientCredentials):
        form = ["`grant_type=client_credentials`", "`client_id`", "`client_secret`"]
        form += [code(f"{k}={v}") for k, v in auth.extra_form.items()]
        form.append("`scope` (when the setting has a value)")
        return (
            f"OAuth2 client credentials (`{auth.kind}`): `POST` to the `token_url` setting "
            f"with the form fields {join(form)}. The token is sent as "
            "`Authorization: Bearer …`; one token serves every resource and thread of a "
            "run, is renewed shortly before it expires, and once more if the API answers "
            "401. The token request gets the connector's retry policy."
        )
    if isinstance(auth, ApiKeyAuth):
        if auth.location == "query":
            return (
                f"API key (`{auth.kind}`): the `api_key` setting is sent in the query string "
                f"of every request as `{auth.name}=…`. Because it is part of every URL, "
                "Headwater redacts it (`***`) from logs, errors and the pipeline's files."
            )
        return (
            f"API key (`{auth.kind}`): the `api_key` setting is sent in the "
            f"`{auth.name}` header of every request."
        )
    if isinstance(auth, BearerAuth):
        return (
            f"Bearer token (`{auth.kind}`): the `token` setting is sent as "
            "`Authorization: Bearer …` on every request."
        )
    if isinstance(auth, BasicAuth):
        return f"HTTP basic (`{auth.kind}`): the `username` and `password` settings."
    # the kinds added since: the words of `headwater describe`, names as code
    lines = describe.auth_lines(auth, code)
    return f"(`{auth.kind}`) " + "; ".join(lines) + "."


def pagination_text(resource: Resource) -> str:
    spec = resource.pagination
    if isinstance(spec, OffsetPagination):
        stop = f"stops on a page shorter than {spec.limit} (an empty one included)"
        if spec.total_path is not None:
            stop = (
                f"stops when the total at {field_text(spec.total_path)} is reached (each "
                "page starting where the one before ended, however short), or on an empty "
                f"page; on a page shorter than {spec.limit} only when the API sends no total"
            )
        return (
            f"offset: `{spec.offset_param}=0, {spec.limit}, …` and "
            f"`{spec.limit_param}={spec.limit}`; {stop}"
        )
    if isinstance(spec, CursorPagination):
        size = (
            f"; `{spec.page_size_param}={spec.page_size}` on every request"
            if spec.page_size
            else ""
        )
        return (
            f"cursor: the token at {field_text(spec.cursor_path)} is sent back as "
            f"`{spec.cursor_param}`{size}; ends when the token is missing, null or empty"
        )
    if isinstance(spec, NextLinkPagination):
        return (
            f"next link: the URL at {field_text(spec.next_path)} is requested next as "
            "given (its own query; same host and scheme only); ends when it is missing, "
            "null or empty"
        )
    if isinstance(spec, PageNumberPagination):
        size = (
            f", `{spec.page_size_param}={spec.page_size}` on every request"
            if spec.page_size
            else ""
        )
        counts = []
        if spec.total_pages_path is not None:
            counts.append(f"the page count at {field_text(spec.total_pages_path)}")
        if spec.total_path is not None:
            counts.append(f"the record count at {field_text(spec.total_path)}")
        short = ""
        if spec.page_size:
            short = " (a short one only when the API sends no count)"
            short = short if counts else " or a short one"
        stop = "stops on an empty page" + short
        if counts:
            stop = f"stops at {' or '.join(counts)}, or on an empty page{short}"
        return f"page number: `{spec.page_param}={spec.start}, {spec.start + 1}, …`{size}; {stop}"
    if isinstance(spec, SinglePage):
        return "one request, no further pages"
    return f"{spec.kind.replace('_', ' ')}: {describe.pagination_details(resource, code)}"


# --------------------------------------------------------------------- settings


def type_text(prop: Mapping[str, Any]) -> str:
    declared = prop.get("type", "any")
    types = [declared] if isinstance(declared, str) else list(declared)
    text = " or ".join(t for t in types if t != "null") or "any"
    if "enum" in prop:
        text = "one of " + ", ".join(code(v) for v in prop["enum"])
    bounds = [
        f"≥ {prop['minimum']}" if "minimum" in prop else "",
        f"≤ {prop['maximum']}" if "maximum" in prop else "",
    ]
    if any(bounds):
        text += " (" + ", ".join(b for b in bounds if b) + ")"
    if "null" in types:
        text += ", or unset"
    return text


def default_text(key: str, prop: Mapping[str, Any], required: bool) -> str:
    if "default" not in prop or prop["default"] is None:
        return "**required**" if required else "none"
    value = prop["default"]
    if isinstance(value, str) and "{base_url}" in value:
        return f"{code(value)} (from the resolved `base_url`)"
    return code(value)


def settings_rows(connector: Connector) -> list[list[str]]:
    schema = settings_schema(connector)
    required = set(schema["required"])
    rows = []
    for key, prop in schema["properties"].items():
        secret = bool(prop.get("writeOnly"))
        names = [key, *prop.get("aliases", ())]
        setting = " or ".join(code(n) for n in names) + (" (secret)" if secret else "")
        env = " or ".join(code(env_var(connector.name, n)) for n in names)
        toml = ".dlt/secrets.toml" if secret else ".dlt/config.toml"
        rows.append(
            [
                setting,
                env,
                f"{' or '.join(code(n) for n in names)} in `{toml}`",
                cell(type_text(prop)),
                default_text(key, prop, key in required),
                cell(prop.get("description", "")),
            ]
        )
    return rows


def example_text(connector: Connector) -> str:
    schema = settings_schema(connector)
    props = schema["properties"]
    needed = [
        k
        for k in schema["required"]
        if props[k].get("default") is None or props[k].get("writeOnly")
    ]
    name = connector.name
    exports = [f"export {env_var(name, k)}=..." for k in needed]
    exports.append(f"export {env_var(name, 'base_url')}={connector.base_url}")
    shell = "\n".join(
        [
            *exports,
            f"headwater check {name}      # settings, credentials, first page of each resource",
            f"headwater run {name}        # -> ./headwater_{name}.duckdb, dataset {name}_data",
        ]
    )
    secrets = [k for k in needed if props[k].get("writeOnly")]
    others = [k for k in needed if not props[k].get("writeOnly")]
    parts = [f"```sh\n{shell}\n```"]
    if secrets:
        lines = "\n".join(f'{k} = "..."' for k in secrets)
        parts.append(f"```toml\n# .dlt/secrets.toml\n[sources.{name}]\n{lines}\n```")
    if others:
        lines = "\n".join(f'{k} = "..."' for k in others)
        parts.append(f"```toml\n# .dlt/config.toml\n[sources.{name}]\n{lines}\n```")
    # One argument a line, with trailing commas: formatted as `ruff format` formats it
    # (the docs' code blocks are checked by it), whatever the lengths of the names.
    arguments = "".join(f'    {k}="...",\n' for k in needed)
    python = (
        "import dlt\nimport headwater\n\n"
        "pipeline = dlt.pipeline(\n"
        f'    "headwater_{name}",\n    destination="duckdb",\n    dataset_name="{name}_data",\n)\n'
        f'source = headwater.source(\n    "{name}",\n{arguments})\n'
        "pipeline.run(source)"
    )
    parts.append(f"```python\n{python}\n```")
    return "\n\n".join(parts)


# -------------------------------------------------------------------- resources


def request_text(resource: Resource) -> str:
    text = f"{resource.method} {resource.path}"
    if resource.params:
        text += "?" + "&".join(f"{k}={v}" for k, v in resource.params.items())
    extra = [
        f"{label} {code(value)}"
        for label, value in describe.request_rows(resource)
        if label in ("headers", "body")
    ]
    return code(text) + (" with " + cell("; ".join(extra)) if extra else "")


def resource_notes(connector: Connector, resource: Resource) -> list[str]:
    notes = []
    if resource.description:
        notes.append(cell(resource.description))
    parent = resource.parent
    if parent is not None:
        notes.append(
            f"One request per `{parent.resource}` record: its `{parent.field}` replaces "
            f"`{{{parent.placeholder}}}` in the path and is stored in column "
            f"`{parent.column}`, so the tables join. Loading `{resource.name}` alone "
            f"also reads (and loads) `{parent.resource}`; the `max_workers` setting caps "
            "concurrent requests."
        )
    inc = resource.incremental
    if inc is not None:
        described = "; ".join(describe.incremental_lines(resource))
        notes.append(
            f"Incremental {described}. Each run requests from the position the last one "
            "reached; `headwater run --start A --end B` backfills `[A, B)` without moving "
            "it (see [Incremental loading](../incremental.md)). The `sync_mode` setting "
            "(`full_refresh`) requests everything and replaces the table instead."
        )
    if resource.rate_limit is not None:
        notes.append(f"Rate limit: at most {resource.rate_limit} for this resource's requests.")
    return notes


def resources_text(connector: Connector) -> str:
    rows = []
    for r in connector.resources:
        rows.append(
            [
                code(r.name),
                request_text(r),
                field_text(r.data_selector) if r.data_selector else "the body (a list)",
                cell(pagination_text(r)),
                ", ".join(code(c) for c in r.primary_key_columns) or "none",
                code(r.write_disposition),
            ]
        )
    out = [
        table(
            (
                "resource / table",
                "request",
                "records at",
                "pagination",
                "primary key",
                "write disposition",
            ),
            rows,
        )
    ]
    for r in connector.resources:
        notes = resource_notes(connector, r)
        if notes:
            out.append(f"`{r.name}`: " + " ".join(notes))
    return "\n\n".join(out)


def json_type_text(prop: Mapping[str, Any]) -> str:
    declared = prop.get("type")
    if declared is None and "anyOf" in prop:
        declared = [sub.get("type") for sub in prop["anyOf"] if sub.get("type")]
    if declared is None:
        return "any"
    text = declared if isinstance(declared, str) else ", ".join(map(str, declared))
    if prop.get("format"):
        text += f" ({prop['format']})"
    return text


def schema_text(registry: Registry, connector: Connector, resource: Resource) -> str:
    schema = registry.pm.hook.headwater_record_schema(connector=connector, resource=resource)
    columns = columns_from_schema(schema, resource.primary_key_columns)
    # dlt's default naming (snake_case), as the table has them unless naming = "api"
    from dlt.common.normalizers.naming.snake_case import NamingConvention

    column_name = NamingConvention().normalize_identifier
    rows = []
    for name, hint in columns.items():
        prop = schema["properties"][name]
        flags = []
        if column_name(name) != name:
            flags.append(f"the API's `{name}`")
        if hint.get("primary_key"):
            flags.append("primary key")
        if resource.incremental and resource.incremental.cursor_field == name:
            flags.append("incremental cursor")
        if resource.parent and resource.parent.column == name:
            flags.append(f"from `{resource.parent.resource}.{resource.parent.field}`")
        if hint.get("description"):
            flags.append(hint["description"])
        rows.append(
            [
                code(column_name(name)),
                cell(json_type_text(prop)),
                code(column_type(prop)) if column_type(prop) else "inferred by dlt",
                "yes" if hint["nullable"] else "**no**",
                cell("; ".join(flags)),
            ]
        )
    parent = resource.parent
    if parent is not None and parent.column not in columns:
        # Headwater adds the parent's value to every child record.
        of = connector.resource(parent.resource)
        parent_schema = registry.pm.hook.headwater_record_schema(connector=connector, resource=of)
        prop = parent_schema.get("properties", {}).get(parent.field, {})
        key = parent.column in resource.primary_key_columns
        rows.append(
            [
                code(parent.column),
                cell(json_type_text(prop)),
                code(column_type(prop)) if column_type(prop) else "inferred by dlt",
                "**no**" if key else "yes",
                cell(
                    ("primary key; " if key else "")
                    + f"added by Headwater: the parent's `{parent.resource}.{parent.field}`"
                ),
            ]
        )
    text = (
        f"Schema file `{connector.package}/{resource.schema}`. "
        "Fields the API sends beyond these are kept, typed by dlt.\n\n"
        + table(("column", "JSON Schema type", "dlt type", "nullable", "notes"), rows)
    )
    renamed = [n for n in columns if column_name(n) != n]
    if renamed:
        text += (
            f"\n\nColumns are named as dlt names them by default: `{renamed[0]}` is "
            f'`{column_name(renamed[0])}`. The setting `naming = "api"` keeps the API\'s '
            f"spelling ([destinations]({DESTINATIONS_PAGE}#column-names))."
        )
    return text


# ---------------------------------------------------------------- error handling


def retry_text(policy: RetryPolicy) -> str:
    codes = ", ".join(str(c) for c in policy.status_codes) or "no status code"
    waits = [min(policy.max_delay, policy.backoff_factor * 2**n) for n in range(policy.max_retries)]
    wait_text = ", ".join(f"{w:g}" for w in waits)
    after = (
        f"a `Retry-After` header is honoured (up to the `max_retry_after` setting, "
        f"default {MAX_RETRY_AFTER:g} s)"
        if policy.respect_retry_after
        else "`Retry-After` headers are ignored"
    )
    if not policy.max_retries:
        return f"Nothing is retried. Each attempt times out after {policy.timeout:g} s."
    return (
        f"HTTP {codes}, dropped connections and timeouts are retried up to "
        f"{policy.max_retries} times ({policy.max_retries + 1} attempts in all), waiting "
        f"{wait_text} s (backoff factor {policy.backoff_factor:g}, at most "
        f"{policy.max_delay:g} s); {after}. Each attempt times out after "
        f"{policy.timeout:g} s."
    )


_ACTIONS = {
    "ignore": "ignore: the resource (for a child resource, that parent's request) yields "
    "nothing more, with a warning naming it; on a later page it is an error instead",
    "retry": "retry, within the retry policy's count and backoff",
    "fail": "fail the resource with a one-line error",
}


def rule_text(rule: ResponseRule) -> str:
    match = [
        f"HTTP {rule.status_code}" if rule.status_code is not None else "",
        f"body contains {code(rule.contains)}" if rule.contains else "",
    ]
    return f"{' and '.join(m for m in match if m)} → {_ACTIONS[rule.action]}"


def errors_text(registry: Registry, connector: Connector) -> str:
    hook = registry.pm.hook
    policies: dict[RetryPolicy, list[str]] = {}
    rules: dict[tuple[ResponseRule, ...], list[str]] = {}
    for r in connector.resources:
        policy = hook.headwater_retry_policy(connector=connector, resource=r)
        policies.setdefault(policy, []).append(r.name)
        found = hook.headwater_response_rules(connector=connector, resource=r)
        rules.setdefault(tuple(rule for result in found for rule in result or ()), []).append(
            r.name
        )
    out = []
    for policy, names in policies.items():
        scope = "" if len(policies) == 1 else f"`{'`, `'.join(names)}`: "
        out.append(f"- **Retries.** {scope}{retry_text(policy)}")
    if connector.rate_limit is not None:
        out.append(
            f"- **Rate limit.** At most {connector.rate_limit} for the whole run, shared by "
            "every thread (the `rate_limit` setting overrides it)."
        )
    for found, names in rules.items():
        if not found:
            continue
        scope = (
            "all resources"
            if len(names) == len(connector.resources)
            else join([f"`{n}`" for n in names])
        )
        listed = "; ".join(rule_text(rule) for rule in found)
        out.append(f"- **Response rules** ({scope}; the first match decides): {listed}.")
    out.append(
        "- **Anything else** — another error status, a status still failing after the last "
        "attempt, an HTML page or malformed JSON, a page without its records field — fails "
        "the resource with one line naming it and the (redacted) URL; `headwater run` "
        "loads the other resources and exits 1."
    )
    return "\n".join(out)


# ----------------------------------------------------------------------- pages


def render_connector(registry: Registry, name: str) -> str:
    """The generated reference of connector ``name`` (Markdown, headings from ``##``)."""
    connector = registry.get(name)
    owner = registry.owner(name)
    dist = registry.plugin_distribution(owner)
    module = getattr(registry.pm.get_plugin(owner), "__name__", owner)
    if dist:
        dist_text = f"{code(dist[0])} {dist[1]} (`pip install {dist[0]}`)"
    else:
        dist_text = "not installed as a distribution"
    rate = str(connector.rate_limit) if connector.rate_limit else "none declared"
    summary = table(
        ("", ""),
        [
            ["connector", code(connector.name)],
            ["distribution", dist_text],
            ["plugin", f"{code(owner)}, module {code(module)}"],
            ["base URL", f"{code(connector.base_url)} (setting `base_url`)"],
            ["authentication", auth_summary(connector)],
            ["resources", ", ".join(code(r) for r in connector.resource_names)],
            ["rate limit", rate],
        ],
    )
    sections = [
        "## Reference",
        summary,
        "### Use it",
        example_text(connector),
        "### Authentication",
        auth_text(connector),
        "### Settings",
        "Each value comes from, in order: a keyword argument of `headwater.source()` "
        "(or `--base-url`), the environment variable, `[sources."
        f"{name}]` in `.dlt/secrets.toml` or `.dlt/config.toml`, the default "
        f"([configuration and secrets]({CONFIGURATION_PAGE})). Secrets are never shown "
        "by Headwater and are redacted from its logs, errors and files.",
        table(
            ("setting", "environment variable", "TOML", "type", "default", "meaning"),
            settings_rows(connector),
        ),
        "### Resources",
        resources_text(connector),
    ]
    for r in connector.resources:
        sections += [f"### Columns of `{r.name}`", schema_text(registry, connector, r)]
    sections += ["### Error handling", errors_text(registry, connector)]
    return "\n\n".join(sections) + "\n"


def stub_page(connector: Connector) -> str:
    """A page for an installed connector that has no hand-written page."""
    intro = cell(connector.description) or f"The `{connector.name}` connector."
    return (
        f"# Connector `{connector.name}`\n\n{intro}\n\n"
        f"{generated_note(connector.name)}\n\n"
        f"<!-- generated: connector {connector.name} -->\n"
    )


def generated_note(name: str) -> str:
    """The sentence hand-written connector pages carry too (checked by tests)."""
    return (
        "The reference below is generated from the connector's declarations when the "
        f"documentation site is built; `headwater describe {name}` prints the same."
    )


def render_index(registry: Registry) -> str:
    """A table of every installed connector, linking to its page."""
    rows = []
    for c in registry.connectors():
        dist = registry.plugin_distribution(registry.owner(c.name))
        rows.append(
            [
                f"[`{c.name}`]({c.name}.md)",
                code(dist[0]) if dist else "-",
                auth_summary(c),
                ", ".join(code(r) for r in c.resource_names),
                cell(c.description),
            ]
        )
    return table(("connector", "distribution", "auth", "resources", "what"), rows) + "\n"
