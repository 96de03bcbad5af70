"""``headwater demo``: every installed connector against its simulated API, into DuckDB.

Needs no credentials and no network beyond 127.0.0.1: each connector's API is served
by a :class:`~headwater.testing.Simulator` built from the connector's own specs, and the
connector loads it through the same code path as a real run.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from attrs import frozen

from headwater.cli.common import EXIT_OK, add_progress, print_table
from headwater.errors import ConfigError

__all__ = ["DEFAULT_OUTPUT", "DemoResult", "run_demo"]

DEFAULT_OUTPUT = "headwater_demo.duckdb"


@frozen
class DemoResult:
    """What the demo loaded: ``(dataset, table, rows)`` per table, and the file."""

    database: Path
    tables: list[tuple[str, str, int]]
    seconds: float


def run_demo(
    names: Sequence[str] = (),
    *,
    output: str = DEFAULT_OUTPUT,
    records: int | None = None,
    echo: Callable[[str], None] = print,
    progress: Any = None,
) -> DemoResult:
    """Serve and load each connector (all installed ones when ``names`` is empty).

    Each connector lands in its own dataset (named after it) of one DuckDB file.
    ``progress``: a dlt collector (see :func:`headwater.run.progress.make_progress`).
    """
    # start-up: `--help` and `list` import this module; the work loads on use
    from headwater.run.destinations import check_destination

    check_destination("duckdb")

    from headwater.plugin.manager import get_registry
    from headwater.run.workdir import apply_duckdb_defaults, held_lock

    registry = get_registry()
    connectors = [registry.get(n) for n in names] if names else registry.connectors()
    if not connectors:
        raise ConfigError(
            "no connectors are installed; install one, e.g. `pip install ./connectors/directory`"
        )
    database = Path(output).resolve()
    if database.stem in {c.name for c in connectors}:
        raise ConfigError(
            f"--output {output}: the file may not be named like a connector's dataset; "
            "choose another name"
        )
    apply_duckdb_defaults()
    # Each demo's pipelines live in a folder of their own, but two demos into one file
    # would drop and load each other's tables: the second is refused.
    refusal = (
        f"another headwater demo is loading into {database}; wait for it to finish, "
        "or give this one another --output"
    )
    with held_lock(_demo_lock(database), refusal):
        return _run_demo(connectors, database, records, echo, progress)


def _demo_lock(database: Path) -> Path:
    """The lock of demos into ``database``: in dlt's pipelines directory (not a stray
    file beside the user's database), named after the database's path."""
    import hashlib

    from dlt.common.pipeline import get_dlt_pipelines_dir

    digest = hashlib.sha256(str(database).encode()).hexdigest()[:16]
    return Path(get_dlt_pipelines_dir()) / f"headwater_demo_{digest}.lock"


def _run_demo(
    connectors: Sequence[Any],
    database: Path,
    records: int | None,
    echo: Callable[[str], None],
    progress: Any,
) -> DemoResult:
    """:func:`run_demo` under the lock of its DuckDB file."""
    import dlt
    import duckdb

    # imports dlt: only once the demo runs
    from headwater.load.assemble import build_source
    from headwater.run.workdir import file_format_for
    from headwater.testing import Simulator

    pipelines_dir = tempfile.mkdtemp(prefix="headwater-demo-")
    started = time.monotonic()
    try:
        for connector in connectors:
            counts = None
            if records is not None:
                counts = {r.name: records for r in connector.resources if r.parent is None}
            with Simulator(connector, counts) as sim:
                echo(f"{connector.name}: simulated API at {sim.base_url}; loading ...")
                t0 = time.monotonic()
                source = build_source(connector.name, sim.settings)
                pipeline = dlt.pipeline(
                    pipeline_name=f"headwater_demo_{connector.name}",
                    destination=dlt.destinations.duckdb(str(database)),
                    dataset_name=connector.name,
                    pipelines_dir=pipelines_dir,
                    **({"progress": progress} if progress is not None else {}),
                )
                pipeline.run(source, loader_file_format=file_format_for("duckdb"))
                trace = pipeline.last_trace
                rows = (
                    sum(
                        n
                        for t, n in trace.last_normalize_info.row_counts.items()
                        if not t.startswith("_dlt")
                    )
                    if trace and trace.last_normalize_info
                    else 0
                )
                echo(
                    f"{connector.name}: {rows} rows in {time.monotonic() - t0:.1f} s "
                    f"({len(sim.requests)} requests served)"
                )
    finally:
        shutil.rmtree(pipelines_dir, ignore_errors=True)
    tables: list[tuple[str, str, int]] = []
    with duckdb.connect(str(database), read_only=True) as con:
        listed = con.sql(
            "select table_schema, table_name from information_schema.tables "
            "where table_name not like '\\_dlt%' escape '\\' order by 1, 2"
        ).fetchall()
        for schema, table in listed:
            if schema not in {c.name for c in connectors}:
                continue
            (n,) = con.sql(f'select count(*) from "{schema}"."{table}"').fetchall()[0]
            tables.append((schema, table, n))
    return DemoResult(database=database, tables=tables, seconds=time.monotonic() - started)


def register(sub: Any) -> None:
    """Add the command and its arguments to the subparsers ``sub``."""
    p = sub.add_parser(
        "demo",
        help="run connectors against their simulated APIs into DuckDB",
        description="Start the API simulator for every installed connector (or those named), "
        "load each into one local DuckDB file, and show what was loaded. "
        "Needs no credentials and no network beyond 127.0.0.1.",
        epilog="examples:\n  headwater demo\n  headwater demo directory --records 5000",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("names", nargs="*", metavar="NAME", help="connectors (default: all installed)")
    p.add_argument(
        "--output", default="headwater_demo.duckdb", help="DuckDB file (default: %(default)s)"
    )
    p.add_argument("--records", type=int, help="records per top-level resource")
    add_progress(p)
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    # start-up: `--help` and `list` import this module; the work loads on use
    from headwater.run.progress import make_progress

    result = run_demo(
        args.names,
        output=args.output,
        records=args.records,
        progress=make_progress(args.progress),
    )
    print(f"\nloaded into {result.database} in {result.seconds:.1f} s:")
    print_table(
        [(f"{dataset}.{table}", rows) for dataset, table, rows in result.tables],
        ("table", "rows"),
    )
    if result.tables:
        # start-up: `--help` and `list` import this module; the work loads on use
        from headwater.run.query import query_hint

        dataset, table, _ = result.tables[0]
        print(f"\nquery it: {query_hint(dataset, dataset, table, file=str(result.database))}")
    return EXIT_OK
