"""Records checked against their resource's JSON Schema, under a policy.

The ``validation`` setting of every connector:

``quarantine`` (default)
    a record that breaks the schema is not loaded into the resource's table but into
    ``<resource>_quarantine``, with the record as JSON and the error — nothing is lost;
``warn``
    it is loaded as it is, and a warning names the resource and the error;
``fail``
    the resource stops with an error naming the record and the problem;
``off``
    records are not checked.

The check is compiled once per resource. Types, nullability/required and the
``date-time``/``date`` formats are checked by plain Python tests built from the schema;
schemas that use further keywords (``enum``, ``minimum``, ``pattern``, ...) are also
run through a ``jsonschema`` validator built once. On the Arrow fast path the typed
conversion of a batch already is the type check: records are checked one by one only
in batches that fail it.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["POLICIES", "RecordCheck", "Validator", "quarantine_table"]

POLICIES = ("quarantine", "warn", "fail", "off")

log = logging.getLogger("headwater.validation")

_PY_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "object": (dict,),
    "array": (list,),
}
# Keywords the compiled check covers; any other makes the jsonschema validator run too.
_COVERED = {
    "type",
    "format",
    "description",
    "title",
    "nullable",
    "examples",
    "default",
    "$comment",
    "readOnly",
    "writeOnly",
    "deprecated",
}
_ROOT_COVERED = {
    "$schema",
    "$id",
    "title",
    "description",
    "type",
    "properties",
    "required",
    "additionalProperties",
    "$comment",
}


def quarantine_table(resource: str) -> str:
    """The table that keeps ``resource``'s records that broke its schema."""
    return f"{resource}_quarantine"


def _date_time(value: str) -> bool:
    text = value[:-1] + "+00:00" if value.endswith(("Z", "z")) else value
    try:
        dt.datetime.fromisoformat(text)
    except ValueError:
        return False
    return "T" in value or " " in value


def _date(value: str) -> bool:
    try:
        dt.date.fromisoformat(value)
    except ValueError:
        return False
    return True


_FORMATS: dict[str, Callable[[str], bool]] = {"date-time": _date_time, "date": _date}
_FORMAT_NAMES = {_date_time: "date-time", _date: "date"}


class RecordCheck:
    """The compiled check of one resource's records.

    :meth:`error` returns ``None`` for a valid record, else a one-line description.
    """

    def __init__(self, schema: Mapping[str, Any]) -> None:
        required = set(schema.get("required", ()))
        self._checks: list[tuple[str, tuple[type, ...] | None, bool, bool, Any]] = []
        needs_full = any(k not in _ROOT_COVERED for k in schema)
        for name, prop in schema.get("properties", {}).items():
            raw = prop.get("type")
            types = [raw] if isinstance(raw, str) else list(raw or [])
            nullable = "null" in types or prop.get("nullable") is True
            py: tuple[type, ...] | None = None
            if types and all(t in _PY_TYPES or t == "null" for t in types):
                py = tuple(c for t in types if t != "null" for c in _PY_TYPES[t])
            fmt = _FORMATS.get(prop.get("format", "")) if "string" in types else None
            self._checks.append((name, py, name in required, nullable, fmt))
            if any(k not in _COVERED for k in prop) or (types and py is None):
                needs_full = True
        #: whether the schema uses keywords only jsonschema can check (every record is
        #: then checked, also on the fast path)
        self.needs_full = needs_full
        #: declared columns that may never be null (required, type without null)
        self.not_null = {n for n, _, req, nullable, _ in self._checks if req and not nullable}
        self._full = None
        if needs_full:
            from jsonschema import validators

            self._full = validators.validator_for(schema)(schema)

    def error(self, record: Any) -> str | None:
        """``None`` when ``record`` fits the schema, else what is wrong with it."""
        if not isinstance(record, dict):
            return f"a record must be a JSON object, got {type(record).__name__}"
        for name, types, required, nullable, fmt in self._checks:
            value = record.get(name)
            if value is None:
                if name not in record:
                    if required:
                        return f"required field {name!r} is missing"
                elif not nullable:
                    return f"field {name!r} is null, which the schema does not allow"
                continue
            # bool is an int subclass: an integer field must not accept true/false
            if types is not None and (
                not isinstance(value, types) or (isinstance(value, bool) and bool not in types)
            ):
                expected = "/".join(sorted({t.__name__ for t in types}))
                return (
                    f"field {name!r} is {type(value).__name__} {_short(value)}, expected {expected}"
                )
            if fmt is not None and isinstance(value, str) and not fmt(value):
                return f"field {name!r} is {_short(value)}, not a valid {_FORMAT_NAMES[fmt]}"
        if self._full is not None:
            for err in self._full.iter_errors(record):
                where = "/".join(map(str, err.absolute_path)) or "(record)"
                return f"{where}: {err.message[:200]}"
        return None


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class Validator:
    """Applies a resource's :class:`RecordCheck` under a policy (see module docs)."""

    def __init__(self, label: str, resource: str, schema: Mapping[str, Any], policy: str) -> None:
        import dlt

        self.label = label
        self.policy = policy
        self.check = RecordCheck(schema)
        self.table = quarantine_table(resource)
        self.hints = dlt.mark.make_hints(
            table_name=self.table,
            write_disposition="append",
            primary_key=[],
            merge_key=[],
            columns=[
                {"name": "record", "data_type": "text", "nullable": False},
                {"name": "error", "data_type": "text", "nullable": False},
                {"name": "detected_at", "data_type": "timestamp", "nullable": False},
            ],
        )
        self._mark = dlt.mark.with_hints
        self.rejected = 0
        self._warned = 0

    def split(self, records: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[Any]]:
        """``(records to load, quarantine items to yield)``; raises under ``fail``."""
        import json

        from headwater.errors import ResponseError

        good: list[dict[str, Any]] = []
        bad: list[dict[str, Any]] = []
        now = dt.datetime.now(dt.timezone.utc)
        for index, record in enumerate(records):
            error = self.check.error(record)
            if error is None:
                good.append(record)
                continue
            if self.policy == "fail":
                raise ResponseError(
                    f"resource {self.label}: a record breaks the declared schema ({error}; "
                    f"record {index + 1} of its page); set validation to quarantine to keep "
                    "such records aside instead"
                )
            if self.policy == "warn":
                good.append(record)
                if self._warned < 10:  # enough to see the pattern, not a flood
                    log.warning("resource %s: record breaks the schema: %s", self.label, error)
                self._warned += 1
                continue
            bad.append(
                {"record": json.dumps(record, default=str), "error": error, "detected_at": now}
            )
        if not bad:
            return good, []
        self.rejected += len(bad)
        log.warning(
            "resource %s: %d record(s) broke the schema and were kept in table %s (first: %s)",
            self.label,
            len(bad),
            self.table,
            bad[0]["error"],
        )
        return good, [self._mark(bad, self.hints, create_table_variant=True)]

    def pages(self, pages: Any) -> Any:
        """The row path: each page's valid records, then its quarantine items."""
        for page in pages:
            good, extra = self.split(page)
            if good:
                yield good
            yield from extra
