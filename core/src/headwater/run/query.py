"""``headwater query NAME "SQL"``: look at what ``headwater run`` loaded into DuckDB.

The file is the one ``run`` writes from the same folder (``./headwater_<name>.duckdb``,
or what ``DESTINATION__DUCKDB__CREDENTIALS`` names), opened read-only through the
``duckdb`` module that comes with the core: no DuckDB command line needed.
"""

from __future__ import annotations

import functools
import os
import re
import shlex
import shutil
import sys
from collections.abc import Sequence
from typing import Any

from attrs import frozen

from headwater.errors import ConfigError, RunError
from headwater.run.dlt_errors import DUCKDB_LOCK, explain
from headwater.run.workdir import default_names, duckdb_file

__all__ = ["MAX_ROWS", "QueryResult", "format_rows", "query_hint", "run_query"]

#: rows printed at most; the rest are counted as left out (add a LIMIT)
MAX_ROWS = 1000

_PLAIN_NAME = re.compile(r"[a-z_][a-z0-9_]*")
#: what a POSIX shell and cmd.exe both read literally inside double quotes
_SAFE_IN_DOUBLE_QUOTES = re.compile(r'[^"$`\\!%]*')


@frozen
class QueryResult:
    """The columns and rows a query returned, and from which file."""

    database: str
    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]
    #: whether rows beyond :data:`MAX_ROWS` were left out
    truncated: bool = False


def _identifier(name: str) -> str:
    """``name`` as SQL: quoted unless plain, and quoted when a reserved word (a dataset
    named ``select`` or ``order``)."""
    if _PLAIN_NAME.fullmatch(name) and name not in _reserved_words():
        return name
    return '"' + name.replace('"', '""') + '"'


@functools.cache
def _reserved_words() -> frozenset[str]:
    """DuckDB's reserved keywords (none known if DuckDB cannot say)."""
    try:
        import duckdb

        rows = duckdb.sql(
            "SELECT keyword_name FROM duckdb_keywords() WHERE keyword_category = 'reserved'"
        ).fetchall()
    except Exception:  # an older DuckDB: plain names stay unquoted, as before
        return frozenset()
    return frozenset(str(row[0]).lower() for row in rows)


def _argument(text: str) -> str:
    """``text`` as one shell argument: in double quotes when both a POSIX shell and
    Windows' cmd take it literally so, else as :func:`shlex.quote` makes it."""
    if _SAFE_IN_DOUBLE_QUOTES.fullmatch(text):
        return text if re.fullmatch(r"[\w./:@+=-]+", text) else f'"{text}"'
    return shlex.quote(text)


def query_hint(
    name: str,
    dataset: str,
    table: str,
    *,
    pipeline_name: str | None = None,
    file: str | None = None,
) -> str:
    """The ``headwater query`` command line that shows a few rows of ``dataset.table``
    (``pipeline_name``, ``file``: the options that find the file, when not the default)."""
    sql = f"SELECT * FROM {_identifier(dataset)}.{_identifier(table)} LIMIT 10"
    parts = [*_headwater_command(), "query", _argument(name)]
    if pipeline_name:
        parts += ["--pipeline-name", _argument(pipeline_name)]
    if file:
        parts += ["--file", _argument(file)]
    parts.append(_argument(sql))
    return " ".join(parts)


def _headwater_command() -> list[str]:
    """How to call this very ``headwater`` from the shell that started it: ``uv run
    headwater`` under ``uv run`` (whose environment the shell does not have), plain
    ``headwater`` when that is this one on the PATH, else this Python's ``-m headwater``
    (a virtual environment that is not activated)."""
    if os.environ.get("UV_RUN_RECURSION_DEPTH"):
        return ["uv", "run", "headwater"]
    on_path = shutil.which("headwater")
    here = os.path.dirname(os.path.abspath(sys.executable))
    if on_path and os.path.dirname(os.path.abspath(on_path)) == here:
        return ["headwater"]
    return [_argument(sys.executable), "-m", "headwater"]


def run_query(
    name: str,
    sql: str,
    *,
    pipeline_name: str | None = None,
    dataset_name: str | None = None,
    destination: str = "duckdb",
    file: str | None = None,
) -> QueryResult:
    """Run ``sql`` on connector ``name``'s DuckDB file, read-only.

    The file is ``file``, else the one ``headwater run NAME`` (with the same
    ``pipeline_name``) loads into from the current folder. ``dataset_name`` (default
    ``<name>_data``) is the schema unqualified table names are looked up in. Raises
    :class:`ConfigError` for another destination, a missing file and an SQL error, and
    :class:`RunError` when a running load holds the file.
    """
    if destination != "duckdb":
        # run prints a look: line with a client for postgres only
        shown = " (the `look:` line `headwater run` printed shows one)"
        raise ConfigError(
            f"headwater query reads DuckDB only, not {destination}: use {destination}'s own "
            f"client{shown if destination == 'postgres' else ''}"
        )
    default_pipeline, default_dataset = default_names(name)
    pipeline_name = pipeline_name or default_pipeline
    dataset_name = dataset_name or default_dataset
    if file:
        database = os.path.abspath(file)
    else:
        try:
            database = duckdb_file(pipeline_name, dataset_name)
        except Exception as exc:
            known = explain(exc)
            if known is not None:
                raise known from None
            raise
    if not os.path.isfile(database):
        raise ConfigError(
            f"no DuckDB file at {database}: load it first with `headwater run {name}` "
            "in this folder (or name the file with --file)"
        )
    import duckdb

    try:
        with duckdb.connect(database, read_only=True) as con:
            schemas = {
                row[0]
                for row in con.execute(
                    "select schema_name from information_schema.schemata"
                ).fetchall()
            }
            if dataset_name in schemas:
                con.execute(f"SET schema = '{dataset_name.replace(chr(39), chr(39) * 2)}'")
            cursor = con.execute(sql)
            if cursor.description is None:
                return QueryResult(database=database, columns=(), rows=())
            columns = tuple(str(d[0]) for d in cursor.description)
            rows = cursor.fetchmany(MAX_ROWS + 1)
    except duckdb.Error as exc:
        raise _explain_duckdb(exc, database) from None
    return QueryResult(
        database=database,
        columns=columns,
        rows=tuple(tuple(r) for r in rows[:MAX_ROWS]),
        truncated=len(rows) > MAX_ROWS,
    )


def _explain_duckdb(exc: Exception, database: str) -> ConfigError | RunError:
    """One line for a DuckDB error: the file is held by a writer (exit 1), else the
    SQL is wrong (exit 2)."""
    text = str(exc)
    locked = DUCKDB_LOCK.search(text)
    if locked is not None:
        return RunError(
            f"the DuckDB file {database} is being written by another process "
            f"(PID {locked['pid']}), a running load or an open DuckDB shell: query it "
            "once that is done"
        )
    return ConfigError(f"the query failed: {_one_line(text)}")


def _one_line(text: str) -> str:
    """DuckDB's message on one line, without the caret lines that point into the SQL."""
    lines = [line.strip() for line in text.splitlines()]
    kept = [line for line in lines if line and not line.startswith("LINE ") and set(line) != {"^"}]
    return " ".join(kept) or "unknown DuckDB error"


def format_rows(rows: Sequence[Sequence[Any]]) -> list[list[str]]:
    """Cells as text, NULL for a missing value (as DuckDB's own shell shows it)."""
    return [["NULL" if cell is None else str(cell) for cell in row] for row in rows]
