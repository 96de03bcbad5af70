"""One Headwater benchmark case, run in a fresh process: ``python -m benchmarks.case SPEC.json``.

(The peers' cases run the same way with their own Python: see :mod:`benchmarks.peers`.)

The harness (:mod:`benchmarks.harness`) writes a spec file and starts this module in
a new process per case and repeat, in a temporary working directory with its own
``DLT_DATA_DIR``, so that dlt state, DuckDB files and above all the peak RSS belong to
that case alone. The spec says::

    {"case": "headwater", "server": {<the line benchmarks.serve printed>},
     "options": {...}, "out": "/tmp/.../result.json"}

The result written to ``out`` holds ``seconds`` (wall time of extract + normalize +
load, from building the source to the end of the load; imports not included),
``cpu_seconds`` (CPU time of all the process's threads over the same span),
``records``, ``phases`` (dlt's own step times from the pipeline trace), ``peak_rss_mb``
(this process's ``VmHWM``) and case-specific ``extra`` values. Every loading case
counts the rows in DuckDB afterwards and fails when they differ from what the
simulator served.

The process exits as soon as its stdin closes, so it never outlives the harness.
"""

from __future__ import annotations

import json
import math
import os
import resource
import sys
import threading
import time
import traceback
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

__all__ = ["CASES", "PARALLEL_PAGES_SETTING", "main", "peak_rss_mb"]

#: The Headwater setting that turns on fetching pages concurrently, once it exists.
#: ``--parallel-pages N`` of the harness passes ``{PARALLEL_PAGES_SETTING: N}``.
PARALLEL_PAGES_SETTING = "parallel_pages"

#: Page size every client asks for (the directory connector's).
PAGE_SIZE = 100


class CorrectnessError(AssertionError):
    """The destination does not hold what the API served."""


# ------------------------------------------------------------------------ helpers


def peak_rss_mb() -> float:
    """This process's peak resident set size in MB (``VmHWM``, else ``ru_maxrss``)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (1024 * 1024) if sys.platform == "darwin" else rss / 1024


def _exit_when_stdin_closes() -> None:
    """Die with the harness: a watchdog thread exits the process on stdin EOF."""

    def watch() -> None:
        # os.read on the descriptor, not sys.stdin: a daemon thread blocked inside a
        # buffered reader makes the interpreter abort at shutdown.
        try:
            while os.read(0, 4096):
                pass
        except OSError:
            pass
        os._exit(3)

    threading.Thread(target=watch, name="stdin-watchdog", daemon=True).start()


def _phases(trace: Any) -> dict[str, float]:
    """Seconds per pipeline step (extract, normalize, load) from a dlt trace."""
    out: dict[str, float] = {}
    for step in getattr(trace, "steps", None) or ():
        if step.started_at is not None and step.finished_at is not None:
            seconds = (step.finished_at - step.started_at).total_seconds()
            out[step.step] = round(out.get(step.step, 0.0) + seconds, 3)
    return out


def _count_rows(database: Path, dataset: str, table: str) -> int:
    import duckdb

    with duckdb.connect(str(database), read_only=True) as conn:
        row = conn.execute(f'select count(*) from "{dataset}"."{table}"').fetchone()
    return int(row[0]) if row else 0


def _check(what: str, loaded: int, served: int) -> None:
    if loaded != served:
        raise CorrectnessError(
            f"CORRECTNESS: {what} holds {loaded} rows but the simulator served {served}"
        )


# -------------------------------------------------------------------------- cases


def _headwater_run(
    connector: str, settings: Mapping[str, Any], tables: Mapping[str, int]
) -> dict[str, Any]:
    """Load ``connector`` as ``headwater run`` does (:func:`headwater.run.run_connector`,
    DuckDB in the working directory) and check each table's row count."""
    import dlt
    import headwater.load.assemble  # noqa: F401  (imported before the clock starts, like dlt's)
    from headwater.run import default_names, run_connector

    work = Path.cwd()
    pipelines_dir = str(work / "pipelines")
    started, cpu = time.perf_counter(), time.process_time()
    result = run_connector(connector, settings, destination="duckdb", pipelines_dir=pipelines_dir)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    pipeline_name, dataset = default_names(connector)
    database = work / f"{pipeline_name}.duckdb"
    loaded: dict[str, int] = {}
    for table, served in tables.items():
        loaded[table] = _count_rows(database, dataset, table)
        _check(f"DuckDB table {dataset}.{table}", loaded[table], served)
    trace = dlt.attach(pipeline_name=pipeline_name, pipelines_dir=pipelines_dir).last_trace
    return {
        "seconds": seconds,
        "cpu_seconds": cpu,
        "records": sum(loaded.values()),
        "phases": _phases(trace),
        "extra": {
            "row_counts": loaded,
            "reported_row_counts": dict(result.row_counts),
            "file_format": _file_format(),
            "arrow_env": os.environ.get("HEADWATER_ARROW"),
        },
    }


def _file_format() -> str | None:
    """The load file format ``headwater run`` picks for DuckDB in this process."""
    from headwater.run import file_format_for

    return file_format_for("duckdb")


def case_headwater(server: Mapping[str, Any], options: Mapping[str, Any]) -> dict[str, Any]:
    """The installed ``directory`` connector, loaded as ``headwater run directory`` does."""
    served = server["served"]["directory_users"]
    return _headwater_run("directory", server["settings"], {"directory_users": served})


def case_headwater_link(server: Mapping[str, Any], options: Mapping[str, Any]) -> dict[str, Any]:
    """``bench_link``: the directory's records paged by the ``Link`` header."""
    from benchmarks.connectors import use_bench_plugin

    use_bench_plugin()
    return _headwater_run("bench_link", server["settings"], {"users": server["served"]["users"]})


def case_headwater_has_more(
    server: Mapping[str, Any], options: Mapping[str, Any]
) -> dict[str, Any]:
    """``bench_has_more``: the directory's records paged after the last id (``has_more``)."""
    from benchmarks.connectors import use_bench_plugin

    use_bench_plugin()
    return _headwater_run(
        "bench_has_more", server["settings"], {"users": server["served"]["users"]}
    )


def case_headwater_rows(server: Mapping[str, Any], options: Mapping[str, Any]) -> dict[str, Any]:
    """Like ``headwater`` with the Arrow fast path off (``HEADWATER_ARROW=0``): dict rows
    normalized by dlt, loaded from jsonl. Where Headwater has no fast path, the same run."""
    os.environ["HEADWATER_ARROW"] = "0"
    return case_headwater(server, options)


def case_headwater_warm(server: Mapping[str, Any], options: Mapping[str, Any]) -> dict[str, Any]:
    """Like ``headwater``, timed in a process that has already loaded the API once (into
    another folder and DuckDB file): a worker that runs pipelines one after another
    (an orchestrator's long-lived process, ``headwater.source()`` in an application).
    A fresh process's imports and the first use of dlt's machinery are then not in the
    span; the peak RSS is the process's, both runs included."""
    served = {"directory_users": server["served"]["directory_users"]}
    here = Path.cwd()
    first = here / "warm-up"
    first.mkdir()
    os.chdir(first)
    try:
        _headwater_run("directory", server["settings"], served)
    finally:
        os.chdir(here)
    return _headwater_run("directory", server["settings"], served)


def case_fanout(server: Mapping[str, Any], options: Mapping[str, Any]) -> dict[str, Any]:
    """``bench_fanout``: parents, then one slow request per parent, ``max_workers`` at once."""
    from headwater.settings import DEFAULT_MAX_WORKERS

    from benchmarks.connectors import use_bench_plugin

    use_bench_plugin()
    settings = dict(server["settings"])
    workers = options.get("max_workers") or DEFAULT_MAX_WORKERS
    if options.get("max_workers"):
        settings["max_workers"] = workers
    out = _headwater_run("bench_fanout", settings, server["served"])
    parents = server["served"]["users"]
    latency = float(options.get("latency", 0.0))
    ideal = math.ceil(parents / workers) * latency
    out["extra"].update({"max_workers": workers, "parents": parents, "ideal_seconds": ideal})
    return out


def case_parallel_pages(server: Mapping[str, Any], options: Mapping[str, Any]) -> dict[str, Any]:
    """``bench_pages``: offset pages with a known total, sequentially or (when Headwater
    has the setting and ``options["parallel_pages"]`` is set) concurrently."""
    from headwater.settings import settings_schema

    from benchmarks.connectors import BENCH_PAGES, use_bench_plugin

    use_bench_plugin()
    settings: dict[str, Any] = dict(server["settings"])
    available = PARALLEL_PAGES_SETTING in settings_schema(BENCH_PAGES)["properties"]
    wanted = options.get("parallel_pages")
    if wanted and not available:
        raise RuntimeError(f"Headwater has no {PARALLEL_PAGES_SETTING!r} setting")
    if wanted:
        prop = settings_schema(BENCH_PAGES)["properties"][PARALLEL_PAGES_SETTING]
        settings[PARALLEL_PAGES_SETTING] = True if prop.get("type") == "boolean" else wanted
    out = _headwater_run("bench_pages", settings, server["served"])
    out["extra"].update(
        {"parallel_pages": settings.get(PARALLEL_PAGES_SETTING), "setting_available": available}
    )
    return out


CASES: dict[str, Callable[[Mapping[str, Any], Mapping[str, Any]], dict[str, Any]]] = {
    "headwater": case_headwater,
    "headwater_link": case_headwater_link,
    "headwater_has_more": case_headwater_has_more,
    "headwater_rows": case_headwater_rows,
    "headwater_warm": case_headwater_warm,
    "fanout": case_fanout,
    "parallel_pages": case_parallel_pages,
}


def parallel_pages_available() -> bool:
    """Whether Headwater declares the :data:`PARALLEL_PAGES_SETTING` setting."""
    from headwater.settings import settings_schema

    from benchmarks.connectors import BENCH_PAGES

    return PARALLEL_PAGES_SETTING in settings_schema(BENCH_PAGES)["properties"]


def _describe(exc: BaseException) -> str:
    """One line: the exception and what caused it (innermost last)."""
    parts: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen and len(parts) < 4:
        seen.add(id(current))
        lines = str(current).strip().splitlines()
        parts.append(f"{type(current).__name__}: {lines[-1] if lines else ''}".strip())
        current = current.__cause__ or current.__context__
    return " <- ".join(parts)[:800]


def main(argv: list[str] | None = None) -> int:
    """Run the case a spec file names; write its result (or its error) to ``out``."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m benchmarks.case SPEC.json", file=sys.stderr)
        return 2
    spec = json.loads(Path(args[0]).read_text())
    _exit_when_stdin_closes()
    out = Path(spec["out"])
    started = time.perf_counter()
    try:
        result = CASES[spec["case"]](spec["server"], spec.get("options", {}))
    except Exception as exc:
        traceback.print_exc()
        payload = {
            "case": spec["case"],
            "ok": False,
            "error": _describe(exc),
            "correctness": isinstance(exc, CorrectnessError),
        }
        out.write_text(json.dumps(payload))
        return 1
    records = result["records"]
    seconds = result["seconds"]
    result.update(
        {
            "case": spec["case"],
            "ok": True,
            "records_per_s": records / seconds if seconds > 0 else None,
            "peak_rss_mb": round(peak_rss_mb(), 1),
            "process_seconds": round(time.perf_counter() - started, 3),
        }
    )
    out.write_text(json.dumps(result, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
