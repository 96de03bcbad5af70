"""The fast path: pages of records turned into typed Arrow tables.

dlt normalizes dict records row by row (type coercion, timestamp parsing, naming),
which costs more than fetching them. Every resource declares a JSON Schema, so
Headwater can build typed Arrow tables instead and dlt skips that work: it writes the
tables to Parquet and loads them as they are.

A resource takes the fast path when its schema declares only scalar properties
(string, integer, number, boolean, date-time/date strings, and string-or-integer ids,
loaded as text). A batch that does not fit its declared types — a string where an
integer is declared, a timestamp that does not parse, a nested value in an undeclared
field — is yielded as plain records instead, so nothing is lost and dlt treats it
exactly as the row path would. Fields the schema does not declare are kept, with types
Arrow infers; a batch whose inferred type does not fit the column an earlier batch or
run made for that field (``1.5`` or ``"n/a"`` where ``1`` made an integer column) goes
the row path too, where dlt loads what the column cannot hold into a variant column
(``amount__v_double``), as it does for any source. Where dlt's rows lose NUL characters
(``insert_values`` files: PostgreSQL, DuckDB), the tables' text loses them too.
"""

from __future__ import annotations

import array
import functools
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from headwater.errors import ResponseError
from headwater.load.validation import default_naming, fit_records, renames
from headwater.schema import column_type, json_types

log = logging.getLogger(__name__)

__all__ = [
    "BATCH_ROWS",
    "MEMORY_POOL",
    "ROW_ID_CHARS",
    "TEXT_OR_INTEGER",
    "ArrowBatcher",
    "arrow_available",
    "fast_path_columns",
    "row_ids",
]

#: Records per Arrow table: big enough to amortise per-table costs, small enough that
#: memory stays flat whatever the number of records.
BATCH_ROWS = 10_000

#: The column type :func:`fast_path_columns` gives a property that may be a string or
#: an integer (an id an API sends either way): a text column, integers as their text —
#: what dlt's row path loads for them.
TEXT_OR_INTEGER = "text|bigint"

_SCALAR = {"text", "bigint", "double", "bool", "timestamp", "date", TEXT_OR_INTEGER}


#: Arrow's memory pool when the environment does not choose one (``ARROW_DEFAULT_MEMORY_POOL``)
MEMORY_POOL = "system"


def arrow_available() -> bool:
    """Whether pyarrow can be imported."""
    try:
        _import_pyarrow()
    except ImportError:
        return False
    return True


def _import_pyarrow() -> Any:
    """pyarrow, imported with :data:`MEMORY_POOL` as its default memory pool.

    pyarrow's own default (mimalloc) keeps what it freed for reuse: ~70 MB more peak
    memory in a run (299 -> 269 MB for 200k records) and no faster here. Arrow reads
    the setting once, when pyarrow is first imported; a process that imported it
    earlier keeps its pool."""
    import os
    import sys

    if "pyarrow" not in sys.modules:
        os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", MEMORY_POOL)
    import pyarrow

    return pyarrow


#: Characters of a row id: dlt's, base64 of 10 random bytes without padding.
ROW_ID_CHARS = 14


def row_ids(count: int) -> Any:
    """``count`` random row ids like dlt's ``_dlt_id`` (14 base64 characters), as one
    Arrow string array.

    dlt encodes 10 random bytes per id in a Python loop (5.3 ms per 10k ids); here one
    buffer of 12 random bytes per id is encoded at once, 16 characters each, and
    Arrow keeps the first 14 (1.5 ms): 84 random bits per id instead of 80."""
    import base64
    import secrets

    import pyarrow.compute as pc

    pa = _import_pyarrow()
    text = base64.b64encode(secrets.token_bytes(12 * count))
    whole = pa.StringArray.from_buffers(count, _offsets(count, 16), pa.py_buffer(text))
    return pc.utf8_slice_codeunits(whole, 0, ROW_ID_CHARS)


@functools.lru_cache(maxsize=4)
def _offsets(count: int, width: int) -> Any:
    """The offsets buffer of ``count`` strings of ``width`` bytes (batches repeat sizes)."""
    return _import_pyarrow().py_buffer(array.array("i", range(0, width * count + 1, width)))


def _fit_or_fail(records: list[dict[str, Any]], naming: Any = None) -> None:
    """Records going to dlt's row path without a validator: made safe for dlt
    (:func:`~headwater.load.validation.fit_records`); one no column can hold is an error."""
    unloadable = fit_records(records, naming)
    if unloadable:
        index, error = next(iter(unloadable.items()))
        raise ResponseError(f"a record cannot be loaded ({error}; record {index + 1} of its batch)")


def fast_path_columns(schema: Mapping[str, Any]) -> dict[str, str] | None:
    """``column -> dlt type`` when every declared property is a scalar, else ``None``."""
    types: dict[str, str] = {}
    for name, prop in schema.get("properties", {}).items():
        data_type = column_type(prop)
        kinds = set(json_types(prop))
        if len(kinds) > 1:
            # other unions (a number or a boolean as text) take the row path
            data_type = TEXT_OR_INTEGER if kinds == {"string", "integer"} else None
        if data_type not in _SCALAR:
            return None
        types[name] = data_type
    return types or None


#: the most records of one page typed (and checked) at a time
PART = 10_000


class ArrowBatcher:
    """Collects pages of records and yields Arrow tables of about ``rows`` records.

    ``columns`` are the declared ``name -> dlt type``; ``constant`` columns (a child's
    parent key) are added to every row.
    """

    def __init__(
        self,
        columns: Mapping[str, str],
        rows: int = BATCH_ROWS,
        *,
        not_null: Iterable[str] = (),
        validator: Any = None,
        row_ids: str | None = None,
        load_id: tuple[str, str] | None = None,
        existing: Callable[[], Mapping[str, Any] | None] | None = None,
        drop_nul: bool = False,
    ) -> None:
        pa = _import_pyarrow()

        self._pa = pa
        self.columns = dict(columns)
        self.rows = rows
        self.not_null = [c for c in not_null if c in self.columns]
        #: a :class:`~headwater.load.validation.Validator` for batches that do not fit
        self.validator = validator
        #: name of a column of unique row ids (dlt's ``_dlt_id``) to add to each table:
        #: generated here, dlt's normalize step need not rewrite the file to add them
        self.row_ids = row_ids
        #: ``(column, value)``: dlt's ``_dlt_load_id`` column to add to each table (the
        #: package being extracted), before the row ids, as dlt orders its dict rows
        self.load_id = load_id
        #: the columns (name -> dlt column schema) the table has in the schema dlt is
        #: extracting into (made by earlier runs and batches), or ``None``: asked once a
        #: batch that has undeclared fields, whose inferred types must fit them
        self.existing = existing
        #: remove NUL characters (``\x00``) from text, as dlt's row path does for the
        #: destination (its SQL escaping drops them: PostgreSQL cannot store them)
        self.drop_nul = drop_nul
        #: undeclared field name -> its column name (made on first use)
        self._column_names: dict[str, str] = {}
        self._types = {
            "text": pa.string(),
            "bigint": pa.int64(),
            "double": pa.float64(),
            "bool": pa.bool_(),
            "timestamp": pa.timestamp("us", tz="UTC"),
            "date": pa.date32(),
            TEXT_OR_INTEGER: pa.string(),
        }
        #: batches that could not be typed and went out as plain records
        self.fallbacks = 0
        self._collided = False
        #: declared fields by their column name (made on first use)
        self._declared_columns: dict[str, str] | None = None

    @property
    def _naming(self) -> Any:
        """The source schema's naming convention (the validator's), or the default."""
        return getattr(self.validator, "naming", None)

    def batches(self, pages: Iterable[list[dict[str, Any]]]) -> Iterator[Any]:
        """Yield Arrow tables (or, for a batch that does not fit, its records)."""
        pending: list[dict[str, Any]] = []
        validator = self.validator
        for page in pages:
            if validator is not None:
                validator.saw(len(page))  # records that fit are not shown to it otherwise
            pending.extend(page)
            if len(pending) >= self.rows:
                yield from self._emit_chunked(pending)
                pending = []
        if pending:
            yield from self._emit_chunked(pending)

    def _emit_chunked(self, records: list[dict[str, Any]]) -> Iterator[Any]:
        """:meth:`_emit` of ``records``, a page of a million records (an API's, or a
        hostile one's) in batches of :attr:`rows`: the tables, the quarantine rows
        and their errors are made a batch at a time, not for the whole page at once
        (never less than :data:`PART` records: under ``add_limit`` a batch is a page)."""
        part = max(self.rows, PART)
        if len(records) <= 2 * part:
            yield from self._emit(records)
            return
        for start in range(0, len(records), part):
            yield from self._emit(records[start : start + part])

    def _emit(self, records: list[dict[str, Any]]) -> Iterator[Any]:
        if self.validator is not None and self.validator.needs_full:
            # keywords Arrow cannot check (enum, minimum, ...): every record is checked
            records, extra = self.validator.split(records)
            yield from extra
        table = self._fitting(records)
        if table is not None:
            yield table
            return
        if self.validator is not None:
            # Only a batch that does not fit is checked record by record.
            records, extra = self.validator.split(records)
            yield from extra
            table = self._fitting(records) if records else None
            if table is not None:
                yield table
                return
        if records:
            if self.validator is None:
                _fit_or_fail(records, self._naming)
            self.fallbacks += 1
            yield records  # dlt's row path loads what Arrow could not type

    def _fitting(self, records: list[dict[str, Any]]) -> Any | None:
        return self.table(records)

    def _filled_by(self, undeclared: list[str], records: list[dict[str, Any]]) -> dict[str, str]:
        """The undeclared fields that are a declared field's column under the naming
        convention while no record has the declared field (the API writes
        ``customerId``, the schema ``customer_id``): field -> the declared field. The
        records' field fills the column with the declared type, as on the row path,
        instead of the two colliding."""
        naming = self._naming or default_naming()
        declared = self._declared_columns
        if declared is None:
            declared = {naming.normalize_identifier(n): n for n in self.columns}
            self._declared_columns = declared
        out: dict[str, str] = {}
        for name in undeclared:
            target = declared.get(naming.normalize_identifier(name))
            if (
                target is not None
                and target not in out.values()
                and all(target not in record for record in records)
            ):
                out[name] = target
        return out

    def _collide(self, names: list[str]) -> bool:
        """Whether two of ``names`` are one column under the naming convention
        (``fooBar`` and ``foo_bar`` are both ``foo_bar``); warned about once."""
        naming = self._naming or default_naming()
        seen: dict[str, str] = {}
        for name in names:
            column = naming.normalize_identifier(name)
            other = seen.setdefault(column, name)
            if other != name:
                if not self._collided:
                    self._collided = True
                    log.warning(
                        "fields %r and %r of the records are both loaded as column %s: "
                        "the table keeps one of their values; set the connector's naming "
                        "setting to api to keep the API's names",
                        other,
                        name,
                        column,
                    )
                return True
        return False

    def _fit_existing(self, arrays: list[Any], names: list[str], inferred: list[int]) -> bool:
        """Whether the arrays Arrow typed (``inferred``: indexes in ``arrays``) fit the
        columns their fields already have (:attr:`existing`): the same type, or one an
        array is cast to exactly (``1.0`` in a ``bigint`` column, ``2`` in a ``double``
        one), in place. ``False`` when a value would change or fail in the load: dlt
        would cast ``1.5`` to an integer column's type (DuckDB rounds it to 2,
        PostgreSQL fails the load, every run after it too), where its row path keeps
        it in a variant column."""
        existing = self.existing() if self.existing is not None else None
        if not existing:
            return True
        column_names = self._column_names
        for index in inferred:
            name = names[index]
            column = column_names.get(name)
            if column is None:
                column = (self._naming or default_naming()).normalize_identifier(name)
                column_names[name] = column
            data_type = (existing.get(column) or {}).get("data_type")
            if data_type is None:
                continue  # a new column: dlt makes it of the inferred type
            array = arrays[index]
            inferred_type = _DLT_TYPES.get(str(array.type))
            if inferred_type == data_type:
                continue
            if {inferred_type, data_type} != {"bigint", "double"}:
                return False
            arrays[index] = array.cast(self._types[data_type])  # safe: raises if inexact
        return True

    def table(self, records: list[dict[str, Any]]) -> Any | None:
        """A typed table of ``records``, or ``None`` when they do not fit the schema."""
        pa = self._pa
        keys: dict[str, None] = dict.fromkeys(self.columns)
        for record in records:
            if record.keys() != keys.keys():
                keys.update(dict.fromkeys(record))
        arrays, names = [], []
        undeclared = [name for name in keys if name not in self.columns]
        # field names dlt cannot take (an API's own _dlt_id would replace the row ids)
        renamed = renames(undeclared, self._naming)
        plain = [name for name in undeclared if name not in renamed]
        filled = self._filled_by(plain, records) if plain else {}
        inferred: list[int] = []  # the arrays of undeclared fields, typed by Arrow
        absent = set(filled.values())
        required = self.not_null
        if filled:
            required = {next((k for k, v in filled.items() if v == n), n) for n in required}
        try:
            for name in keys:
                if name in absent:
                    continue  # a declared field no record has, filled by its namesake
                values = [record.get(name) for record in records]
                declared = self.columns.get(filled.get(name, name))
                if declared is None:
                    array = pa.array(values)
                    if pa.types.is_null(array.type):
                        continue  # like the row path: no column from nulls alone
                    if pa.types.is_nested(array.type):
                        return None  # nested data: dlt's row path unnests it
                    inferred.append(len(arrays))
                elif declared in ("timestamp", "date"):
                    array = pa.array(values, pa.string()).cast(self._types[declared])
                elif declared == TEXT_OR_INTEGER:
                    array = _text_or_integer(pa, values)
                else:
                    array = pa.array(values, self._types[declared])
                if name in required and array.null_count:
                    return None  # a required value is missing: the validator decides
                arrays.append(array)
                names.append(renamed.get(name) or name)
            if (
                inferred
                and self.existing is not None
                and not self._fit_existing(arrays, names, inferred)
            ):
                return None  # a column holds another type: dlt's row path decides
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, OverflowError):
            return None
        if self.drop_nul:
            _drop_nul(pa, arrays)
        # Declared NOT NULL columns are non-nullable Arrow fields, or dlt would take
        # Arrow's nullable default over the declared hint.
        fields = [
            pa.field(name, array.type, nullable=name not in required)
            for name, array in zip(names, arrays, strict=True)
        ]
        if len(set(names)) != len(names):
            return None  # a renamed field meets another: the row path numbers them
        if self._collide(names):
            return None  # dlt's Arrow path refuses such a table; its row path loads it
        if self.load_id is not None and self.load_id[0] not in names:
            column, value = self.load_id
            arrays.append(pa.repeat(pa.scalar(value, pa.string()), len(records)))
            fields.append(pa.field(column, pa.string(), nullable=False))
        if self.row_ids is not None and self.row_ids not in names:
            arrays.append(row_ids(len(records)))
            fields.append(pa.field(self.row_ids, pa.string(), nullable=False))
        return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


#: the dlt data type of the Arrow types :func:`pyarrow.array` infers from JSON values
_DLT_TYPES = {"int64": "bigint", "double": "double", "bool": "bool", "string": "text"}


def _drop_nul(pa: Any, arrays: list[Any]) -> None:
    """Remove NUL characters from the string arrays, in place. A string array's text is
    one buffer: a search of it (microseconds for 10,000 values) finds most have none."""
    import pyarrow.compute as pc

    for index, strings in enumerate(arrays):
        if not pa.types.is_string(strings.type):
            continue
        data = strings.buffers()[2]
        if data is not None and b"\x00" in data.to_pybytes():
            arrays[index] = pc.replace_substring(strings, "\x00", "")


def _text_or_integer(pa: Any, values: list[Any]) -> Any:
    """A string array of ``values``, integers as their text (``5`` -> ``"5"``, as dlt
    loads them into a text column); any other type still raises (the batch does not
    fit and the validator decides)."""
    try:
        return pa.array(values, pa.string())
    except (pa.ArrowTypeError, pa.ArrowInvalid):
        # type() is int, not isinstance: True is not an integer here
        return pa.array([str(v) if type(v) is int else v for v in values], pa.string())
