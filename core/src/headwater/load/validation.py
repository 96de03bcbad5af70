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

When every record a resource returned in a run broke the schema (and at least one
came), the schema and the API disagree about the resource, not about a few records:
under ``quarantine`` the resource fails, with one line naming the first violation and
the fix (the ``validation`` setting, or the schema file). ``headwater run`` loads the
quarantined records and the other resources and exits 1 (see :func:`collect_outcomes`);
through :func:`headwater.source` the error is raised from the extract step when the
resource's records end, like any failure of a resource. Records of a child resource
come in one batch per parent, with no end a resource can see: only ``headwater run``
checks them as a whole. Some records failing stays a warning with counts.

The check is compiled once per resource. Types, nullability/required and the
``date-time``/``date`` formats are checked by plain Python tests built from the schema;
schemas that use further keywords (``enum``, ``minimum``, ``pattern``, ...) are also
run through a ``jsonschema`` validator built once. On the Arrow fast path the typed
conversion of a batch already is the type check: records are checked one by one only
in batches that fail it.

Whatever the policy, records are also made safe for dlt (:func:`fit_records`), at the
cost of one encoding of each page (``orjson``) unless something needs fixing:

* an integer outside the signed 64-bit range (what dlt's ``bigint`` columns hold; dlt
  would fail in the normalize or load step, and leave a package that fails every later
  run) makes its record a quarantine entry (or, under ``fail``, stops the resource):
  the record's JSON in ``<resource>_quarantine`` keeps every digit;
* so does an integer beyond 2**53 in a field declared ``number``: a ``double`` column
  would round it;
* so does a record nested more than 250 levels deep (:data:`MAX_DEPTH`), which dlt
  cannot write (orjson accepts 1024 levels when reading a page); the quarantine entry
  keeps the part too deep as JSON text;
* so does a record with a list that dlt would load into a nested table whose name
  (the resource's table, then the keys down to the list, joined by ``__``) is longer
  than :data:`MAX_TABLE_NAME_BYTES` (225 bytes): dlt names the table's files after it
  and a file name has at most 255 bytes (a tree 23 levels of ``children`` deep, or a
  list under a 220-character key). The normalize step failed with "File name too
  long", and so did every later run. Deciding it costs, on a page with lists, one
  more scan and ``orjson`` encoding; records are walked only when the page's longest
  key holding an object or a list, and its depth, allow such a name;
* a field name dlt reserves (``_dlt_id``, ``_dlt_load_id``, ``_dlt_parent_id``, any
  name starting with ``_dlt``) is renamed ``api_dlt_...``: dlt would otherwise take the
  API's ``_dlt_id`` as the row's identity, and nested rows would join the wrong
  parent; a name with no letter or digit (empty, blank, ``__``) is renamed
  ``api_blank`` (``api_blank_2``, ... for more in one object): dlt cannot name a
  column after it.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from attrs import define

from headwater.errors import ResponseError
from headwater.spec import QUARANTINE_SUFFIX

__all__ = [
    "INT64_MAX",
    "INT64_MIN",
    "MAX_DEPTH",
    "MAX_TABLE_NAME_BYTES",
    "POLICIES",
    "Outcome",
    "QuarantineRow",
    "RecordCheck",
    "Validator",
    "collect_outcomes",
    "fit_records",
    "quarantine_table",
    "renames",
    "safe_name",
]

POLICIES = ("quarantine", "warn", "fail", "off")

log = logging.getLogger(__name__)

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


#: the range of dlt's ``bigint`` columns (and of every destination's 64-bit integers)
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
#: integers a ``double`` column holds exactly
_EXACT_DOUBLE = 2**53

#: A key without an ASCII letter or digit (JSON escapes aside), in an orjson-encoded
#: page read backwards: a key then starts with the literal ``:"``, which the regex
#: engine finds fast, and fails at its first letter (1.3 ms for 1000 records, against
#: 3.9 ms forwards). A superset of the keys dlt cannot name a column after.
_BLANK_KEY_REVERSED = re.compile(rb':"(?:[^"\\a-zA-Z0-9]|[tnrfb"\\/]\\|[0-9a-fA-F]{4}u\\)*"[{,]')


#: Bytes of an encoded page with digits made b"0", letters lower case and everything
#: else b".": one ``translate`` (~1 µs per KB) finds both a ``dlt`` in any case and a
#: long run of digits, where a regex would scan at ~7 µs per KB.
_SCAN = bytes(
    0x30
    if 0x30 <= i <= 0x39
    else i + 0x20
    if 0x41 <= i <= 0x5A
    else i
    if 0x61 <= i <= 0x7A
    else 0x2E
    for i in range(256)
)
_RUN_19, _RUN_20 = b"0" * 19, b"0" * 20
#: a 19-digit integer of 2**63 or more starts with 92..99 (the literal first byte
#: makes the regex engine skip to each "9")
_BIG_19 = re.compile(rb"9[2-9][0-9]{17}")


def _unsigned_only(raw: bytes) -> bool:
    """Whether ``raw`` (an encoded page without 20-digit runs) holds a 19-digit
    integer above :data:`INT64_MAX`."""
    for match in _BIG_19.finditer(raw):
        start, end = match.span()
        if (
            (start == 0 or not 0x30 <= raw[start - 1] <= 0x39)
            and (end == len(raw) or not 0x30 <= raw[end] <= 0x39)
            and int(match.group()) > INT64_MAX
        ):
            return True
    return False


#: dlt's reserved column names all start with this (``_dlt_id``, ``_dlt_load_id``...)
_RESERVED = "_dlt"


@functools.cache
def default_naming() -> Any:
    """The default naming convention of Headwater's sources (the ``naming`` setting's
    default), for callers that have no source schema at hand."""
    from dlt.common.schema import Schema

    from headwater.settings import NAMING_CONVENTIONS

    return Schema("headwater", normalizers={"names": NAMING_CONVENTIONS["snake_case"]}).naming


def safe_name(name: str, naming: Any = None) -> str | None:
    """The name a field called ``name`` is loaded under when dlt cannot take it as it
    is (``None``: it can), decided on the name dlt's ``naming`` convention (the
    source schema's; default: :func:`default_naming`) makes of it: one that starts
    with ``_dlt`` (``" _dlt_id"`` and ``"-dlt_id"`` become ``_dlt_id``) becomes
    ``api_dlt...``; one that becomes nothing (empty, blank, only underscores) becomes
    ``api_blank``."""
    return _safe_name(name, naming if naming is not None else default_naming())


@functools.lru_cache(maxsize=4096)
def _safe_name(name: str, naming: Any) -> str | None:
    # dlt names a column by normalize_identifier, but its row normalizer flattens keys
    # by normalize_path, which reads the path separator ("__" in snake_case) as a
    # nesting: "__" is "xx" to one and "" (no column name) to the other. Both decide.
    try:
        normalized = (naming.normalize_identifier(name), naming.normalize_path(name))
    except ValueError:
        normalized = ("", "")
    if not all(normalized):
        return "api_blank"
    reserved = next((n for n in normalized if n.startswith(_RESERVED)), None)
    if reserved is not None:
        return "api" + reserved
    return None


def renames(keys: list[Any], naming: Any = None) -> dict[str, str]:
    """``{name: new name}`` for the ``keys`` of one object dlt cannot take as they are
    (:func:`safe_name` under ``naming``); a new name already taken gets ``_2``, ``_3``,
    ..."""
    out: dict[str, str] = {}
    for key in keys:
        new = safe_name(key, naming) if isinstance(key, str) else None
        if new is None:
            continue
        base, n = new, 1
        while new in keys or new in out.values():
            n += 1
            new = f"{base}_{n}"
        out[key] = new
    return out


def _renamed(record: dict[str, Any], naming: Any) -> dict[str, Any] | None:
    """``record`` with its unusable keys renamed (:func:`renames`), in the same order;
    ``None`` when none needs it."""
    fixes = renames(list(record), naming)
    if not fixes:
        return None
    return {fixes.get(key, key): value for key, value in record.items()}


#: Deepest record dlt can write (the record itself is level 1): dlt writes rows with
#: orjson, which stops at 255 levels of nesting, and its writers wrap a row in one or
#: two more (a record of 253 levels loads, 254 does not). orjson reads up to 1024.
MAX_DEPTH = 250


def _fit(record: Any, names: Any, errors: list[str]) -> None:
    """Fix ``record`` in place: unusable keys renamed (when ``names``, a naming
    convention) at any depth. The first reason it cannot be loaded at all is added to
    ``errors``: an integer beyond 64 bits, or nesting deeper than :data:`MAX_DEPTH`
    (that part is kept as its JSON text, so the quarantine entry can hold it).

    A loop with a stack of its own, not recursion: a record may be nested 1024 levels
    deep, more than Python's recursion limit allows."""
    stack: list[tuple[Any, str, int]] = [(record, "", 1)]
    while stack:
        value, path, depth = stack.pop()
        if isinstance(value, dict):
            if names is not None:
                renamed = _renamed(value, names)
                if renamed is not None:
                    value.clear()
                    value.update(renamed)
            items: Any = value.items()
            dotted = True
        else:
            items = enumerate(value)
            dotted = False
        for key, item in items:
            if isinstance(item, (dict, list)):
                where = (f"{path}.{key}" if path else str(key)) if dotted else f"{path}[{key}]"
                if depth < MAX_DEPTH:
                    stack.append((item, where, depth + 1))
                    continue
                value[key] = _json_text(item)
                if not errors:
                    errors.append(
                        f"field {_short_path(where)!r} is nested more than {MAX_DEPTH} "
                        "levels deep, deeper than dlt can write"
                    )
            elif isinstance(item, int) and not INT64_MIN <= item <= INT64_MAX and not errors:
                where = (f"{path}.{key}" if path else str(key)) if dotted else f"{path}[{key}]"
                errors.append(
                    f"field {where!r} holds the integer {item}, beyond the 64-bit range of "
                    "an integer column"
                )


def _json_text(value: Any) -> str:
    import json

    try:
        return json.dumps(value)
    except (RecursionError, ValueError, TypeError):
        return "<nested too deep to show>"


def _short_path(path: str) -> str:
    return path if len(path) <= 80 else path[:60] + "..." + path[-17:]


#: Longest name (in bytes) of a table dlt can write: its job files are named
#: ``<table>.<10-character id>.<retry count>.<format>``, and a file name has at most
#: 255 bytes (NAME_MAX); 30 are left for the rest (``.0123456789.0.insert_values``
#: is 27).
MAX_TABLE_NAME_BYTES = 255 - 30


def fit_records(records: list[Any], naming: Any = None, table: str | None = None) -> dict[int, str]:
    """Make ``records`` safe for dlt, in place: unusable field names renamed at any
    depth (:func:`safe_name` under ``naming``). Returns ``{index: error}`` for the
    records holding an integer beyond the signed 64-bit range, which no column can
    take, and, when ``table`` (the resource's table) is given, for the records whose
    lists would make a nested table with a name longer than a file name can be
    (:data:`MAX_TABLE_NAME_BYTES`; see the module docs). One ``orjson`` encoding of
    the page tells whether anything needs a look."""
    import orjson

    try:
        # Three more levels of lists: orjson refuses more than 254 levels, so a page
        # holding a record deeper than MAX_DEPTH fails here and is walked; so does one
        # holding an integer above 2**64-1 or below -2**63.
        raw = orjson.dumps((((records,),),))
    except (TypeError, ValueError):  # beyond orjson's 64 bits, too deep, or refused
        wide_suspect, names = True, True
    else:
        scan = raw.translate(_SCAN)
        # a reserved name may be spelled in many ways dlt's naming turns into _dlt...
        names = b"dlt" in scan or _BLANK_KEY_REVERSED.search(raw[::-1]) is not None
        # 2**63 .. 2**64-1: orjson writes them, no bigint column holds them. 19-digit
        # ids below 2**63 (snowflake ids) do not make the page walked.
        wide_suspect = scan.find(_RUN_19) != -1 and (
            scan.find(_RUN_20) != -1 or _unsigned_only(raw)
        )
    # a field holding a list (orjson writes no space): dlt makes a nested table of it
    lists = table is not None and (wide_suspect or b'":[' in raw)
    if lists:
        tables = _NestedTables(table, naming if naming is not None else default_naming())
        lists = wide_suspect or tables.may_be_too_long(records, raw)
    if not (wide_suspect or names or lists):
        return {}
    convention = (naming if naming is not None else default_naming()) if names else None
    errors: dict[int, str] = {}
    for index, record in enumerate(records):
        if not isinstance(record, (dict, list)):
            if isinstance(record, int) and not INT64_MIN <= record <= INT64_MAX:
                errors[index] = (
                    f"the record is the integer {record}, beyond the 64-bit range of an "
                    "integer column"
                )
            continue
        found: list[str] = []
        if wide_suspect or names:
            _fit(record, convention, found)
        if lists and not found and isinstance(record, dict):
            long_name = tables.too_long(record)
            if long_name is not None:
                found.append(long_name)
        if found:
            errors[index] = found[0]
    return errors


class _NestedTables:
    """The names dlt gives the nested tables of a record's lists (dlt's relational
    normalizer: the table, the path of keys to the list, ``list`` for a list in a list,
    joined by the naming's path separator and shortened as the naming shortens them),
    checked against :data:`MAX_TABLE_NAME_BYTES`."""

    def __init__(self, table: str, naming: Any) -> None:
        self.naming = naming
        self.root = naming.normalize_table_identifier(table)
        self.sep = len(naming.make_path("a", "b")) - 2
        max_length = getattr(naming, "max_length", None)
        #: whether the naming shortens every name to fit: none can be too long then
        self.bounded = bool(max_length) and max_length * 4 <= MAX_TABLE_NAME_BYTES
        self._names: dict[str, tuple[str, int]] = {}
        self._encoded: dict[bytes, int] = {}

    def may_be_too_long(self, records: list[Any], raw: bytes) -> bool:
        """Whether a record of the page (``raw``, its ``orjson`` encoding) may have a
        nested table with a name too long, without walking a record: a table's name is
        the table's, then one key per level of nesting, each a key holding an object or
        a list (or ``list``). With the longest such key of the page, a name can only be
        too long in records nested deeper than some depth; an ``orjson`` encoding of
        the page wrapped in lists up to its limit of 254 levels tells whether any is."""
        import orjson

        if self.bounded:
            return False
        widest = len("list")
        for holder in (b'":[', b'":{'):
            pieces = raw.split(holder)
            pieces.pop()  # what follows the last such key
            # each key with the byte before its opening quote ("{" or ",")
            for key in {piece[piece.rfind(b'"') - 1 :] for piece in pieces}:
                if key[:1] == b"\\":  # that quote is the key's own: read in full
                    return True
                widest = max(widest, self._raw_key(key[2:]))
        depth = 1 + (MAX_TABLE_NAME_BYTES - len(self.root.encode())) // (self.sep + widest)
        if depth >= MAX_DEPTH:
            return False  # a record as deep fails the depth check (MAX_DEPTH) first
        wrapped: Any = records
        for _ in range(253 - depth):  # orjson refuses a record deeper than depth
            wrapped = (wrapped,)
        try:
            orjson.dumps(wrapped)
        except (TypeError, ValueError):
            return True
        return False

    def _raw_key(self, raw: bytes) -> int:
        """The bytes of the name of a key, as JSON text without its quotes."""
        known = self._encoded.get(raw)
        if known is None:
            import orjson

            known = self._encoded[raw] = self._key(orjson.loads(b'"' + raw + b'"'))[1]
        return known

    def _key(self, key: Any) -> tuple[str, int]:
        known = self._names.get(key)
        if known is None:
            try:
                name = self.naming.normalize_table_identifier(str(key)) or "_empty"
            except ValueError:
                name = "_empty"
            known = self._names[key] = (name, len(name.encode()))
        return known

    def _longest(self, record: dict[str, Any]) -> int:
        """The longest name (bytes, before shortening) of a nested table of ``record``:
        sizes only, no paths, so that records with lists cost little."""
        sep, key_size = self.sep, self._key
        longest = 0
        stack: list[tuple[dict[str, Any], int]] = [(record, len(self.root.encode()))]
        while stack:
            value, size = stack.pop()
            for key, item in value.items():
                kind = type(item)
                if kind is dict:
                    stack.append((item, size + sep + key_size(key)[1]))
                elif kind is list:
                    nested = size + sep + key_size(key)[1]
                    longest = max(longest, nested)
                    for element in item:
                        kind = type(element)
                        if kind is dict:
                            stack.append((element, nested))
                        elif kind is list:  # dlt keeps a list in a list as a row's "list"
                            stack.append(({"list": element}, nested))
        return longest

    def too_long(self, record: dict[str, Any]) -> str | None:
        """The error for the first list of ``record`` whose table's name is too long."""
        if self._longest(record) <= MAX_TABLE_NAME_BYTES:
            return None
        # (object, the table's fragments, keys from the table to the object, the
        # field's path for the error)
        stack: list[tuple[dict[str, Any], tuple[str, ...], tuple[str, ...], str]] = [
            (record, (self.root,), (), "")
        ]
        while stack:
            value, fragments, keys, path = stack.pop()
            for key, item in value.items():
                kind = type(item)
                if kind is not dict and kind is not list:
                    continue
                name = self._key(key)[0]
                where = f"{path}.{key}" if path else str(key)
                if kind is dict:
                    stack.append((item, fragments, (*keys, name), where))
                    continue
                nested = (*fragments, *keys, name)
                table = self.naming.shorten_fragments(*nested)
                size = len(table.encode())
                if size > MAX_TABLE_NAME_BYTES:
                    return (
                        f"field {_short_path(where)!r} makes nested table "
                        f"{table[:40]}... ({size} bytes), a name too long for "
                        f"dlt's files (at most {MAX_TABLE_NAME_BYTES} bytes)"
                    )
                for index, element in enumerate(item):
                    if type(element) is dict:
                        stack.append((element, nested, (), f"{where}[{index}]"))
                    elif type(element) is list:
                        stack.append(({"list": element}, nested, (), f"{where}[{index}]"))
        return None


#: records of one page checked at a time on the row path (:meth:`Validator.pages`)
_PART = 10_000


def quarantine_table(resource: str) -> str:
    """The table that keeps ``resource``'s records that broke its schema."""
    return f"{resource}{QUARANTINE_SUFFIX}"


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
        #: fields declared ``number`` (not ``integer``): a ``double`` column, which holds
        #: integers exactly only up to 2**53
        self._doubles: list[str] = []
        needs_full = any(k not in _ROOT_COVERED for k in schema)
        for name, prop in schema.get("properties", {}).items():
            raw = prop.get("type")
            types = [raw] if isinstance(raw, str) else list(raw or [])
            # no "type" (anyOf/oneOf with a null branch, $ref...): the full check, which
            # such a keyword calls for, decides whether null is allowed
            nullable = "null" in types or prop.get("nullable") is True or raw is None
            py: tuple[type, ...] | None = None
            if types and all(t in _PY_TYPES or t == "null" for t in types):
                py = tuple(c for t in types if t != "null" for c in _PY_TYPES[t])
            fmt = _FORMATS.get(prop.get("format", "")) if "string" in types else None
            self._checks.append((name, py, name in required, nullable, fmt))
            if "number" in types and "integer" not in types:
                self._doubles.append(name)
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
        for name in self._doubles:
            value = record.get(name)
            if type(value) is int and not -_EXACT_DOUBLE <= value <= _EXACT_DOUBLE:
                return (
                    f"field {name!r} is the integer {value}, which its number (double) "
                    "column cannot hold exactly"
                )
        if self._full is not None:
            for err in self._full.iter_errors(record):
                where = "/".join(map(str, err.absolute_path)) or "(record)"
                return f"{where}: {err.message[:200]}"
        return None


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class QuarantineRow(dict):
    """A row of a resource's quarantine table (``record``, ``error``, ``detected_at``):
    a dict, told apart from the API's records by its type (a table-name function of
    the user's is not asked where it goes)."""

    __slots__ = ()


@define
class Outcome:
    """What one resource's records did against its schema in one run."""

    #: ``connector.resource``
    label: str
    #: the quarantine table
    table: str
    policy: str
    #: where the schema comes from (``package/schemas/x.json``), for the fix
    schema_file: str | None = None
    #: records the API sent
    seen: int = 0
    #: records kept in the quarantine table
    rejected: int = 0
    #: records loaded although they broke the schema (``warn``)
    warned: int = 0
    #: the first record's violation
    first_error: str | None = None
    #: whether that violation is one no column can hold (:func:`fit_records`), which
    #: no schema or validation setting changes
    unloadable: bool = False
    #: whether the quarantine table is loaded in this run (not when only transformers
    #: fed by the resource run: they take its records, not its quarantine rows)
    kept: bool = True

    def where(self, *, past: bool = False) -> str:
        """Where the records set aside go: ``are kept in table x``, or why they are not
        loaded."""
        if self.kept:
            return f"{'were' if past else 'are'} kept in table {self.table}"
        return (
            f"{'were' if past else 'are'} not loaded: only transformers fed by the resource "
            f"run (run the resource too to keep them in table {self.table})"
        )

    @property
    def all_invalid(self) -> bool:
        """Whether records came and every one was quarantined."""
        return self.policy == "quarantine" and 0 < self.seen <= self.rejected

    def failure(self) -> str:
        """The one-line error for :attr:`all_invalid`: the first violation and the fix."""
        from headwater.settings import env_var

        connector = self.label.partition(".")[0]
        first = self.first_error or ""
        if first.startswith("cursor ") and "declares format" in first:
            # the incremental cursor is unreadable: no schema or validation setting helps
            return (
                f"resource {self.label}: the incremental cursor of all {self.seen} records "
                f"cannot be read (first: {self.first_error}) and they {self.where()}; "
                "declare the format the records write it in as the "
                "incremental's cursor_format (format is that of the request's bounds)"
            )
        if self.unloadable:
            return (
                f"resource {self.label}: none of its {self.seen} records can be loaded "
                f"(first: {self.first_error}); they "
                + (f"are kept as JSON in table {self.table}" if self.kept else self.where())
            )
        where = f"the schema file {self.schema_file}" if self.schema_file else "the schema"
        return (
            f"resource {self.label}: all {self.seen} records broke the declared schema "
            f"(first: {self.first_error}) and {self.where()}; if the API is "
            f"right, correct {where}, or set validation to warn "
            f"({env_var(connector, 'validation')}=warn) to load them as the API sends them"
        )

    def warning(self) -> str | None:
        """One line with the counts when some records broke the schema, else ``None``."""
        if self.rejected:
            what = self.where()
            count = self.rejected
        elif self.warned:
            what = "were loaded as they are (validation=warn)"
            count = self.warned
        else:
            return None
        return (
            f"resource {self.label}: {count} of {self.seen} records broke the declared schema "
            f"and {what} (first: {self.first_error})"
        )


#: Set by :func:`collect_outcomes`: label -> that run's :class:`Outcome`.
_OUTCOMES: ContextVar[dict[str, Outcome] | None] = ContextVar(
    "headwater_validation_outcomes", default=None
)


def _batch_level() -> int:
    """The log level of a batch's quarantine: a warning, unless the outcomes are
    collected (``headwater run``), whose summary says it once for the run."""
    return logging.INFO if _OUTCOMES.get() is not None else logging.WARNING


@contextmanager
def collect_outcomes() -> Iterator[dict[str, Outcome]]:
    """Meanwhile, validators count into the yielded ``{label: Outcome}`` and do not
    fail a resource whose every record broke the schema: the caller reports it after
    the load, so that the quarantined records and the other resources are loaded
    (``headwater run`` does this around each extract). Child resources, whose records
    come in one batch per parent, are only judged as a whole this way.

    A context variable: it applies to the extract run in this thread (dlt runs a
    resource's generator in the thread that called extract)."""
    outcomes: dict[str, Outcome] = {}
    token = _OUTCOMES.set(outcomes)
    try:
        yield outcomes
    finally:
        _OUTCOMES.reset(token)


class Validator:
    """Applies a resource's :class:`RecordCheck` under a policy (see module docs).

    ``schema_file`` (``package/path``) names where the schema comes from in errors."""

    def __init__(
        self,
        label: str,
        resource: str,
        schema: Mapping[str, Any],
        policy: str,
        *,
        schema_file: str | None = None,
        naming: Any = None,
    ) -> None:
        import dlt

        self.label = label
        #: the source schema's naming convention (reserved names are decided on it)
        self.naming = naming
        self.policy = policy
        self.schema_file = schema_file
        self.check = RecordCheck(schema)
        #: the resource's table (nested tables are named after it)
        self.resource = resource
        self.table = quarantine_table(resource)
        self._own = self._outcome()
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
        #: whether the quarantine rows are loaded in this run (see :attr:`Outcome.kept`)
        self.kept = True

    @property
    def needs_full(self) -> bool:
        """Whether every record must be checked, also on the Arrow fast path (keywords
        only jsonschema checks, under a policy that checks)."""
        return self.policy != "off" and self.check.needs_full

    def _outcome(self) -> Outcome:
        return Outcome(self.label, self.table, self.policy, self.schema_file)

    def _current(self) -> Outcome:
        """This run's outcome: the collector's (:func:`collect_outcomes`), else our own."""
        collected = _OUTCOMES.get()
        if collected is None:
            self._own.kept = self.kept
            return self._own
        outcome = collected.get(self.label)
        if outcome is None:
            outcome = collected[self.label] = self._outcome()
        outcome.kept = self.kept
        return outcome

    def saw(self, count: int) -> None:
        """``count`` more records came from the API (called once per page)."""
        self._current().seen += count

    def finish(self) -> None:
        """The resource's records of this run have all come (top-level resources).

        Raises :class:`~headwater.errors.ResponseError` (:meth:`Outcome.failure`) when
        every one was quarantined, unless :func:`collect_outcomes` collects them; logs
        the counts when some broke the schema. Starts the next run's counts."""
        if _OUTCOMES.get() is not None:
            return  # the collector's owner reports, after the load
        outcome, self._own = self._own, self._outcome()
        if outcome.all_invalid:
            from headwater.errors import ResponseError

            raise ResponseError(outcome.failure())
        summary = outcome.warning()
        if summary is not None:
            log.warning("%s", summary)

    def split(self, records: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[Any]]:
        """``(records to load, quarantine items to yield)``; raises under ``fail``.

        ``records`` are made safe for dlt first (:func:`fit_records`, in place): a
        record no column can hold is quarantined under every policy but ``fail``."""
        import json

        unloadable = fit_records(records, self.naming, self.resource)
        good: list[dict[str, Any]] = []
        bad: list[dict[str, Any]] = []
        now = dt.datetime.now(dt.timezone.utc)
        for index, record in enumerate(records):
            hard = unloadable.get(index)
            error = hard or (None if self.policy == "off" else self.check.error(record))
            if error is None:
                good.append(record)
                continue
            if self.policy == "fail":
                what = "cannot be loaded" if hard else "breaks the declared schema"
                raise ResponseError(
                    f"resource {self.label}: a record {what} ({error}; "
                    f"record {index + 1} of its page); set validation to quarantine to keep "
                    "such records aside instead"
                )
            outcome = self._current()
            if outcome.first_error is None:
                outcome.first_error = error
                outcome.unloadable = hard is not None
            if self.policy == "warn" and hard is None:
                good.append(record)
                if self._warned < 10:  # enough to see the pattern, not a flood
                    log.warning("resource %s: record breaks the schema: %s", self.label, error)
                self._warned += 1
                outcome.warned += 1
                continue
            bad.append(
                QuarantineRow(record=json.dumps(record, default=str), error=error, detected_at=now)
            )
        if not bad:
            return good, []
        self.rejected += len(bad)
        self._current().rejected += len(bad)
        log.log(
            _batch_level(),
            "resource %s: %d record(s) broke the schema and %s (first: %s)",
            self.label,
            len(bad),
            self._current().where(past=True),
            bad[0]["error"],
        )
        return good, [self._mark(bad, self.hints, create_table_variant=True)]

    def quarantined(self, records: list[dict[str, Any]], error: str) -> list[Any]:
        """Items that keep ``records`` in the quarantine table with ``error`` (a record
        the loader cannot use, e.g. an unreadable incremental cursor)."""
        import json

        if not records:
            return []
        now = dt.datetime.now(dt.timezone.utc)
        bad = [
            QuarantineRow(record=json.dumps(r, default=str), error=error, detected_at=now)
            for r in records
        ]
        outcome = self._current()
        outcome.seen += len(bad)
        outcome.rejected += len(bad)
        outcome.first_error = outcome.first_error or error
        self.rejected += len(bad)
        log.log(
            _batch_level(),
            "resource %s: %d record(s) set aside: they %s (first: %s)",
            self.label,
            len(bad),
            outcome.where(),
            error,
        )
        return [self._mark(bad, self.hints, create_table_variant=True)]

    def pages(self, pages: Any) -> Any:
        """The row path: each page's quarantine items, then its valid records (as the
        Arrow path: ``add_limit(1)`` stops after the page, with its records set aside)."""
        for page in pages:
            self.saw(len(page))
            # a page of a million records is checked in parts: its quarantine rows and
            # their errors are made a part at a time
            step = len(page) if len(page) <= 2 * _PART else _PART
            for start in range(0, len(page), step or 1):
                good, extra = self.split(page[start : start + step] if step < len(page) else page)
                yield from extra
                if good:
                    yield good
