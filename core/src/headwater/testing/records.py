"""Deterministic fake records generated from a record's JSON Schema.

The same ``(schema, seed, index, variant)`` always gives the same record, in any
process: values come from a small counter-based generator (splitmix64), never from
:mod:`random` or :func:`hash`. What each JSON Schema property becomes:

* key fields (``key_fields``, e.g. the primary key): unique per index:
  ``"<prefix>-000001"`` for strings, ``index + 1`` for integers and numbers;
* ``"format": "date-time"``: an RFC 3339 UTC string (``"2024-01-02T03:04:05Z"``)
  that increases strictly with the index (:data:`BASE_TIME` + ``index`` *
  :data:`TIME_STEP` seconds + a jitter below one step), so any date-time field works
  as an incremental cursor;
* ``"format": "date"`` / ``"time"`` / ``"email"`` / ``"uuid"`` / ``"uri"``: values of
  that shape (``"user<n>@example.com"`` for e-mail);
* other strings: a few words (names, statuses and hashes for fields called so);
  ``enum`` and ``const`` are honoured, and so are ``minLength`` / ``maxLength``;
* ``integer`` / ``number`` / ``boolean``: within ``minimum`` / ``maximum`` if given;
* ``object`` / ``array``: generated recursively from ``properties`` / ``items``;
* a nullable property (``["string", "null"]``, ``anyOf`` with null, or
  ``"nullable": true``) is ``None`` for about one record in ten, unless it is
  required, a key field or listed in ``non_null``.

With ``extra_field`` (the default) each record also carries :data:`EXTRA_FIELD`, a
field the schema does not declare, so a client can prove undeclared fields are kept
(left out when the schema sets ``"additionalProperties": false``).
"""

from __future__ import annotations

import contextlib
import gc
import json
import math
import time
import zlib
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from datetime import date, datetime, timedelta, timezone
from typing import Any

__all__ = [
    "BASE_TIME",
    "EXTRA_FIELD",
    "TIME_STEP",
    "format_timestamp",
    "generate_record",
    "generate_records",
    "parse_timestamp",
]

#: The date-time of index 0 (seconds since the epoch: 2024-01-01T00:00:00Z).
BASE_TIME = 1_704_067_200
#: Seconds between the date-times of consecutive indexes.
TIME_STEP = 60
#: The undeclared field added to every record when ``extra_field`` is set.
EXTRA_FIELD = "extra_note"

_BASE_DATE = date(2020, 1, 1)
_MASK = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15

# 64 words: six random bits pick one.
_WORDS = (
    "amber", "basin", "cedar", "delta", "ember", "fjord", "grove", "harbor",
    "inlet", "juniper", "kestrel", "lagoon", "meadow", "nectar", "orchard", "prairie",
    "quartz", "ridge", "summit", "thicket", "upland", "valley", "willow", "yarrow",
    "zephyr", "brook", "canyon", "dune", "estuary", "falls", "glacier", "heath",
    "island", "marsh", "oasis", "pebble", "rapids", "spring", "tundra", "creek",
    "alder", "birch", "cliff", "drift", "fern", "gorge", "hollow", "iris",
    "jasper", "knoll", "lichen", "moss", "north", "ocean", "pine", "quill",
    "reed", "shore", "tide", "umber", "vale", "wren", "xenon", "yew",
)  # fmt: skip
_FIRST = ("Ada", "Bo", "Cleo", "Dev", "Eli", "Fay", "Gus", "Hana", "Ivo", "Jun", "Kai", "Lia")
_LAST = ("Archer", "Brook", "Castillo", "Dorsey", "Ekwueme", "Fischer", "Garza", "Holm")
_STATUSES = ("active", "inactive", "pending", "suspended")
_KINDS = ("created", "updated", "deleted", "viewed", "shared")


def _mix(x: int) -> int:
    """splitmix64's output function: a good 64-bit hash of ``x``."""
    x = (x + _GOLDEN) & _MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK
    return x ^ (x >> 31)


class _Rng:
    """A tiny counter-based generator (splitmix64): cheap to create, stable across
    processes and Python versions."""

    __slots__ = ("_state",)

    def __init__(self, state: int) -> None:
        self._state = state & _MASK

    def next(self) -> int:
        self._state = (self._state + _GOLDEN) & _MASK
        return _mix(self._state)

    def below(self, n: int) -> int:
        return self.next() % n if n > 0 else 0

    def unit(self) -> float:
        return (self.next() >> 11) / 9007199254740992.0  # 2**53

    def choice(self, seq: Sequence[Any]) -> Any:
        return seq[self.next() % len(seq)]

    def words(self, low: int, high: int) -> str:
        bits = self.next()
        n = low + bits % (high - low + 1)
        out = []
        avail = 0
        for _ in range(n):
            if avail < 6:
                bits, avail = self.next(), 64
            out.append(_WORDS[bits & 63])
            bits >>= 6
            avail -= 6
        return " ".join(out)


def _salt(*parts: Any) -> int:
    return _mix(zlib.crc32("\x1f".join(str(p) for p in parts).encode("utf-8")))


def format_timestamp(seconds: float) -> str:
    """RFC 3339 UTC text (``"2024-01-02T03:04:05Z"``) of seconds since the epoch."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(seconds)))


def parse_timestamp(text: str) -> datetime:
    """Parse an RFC 3339 date-time (or a plain date) into an aware UTC datetime.

    Accepts ``Z`` or an offset, a space instead of ``T``, and an offset whose ``+`` was
    turned into a space by form decoding. A naive value is taken as UTC.
    Raises :class:`ValueError` for anything else.
    """
    raw = text.strip()
    if not raw:
        raise ValueError("empty timestamp")
    if raw.endswith(("Z", "z")):
        raw = raw[:-1] + "+00:00"
    if len(raw) > 19 and raw[-6] == " " and raw[-3] == ":":  # "+01:00" decoded as " 01:00"
        raw = raw[:-6] + "+" + raw[-5:]
    value = datetime.fromisoformat(raw)
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


# ------------------------------------------------------------------ schema analysis


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def _deref(prop: Any, root: Mapping[str, Any]) -> Mapping[str, Any]:
    """Follow local ``$ref`` s (``#/$defs/...``); other refs are dropped."""
    for _ in range(32):
        if not (isinstance(prop, Mapping) and isinstance(prop.get("$ref"), str)):
            break
        ref = prop["$ref"]
        if not ref.startswith("#/"):
            return {k: v for k, v in prop.items() if k != "$ref"}
        target: Any = root
        for part in ref[2:].split("/"):
            target = target.get(part.replace("~1", "/").replace("~0", "~"), {})
        prop = target
    return prop if isinstance(prop, Mapping) else {}


def _analyse(prop: Any, root: Mapping[str, Any]) -> tuple[Mapping[str, Any], str | None, bool]:
    """(the effective sub-schema, its first non-null JSON type, whether null is allowed)."""
    prop = _deref(prop, root)
    for combinator in ("anyOf", "oneOf"):
        if combinator in prop and "type" not in prop:
            subs = [_deref(s, root) for s in prop[combinator]]
            nullable = any(_as_list(s.get("type")) == ["null"] for s in subs)
            concrete = [s for s in subs if _as_list(s.get("type")) != ["null"]]
            chosen = dict(concrete[0]) if concrete else {"type": "null"}
            for key in ("enum", "const", "format"):
                if key in prop:
                    chosen.setdefault(key, prop[key])
            sub, kind, inner_null = _analyse(chosen, root)
            return sub, kind, nullable or inner_null or prop.get("nullable") is True
    raw = _as_list(prop.get("type"))
    nullable = "null" in raw or prop.get("nullable") is True
    types = [t for t in raw if t != "null"]
    if types:
        return prop, types[0], nullable
    if raw:  # only "null"
        return prop, None, True
    if "properties" in prop:
        return prop, "object", nullable
    if "items" in prop:
        return prop, "array", nullable
    return prop, "string", nullable


# ------------------------------------------------------------------ value makers

_Maker = Callable[[int, _Rng], Any]


def _string_maker(name: str, prop: Mapping[str, Any]) -> _Maker:
    fmt = prop.get("format")
    lname = name.lower()
    if fmt == "date-time":
        return lambda i, r: format_timestamp(BASE_TIME + i * TIME_STEP + r.below(TIME_STEP))
    if fmt == "date":
        return lambda i, r: (_BASE_DATE + timedelta(days=i // 10)).isoformat()
    if fmt == "time":
        return lambda i, r: f"{r.below(24):02d}:{r.below(60):02d}:{r.below(60):02d}"
    if fmt == "email" or lname == "email" or lname.endswith("_email"):
        return lambda i, r: f"user{i}@example.com"
    if fmt == "uuid":
        return lambda i, r: _uuid(r)
    if fmt in ("uri", "url", "iri"):
        return lambda i, r: f"https://example.com/{name}/{i}"
    base: _Maker
    if lname in ("first_name", "firstname", "given_name", "givenname"):
        base = lambda i, r: r.choice(_FIRST)  # noqa: E731
    elif lname in ("last_name", "lastname", "surname", "family_name", "familyname"):
        base = lambda i, r: r.choice(_LAST)  # noqa: E731
    elif lname in ("name", "full_name", "fullname", "display_name", "displayname"):
        base = lambda i, r: f"{r.choice(_FIRST)} {r.choice(_LAST)}"  # noqa: E731
    elif "status" in lname or lname == "state":
        base = lambda i, r: r.choice(_STATUSES)  # noqa: E731
    elif lname.endswith(("type", "kind")):
        base = lambda i, r: r.choice(_KINDS)  # noqa: E731
    elif any(h in lname for h in ("etag", "hash", "checksum", "token", "version")):
        base = lambda i, r: f"{r.next():016x}{r.next():016x}"  # noqa: E731
    else:
        base = lambda i, r: r.words(2, 5)  # noqa: E731
    min_len = prop.get("minLength")
    max_len = prop.get("maxLength")
    if not isinstance(min_len, int) and not isinstance(max_len, int):
        return base

    def bounded(i: int, r: _Rng) -> str:
        text = base(i, r)
        if isinstance(min_len, int) and len(text) < min_len:
            text += "x" * (min_len - len(text))
        if isinstance(max_len, int) and len(text) > max_len:
            text = text[:max_len]
        return text

    return bounded


def _uuid(rng: _Rng) -> str:
    value = f"{rng.next():016x}{rng.next():016x}"
    # version 4, RFC 4122 variant
    value = value[:12] + "4" + value[13:16] + "89ab"[int(value[16], 16) & 3] + value[17:]
    return f"{value[:8]}-{value[8:12]}-{value[12:16]}-{value[16:20]}-{value[20:]}"


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _number_maker(prop: Mapping[str, Any], integer: bool) -> _Maker:
    nudge = 1 if integer else 0.01
    low = prop["minimum"] if _is_number(prop.get("minimum")) else 0
    if _is_number(prop.get("exclusiveMinimum")):
        low = max(low, prop["exclusiveMinimum"] + nudge)
    high = (
        prop["maximum"]
        if _is_number(prop.get("maximum"))
        else (max(low, 0) + (100_000 if integer else 10_000))
    )
    if _is_number(prop.get("exclusiveMaximum")):
        high = min(high, prop["exclusiveMaximum"] - nudge)
    if integer:
        lo, hi = math.ceil(low), math.floor(high)
        span = hi - lo + 1
        return (lambda i, r: lo + r.below(span)) if span > 1 else (lambda i, r: lo)
    if high <= low:
        return lambda i, r: float(low)
    width = high - low
    return lambda i, r: min(max(round(low + r.unit() * width, 2), low), high)


def _maker(
    name: str, prop: Mapping[str, Any], kind: str | None, root: Mapping[str, Any], depth: int
) -> _Maker:
    if "const" in prop:
        const = prop["const"]
        return lambda i, r: const
    if isinstance(prop.get("enum"), list) and prop["enum"]:
        choices = [c for c in prop["enum"] if c is not None] or prop["enum"]
        return lambda i, r: r.choice(choices)
    if kind == "string":
        return _string_maker(name, prop)
    if kind in ("integer", "number"):
        return _number_maker(prop, integer=kind == "integer")
    if kind == "boolean":
        return lambda i, r: r.next() & 1 == 1
    if kind == "object":
        if depth > 4:
            return lambda i, r: {}
        plan = _compile(prop, root, depth + 1, (), (), "r")
        return lambda i, r: _build(plan, i, r.next())
    if kind == "array":
        if depth > 4:
            return lambda i, r: []
        item, item_kind, _ = _analyse(prop.get("items") or {"type": "string"}, root)
        make_item = _maker(name, item, item_kind, root, depth + 1)
        low = prop.get("minItems", 0)
        high = max(prop.get("maxItems", 3), low)
        span = high - low + 1
        return lambda i, r: [make_item(i, _Rng(r.next())) for _ in range(low + r.below(span))]
    return lambda i, r: None


def _key_maker(name: str, prop: Mapping[str, Any], kind: str | None, prefix: str) -> _Maker:
    if kind in ("integer", "number"):
        return lambda i, r: i + 1
    fmt = prop.get("format")
    if fmt == "uuid":
        salt = _salt("key", name)
        return lambda i, r: _uuid(_Rng(_mix(salt ^ i)))
    if fmt == "date-time":
        return lambda i, r: format_timestamp(BASE_TIME + i * TIME_STEP)
    return lambda i, r: f"{prefix}-{i + 1:06d}"


# A compiled object: (name, salt, maker, may be None, is a key field) per property.
_Plan = list[tuple[str, int, _Maker, bool, bool]]


def _compile(
    schema: Mapping[str, Any],
    root: Mapping[str, Any],
    depth: int,
    key_fields: Collection[str],
    non_null: Collection[str],
    prefix: str,
) -> _Plan:
    required = set(schema.get("required", ()))
    plan: _Plan = []
    for name, raw in (schema.get("properties") or {}).items():
        prop, kind, nullable = _analyse(raw, root)
        if name in key_fields:
            plan.append((name, 0, _key_maker(name, prop, kind, prefix), False, True))
            continue
        may_be_none = nullable and name not in required and name not in non_null
        plan.append(
            (name, _salt(depth, name), _maker(name, prop, kind, root, depth), may_be_none, False)
        )
    return plan


def _build(plan: _Plan, index: int, base: int) -> dict[str, Any]:
    record: dict[str, Any] = {}
    for name, salt, make, may_be_none, is_key in plan:
        if is_key:
            record[name] = make(index, None)  # type: ignore[arg-type]
            continue
        rng = _Rng(base ^ salt)
        if may_be_none and rng.next() % 10 == 0:
            record[name] = None
        else:
            record[name] = make(index, rng)
    return record


def _fingerprint(schema: Mapping[str, Any]) -> int:
    """A stable hash of the schema, so resources with different schemas differ."""
    text = json.dumps(schema, sort_keys=True, default=str, separators=(",", ":"))
    return _mix(zlib.crc32(text.encode("utf-8")))


def _default_prefix(schema: Mapping[str, Any]) -> str:
    title = schema.get("title")
    if isinstance(title, str) and title[:1].isalpha():
        return title[:1].lower()
    return "r"


def _extra_note(index: int, base: int) -> str:
    return f"note {index}: {_Rng(base ^ _EXTRA_SALT).words(9, 13)}"


_EXTRA_SALT = _salt("extra", EXTRA_FIELD)


# ------------------------------------------------------------------------ public


def generate_records(
    schema: Mapping[str, Any],
    count: int,
    seed: int = 0,
    start: int = 0,
    *,
    key_fields: Collection[str] = ("id",),
    non_null: Collection[str] = (),
    extra_field: bool = True,
    id_prefix: str | None = None,
    variant: int = 0,
) -> list[dict[str, Any]]:
    """``count`` records for ``schema``, with indexes ``start`` .. ``start + count - 1``.

    Deterministic for ``(schema, seed, index)``, in any process:
    ``generate_records(s, 10)[5] == generate_records(s, 1, start=5)[0]``.

    ``key_fields`` get unique values derived from the index alone; ``non_null`` fields
    are never ``None``; ``id_prefix`` prefixes string keys (default: the first letter
    of the schema's ``title``, else ``"r"``). A different ``variant`` gives the same
    keys with other values in every other field (how the simulator "updates" a
    record). ``extra_field`` adds the undeclared :data:`EXTRA_FIELD`.
    """
    if count < 0:
        raise ValueError(f"count must be >= 0, got {count}")
    prefix = id_prefix if id_prefix is not None else _default_prefix(schema)
    plan = _compile(schema, schema, 0, tuple(key_fields), tuple(non_null), prefix)
    add_extra = (
        extra_field
        and EXTRA_FIELD not in (schema.get("properties") or {})
        and schema.get("additionalProperties", True) is not False
    )
    stream = _mix(_mix(seed & _MASK) ^ _mix(variant & _MASK) ^ _fingerprint(schema))
    out = []
    with gc_paused():
        for index in range(start, start + count):
            base = _mix(stream ^ index)
            record = _build(plan, index, base)
            if add_extra:
                record[EXTRA_FIELD] = _extra_note(index, base)
            out.append(record)
    return out


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while building many small containers (which
    otherwise triggers repeated full collections); restores the previous state."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def generate_record(
    schema: Mapping[str, Any],
    index: int,
    seed: int = 0,
    **options: Any,
) -> dict[str, Any]:
    """The record number ``index`` (0-based); options as for :func:`generate_records`."""
    return generate_records(schema, 1, seed, index, **options)[0]
