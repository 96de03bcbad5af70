"""Record schemas: loading a resource's JSON Schema file and turning it into dlt hints.

Each resource ships the JSON Schema of one record as a ``.json`` file inside its
connector package. The file is validated as a JSON Schema when loaded; a file that is
missing, not JSON, or not a valid schema raises :class:`SchemaFileError` naming it.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from importlib import resources as importlib_resources
from typing import Any

from headwater.errors import SchemaFileError
from headwater.spec import Connector, Resource

__all__ = [
    "column_type",
    "columns_from_schema",
    "json_types",
    "load_record_schema",
    "load_schema_file",
]

# JSON Schema (type, format) -> dlt data type
_FORMATS = {"date-time": "timestamp", "date": "date", "time": "time"}
_TYPES = {
    "string": "text",
    "integer": "bigint",
    "number": "double",
    "boolean": "bool",
    "object": "json",
    "array": "json",
}


@functools.cache
def load_schema_file(package: str, path: str) -> Mapping[str, Any]:
    """Load and check the JSON Schema file ``path`` shipped in ``package``.

    Cached: each file is read and checked once per process.
    """
    from jsonschema import exceptions as js_exceptions
    from jsonschema import validators

    where = f"{package}/{path}"
    try:
        text = importlib_resources.files(package).joinpath(path).read_text(encoding="utf-8")
    except (FileNotFoundError, ModuleNotFoundError, NotADirectoryError, OSError) as exc:
        raise SchemaFileError(
            f"schema file {where} cannot be read ({type(exc).__name__}); "
            "ship it in the package and check Resource.schema"
        ) from None
    try:
        schema = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SchemaFileError(
            f"schema file {where} is not valid JSON: {exc.msg} at line {exc.lineno} "
            f"column {exc.colno}"
        ) from None
    if not isinstance(schema, dict):
        raise SchemaFileError(
            f"schema file {where} must hold a JSON object, not {type(schema).__name__}"
        )
    cls = validators.validator_for(schema)
    try:
        cls.check_schema(schema)
    except js_exceptions.SchemaError as exc:
        location = "/".join(str(p) for p in exc.path) or "(root)"
        raise SchemaFileError(
            f"schema file {where} is not a valid JSON Schema at {location}: {exc.message}"
        ) from None
    if schema.get("type", "object") != "object" or not isinstance(
        schema.get("properties", {}), dict
    ):
        raise SchemaFileError(
            f"schema file {where} must describe one record: an object with 'properties'"
        )
    return schema


def load_record_schema(connector: Connector, resource: Resource) -> Mapping[str, Any]:
    """The JSON Schema of one record of ``resource`` as declared by ``connector``."""
    return load_schema_file(connector.package, resource.schema)


def _types(prop: Mapping[str, Any]) -> tuple[list[str], bool]:
    """The non-null JSON types of a property and whether null is allowed."""
    raw = prop.get("type")
    if raw is None and "anyOf" in prop:
        raw = [t for sub in prop["anyOf"] for t in _as_list(sub.get("type"))]
    types = _as_list(raw)
    nullable = "null" in types or prop.get("nullable") is True
    return [t for t in types if t != "null"], nullable


def json_types(prop: Mapping[str, Any]) -> list[str]:
    """The JSON types a property allows, ``null`` left out."""
    return _types(prop)[0]


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


#: JSON types whose values all have a faithful text form: a property that may be a
#: string or one of these (an id an API sends either way) is a text column.
_TEXT_UNION = {"string", "integer", "number", "boolean"}


def column_type(prop: Mapping[str, Any]) -> str | None:
    """The dlt data type for one JSON Schema property (``None``: let dlt infer it).

    Of several types: ``text`` for a string or other scalars (dlt loads an integer
    ``5`` as ``"5"``), ``double`` for integer or number, ``json`` for object or array;
    other mixes are not hinted.
    A string that is a ``date-time`` or a ``date`` (``anyOf``) is a ``timestamp``."""
    types, _ = _types(prop)
    if len(set(types)) > 1:
        kinds = set(types)
        if "string" in kinds and kinds <= _TEXT_UNION:
            return "text"
        if kinds == {"object", "array"}:
            return "json"
        return "double" if kinds == {"integer", "number"} else None
    if not types:
        return None
    json_type = types[0]
    if json_type == "string" and prop.get("format") in _FORMATS:
        return _FORMATS[prop["format"]]
    if json_type == "string" and _date_time_or_date(prop):
        return "timestamp"
    return _TYPES.get(json_type)


def _date_time_or_date(prop: Mapping[str, Any]) -> bool:
    """Whether ``prop`` is an ``anyOf`` of date-time and date strings (a date is read
    as its midnight, UTC): a timestamp column."""
    formats = {
        sub.get("format")
        for sub in prop.get("anyOf", ())
        if isinstance(sub, Mapping) and "null" not in _as_list(sub.get("type"))
    }
    return "date-time" in formats and formats <= {"date-time", "date"}


def columns_from_schema(
    schema: Mapping[str, Any], primary_key: tuple[str, ...] = ()
) -> dict[str, dict[str, Any]]:
    """dlt column hints (name -> ``{"data_type", "nullable", "primary_key"}``).

    A property is not nullable when it is required and its type excludes null; primary
    key columns are never nullable. A string that may also be another scalar is text
    (see :func:`column_type`); properties of an undeclared or other mixed type get no
    data type, so dlt infers it. Fields absent from the schema are not hinted and dlt
    keeps them as it finds them.
    """
    required = set(schema.get("required", ()))
    columns: dict[str, dict[str, Any]] = {}
    for name, prop in schema.get("properties", {}).items():
        hint: dict[str, Any] = {"name": name}
        data_type = column_type(prop)
        if data_type:
            hint["data_type"] = data_type
        _, allows_null = _types(prop)
        hint["nullable"] = not (name in required and not allows_null)
        if name in primary_key:
            hint["primary_key"] = True
            hint["nullable"] = False
        if prop.get("description"):
            hint["description"] = prop["description"]
        columns[name] = hint
    return columns
