"""Schema drift: what the API really sends, compared with what a resource declares.

From records sampled off the first pages (:class:`headwater.run.sampling.Sample`):
declared fields never seen, fields seen but not declared, and values whose JSON type
the declaration does not allow — each with counts, so a rare null is told from a
renamed field.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from attrs import field, frozen

from headwater.schema import json_types
from headwater.spec import Connector

__all__ = ["Drift", "declared_schemas", "drift_lines", "find_drift", "json_type"]


def json_type(value: Any) -> str:
    """The JSON Schema type of a decoded JSON value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _declared_types(prop: Mapping[str, Any]) -> list[str]:
    """The JSON types ``prop`` allows, ``null`` included when it is nullable (empty:
    any type)."""
    types = json_types(prop)
    raw = prop.get("type")
    nullable = (
        prop.get("nullable") is True or raw == "null" or (isinstance(raw, list) and "null" in raw)
    )
    nullable = nullable or any(
        sub.get("type") == "null" or "null" in (sub.get("type") or [])
        for sub in prop.get("anyOf", ())
        if isinstance(sub, Mapping)
    )
    if not types:
        return [] if not nullable or raw is None else ["null"]
    return [*types, "null"] if nullable else types


def _allows(declared: list[str], seen: str) -> bool:
    if not declared or seen in declared:
        return True
    return seen == "integer" and "number" in declared


@frozen
class Drift:
    """One resource's drift over ``records`` sampled records from ``pages`` pages.

    ``unseen``: declared fields no sampled record had; ``undeclared``: field -> how many
    records had it; ``types``: field -> {JSON type seen that the declaration does not
    allow -> how many records}."""

    resource: str
    records: int
    pages: int
    unseen: tuple[str, ...] = ()
    undeclared: Mapping[str, int] = field(factory=dict)
    types: Mapping[str, Mapping[str, int]] = field(factory=dict)

    @property
    def any(self) -> bool:
        """Whether the records disagree with the declaration at all."""
        return bool(self.unseen or self.undeclared or self.types)

    def lines(self, *, undeclared: bool = True) -> list[str]:
        """One line per kind of disagreement, naming the fields and the counts
        (``undeclared``: including the fields seen but not declared)."""
        where = f"resource {self.resource} ({self.records} records from {self.pages} pages)"
        out = []
        if self.unseen:
            out.append(f"{where}: declared fields never seen: {', '.join(self.unseen)}")
        if self.undeclared and undeclared:
            shown = ", ".join(f"{k} ({n})" for k, n in sorted(self.undeclared.items()))
            out.append(f"{where}: fields seen but not declared: {shown}")
        for name, seen in sorted(self.types.items()):
            counts = ", ".join(f"{t} in {n}" for t, n in sorted(seen.items()))
            out.append(f"{where}: field {name} has types the schema does not declare: {counts}")
        return out


def find_drift(
    resource: str,
    schema: Mapping[str, Any],
    records: Iterable[Any],
    pages: int,
    added: Iterable[str] = (),
) -> Drift:
    """Compare sampled ``records`` with the record JSON ``schema`` of ``resource``
    (top-level fields; an empty sample says nothing and reports no drift). ``added``:
    fields Headwater adds to each record (a child's parent column), not the API's."""
    properties: Mapping[str, Any] = schema.get("properties") or {}
    added = set(added)
    declared = {name: _declared_types(prop) for name, prop in properties.items()}
    open_schema = not properties
    seen: dict[str, int] = {}
    wrong: dict[str, dict[str, int]] = {}
    count = 0
    for record in records:
        if not isinstance(record, Mapping):
            continue
        count += 1
        for name, value in record.items():
            seen[name] = seen.get(name, 0) + 1
            types = declared.get(name)
            if types is None:
                continue
            kind = json_type(value)
            if not _allows(types, kind):
                counts = wrong.setdefault(name, {})
                counts[kind] = counts.get(kind, 0) + 1
    if count == 0:
        return Drift(resource=resource, records=0, pages=pages)
    return Drift(
        resource=resource,
        records=count,
        pages=pages,
        unseen=tuple(name for name in declared if name not in seen),
        undeclared={}
        if open_schema
        else {k: n for k, n in seen.items() if k not in declared and k not in added},
        types=wrong,
    )


def declared_schemas(connector: Connector) -> dict[str, Mapping[str, Any]]:
    """Each resource's record schema, as the plugins give it (an override included),
    checked as a run checks it: a plugin's wrong answer or exception is a
    :class:`~headwater.errors.PluginError` naming it."""
    from headwater.load.assemble import ConnectorHooks
    from headwater.plugin.manager import get_registry

    hooks = ConnectorHooks(get_registry().pm, connector)
    return {r.name: hooks.record_schema(r) for r in connector.resources}


def drift_lines(connector: Connector, sample: Any) -> list[str]:
    """The drift warnings of every sampled resource of ``connector`` (a
    :class:`headwater.run.sampling.Sample`), one line each, for a run's summary.

    Fields seen but not declared are left out where the schema says extra fields are
    expected (``"additionalProperties": true``): they are loaded as columns, and a run
    warning about them every time would be noise (``headwater check`` lists them)."""
    schemas = declared_schemas(connector)
    lines: list[str] = []
    for name, records in sorted(sample.records.items()):
        if name in schemas:
            parent = connector.resource(name).parent
            found = find_drift(
                name,
                schemas[name],
                records,
                sample.pages.get(name, 0),
                added=(parent.column,) if parent is not None and parent.column else (),
            )
            expected = schemas[name].get("additionalProperties") is True
            lines.extend(found.lines(undeclared=not expected))
    return lines
