"""``headwater new NAME --from-openapi DOC --sample``: refine the converted schemas
with a page of real records.

Each top-level resource is read as a run would read it (the settings, credentials
included, come from the environment and ``.dlt/`` as for ``headwater run``), the first
page only; then each record schema is reconciled with what came back: fields the API
sent that the schema lacks are added with the type they had, a declared type the
records contradict is widened, and a required field missing from a record is no longer
required. Every change is reported; nothing else is.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import Any

import attrs

from headwater.convert.model import Converted
from headwater.convert.plugin import InMemoryConnector
from headwater.errors import HeadwaterError, RunError
from headwater.schema import json_types

__all__ = ["reconcile", "refine", "sample_records"]

#: records read per resource: the first page, at most this many
SAMPLE_SIZE = 100


def _json_type(value: Any) -> str:
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


def reconcile(
    schema: Mapping[str, Any], records: list[Mapping[str, Any]], resource: str
) -> tuple[dict[str, Any], list[str]]:
    """``schema`` made to agree with ``records``, and what changed (one line each)."""
    out = copy.deepcopy(dict(schema))
    properties: dict[str, Any] = out.setdefault("properties", {})
    required: list[str] = list(out.get("required", ()))
    changes: list[str] = []
    seen: dict[str, set[str]] = {}
    for record in records:
        for name, value in record.items():
            seen.setdefault(name, set()).add(_json_type(value))
    for name, types in seen.items():
        observed = sorted(types - {"null"})
        if name not in properties:
            prop: dict[str, Any] = {}
            if len(observed) == 1:
                prop["type"] = observed[0] if "null" not in types else [observed[0], "null"]
            properties[name] = prop
            changes.append(f"{resource}: added {name} ({'/'.join(sorted(types)) or 'any'})")
            continue
        declared = json_types(properties[name])
        if not declared:
            continue
        allowed = set(declared) | ({"number"} if "integer" in declared else set())
        if "number" in declared:
            allowed.add("integer")
        missing = [t for t in observed if t not in allowed]
        if "null" in types and name not in required:
            raw = properties[name].get("type")
            if isinstance(raw, str) or (isinstance(raw, list) and "null" not in raw):
                missing.append("null")
        if missing:
            widened = sorted({*declared, *missing, *(["null"] if "null" in types else [])})
            properties[name] = {**properties[name], "type": widened}
            changes.append(
                f"{resource}: {name} is {'/'.join(declared)} in the schema but the API sent "
                f"{'/'.join(sorted(missing))}: widened to {'/'.join(widened)}"
            )
    for name in list(required):
        absent = [r for r in records if name not in r or r[name] is None]
        if absent:
            required.remove(name)
            changes.append(
                f"{resource}: {name} is required in the schema but missing or null in "
                f"{len(absent)} of {len(records)} records: no longer required"
            )
    out["required"] = required
    return out, changes


def sample_records(converted: Converted, name: str) -> list[dict[str, Any]]:
    """The first page of records of resource ``name``, read as a run reads it."""
    from headwater.load.assemble import build_source
    from headwater.plugin.manager import make_plugin_manager

    connector = converted.connector
    pm = make_plugin_manager(
        entry_points=False,
        plugins=[(f"openapi.{connector.name}", InMemoryConnector(converted))],
        strict=True,
    )
    # validation off: the records as the API sends them are what the schema is checked
    # by; max_pages 1: the page loop stops (with an error) before a second page is read
    settings = {**converted.settings, "validation": "off", "max_pages": 1}
    source = build_source(connector.name, settings, resources=[name], pm=pm, arrow=False)
    records: list[dict[str, Any]] = []
    try:
        for item in source.resources[name]:
            batch = item if isinstance(item, list) else [item]
            records.extend(r for r in batch if isinstance(r, dict))
    except Exception:
        if not records:
            raise  # nothing read: a real failure (auth, address), shown by refine
    # the loop ended (the first page was the last) or stopped at max_pages: one page read
    return records[:SAMPLE_SIZE]


def refine(converted: Converted, say: Callable[[str], Any] = print) -> Converted:
    """``converted`` with each top-level resource's schema reconciled with a sample."""
    schemas = dict(converted.schemas)
    notes = list(converted.notes)
    for resource in converted.connector.resources:
        if resource.parent is not None:
            continue
        try:
            records = sample_records(converted, resource.name)
        except HeadwaterError:
            raise
        except Exception as exc:  # dlt wraps the run's error: show the cause
            cause = exc
            while cause.__cause__ is not None or cause.__context__ is not None:
                cause = cause.__cause__ or cause.__context__  # type: ignore[assignment]
            if isinstance(cause, HeadwaterError):
                raise cause from None
            raise RunError(
                f"--sample could not read {resource.name}: {type(cause).__name__}: {cause}"
            ) from None
        if not records:
            say(f"sample: {resource.name}: the API sent no records; schema kept")
            continue
        schemas[resource.name], changes = reconcile(schemas[resource.name], records, resource.name)
        if not changes:
            say(f"sample: {resource.name}: {len(records)} records agree with the schema")
        for change in changes:
            say(f"sample: {change}")
            notes.append(f"from a sample of the API: {change}")
    return attrs.evolve(converted, schemas=schemas, notes=notes)
