"""dlt's errors told as Headwater's: one line naming the problem and the fix.

dlt wraps what fails inside a pipeline step (a Headwater error raised by a resource,
a missing destination setting, a DuckDB file locked by another process); :func:`explain`
finds the cause in the exception chain and says it in Headwater's words.
"""

from __future__ import annotations

import os
import re
from typing import Any

from headwater.errors import ConfigError, HeadwaterError, RunError, SettingsError
from headwater.redact import is_secret_name, redact

__all__ = [
    "DUCKDB_BLOCK_MEMORY",
    "DUCKDB_CANNOT_OPEN",
    "DUCKDB_LOCK",
    "DUCKDB_NOT_A_DATABASE",
    "exception_chain",
    "explain",
    "interrupted",
]


def exception_chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    todo: list[BaseException | None] = [exc]
    while todo:
        current = todo.pop(0)
        if current is None or any(current is s for s in seen):
            continue
        seen.append(current)
        todo.extend([getattr(current, "exception", None), current.__cause__, current.__context__])
    return seen


#: DuckDB's message when another process holds the database file.
DUCKDB_LOCK = re.compile(
    r'Could not set lock on file "(?P<path>[^"]+)": Conflicting lock is held in .*?'
    r"\(PID (?P<pid>\d+)\)"
)


#: DuckDB's message when the database file cannot be opened or made.
DUCKDB_CANNOT_OPEN = re.compile(r'IO Error: Cannot open file "(?P<path>[^"]+)": (?P<why>[^\n]+)')
#: DuckDB's error for a file that is not a DuckDB database (empty, or another kind)
DUCKDB_NOT_A_DATABASE = re.compile(
    r'The file "(?P<path>[^"]+)" exists, but it is not a valid DuckDB database file'
)


#: DuckDB's error when a commit finds no memory under its limit for a block
DUCKDB_BLOCK_MEMORY = re.compile(
    r"Failed to commit: (?:failed to pin|could not allocate) block of size [^()]*\([^()]*used\)"
)


def interrupted(exc: BaseException) -> bool:
    """Whether ``exc`` is a Ctrl-C (a ``KeyboardInterrupt`` dlt wrapped in a step
    failure, or one that caused it)."""
    return any(isinstance(item, KeyboardInterrupt) for item in exception_chain(exc))


def explain(exc: BaseException) -> HeadwaterError | None:
    """The Headwater error behind ``exc`` (dlt wraps extraction errors), or a one-line
    Headwater error for dlt failures users cause; ``None`` when unknown, and for an
    interruption (a ``KeyboardInterrupt`` dlt wrapped), which is not a failure."""
    if interrupted(exc):
        return None
    chain = exception_chain(exc)
    for item in chain:
        if isinstance(item, HeadwaterError):
            return item
    from dlt.common.configuration.exceptions import (
        ConfigFieldMissingException,
        InvalidNativeValue,
    )
    from dlt.common.configuration.providers.toml import TomlProviderReadException
    from dlt.common.destination.exceptions import UnknownDestinationModule
    from dlt.common.exceptions import MissingDependencyException
    from dlt.common.normalizers.naming.exceptions import (
        InvalidNamingType,
        NamingTypeNotFound,
        UnknownNamingModule,
    )

    for item in chain:
        if isinstance(item, TomlProviderReadException):
            # as Headwater's own settings say it (headwater check)
            return SettingsError(
                f"{_toml_file(item)} is not valid TOML ({_toml_problem(item)}); "
                "fix or remove the file"
            )
        if isinstance(item, ConfigFieldMissingException):
            return ConfigError(
                f"the destination's {_missing(item)}: {_where_to_set(item) or _first_line(item)}"
            )
        if isinstance(item, InvalidNativeValue):
            path = [str(p) for p in getattr(item, "embedded_sections", ()) if p]
            where = (
                f" in {'__'.join(p.upper() for p in path)} or [{'.'.join(path[:-1])}] {path[-1]}"
                if len(path) >= 2
                else ""
            )
            inner = getattr(item, "inner_exception", None) or item
            return ConfigError(
                f"the destination's credentials{where} cannot be read: {_first_line(inner)}"
            )
        if isinstance(item, UnknownDestinationModule):
            return ConfigError(
                f"unknown destination {item.ref!r}; use a dlt destination name "
                "such as duckdb, postgres, bigquery, snowflake or filesystem"
            )
        if isinstance(item, MissingDependencyException):
            return ConfigError(_first_line(item))
        if isinstance(item, (UnknownNamingModule, NamingTypeNotFound, InvalidNamingType)):
            return ConfigError(
                f"unknown dlt naming convention {item.naming_module!r} (SCHEMA__NAMING, or "
                "a destination's naming_convention); use one of dlt's: snake_case, direct, "
                "duck_case, sql_cs_v1, sql_ci_v1, or the module path of your own"
            )
    for item in chain:
        unopened = DUCKDB_CANNOT_OPEN.search(str(item))
        if unopened is not None:
            return ConfigError(
                f"the DuckDB file {unopened['path']} cannot be opened ({unopened['why']}); "
                "point DESTINATION__DUCKDB__CREDENTIALS at a file in a folder you can "
                "write to, or run in such a folder"
            )
        foreign = DUCKDB_NOT_A_DATABASE.search(str(item))
        if foreign is not None:
            return ConfigError(
                f"the file {foreign['path']} is not a DuckDB database (empty or another kind "
                "of file); move it away (or delete it, if it is empty) and run again, or "
                "point DESTINATION__DUCKDB__CREDENTIALS at another file"
            )
        locked = DUCKDB_LOCK.search(str(item))
        if locked is not None:
            return RunError(
                f"the DuckDB file {locked['path']} is open in another process "
                f"(PID {locked['pid']}): close it there (a DuckDB shell, a notebook) and "
                "run again"
            )
    step = next((s for s in chain if type(s).__name__ == "PipelineStepFailed"), None)
    if step is not None:
        inner = chain[-1]
        if type(inner).__name__ == "OutOfMemoryException" or (
            type(inner).__name__ == "TransactionException"
            and DUCKDB_BLOCK_MEMORY.search(str(inner)) is not None
        ):
            # DuckDB commits under its limit too: a commit that cannot pin a block is
            # the same limit run out of (a table of hundreds of columns)
            return RunError(
                f"the {getattr(step, 'step', 'pipeline')} step failed: DuckDB ran out of "
                f"its memory limit ({_first_line(inner)}); raise memory_limit in "
                "DESTINATION__DUCKDB__CREDENTIALS__GLOBAL_CONFIG, or remove it, and run "
                "again: what was extracted waits in the pipeline and loads then"
            )
        too_long = _table_name_too_long(inner)
        if too_long is not None:
            return RunError(f"the {getattr(step, 'step', 'pipeline')} step failed: {too_long}")
        return RunError(
            f"the {getattr(step, 'step', 'pipeline')} step failed: "
            f"{type(inner).__name__}: {_first_line(inner)}"
        )
    return None


def _table_name_too_long(exc: BaseException) -> str | None:
    """What to say of dlt failing to write a table's file because the table's name is
    too long for a file name (a nested table of lists nested deep, or under long
    names, in records Headwater did not check): the table, the package that keeps
    failing and what to do about it; ``None`` for any other error."""
    import errno

    filename = getattr(exc, "filename", None)
    if not (isinstance(exc, OSError) and exc.errno == errno.ENAMETOOLONG and filename):
        return None
    path = os.fsdecode(filename)
    table = os.path.basename(path).split(".", 1)[0]
    jobs = os.path.dirname(path)
    package = os.path.dirname(jobs) if os.path.basename(jobs).endswith("_jobs") else jobs
    short = table if len(table) <= 60 else table[:40] + "..." + table[-12:]
    return (
        f"dlt cannot name a file after table {short} ({len(table.encode())} bytes): records "
        f"of resource {table.split('__', 1)[0]} nest lists too deep (or under names too long) "
        f"for dlt. The extracted package {package} fails every run this way: move it away, "
        "and cap the nesting of that resource (dlt's max_table_nesting) or fix its records"
    )


def _toml_file(exc: Any) -> str:
    """The file dlt's ``TomlProviderReadException`` could not read: the first of its
    paths that is there."""
    paths = [str(p) for p in getattr(exc, "full_paths", ())]
    found = next((p for p in paths if os.path.isfile(p)), None)
    return os.path.normpath(found) if found else str(getattr(exc, "file_name", "a TOML file"))


def _toml_problem(exc: BaseException) -> str:
    """What the TOML parser said (dlt puts it after a first line of its own)."""
    lines = redact(str(exc)).strip().splitlines()[1:]
    return next((line.strip() for line in lines if line.strip()), "it does not parse")


def _missing(exc: Any) -> str:
    """``credentials lack database, password`` / ``setting x is not set`` for dlt's
    ``ConfigFieldMissingException``."""
    parts = []
    for name, traces in exc.traces.items():
        nested = next((t.traces for t in traces if getattr(t, "traces", None)), None)
        if nested:
            parts.append(f"{name} lack {', '.join(nested)}")
        else:
            parts.append(f"setting {name} is not set")
    return "; ".join(parts) or "settings are incomplete"


def _where_to_set(exc: Any) -> str | None:
    """Where to set the first missing destination setting of dlt's
    ``ConfigFieldMissingException``: its environment variable and its TOML key."""
    for name, traces in exc.traces.items():
        for trace in traces:
            nested = getattr(trace, "traces", None)  # a config of its own: credentials
            if nested is not None:
                sections = [t.sections for ts in nested.values() for t in ts]
            else:
                sections = [[*trace.sections, name]]
            for path in sections:
                if len(path) >= 3 and path[0] == "destination":
                    env = "__".join(part.upper() for part in path)
                    toml = "secrets.toml" if is_secret_name(path[-1]) else "config.toml"
                    return f"set {env} or [{'.'.join(path[:-1])}] {path[-1]} in .dlt/{toml}"
    return None


def _first_line(exc: BaseException) -> str:
    """The first line of ``exc``'s message, redacted (its type when it has none)."""
    lines = redact(str(exc)).strip().splitlines()
    return lines[0] if lines else type(exc).__name__
