"""Unique keys: telling dlt's merge when a run's rows need no deduplication.

dlt's merge (``delete-insert``) deduplicates the staged rows by primary key with a
window function, ``ROW_NUMBER() OVER (PARTITION BY key)``. On DuckDB that is most of
the merge: 200k rows took 0.77 s against 0.36 s for the plain insert, 1M rows 4.4 s
against 1.0 s. Most APIs serve each key once per run, and a resource's generator sees
every row it yields, so it can tell: :func:`hinted` keeps the key column (Arrow arrays:
about 12 bytes a row for short string ids, 40 for UUIDs), and when the resource has
yielded everything it counts the distinct keys at once. When each key is there exactly
once it sets dlt's ``x-stage-data-deduplicated`` table hint (what the merge
disposition's ``deduplicated`` option sets), and the merge inserts the staged rows as
they are.

Anything it cannot vouch for leaves the hint off and dlt deduplicates as usual: a key
seen twice or missing twice, a compound key, a key declared as anything but a string
or an integer (dlt parses date-time text: two spellings of one instant are one key in
the table), a value of another type than declared (dlt would convert it: ``"01"`` and
``1`` become one integer), more than :data:`MAX_KEY_BYTES` of keys, an item it does
not know. Keys beyond :data:`MEMORY_KEY_BYTES` (about 5M short ids) go to a Parquet
file in a private temporary folder, and DuckDB counts them there with a memory limit,
spilling to disk, so memory stays bounded whatever the run's size; the folder is
removed once they are counted, or when the run stops.

The hint is turned off whenever a top-level merge resource starts, vouched for or not,
so a run that stops early, or one through a pipeline of your own, never inherits an
earlier run's "deduplicated"; packages an earlier run left unloaded lose it too
(:func:`distrust_pending`). dlt's incremental filter runs after the generator and only
removes rows, so it cannot make unique keys repeat.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from headwater.load.packages import Pending, pending

__all__ = [
    "DEDUPLICATED",
    "MAX_KEY_BYTES",
    "MEMORY_KEY_BYTES",
    "KeyTracker",
    "collect_repeated_keys",
    "deduplicates",
    "distrust_pending",
    "hinted",
]

#: dlt's table hint: the staged rows have unique primary keys.
DEDUPLICATED = "x-stage-data-deduplicated"

#: Keys a run may keep (80M short string ids, 25M UUIDs); beyond it dlt deduplicates.
MAX_KEY_BYTES = 1024 * 1024 * 1024

#: Keys kept in memory (5M short string ids, 1.6M UUIDs); beyond it they go to a file
#: and DuckDB counts them, spilling to disk (:meth:`KeyTracker.unique`).
MEMORY_KEY_BYTES = 64 * 1024 * 1024


#: Arrow types whose keys reach the destination as they are, by declared dlt type.
_ARROW_TYPES = {"text": ("is_string", "is_large_string"), "bigint": ("is_integer",)}


class KeyTracker:
    """Collects the values of one key column from the items a resource yields.

    ``data_type``: the key's declared dlt type, ``text`` or ``bigint``; a value of
    another type (which dlt would convert, so that two values could become one) spoils
    the tracker. ``ignore_table``: a table whose items (dlt's table variants, such as
    the quarantine table) do not count.
    """

    def __init__(
        self,
        column: str,
        data_type: str = "text",
        max_bytes: int = MAX_KEY_BYTES,
        ignore_table: str | None = None,
        memory_bytes: int | None = None,
    ) -> None:
        if data_type not in _ARROW_TYPES:
            raise ValueError(f"keys of type {data_type!r} cannot be vouched for")
        self.column = column
        self.data_type = data_type
        self.max_bytes = max_bytes
        #: keys kept in memory before they go to a file (default :data:`MEMORY_KEY_BYTES`)
        self.memory_bytes = MEMORY_KEY_BYTES if memory_bytes is None else memory_bytes
        self.ignore_table = ignore_table
        self.rows = 0
        #: the distinct keys :meth:`unique` counted (``None``: not counted)
        self.distinct: int | None = None
        self.bytes = 0
        self._chunks: list[Any] = []
        #: the folder of the keys' Parquet file, once they outgrew memory
        self.spill_dir: str | None = None
        self._writer: Any = None
        #: why the keys cannot be vouched for (``None``: no reason so far)
        self.spoiled: str | None = None

    def add(self, item: Any) -> None:
        """Count ``item``: an Arrow table, a list of record dicts or a dlt item with meta."""
        if self.spoiled is not None:
            return
        meta = getattr(item, "meta", None)
        if meta is not None:
            hints = getattr(meta, "hints", None) or {}
            table = hints.get("table_name") or getattr(meta, "table_name", None)
            if table is not None and table == self.ignore_table:
                return
            self._spoil("an item for another table")
            return
        import pyarrow as pa

        if hasattr(item, "column_names"):
            if self.column not in item.column_names:
                self._spoil(f"a table without {self.column}")
                return
            rows, chunks = item.num_rows, item.column(self.column).chunks
        elif isinstance(item, list):
            try:
                array = pa.array([record.get(self.column) for record in item])
            except (pa.ArrowException, OverflowError, TypeError, ValueError, AttributeError):
                self._spoil(f"a key that is not {self.data_type}")
                return
            rows, chunks = len(array), [array]
        else:
            self._spoil(f"an item of type {type(item).__name__}")
            return
        for chunk in chunks:
            if not (pa.types.is_null(chunk.type) or self._exact(chunk.type)):
                self._spoil(f"a key that is not {self.data_type}")
                return
        self.rows += rows
        self.bytes += sum(chunk.nbytes for chunk in chunks)
        if self.bytes > self.max_bytes:
            self._spoil(f"more than {self.max_bytes} bytes of keys")
            return
        self._chunks.extend(chunks)
        if self._writer is not None or self.bytes > self.memory_bytes:
            try:
                self._spill()
            except (OSError, pa.ArrowException) as exc:  # a full or read-only disk
                self._spoil(f"keys that could not be written to disk ({type(exc).__name__})")

    def _target(self) -> Any:
        """The one Arrow type all keys are compared as."""
        import pyarrow as pa

        if self.data_type != "text":
            return pa.int64()
        if self._writer is not None or any(pa.types.is_large_string(c.type) for c in self._chunks):
            return pa.large_string()
        return pa.string()  # as they are: no copy

    def _spill(self) -> None:
        """Append the keys in memory to the keys' Parquet file (started on first use)."""
        import tempfile

        import pyarrow as pa
        import pyarrow.parquet as pq

        if self._writer is None:
            self.spill_dir = tempfile.mkdtemp(prefix="headwater-keys-")  # owner-only
            schema = pa.schema(
                [pa.field("k", pa.large_string() if self.data_type == "text" else pa.int64())]
            )
            self._writer = pq.ParquetWriter(os.path.join(self.spill_dir, "keys.parquet"), schema)
        target = self._writer.schema.field("k").type
        for chunk in self._chunks:
            self._writer.write_table(pa.table({"k": chunk.cast(target)}))
        self._chunks = []

    def close(self) -> None:
        """Remove the keys' file, if any (the tracker counts nothing more)."""
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.close()
        if self.spill_dir is not None:
            shutil.rmtree(self.spill_dir, ignore_errors=True)
            self.spill_dir = None

    def _exact(self, arrow_type: Any) -> bool:
        import pyarrow as pa

        return any(getattr(pa.types, test)(arrow_type) for test in _ARROW_TYPES[self.data_type])

    def unique(self) -> bool:
        """Whether every key so far is distinct (one missing key counts as one value).

        Keys that outgrew memory are counted by DuckDB from their file, with a memory
        limit and a folder to spill to, so a run of any size holds at most
        :attr:`memory_bytes` of keys."""
        if self.spoiled is not None:
            return False
        if self._writer is not None:
            import duckdb

            try:
                return self._unique_on_disk()
            except (OSError, duckdb.Error):
                return False  # not vouched for: dlt deduplicates, as without the check
            finally:
                self.close()
        if not self._chunks:
            self.distinct = self.rows
            return True
        import pyarrow as pa

        try:
            # pages whose keys are all missing have Arrow's null type; int32 and int64
            # pages (or string and large_string) are compared as one type
            target = self._target()
            keys = pa.chunked_array(
                [c if c.type == target else c.cast(target) for c in self._chunks], target
            )
            self._chunks = []
            self.distinct = _count_distinct(keys)
        except (pa.ArrowException, OverflowError) as exc:
            self._spoil(f"keys Arrow cannot compare ({type(exc).__name__})")
            return False
        return self.distinct == self.rows

    def _unique_on_disk(self) -> bool:
        import duckdb

        self._spill()
        self._writer.close()
        self._writer = None
        assert self.spill_dir is not None
        _return_freed_memory()
        path = os.path.join(self.spill_dir, "keys.parquet")
        config = {
            "memory_limit": "64MB",
            "threads": 1,
            "temp_directory": os.path.join(self.spill_dir, "tmp"),
            "preserve_insertion_order": False,
        }
        with duckdb.connect(config=config) as con:
            # GROUP BY spills to disk; missing keys are one group, as for dlt's merge
            ((rows, groups, repeated),) = con.execute(
                "SELECT sum(n), count(*), count(*) FILTER (WHERE n > 1) FROM "
                "(SELECT count(*) AS n FROM read_parquet($p) GROUP BY k)",
                {"p": path},
            ).fetchall()
        self.distinct = int(groups)
        return rows == self.rows and repeated == 0

    def _spoil(self, reason: str) -> None:
        self.spoiled = reason
        self._chunks = []
        self.close()


def _return_freed_memory() -> None:
    """Hand the heap's free memory back to the system (glibc's ``malloc_trim``), where
    there is such a call.

    The keys written to disk were freed, but glibc keeps the pages for Python and
    Arrow, and DuckDB, which counts the keys next, allocates apart from them: its
    memory came on top. 1M keys spilled (a 4 MB threshold): the extract's peak 230-233
    -> 214 MB."""
    if not sys.platform.startswith("linux"):
        return
    import contextlib
    import ctypes

    with contextlib.suppress(OSError, AttributeError):  # not glibc: musl has no malloc_trim
        ctypes.CDLL("libc.so.6").malloc_trim(0)


#: Most groups :func:`_count_distinct` counts apart (more: all at once)
_MAX_GROUPS = 64


def _count_distinct(keys: Any) -> int:
    """The distinct values of ``keys`` (a missing key counts as one value), counted a
    group at a time: equal keys end in the same character (or, as integers, the same
    four bits), so each group's distinct keys are counted apart and added.

    One count over every key builds a hash table of them all at once: +70 MB of peak
    memory for 1M string ids, growing with the run to 300 MB or more at
    :data:`MEMORY_KEY_BYTES`; a group at a time, a tenth of it or less for ids that end
    in any digit or letter. Keys that all end alike are one group, counted as before."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_string(keys.type) or pa.types.is_large_string(keys.type):
        groups = pc.utf8_slice_codeunits(keys, -1)
    else:
        groups = pc.bit_wise_and(keys, 15)
    names = pc.unique(groups).drop_null()
    if len(names) > _MAX_GROUPS:
        return int(pc.count_distinct(keys, mode="all").as_py())
    distinct = 1 if keys.null_count else 0
    for name in names:
        # a key and its group are null together: filtering drops the missing keys
        distinct += pc.count_distinct(keys.filter(pc.equal(groups, name))).as_py()
    return distinct


_REPEATS: ContextVar[list[str] | None] = ContextVar("headwater_repeated_keys", default=None)


@contextmanager
def collect_repeated_keys() -> Iterator[list[str]]:
    """Meanwhile, each merge resource whose records repeat a primary key (counted by
    :func:`hinted`) adds a warning line to the yielded list: dlt's merge keeps one row
    per key, so the table holds fewer rows than were extracted. A context variable,
    as :func:`~headwater.load.validation.collect_outcomes`."""
    found: list[str] = []
    token = _REPEATS.set(found)
    try:
        yield found
    finally:
        _REPEATS.reset(token)


def _hint(deduplicated: bool, item: Any = None) -> Any:
    """``item`` (default: no record) carrying the "deduplicated" hint for its table."""
    import dlt

    # additional_table_hints, not write_disposition={"deduplicated": ...}: dlt drops
    # a False there, and an earlier run's True would stay in the schema.
    hints = dlt.mark.make_hints(additional_table_hints={DEDUPLICATED: deduplicated})
    return dlt.mark.with_hints([] if item is None else item, hints)


def hinted(
    items: Iterable[Any],
    column: str | None,
    data_type: str = "text",
    *,
    max_bytes: int = MAX_KEY_BYTES,
    ignore_table: str | None = None,
    table: str | None = None,
) -> Iterator[Any]:
    """Yield ``items`` between two hints for their table: first "not deduplicated" (on
    the first item), and once ``items`` is exhausted, whether every ``column`` value was
    distinct. A generator closed early never yields the second. With ``column`` None
    (a merge resource Headwater does not vouch for) only the first: an earlier run's
    "deduplicated" never carries over to a run that cannot tell. Keys that repeat are
    reported (``table`` names it) under :func:`collect_repeated_keys`."""
    from dlt.extract.items import DataItemWithMeta

    tracker = None if column is None else KeyTracker(column, data_type, max_bytes, ignore_table)
    try:
        first = True
        for item in items:
            if tracker is not None:
                tracker.add(item)
            if first and not isinstance(item, DataItemWithMeta):
                # On the first item of the table, not an item of its own: add_limit
                # counts items, and a limit of one page was spent on the hint. Items
                # marked already (quarantine rows, for another table) go by first.
                first = False
                item = _hint(False, item)
            yield item
        if first:
            yield _hint(False)
        if tracker is not None:
            unique = tracker.unique()
            _report_repeats(tracker, table)
            yield _hint(unique)
    finally:
        if tracker is not None:
            tracker.close()  # a run that stops early leaves no file of keys behind


def _report_repeats(tracker: KeyTracker, table: str | None) -> None:
    found = _REPEATS.get()
    distinct = tracker.distinct
    if found is None or distinct is None or tracker.spoiled or distinct >= tracker.rows:
        return
    found.append(
        f"{table or 'a table'}: {tracker.rows} records have only {distinct} distinct values "
        f"of {tracker.column}, its primary key; the merge keeps one row per key, so the "
        f"table has {tracker.rows - distinct} fewer rows than were extracted"
    )


def distrust_pending(pipeline: Any) -> int:
    """Turn the hint off in the packages an earlier run left normalized but not loaded;
    returns how many tables lost it.

    Such a package may have been loaded in part: a job whose insert into the staging
    table committed just before the process died runs again, stages its rows twice,
    and only dlt's deduplication removes the copies."""
    changed = 0
    for package in pending(pipeline):
        tables = [t for t in package.schema.tables.values() if t.get(DEDUPLICATED)]
        for table in tables:
            table[DEDUPLICATED] = False  # type: ignore[typeddict-unknown-key]
        if tables:
            package.save_schema()
            changed += len(tables)
    return changed


def deduplicates(packages: Iterable[Pending]) -> bool:
    """Whether dlt's merge will deduplicate a table of ``packages`` (those waiting to
    load, :func:`headwater.load.packages.pending`): one with rows in a package, merged,
    whose root table lacks the hint."""
    from dlt.common.schema.utils import get_root_table, get_write_disposition

    for package in packages:
        tables = package.schema.tables
        for name in package.tables & set(tables):
            if get_write_disposition(tables, name) != "merge":
                continue
            if not get_root_table(tables, name).get(DEDUPLICATED):
                return True
    return False
