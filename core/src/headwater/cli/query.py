"""`headwater query NAME SQL`: what `run` loaded into DuckDB, read-only.

The work: :mod:`headwater.run.query`.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from headwater.cli.common import (
    EXIT_OK,
    print_table,
)


def register(sub: Any) -> None:
    """Add the command and its arguments to the subparsers ``sub``."""
    p = sub.add_parser(
        "query",
        help="query what `run` loaded into DuckDB, read-only",
        description="Run SQL on the DuckDB file `headwater run NAME` loads into from this "
        "folder (./headwater_<name>.duckdb, or the file DESTINATION__DUCKDB__CREDENTIALS "
        "names), opened read-only, and print the result as a table. Unqualified table "
        "names are looked up in the dataset. Needs no DuckDB command line.",
        epilog="examples:\n"
        '  headwater query directory "SELECT count(*) FROM directory_users"\n'
        '  headwater query hr "SELECT * FROM hr_data.employees LIMIT 10"\n'
        "  headwater query directory --file headwater_demo.duckdb "
        '"SELECT * FROM directory.directory_users LIMIT 5"',
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("name", help="connector name")
    p.add_argument("sql", metavar="SQL", help="the query (DuckDB SQL)")
    p.add_argument(
        "--destination", default="duckdb", help="the run's destination (only duckdb is read)"
    )
    p.add_argument("--dataset-name", help="dataset (schema) name (default: <connector>_data)")
    p.add_argument("--pipeline-name", help="dlt pipeline name (default: headwater_<connector>)")
    p.add_argument("--file", help="the DuckDB file (default: the one `run` loads into)")
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    # start-up: `--help` and `list` import this module; the work loads on use
    from headwater.run.query import MAX_ROWS, format_rows, run_query

    result = run_query(
        args.name,
        args.sql,
        pipeline_name=args.pipeline_name,
        dataset_name=args.dataset_name,
        destination=args.destination,
        file=args.file,
    )
    if result.columns:
        print_table(format_rows(result.rows), result.columns)
        print(f"({len(result.rows)} row{'' if len(result.rows) == 1 else 's'})")
    if result.truncated:
        print(f"showing the first {MAX_ROWS} rows: add a LIMIT to see others", file=sys.stderr)
    return EXIT_OK
