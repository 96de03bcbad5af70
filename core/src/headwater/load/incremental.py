"""Incremental reads: time ranges, windows, positions kept in the pipeline state.

What a run of an incremental resource requests (see ``docs/incremental.md``):

* a normal run reads ``[position - lookback, end)``: the position the last run
  reached (the first run: the ``start_date`` setting, else the declared ``initial``)
  to the time the run started; a run that was interrupted resumes at its position,
  without the lookback;
* a backfill (:class:`RunBounds` with ``backfill``; ``headwater run --start --end``)
  reads ``[start, end)`` and keeps its own entry, so the normal run's position is
  never touched; an interrupted backfill of the same range resumes, a completed one
  leaves nothing behind (run it again and it reads the range again);
* with a window the range is cut into slices (:func:`headwater.timebounds.windows`),
  read one after another or ``parallel_windows`` at once; the position advances only
  over the completed slices that have no incomplete slice before them
  (:class:`Prefix`). With ``RunBounds.checkpoint`` a read stops after the first
  ``parallel_windows`` slices that returned a record (slices that return none are read
  on, for :data:`EMPTY_SLICES_SECONDS` at most) and names itself in
  ``RunBounds.pending``: ``headwater run`` loads and extracts again, so a killed run
  loses at most one extract's slices, and of them only one group with records
  (:func:`checkpointed_slices`).

The state is the resource's dlt state under :data:`STATE_KEY`, committed with the
load like any dlt state::

    {"position": "2024-01-03T00:00:00Z", "running": false,
     "backfills": {"<start>/<end>": {"position": "..."}},
     "parents": {"<parent value>": "..."}}

While a run is cut into several extracts, ``running`` is true and ``reached`` is the end
of the slices it has read: inside the lookback that is before ``position``, and the
next extract goes on from it.

An append resource whose position is its latest cursor also keeps ``boundary``: the
identities (primary key, else a hash of the record) of the records loaded at exactly
that cursor, which the next run's request from the position answers again; they are
not appended twice (as ``dlt.sources.incremental`` does with its hashes). With a
``lookback`` it keeps ``recent`` too: the identities of the records loaded within the
lookback of the position, by cursor (``{"<cursor>": ["<identity>", ...]}``), which
each run reads again. An append child resource read from each parent's latest cursor
keeps ``boundaries``: per parent, the identities of the records loaded at that parent's
position (``{"<parent value>": ["<identity>", ...]}``, :class:`ParentPositions`).
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from typing import Any

import attrs

from headwater.errors import ConfigError
from headwater.http.paginators import compile_path, lookup
from headwater.http.prefetch import put_until_stopped
from headwater.spec import IncrementalSpec
from headwater.timebounds import (
    exact,
    format_bound,
    isoformat,
    parse_auto,
    parse_duration,
    parse_instant,
    parse_value,
    windows,
)

log = logging.getLogger(__name__)

__all__ = [
    "EMPTY_SLICES_SECONDS",
    "MAX_PARENTS",
    "STATE_KEY",
    "Plan",
    "Prefix",
    "RunBounds",
    "SliceFilter",
    "asks_after",
    "bounded_request",
    "checkpointed_slices",
    "inexact",
    "merged_slices",
]

#: The key of Headwater's incremental state in a resource's dlt state.
STATE_KEY = "headwater_incremental"
#: Most parents a child resource keeps a position for (see :class:`ParentPositions`).
MAX_PARENTS = 10_000
#: How long one extract of a checkpointed run goes on reading slices that return no
#: record before it stops to load their position (:func:`checkpointed_slices`).
EMPTY_SLICES_SECONDS = 2.0

Slice = tuple[datetime | None, datetime | None]


@attrs.define
class RunBounds:
    """The time range of one run, fixed when it starts, shared by its extracts.

    ``start``/``end``: a backfill's range (``backfill``), or ``end`` alone: the end of a
    normal run (``None``: the time the read starts). ``checkpoint``: one extract stops
    after the first group of slices read at once (``parallel_windows``, default 1)
    that returned a record (:func:`checkpointed_slices`); resources that stopped with
    slices left are added to ``pending``, for the caller to load and extract again."""

    start: datetime | None = None
    end: datetime | None = None
    backfill: bool = False
    checkpoint: bool = False
    #: a backfill without ``--end``: it runs to now, and resumes to the new now
    open_end: bool = False
    pending: set[str] = attrs.field(factory=set)

    @classmethod
    def for_run(
        cls, start: Any = None, end: Any = None, *, now: datetime | None = None
    ) -> RunBounds:
        """The bounds of ``headwater run [--start A] [--end B]``: a backfill when either
        is given. Raises :class:`ConfigError` (one line) for a date that does not parse
        or a start not before the end."""
        now = now or datetime.now(timezone.utc)
        try:
            lower = None if start is None else parse_instant(start, "--start")
            upper = now if end is None else parse_instant(end, "--end")
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        if lower is not None and lower >= upper:
            raise ConfigError(
                f"--start {isoformat(lower)} is not before --end {isoformat(upper)}; "
                "give a start earlier than the end"
            )
        if start is None and end is not None:
            raise ConfigError("--end needs --start: a backfill reads [--start, --end)")
        return cls(
            start=lower,
            end=upper,
            backfill=start is not None,
            checkpoint=True,
            open_end=end is None,
        )


class Prefix:
    """Slices completing in any order; :attr:`done` counts the first slices that are
    all complete (the position may advance over those only)."""

    def __init__(self, count: int) -> None:
        self._complete = [False] * count
        self.done = 0

    def complete(self, index: int) -> int:
        """Mark slice ``index`` complete; returns the new :attr:`done`."""
        self._complete[index] = True
        while self.done < len(self._complete) and self._complete[self.done]:
            self.done += 1
        return self.done


#: The most record identities kept at a boundary (records loaded at one cursor value,
#: 16 characters each): beyond it the state would grow with a bulk import stamped
#: with one time (a warning says so).
MAX_BOUNDARY_IDS = 100_000


def record_identity(record: Mapping[str, Any], key: tuple[str, ...]) -> str:
    """What identifies ``record`` at a boundary: a 64-bit hash of its ``key`` fields'
    values, else (no key, or a key field missing) of the whole record."""
    values = [record.get(name) for name in key] if key else [None]
    text = json.dumps(values if None not in values else record, sort_keys=True, default=str)
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


#: Where reads end when their bounds give no end (``None``: now); set by a replay, whose
#: reads end where the recorded run's did (:func:`ending_at`). Process-wide, not a
#: context variable: dlt extracts in threads of its own.
_DEFAULT_END: datetime | None = None


@contextlib.contextmanager
def ending_at(end: datetime | None) -> Iterator[None]:
    """Meanwhile, reads whose bounds give no end end at ``end`` (``None``: now)."""
    global _DEFAULT_END
    before, _DEFAULT_END = _DEFAULT_END, end
    try:
        yield
    finally:
        _DEFAULT_END = before


def default_end() -> datetime:
    """The end of reads whose bounds give none: a replay's recorded end, else now."""
    return _DEFAULT_END or datetime.now(timezone.utc)


def _read_position(value: Any) -> datetime | None:
    if value is None:
        return None
    try:
        return parse_instant(value, "position")
    except ValueError:
        return None


@attrs.define
class Plan:
    """The slices one extract of a top-level resource reads, and how completing them
    moves its state (``entry``: the dict inside the dlt state that is updated)."""

    spec: IncrementalSpec
    slices: list[Slice]
    entry: dict[str, Any]
    root: dict[str, Any]
    backfill_key: str | None
    #: whether the position is the end of the completed slices (an API with an upper
    #: bound, or windows) rather than the latest cursor loaded
    bounded: bool
    #: slices of the whole range left after :attr:`slices` (another extract reads them)
    more: bool = False

    @property
    def found(self) -> str | None:
        """The format earlier cursor values came in (an undeclared format)."""
        return self.root.get("format")

    @classmethod
    def make(
        cls,
        spec: IncrementalSpec,
        settings: Mapping[str, Any],
        bounds: RunBounds,
        resource_state: dict[str, Any],
        *,
        now: datetime | None = None,
    ) -> Plan:
        """Plan a read from the resource's dlt state ``resource_state``."""
        root = resource_state.setdefault(STATE_KEY, {})
        window_text = settings.get("window") or spec.window
        window = parse_duration(window_text, "window") if window_text else None
        end = bounds.end or now or default_end()
        bounded = spec.end_param is not None or window is not None or bounds.backfill
        if bounds.backfill:
            assert bounds.start is not None
            key = f"{isoformat(bounds.start)}/{'now' if bounds.open_end else isoformat(end)}"
            entry = root.setdefault("backfills", {}).setdefault(key, {})
            lower = _read_position(entry.get("position")) or bounds.start
            slices: list[Slice] = _slices(lower, end, window)
            return cls(spec, slices, entry, root, key, True)
        position = _read_position(root.get("position"))
        if position is None:
            position = _legacy_position(spec, resource_state)
        if position is not None:
            lookback = parse_duration(spec.lookback, "lookback") if spec.lookback else None
            resuming = bool(root.get("running"))
            lower = position - lookback if lookback and not resuming else position
            # a run cut into several extracts (or killed) within its lookback goes on
            # from the slice it reached, which is before the position
            reached = _read_position(root.get("reached")) if resuming else None
            if reached is not None and reached < lower:
                lower = reached
        else:
            initial = settings.get("start_date") or spec.initial
            lower = None if initial is None else spec.parse_initial(initial)
        if not bounded:
            return cls(spec, [(lower, None)], root, root, None, False)
        if lower is None:
            if window is not None:
                raise ConfigError(
                    f"window {window_text} needs a start: set the start_date setting "
                    "(e.g. 2024-01-01) or run a backfill with --start"
                )
            return cls(spec, [(None, end)], root, root, None, True)
        slices = _slices(lower, end, window)
        return cls(spec, slices, root, root, None, True)

    def limit(self, per_load: int | None) -> Plan:
        """Keep the first ``per_load`` slices (the rest: :attr:`more`)."""
        if per_load is not None and len(self.slices) > per_load:
            self.slices = self.slices[:per_load]
            self.more = True
        return self

    @property
    def boundary(self) -> dict[datetime, frozenset[str]] | None:
        """The identities of records loaded, by their cursor, that this read is answered
        again (see :class:`SliceFilter`): those at the cursor a normal read starts at
        (an unbounded read from the position; a bounded one after a read stopped inside
        a slice, :meth:`stopped`), and those loaded within the lookback of the position
        (``recent``)."""
        if self.backfill_key is not None or not self.slices:
            return None
        known: dict[datetime, frozenset[str]] = {}
        kept = self.root.get("boundary")
        lower = self.slices[0][0]
        if isinstance(kept, Mapping) and lower is not None:
            at = _read_position(kept.get("at"))
            ids = kept.get("ids")
            if at == lower and isinstance(ids, list):
                known[at] = frozenset(str(i) for i in ids)
        recent = self.root.get("recent")
        for text, ids in recent.items() if isinstance(recent, Mapping) else ():
            at = _read_position(text)
            if at is not None and isinstance(ids, list):
                known[at] = known.get(at, frozenset()) | frozenset(str(i) for i in ids)
        return known or None

    @property
    def lookback(self) -> timedelta | None:
        """The declared lookback (``None``: none)."""
        return parse_duration(self.spec.lookback, "lookback") if self.spec.lookback else None

    def advance(
        self,
        done: Slice,
        latest: datetime | None,
        found: str | None = None,
        at_latest: list[str] | None = None,
        recent: list[tuple[datetime, str]] | None = None,
    ) -> None:
        """Slice ``done`` and every one before it are complete: move the position
        (``found``: the format the cursor values came in, kept for the next bounds;
        ``at_latest``: the identities of the records read at ``latest``, kept for
        an append resource, see :attr:`boundary`; ``recent``: the cursors and
        identities of the records an append resource with a lookback loaded, of which
        those within the lookback of the position are kept)."""
        if found is not None and self.spec.format is None:
            self.root["format"] = found
        current = _read_position(self.entry.get("position"))
        new = done[1] if self.bounded else latest
        if at_latest is not None and not self.bounded and latest is not None:
            self._keep_boundary(latest, at_latest, current)
        if new is not None and (current is None or new > current):
            self.entry["position"] = isoformat(new)
        if recent is not None and self.backfill_key is None:
            self._keep_recent(recent)
        if self.backfill_key is None:
            self.root["running"] = True
            if self.bounded and done[1] is not None:
                # where this run has read to, also inside its lookback (before the
                # position): the next extract of the run goes on from there
                self.root["reached"] = isoformat(done[1])

    def stopped(
        self,
        latest: datetime | None,
        found: str | None = None,
        at_latest: list[str] | None = None,
    ) -> None:
        """The read was closed inside a slice (``add_limit``) after the records up to
        ``latest`` were yielded: the position moves to ``latest`` (the slices before it
        are complete), with ``at_latest``, the identities of the records yielded at
        it, kept as the boundary of an append resource: the next run asks from
        ``latest`` and neither loads those again nor skips the rest of the slice. The
        run stays ``running``: the next one resumes there, without the lookback."""
        if found is not None and self.spec.format is None:
            self.root["format"] = found
        current = _read_position(self.entry.get("position"))
        if latest is None or (current is not None and latest < current):
            return
        if at_latest is not None and self.backfill_key is None:
            self._keep_boundary(latest, at_latest, None)
        self.entry["position"] = isoformat(latest)
        if self.backfill_key is None:
            self.root["running"] = True
            self.root.pop("reached", None)

    def _keep_boundary(
        self, latest: datetime, at_latest: list[str], current: datetime | None
    ) -> None:
        """Keep ``at_latest``, the identities of the records loaded at ``latest``, as the
        boundary an append resource's next read from ``latest`` skips (added to those
        kept at the same cursor; a cursor before ``current``, the position, keeps
        none), :data:`MAX_BOUNDARY_IDS` at most, with a warning beyond."""
        kept = self.root.get("boundary")
        same = isinstance(kept, Mapping) and _read_position(kept.get("at")) == latest
        if current is not None and latest <= current and not same:
            return
        before = list(kept.get("ids") or []) if same else []  # type: ignore[union-attr]
        ids = list(dict.fromkeys([*before, *at_latest]))
        if len(ids) > MAX_BOUNDARY_IDS:
            log.warning(
                "%d records share the incremental cursor %s = %s; the state keeps "
                "%d of them, so an append resource may load the others again on "
                "its next run: merge on a primary key, or use a finer cursor",
                len(ids),
                self.spec.cursor_field,
                isoformat(latest),
                MAX_BOUNDARY_IDS,
            )
            ids = ids[:MAX_BOUNDARY_IDS]
        self.root["boundary"] = {"at": isoformat(latest), "ids": ids}

    def _keep_recent(self, recent: list[tuple[datetime, str]]) -> None:
        """Keep the identities of the records loaded within the lookback of the position
        (an append resource reads them again and must not append them twice), the
        latest :data:`MAX_BOUNDARY_IDS` at most, with a warning beyond."""
        lookback, position = self.lookback, _read_position(self.root.get("position"))
        if lookback is None or position is None:
            self.root.pop("recent", None)
            return
        floor = position - lookback
        kept: dict[datetime, list[str]] = {}
        before = self.root.get("recent")
        for text, ids in before.items() if isinstance(before, Mapping) else ():
            at = _read_position(text)
            if at is not None and at >= floor and isinstance(ids, list):
                kept[at] = [str(i) for i in ids]
        for at, identity in recent:
            if at >= floor:
                kept.setdefault(at, []).append(identity)
        total, out = 0, {}
        for at in sorted(kept, reverse=True):
            ids = list(dict.fromkeys(kept[at]))[: MAX_BOUNDARY_IDS - total]
            if not ids:
                break
            out[isoformat(at)] = ids
            total += len(ids)
        loaded = sum(len(set(ids)) for ids in kept.values())
        if loaded > total:
            log.warning(
                "%d records were loaded within the lookback %s of the position %s; the state "
                "keeps the latest %d of them, so an append resource may load the others "
                "again on its next run: merge on a primary key, or use a shorter lookback",
                loaded,
                self.spec.lookback,
                isoformat(position),
                total,
            )
        self.root["recent"] = out

    def finish(self) -> None:
        """This extract read all of its slices."""
        if self.backfill_key is None:
            self.root["running"] = self.more
            if not self.more:
                self.root.pop("reached", None)
        elif not self.more:
            # a completed backfill leaves nothing: the same range runs again in full
            self.root.get("backfills", {}).pop(self.backfill_key, None)
            if not self.root.get("backfills"):
                self.root.pop("backfills", None)


def reading_rules(plan: Plan, bounds: RunBounds) -> tuple[bool, bool]:
    """``(drop, early)`` for the slices of ``plan``: whether records outside a slice are
    dropped on the client, and whether each slice is asked from a second before its
    start. A plain ``since`` API (:func:`asks_after`) answers strictly after its bound,
    so every read of one is asked early and what comes before its start is dropped: a
    record exactly on the start (a first run's ``start_date``, a backfill's
    ``--start``, a later run's position, which a record may reach after it was read) is
    kept. The records at a later run's position that were loaded are read again: a
    merge resource merges them, an append resource skips them (:attr:`Plan.boundary`)."""
    spec = plan.spec
    drop = spec.client_filter or (bounds.backfill and spec.end_param is None)
    early = asks_after(spec)
    return drop or early, early


def asks_after(spec: IncrementalSpec) -> bool:
    """Whether the API is a plain ``since`` API, which answers the records strictly
    after its bound: no end parameter and no declared format (how the simulator
    serves such a spec, :mod:`headwater.testing.timefilter`)."""
    return spec.end_param is None and spec.format is None


def _slices(lower: datetime, end: datetime, window: Any) -> list[Slice]:
    """:func:`~headwater.timebounds.windows`, too many slices a one-line ConfigError."""
    try:
        return list(windows(lower, end, window))
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def _legacy_position(spec: IncrementalSpec, resource_state: Mapping[str, Any]) -> datetime | None:
    """The cursor a pipeline kept with ``dlt.sources.incremental`` (Headwater before
    windows), so an existing pipeline goes on where it was."""
    legacy = resource_state.get("incremental")
    if not isinstance(legacy, Mapping) or not isinstance(spec.cursor_field, str):
        return None
    entry = legacy.get(spec.cursor_field)
    if not isinstance(entry, Mapping) or entry.get("last_value") is None:
        return None
    try:
        value = entry["last_value"]
        if spec.record_format is None:
            return parse_auto(value)[0]
        return parse_value(value, spec.record_format)
    except ValueError:
        return _read_position(entry["last_value"])


def bounded_request(
    spec: IncrementalSpec,
    params: Mapping[str, Any],
    body: Any,
    lower: Any,
    upper: Any,
    found: str | None = None,
) -> tuple[dict[str, Any], Any]:
    """``(params, body)`` of a request for ``[lower, upper)`` (either may be ``None``:
    no bound), the bounds written in the declared format (else ``found``, the format
    the cursor values came in, else the format of the declared ``initial``: ``unix``
    for a number, else ``iso8601``) and location. A bound finer than the format asks
    the range around it (``lower`` rounded down, ``upper`` up: :func:`inexact` says
    when, and the reader drops what is outside ``[lower, upper)``)."""
    fmt = spec.format or found or initial_format(spec)
    values: dict[str, Any] = {}
    if lower is not None:
        values[spec.param] = format_bound(lower, fmt)
    if upper is not None and spec.end_param is not None:
        values[spec.end_param] = format_bound(upper, fmt, up=True)
    if spec.location == "query":
        return {**params, **values}, body
    document = copy.deepcopy(_plain(body)) if body is not None else {}
    for name, value in values.items():
        target = document
        *parents, last = name.split(".")
        for key in parents:
            target = target.setdefault(key, {})
        target[last] = value
    return dict(params), document


def inexact(
    spec: IncrementalSpec, lower: datetime | None, upper: datetime | None, found: str | None
) -> bool:
    """Whether :func:`bounded_request` asks more than ``[lower, upper)``: a bound the
    format cannot write (``date`` and 06:00) is rounded outwards, and the records
    outside the range must be dropped on the client."""
    fmt = spec.format or found or initial_format(spec)
    if spec.end_param is None:
        upper = None
    return any(v is not None and not exact(v, fmt) for v in (lower, upper))


def initial_format(spec: IncrementalSpec) -> str:
    """How an undeclared format writes bounds before any cursor value was read: as the
    declared ``initial`` is written (a number: ``unix``, as ``dlt.sources.incremental``
    sends an integer ``initial_value``), else ``iso8601``."""
    if spec.format is None and spec.initial is not None:
        try:
            parse_instant(spec.initial, "initial")
        except ValueError:
            try:
                return parse_auto(spec.initial)[1]
            except ValueError:
                pass
    return "iso8601"


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


class SliceFilter:
    """Reads each record's cursor on the way: tracks the latest, drops records outside
    ``[lower, upper)`` when told to, and sets aside records whose cursor the declared
    format cannot read (:attr:`unreadable`, with :attr:`error` for the quarantine)."""

    def __init__(
        self,
        spec: IncrementalSpec,
        lower: datetime | None,
        upper: datetime | None,
        drop: bool,
        *,
        key: tuple[str, ...] | None = None,
        boundary: Mapping[datetime, frozenset[str]] | None = None,
        lookback: timedelta | None = None,
    ) -> None:
        self.spec = spec
        #: with a ``key`` (an append resource: ``()`` when it has no primary key), the
        #: identities of the records at :attr:`latest` are kept (:attr:`at_latest`)
        self._identity_key = key
        self.at_latest: list[str] | None = [] if key is not None else None
        #: records at one of ``boundary``'s cursors with one of its identities there
        #: were loaded before: they are dropped (:attr:`repeated` counts them)
        self._boundary = boundary if key is not None else None
        self.repeated = 0
        #: with a ``key`` and a ``lookback``: the cursor and identity of each record
        #: loaded, within ``lookback`` of the latest (:meth:`Plan.advance` keeps them)
        self._lookback = lookback if key is not None else None
        self.recent: list[tuple[datetime, str]] | None = [] if self._lookback else None
        self._until = upper
        self._trim_at = 2 * MAX_BOUNDARY_IDS
        field = spec.cursor_field
        simple = isinstance(field, str) and not field.startswith("$") and "." not in field
        self._key = field if simple else None
        self._path = None if simple else compile_path(field)
        self.lower = lower if drop else None
        self.upper = upper if drop else None
        self.latest: datetime | None = None
        #: the format the cursor values came in (an undeclared format: found per value)
        self.found: str | None = spec.record_format
        self.unreadable: list[dict[str, Any]] = []
        self.error = ""
        #: records read, and of them those without a cursor value
        self.records = 0
        #: records kept (the others fell outside the slice: ``client_filter``)
        self.kept = 0
        self.without_cursor = 0
        #: the fields of a record without a cursor value (for the warning)
        self.fields: list[str] = []
        #: the most records a page had (a page cut into several items: see ``stopped``)
        self.largest = 0

    def page(self, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The records of one page to keep."""
        fmt = self.spec.record_format
        key, path = self._key, self._path
        lower, upper, latest = self.lower, self.upper, self.latest
        keep = []
        self.records += len(records)
        if len(records) > self.largest:
            self.largest = len(records)
        for record in records:
            value = record.get(key) if key is not None else lookup(record, path)
            if value is None:
                keep.append(record)  # no cursor: loaded, it does not move the position
                self.without_cursor += 1
                if not self.fields:
                    self.fields = sorted(record)
                continue
            try:
                if fmt is None:
                    moment, self.found = parse_auto(value)
                else:
                    moment = parse_value(value, fmt)
            except ValueError as exc:
                self.unreadable.append(record)
                self.error = self.error or (
                    f"cursor {self.spec.cursor_field!r}: {exc}; the connector declares "
                    f"format {fmt or 'iso8601 or unix'}"
                )
                continue
            repeated, identity = False, None
            if self._identity_key is not None:
                known = self._boundary.get(moment) if self._boundary else None
                if known is not None or self._lookback or latest is None or moment >= latest:
                    identity = record_identity(record, self._identity_key)
                    repeated = known is not None and identity in known
                    if latest is None or moment > latest:
                        self.at_latest = [identity]
                    elif moment == latest:
                        self.at_latest.append(identity)  # type: ignore[union-attr]
            if latest is None or moment > latest:
                latest = moment
            if repeated:
                self.repeated += 1  # loaded before
            elif (lower is None or moment >= lower) and (upper is None or moment < upper):
                keep.append(record)
            else:
                continue
            if identity is not None and self.recent is not None:
                self.recent.append((moment, identity))  # loaded: kept, or loaded before
        self.latest = latest
        self.kept += len(keep)
        if self.recent is not None and len(self.recent) > self._trim_at:
            self._trim_recent()
        return keep

    def _trim_recent(self) -> None:
        """Forget the records before the lookback of the latest (or of the slice's end,
        when it is earlier): the position will not be earlier than that. The next trim
        waits for twice as many as are left, so trimming costs O(1) a record."""
        assert self.recent is not None and self._lookback is not None and self.latest
        end = self.latest if self._until is None else min(self.latest, self._until)
        floor = end - self._lookback
        self.recent = [(at, identity) for at, identity in self.recent if at >= floor]
        self._trim_at = max(2 * MAX_BOUNDARY_IDS, 2 * len(self.recent))

    def no_cursor_warning(
        self, resource: str, *others: SliceFilter, bounded: bool = False
    ) -> str | None:
        """A warning when records were read and none had a cursor value (with
        ``others``: the other slices of the same read); a misspelled ``cursor_field``
        does that. Unless the position is the end of the ranges requested
        (``bounded``), it cannot advance, so every run reads everything again."""
        filters = (self, *others)
        records = sum(f.records for f in filters)
        if not records or sum(f.without_cursor for f in filters) < records:
            return None
        fields = next((f.fields for f in filters if f.fields), [])
        consequence = (
            ""
            if bounded
            else ", so its position does not advance and every run reads everything again"
        )
        return (
            f"resource {resource}: none of its {records} records has a value for its "
            f"incremental cursor_field {self.spec.cursor_field!r}{consequence}; check "
            f"cursor_field (a record's fields: {', '.join(fields[:12])})"
        )

    def pages(self, pages: Iterable[list[dict[str, Any]]]) -> Iterator[list[dict[str, Any]]]:
        """:meth:`page` applied to each page (empty results skipped)."""
        for records in pages:
            kept = self.page(records)
            if kept:
                yield kept


_DONE = object()


def merged_slices(
    read: Callable[[int], Iterator[list[dict[str, Any]]]],
    count: int,
    workers: int,
    on_complete: Callable[[int], None],
    *,
    depth: int | None = None,
) -> Iterator[list[dict[str, Any]]]:
    """The pages of slices ``0..count-1`` (``read(i)`` paginates slice ``i``), read
    ``workers`` slices at once, in the order they arrive. ``on_complete(i)`` is called
    in the consumer's thread once every page of slice ``i`` has been yielded. At most
    ``depth`` pages (default ``2 * workers``) wait: memory stays bounded. An error in
    any slice is raised here, and the other workers stop."""
    if workers <= 1 or count <= 1:
        for index in range(count):
            yield from read(index)
            on_complete(index)
        return
    buffer: queue.Queue[Any] = queue.Queue(maxsize=depth or 2 * workers)
    stop = threading.Event()

    def put(item: Any) -> bool:
        return put_until_stopped(buffer, item, stop)

    def work(index: int) -> None:
        if stop.is_set():
            return
        try:
            for page in read(index):
                if not put((index, page)):
                    return
        except BaseException as exc:  # handed to the consumer, which raises it
            put((index, exc))
            return
        put((index, _DONE))

    pool = ThreadPoolExecutor(max_workers=min(workers, count), thread_name_prefix="headwater-slice")
    try:
        for index in range(count):
            pool.submit(work, index)
        finished = 0
        while finished < count:
            index, item = buffer.get()
            if item is _DONE:
                finished += 1
                on_complete(index)
            elif isinstance(item, BaseException):
                raise item
            else:
                yield item
    finally:
        stop.set()
        pool.shutdown(wait=True, cancel_futures=True)


def checkpointed_slices(
    plan: Plan,
    read: Callable[[int], Iterator[list[dict[str, Any]]]],
    workers: int,
    on_complete: Callable[[int], None],
    returned: Callable[[int], bool],
    *,
    checkpoint: bool,
    seconds: float = EMPTY_SLICES_SECONDS,
) -> Iterator[list[dict[str, Any]]]:
    """The pages of ``plan``'s slices, as :func:`merged_slices` reads them.

    ``checkpoint``: the slices are read ``workers`` at a time, and the read stops after
    the first such group in which a slice returned a record (``returned(i)``), or once
    ``seconds`` have passed since it began, with :meth:`Plan.limit` cutting ``plan`` to
    the slices read (its :attr:`~Plan.more` set when slices are left). A load then
    commits them: a slice that returns no record changes only the position, and a load
    for each one cost about 0.25 s (dlt's extract, normalize and load of the state
    alone): a daily window over three sparse years took 290 s. A run killed meanwhile
    fetches again at most the empty slices of those ``seconds`` and one group with
    records, none of which was loaded. Without ``checkpoint`` every slice is read, in
    one :func:`merged_slices`."""
    count = len(plan.slices)
    if not checkpoint:
        yield from merged_slices(read, count, workers, on_complete)
        return
    began = time.monotonic()
    start = 0
    while start < count:
        end = min(start + workers, count)
        yield from merged_slices(
            lambda i, at=start: read(at + i),
            end - start,
            workers,
            lambda i, at=start: on_complete(at + i),
        )
        found = any(returned(i) for i in range(start, end))
        start = end
        if start < count and (found or time.monotonic() - began >= seconds):
            plan.limit(start)
            return


class ParentPositions:
    """Per-parent positions of a child resource, at most :data:`MAX_PARENTS`.

    Beyond the limit, the parents with the oldest positions are forgotten and the
    oldest forgotten position becomes the ``floor``: a parent without its own position
    starts there (never later than what it may have missed; records already loaded
    come again and are merged on the primary key).

    An append child whose positions are its latest cursors also keeps, per parent, the
    identities of the records loaded at that parent's position (``boundaries``), which
    the next request for the parent answers again: they are not appended twice, as a
    top-level resource's ``boundary``. :data:`MAX_BOUNDARY_IDS` at most in all."""

    def __init__(self, root: dict[str, Any], limit: int = MAX_PARENTS) -> None:
        self.root = root
        self.limit = limit
        self.positions: dict[str, str] = root.setdefault("parents", {})

    def get(self, parent: Any) -> datetime | None:
        """Where ``parent``'s next read starts (``None``: its first read)."""
        own = self.positions.get(str(parent))
        return _read_position(own if own is not None else self.root.get("floor"))

    def boundary(self, parent: Any) -> dict[datetime, frozenset[str]] | None:
        """The identities of the records loaded at ``parent``'s own position, by it
        (``None``: none kept), for :class:`SliceFilter`'s ``boundary``."""
        kept = self.root.get("boundaries")
        ids = kept.get(str(parent)) if isinstance(kept, Mapping) else None
        at = _read_position(self.positions.get(str(parent)))
        if at is None or not isinstance(ids, list):
            return None
        return {at: frozenset(str(i) for i in ids)}

    def set(self, parent: Any, value: datetime, at_latest: list[str] | None = None) -> None:
        """``parent``'s reads reached ``value``; ``at_latest``: the identities of the
        records read at ``value`` (an append child reading from its latest cursor)."""
        key = str(parent)
        current = _read_position(self.positions.get(key))
        kept = self.root.get("boundaries")
        if current is None or value > current:
            self.positions[key] = isoformat(value)
            if isinstance(kept, dict):
                kept.pop(key, None)
            if at_latest:
                self.root.setdefault("boundaries", {})[key] = list(dict.fromkeys(at_latest))
        elif value == current and at_latest:
            before = kept.get(key) if isinstance(kept, Mapping) else None
            ids = [*(before if isinstance(before, list) else []), *at_latest]
            self.root.setdefault("boundaries", {})[key] = list(dict.fromkeys(ids))

    def trim(self) -> int:
        """Keep the newest :attr:`limit` positions; the oldest dropped becomes the floor.
        Of the boundary identities, the :data:`MAX_BOUNDARY_IDS` at the newest
        positions are kept; returns how many others were forgotten (the caller warns:
        an append child may load those records again)."""
        if len(self.positions) > self.limit:
            ordered = sorted(self.positions.items(), key=lambda kv: kv[1])
            excess = len(ordered) - self.limit
            dropped = ordered[:excess]
            floor = _read_position(self.root.get("floor"))
            oldest = _read_position(dropped[0][1])
            if oldest is not None and (floor is None or oldest < floor):
                self.root["floor"] = isoformat(oldest)
            kept = self.root.get("boundaries")
            for key, _ in dropped:
                del self.positions[key]
                if isinstance(kept, dict):
                    kept.pop(key, None)
        return self._cap_boundaries()

    def _cap_boundaries(self) -> int:
        kept = self.root.get("boundaries")
        if not isinstance(kept, dict):
            return 0
        for key in [k for k in kept if k not in self.positions]:
            del kept[key]
        total = sum(len(ids) for ids in kept.values())
        if total <= MAX_BOUNDARY_IDS:
            return 0
        room = MAX_BOUNDARY_IDS
        for key in sorted(kept, key=lambda k: self.positions[k], reverse=True):
            ids = kept[key][:room]
            room -= len(ids)
            if ids:
                kept[key] = ids
            else:
                del kept[key]
        return total - MAX_BOUNDARY_IDS
