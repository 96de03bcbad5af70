"""``headwater schema infer NAME``: a record schema proposed from what the API sends.

Records are sampled from the first pages of each resource (live, or from a recording)
and merged by genson with the declared schema: the declared types, formats and
descriptions stay, types the records show are added, a field the records leave null
becomes nullable, a field some records lack is no longer required, nested objects get
their properties, and string fields whose every value is a date-time or an email
address get that ``format``. Written beside, never over, the shipped schema.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from headwater.errors import ConfigError
from headwater.load.assemble import build_source
from headwater.load.incremental import RunBounds
from headwater.plugin.manager import get_registry
from headwater.run.drift import declared_schemas
from headwater.run.record import single_page_settings
from headwater.run.sampling import Sample, watching

__all__ = ["infer_schema", "infer_schemas"]

#: records sampled per resource at most
SAMPLE = 5000

_FORMATS = (
    (
        "date-time",
        re.compile(r"\d{4}-\d\d-\d\d[Tt ]\d\d:\d\d(:\d\d(\.\d+)?)?([Zz]|[+-]\d\d:?\d\d)?"),
    ),
    ("date", re.compile(r"\d{4}-\d\d-\d\d")),
    ("email", re.compile(r"[^@\s]+@[^@\s]+\.[A-Za-z]{2,}")),
)


def _builder_class() -> type:
    from genson import SchemaBuilder
    from genson.schema.strategies import String

    class FormattedString(String):
        """genson's string strategy, keeping a declared ``format`` and finding one
        that every value seen has."""

        def __init__(self, node_class: Any) -> None:
            super().__init__(node_class)
            self._declared: str | None = None
            self._seen: set[str] | None = None

        def add_schema(self, schema: Mapping[str, Any]) -> None:
            super().add_schema({k: v for k, v in schema.items() if k != "format"})
            if isinstance(schema.get("format"), str):
                self._declared = schema["format"]

        def add_object(self, obj: Any) -> None:
            super().add_object(obj)
            fits = {name for name, pattern in _FORMATS if pattern.fullmatch(obj)}
            self._seen = fits if self._seen is None else self._seen & fits

        def to_schema(self) -> dict[str, Any]:
            schema = super().to_schema()
            found = next((n for n, _ in _FORMATS if self._seen and n in self._seen), None)
            if self._declared or found:
                schema["format"] = self._declared or found
            return schema

    class Builder(SchemaBuilder):
        EXTRA_STRATEGIES = (FormattedString,)

    return Builder


def infer_schema(declared: Mapping[str, Any], records: Sequence[Any]) -> dict[str, Any]:
    """``declared`` merged with what ``records`` show (see the module docstring)."""
    builder = _builder_class()(schema_uri=declared.get("$schema"))
    builder.add_schema(dict(declared))
    for record in records:
        builder.add_object(record)
    schema = _collapse(builder.to_schema())
    for key in ("title", "description", "$id"):
        if key in declared:
            schema[key] = declared[key]
    return schema


def _collapse(schema: Any) -> Any:
    """genson writes a field of several types as ``anyOf`` of one schema per type;
    a declaration says ``"type": [...]``. Merged back when no two alternatives have
    keywords that clash (an object and an array alternative each keep theirs)."""
    if isinstance(schema, list):
        return [_collapse(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    schema = {k: _collapse(v) for k, v in schema.items()}
    options = schema.get("anyOf")
    if not isinstance(options, list) or not all(
        isinstance(o, dict) and isinstance(o.get("type"), str) for o in options
    ):
        return schema
    merged: dict[str, Any] = {}
    types: list[str] = []
    for option in options:
        for key, value in option.items():
            if key == "type":
                types.append(value)
            elif key in merged and merged[key] != value:
                return schema  # the alternatives disagree: keep them apart
            else:
                merged[key] = value
    rest = {k: v for k, v in schema.items() if k != "anyOf"}
    if set(rest) & set(merged):
        return schema
    return {**rest, **merged, "type": types if len(types) > 1 else types[0]}


def infer_schemas(
    name: str,
    settings: Mapping[str, Any] | None = None,
    *,
    resources: Sequence[str] | None = None,
    replay: str | Path | None = None,
    pages: int = 3,
    out: str | Path = ".",
) -> list[tuple[str, str, int]]:
    """Sample ``pages`` pages of each resource (of the recording ``replay``, else the
    API), and write ``<resource>.proposed.json`` into ``out`` for each; returns
    ``(resource, path, records sampled)``. Nothing is loaded. ``resources``: only
    those (default: every resource; of a recording, the resources it holds)."""
    if pages < 1:
        raise ConfigError(f"--pages must be at least 1, got {pages}")
    connector = get_registry().get(name)
    target = Path(out)
    if target.exists() and not target.is_dir():
        raise ConfigError(f"--out {target} is a file; name a folder for the proposed schemas")
    sample = Sample(SAMPLE)
    # nothing is loaded: records that break the declared schema are what is sampled
    explicit = {**dict(settings or {}), **single_page_settings(connector), "validation": "off"}
    bounds = None
    with contextlib.ExitStack() as stack:
        if replay is not None:
            from headwater.run.replay import load_manifest, recorded_end, recorded_resources
            from headwater.run.replay import replay as replaying

            # a recording of some resources is sampled in those, unless told otherwise
            if not resources:
                resources = recorded_resources(name, load_manifest(replay, name))
            # incremental reads end where the recorded run's did: the recording has
            # no request ending now
            bounds = RunBounds(end=recorded_end(replay, name))
            explicit = stack.enter_context(replaying(name, replay, explicit))
            explicit["validation"] = "off"
        stack.enter_context(watching(name, pages=pages, sample=sample))
        source = build_source(name, explicit, resources=resources, bounds=bounds)
        try:
            for _item in source:
                pass
        except Exception as exc:
            from headwater.run.dlt_errors import explain

            known = explain(exc)
            raise (known or exc) from None
    target.mkdir(parents=True, exist_ok=True)
    shipped = _shipped_files(connector)
    written = []
    for resource_name, schema in declared_schemas(connector).items():
        if resources and resource_name not in resources:
            continue
        records = sample.records.get(resource_name, [])
        path = (target / f"{resource_name}.proposed.json").resolve()
        if path in shipped:
            raise ConfigError(f"refusing to write over the shipped schema {path}; choose --out")
        proposed = infer_schema(schema, records)
        path.write_text(json.dumps(proposed, indent=2) + "\n", encoding="utf-8")
        written.append((resource_name, str(path), len(records)))
    return written


def _shipped_files(connector: Any) -> set[Path]:
    from importlib.resources import files

    out: set[Path] = set()
    for resource in connector.resources:
        with contextlib.suppress(Exception):
            out.add(Path(str(files(connector.package).joinpath(resource.schema))).resolve())
    return out
