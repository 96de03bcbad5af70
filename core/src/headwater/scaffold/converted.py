"""The files of a connector package generated from a converted declaration
(``headwater new NAME --from-rest-api FILE`` / ``--from-openapi DOC``).

The package is the one ``headwater new NAME`` writes (pyproject, conftest, the
conformance suite), with the converted declaration written out as Python in
``hooks.py``, one JSON Schema file per resource, the settings the declaration adds,
tests that load every resource from the simulator, and a README listing what was
understood and what is left to decide. Credentials the source spelled out are never
written: they are settings.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import PurePosixPath
from typing import Any

import attrs

from headwater.convert.model import Converted
from headwater.errors import ConfigError
from headwater.scaffold.files import Names, render
from headwater.settings import env_var
from headwater.spec import Connector, Resource, is_jsonpath, key_path, last_record_field

__all__ = ["check_selectors", "declaration_source", "render_converted"]

_DROPPED = ("schemas/items.json",)


def _defaults(cls: type) -> dict[str, Any]:
    out = {}
    for f in attrs.fields(cls):
        default = f.default
        if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
            default = default.factory()  # type: ignore[union-attr]
        out[f.name] = default
    return out


def _code(value: Any, indent: int = 0) -> str:
    """Python source for a spec value (attrs classes with their non-default fields),
    wrapped one argument a line when it would pass 100 columns."""
    pad = " " * indent
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # a valid, double-quoted literal
    if attrs.has(type(value)):
        defaults = _defaults(type(value))
        args = [
            (f.name, getattr(value, f.name))
            for f in attrs.fields(type(value))
            if getattr(value, f.name) != defaults[f.name]
        ]
        flat = f"{type(value).__name__}(" + ", ".join(f"{k}={_code(v)}" for k, v in args) + ")"
        if indent + len(flat) <= 88 or not args:
            return flat
        inner = "".join(f"{pad}    {k}={_code(v, indent + 4)},\n" for k, v in args)
        return f"{type(value).__name__}(\n{inner}{pad})"
    if isinstance(value, Mapping):
        items = [f"{_code(k)}: {_code(v, indent + 4)}" for k, v in value.items()]
        flat = "{" + ", ".join(items) + "}"
        if indent + len(flat) <= 88 or not items:
            return flat
        return "{\n" + "".join(f"{pad}    {i},\n" for i in items) + pad + "}"
    if isinstance(value, (tuple, list)):
        items = [_code(v, indent + 4) for v in value]
        opening, closing = ("(", ")") if isinstance(value, tuple) else ("[", "]")
        flat = opening + ", ".join(items) + ("," if len(items) == 1 and opening == "(" else "")
        if indent + len(flat) + 1 <= 88 or not items:
            return flat + closing
        return opening + "\n" + "".join(f"{pad}    {i},\n" for i in items) + pad + closing
    return repr(value)


#: Resource fields always written, defaults or not: what a reader looks for first.
_ALWAYS = (
    "name",
    "path",
    "schema",
    "data_selector",
    "pagination",
    "primary_key",
    "write_disposition",
)


def _resource_source(resource: Resource, todo: str | None) -> str:
    lines = ["        Resource("]
    if todo:
        lines.append(f"            # TODO: {todo}")
    defaults = _defaults(Resource)
    for f in attrs.fields(Resource):
        current = getattr(resource, f.name)
        if f.name not in _ALWAYS and current == defaults[f.name]:
            continue
        lines.append(f"            {f.name}={_code(current, 12)},")
    lines.append("        ),")
    return "\n".join(lines)


def declaration_source(connector: Connector, todos: Mapping[str, str] | None = None) -> str:
    """The ``Connector(...)`` call declaring ``connector`` (its settings read from
    settings.json, its package the hooks module's own)."""
    todos = todos or {}
    lines = [f"{connector.name.upper()} = Connector("]
    lines.append(f"    name={_code(connector.name)},")
    lines.append("    package=__package__,  # where schemas/ is read from: leave as is")
    for f in attrs.fields(Connector):
        if f.name in ("name", "package", "resources", "settings"):
            continue
        current = getattr(connector, f.name)
        if f.name != "base_url" and current == _defaults(Connector)[f.name]:
            continue
        lines.append(f"    {f.name}={_code(current, 4)},")
    lines.append('    settings=_settings_schema()["properties"],')
    lines.append("    resources=[")
    lines += [_resource_source(r, todos.get(r.name)) for r in connector.resources]
    lines.append("    ],")
    lines.append(")")
    return "\n".join(lines)


def _imports(connector: Connector) -> str:
    names = {"Connector", "Resource"}
    values: list[Any] = [connector.auth, connector.retry, *connector.response_rules]
    for resource in connector.resources:
        values += [resource.pagination, resource.parent, resource.incremental]
        values += resource.response_rules
    for value in values:
        if value is not None and attrs.has(type(value)):
            names.add(type(value).__name__)
            for f in attrs.fields(type(value)):
                inner = getattr(value, f.name)
                if attrs.has(type(inner)):
                    names.add(type(inner).__name__)
    if connector.retry == attrs.fields(Connector).retry.default:
        names.discard("RetryPolicy")
    return "".join(f"    {name},\n" for name in sorted(names)).rstrip("\n")


_HOOKS = '''"""Hook implementations of the ``{name}`` connector.

Generated from {origin}.

The declaration below is data: edit it as any connector's (``headwater describe``
shows what users will see; ``pytest`` runs the conformance suite against a simulated
API served from it).{todo_line}
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

from headwater import hookimpl
from headwater.spec import (
{imports}
)

__all__ = ["{constant}", "headwater_connectors"]


def _settings_schema() -> dict[str, Any]:
    """The JSON Schema in settings.json: this connector's own settings."""
    text = resources.files(__package__).joinpath("settings.json").read_text(encoding="utf-8")
    return json.loads(text)


{declaration}


@hookimpl
def headwater_connectors() -> list[Connector]:
    """Declare the ``{name}`` connector."""
    return [{constant}]
'''

_TEST = '''"""The {name} connector loads every resource from a simulated API, as generated.

``api_simulator`` serves the declared API on 127.0.0.1 with records generated from the
schema files. Add tests of your own here as the connector grows.
"""

from __future__ import annotations

import headwater
from headwater.testing import rows_of

from {package} import hooks

CONNECTOR = hooks.{constant}
NAME = CONNECTOR.name
#: values of the settings the declaration adds (placeholders in paths)
SETTINGS = {settings}


def _settings(sim):
    """The declaration's own settings, overridden by the simulator's (it serves those)."""
    return {{**SETTINGS, **sim.settings}}


def _keys(records, key):
    return sorted(tuple(str(record[k]) for k in key) for record in records)


def test_every_top_level_resource_loads_every_record(api_simulator):
    counts = {{r.name: 42 for r in CONNECTOR.resources if r.parent is None}}
    sim = api_simulator(CONNECTOR, records=counts)
    for resource in CONNECTOR.resources:
        if resource.parent is not None:
            continue
        source = headwater.source(NAME, resources=[resource.name], **_settings(sim))
        rows = rows_of(source)
        served = sim.data[resource.name]
        key = resource.primary_key_columns
        if key:
            assert _keys(rows, key) == sorted(set(_keys(served, key))), resource.name
        else:
            assert len(rows) == len(served), resource.name


def test_everything_loads_into_duckdb(api_simulator, duckdb_pipeline):
    sim = api_simulator(CONNECTOR)
    pipeline = duckdb_pipeline("load")
    info = pipeline.run(headwater.source(NAME, **_settings(sim)))
    assert not info.has_failed_jobs
    with pipeline.sql_client() as client:
        for resource in CONNECTOR.resources:
            table = pipeline.default_schema.naming.normalize_table_identifier(resource.name)
            served = sim.data[resource.name]
            expected = len(served) if resource.parent is None else sum(map(len, served.values()))
            (count,) = client.execute_sql(f"select count(*) from {{table}}")[0]
            assert (count > 0) == (expected > 0), resource.name
'''

_CONFORMANCE = '''"""The {name} connector passes Headwater's conformance suite.

Against a simulated API served from the connector's own declaration (127.0.0.1, no
network), into DuckDB. Keep it as it is: it adapts to whatever hooks.py declares.
"""

from __future__ import annotations

from headwater.testing.conformance import ConformanceSuite

from {package} import hooks


class Test{class_name}Conformance(ConformanceSuite):
    connector = "{name}"
    plugins = (hooks,)
    settings = {settings}
'''


def _readme(names: Names, converted: Converted, origin: str) -> str:
    c = converted.connector
    lines = [
        f"# {names.placeholders()['distribution']}",
        "",
        f"A Headwater connector for the {c.name} API, generated from {origin} by "
        f"`headwater new {c.name}`.",
        "",
        "## Resources",
        "",
    ]
    for r in c.resources:
        parent = f", one request per `{r.parent.resource}` record" if r.parent else ""
        lines.append(
            f"- `{r.name}`: `{r.method} {r.path}` ({r.pagination.kind}{parent}); "
            f"schema `src/{names.package}/{r.schema}`"
        )
    lines += ["", "## Settings", ""]
    auth = c.auth
    for setting in getattr(auth, "settings", ()) if auth else ():
        secret = " (secret)" if setting in getattr(auth, "secrets", ()) else ""
        lines.append(f"- `{setting}`{secret}: `{env_var(c.name, setting)}`")
    for setting, prop in c.settings.items():
        secret = " (secret)" if prop.get("writeOnly") else ""
        lines.append(f"- `{setting}`{secret}: `{env_var(c.name, setting)}`")
    for setting, ref in converted.references.items():
        lines.append(f"- `{setting}` was read as `dlt.secrets[{ref!r}]` in the original")
    lines.append(f"- `base_url` (default `{c.base_url}`): `{env_var(c.name, 'base_url')}`")
    lines += [
        "",
        "## Install and test",
        "",
        "```",
        'pip install -e ".[duckdb,test]"      # or: uv pip install -e ".[duckdb,test]"',
        "pytest",
        f"headwater describe {c.name}",
        "```",
    ]
    if converted.notes:
        lines += ["", "## What was understood", ""]
        lines += [f"- {note}" for note in converted.notes]
    if converted.todos:
        lines += ["", "## To do", ""]
        lines += [f"- {todo}" for todo in converted.todos]
    return "\n".join(lines) + "\n"


#: the response fields a pagination spec reads (the attributes holding a field path)
_PAGING_PATHS = (
    "cursor_path",
    "next_path",
    "total_path",
    "total_pages_path",
    "has_more_path",
    "end_path",
)


def check_selectors(connector: Connector) -> None:
    """Raise :class:`ConfigError` for a resource whose ``data_selector`` or pagination
    field is a JSONPath the simulator cannot serve (a wildcard, filter or recursion; a
    cursor may also be a field of the last record, ``$.data[-1].id``), so the generated
    package's tests would fail."""
    for resource in connector.resources:
        selector = resource.data_selector
        if isinstance(selector, str) and key_path(selector) is None:
            raise ConfigError(
                f"resource {resource.name!r}: data_selector {selector!r} is a JSONPath with "
                "a wildcard, filter or recursion, which a generated connector cannot be "
                "tested with; select the list by its keys: 'data', '$.data.items', "
                "'$.results[*]' or '$' (the body)"
            )
        for name in _PAGING_PATHS:
            path = getattr(resource.pagination, name, None)
            if path is None or not is_jsonpath(path) or key_path(path):
                continue
            if name == "cursor_path" and last_record_field(path, selector) is not None:
                continue
            last = "; a cursor may also be the last record's field: '$.data[-1].id'"
            raise ConfigError(
                f"resource {resource.name!r}: pagination {name} {path!r} is a JSONPath a "
                "generated connector cannot be tested with (the simulator cannot place its "
                "field); name the field by its keys: 'meta.next' or '$.meta.next'"
                + (last if name == "cursor_path" else "")
            )


def render_converted(
    names: Names,
    converted: Converted,
    origin: str,
) -> dict[PurePosixPath, str]:
    """Every file of the package of ``converted`` (relative path -> text); ``origin``
    says what it was generated from."""
    check_selectors(converted.connector)
    resource_todos = converted.resource_todos
    files = dict(render(names))
    package = f"src/{names.package}"
    for dropped in _DROPPED:
        files.pop(PurePosixPath(f"{package}/{dropped}"), None)
    connector = attrs.evolve(converted.connector, name=names.name, package=names.package)
    values = names.placeholders()
    todo_line = (
        "\n\nLook for the TODO comments: what the conversion could not decide."
        if resource_todos
        else ""
    )
    hooks = _HOOKS.format(
        name=names.name,
        origin=origin,
        todo_line=todo_line,
        imports=_imports(connector),
        constant=values["constant"],
        declaration=declaration_source(connector, resource_todos),
    )
    files[PurePosixPath(f"{package}/hooks.py")] = hooks
    settings_schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": f"settings of the {names.name} connector",
        "description": "The settings this connector adds to Headwater's own.",
        "type": "object",
        "properties": dict(connector.settings),
    }
    files[PurePosixPath(f"{package}/settings.json")] = json.dumps(settings_schema, indent=2) + "\n"
    schemas = {
        PurePosixPath(f"{package}/{r.schema}"): json.dumps(converted.schemas[r.name], indent=2)
        + "\n"
        for r in connector.resources
    }
    ordered: dict[PurePosixPath, str] = {}
    for path, text in files.items():
        ordered[path] = text
        if path.name == "settings.json":
            ordered.update(schemas)
    files = ordered
    test_settings = {name: f"test-{name}" for name in connector.required_settings}
    files[PurePosixPath("tests/test_connector.py")] = _TEST.format(
        name=names.name,
        package=names.package,
        constant=values["constant"],
        settings=_code(test_settings),
    )
    files[PurePosixPath("tests/test_conformance.py")] = _CONFORMANCE.format(
        name=names.name,
        package=names.package,
        class_name=values["class_name"],
        settings=_code(test_settings, 4),
    )
    files[PurePosixPath("README.md")] = _readme(names, converted, origin)
    return files
