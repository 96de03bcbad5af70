"""`headwater run NAME`: load a connector into a destination.

The work: :mod:`headwater.run.pipeline`.
"""

from __future__ import annotations

import argparse
import functools
import sys
import time
from typing import Any

from headwater import redact
from headwater.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    add_progress,
    error_prefix,
    print_table,
    settings_from_args,
)
from headwater.term import BOLD, YELLOW, style


def register(sub: Any) -> None:
    """Add the command and its arguments to the subparsers ``sub``."""
    p = sub.add_parser(
        "run",
        help="load a connector into a destination",
        description="Extract every (or the chosen) resource of a connector and load it.",
        epilog="examples:\n  headwater run directory\n"
        "  headwater run directory --resource directory_users --destination duckdb\n"
        "  headwater run directory --full-refresh --dataset-name users_raw\n"
        "  headwater run analytics_events --start 2024-01-01 --end 2024-02-01\n"
        "  headwater run directory --replay tests/cassettes/directory",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("name", help="connector name")
    p.add_argument(
        "--resource",
        action="append",
        dest="resources",
        metavar="R",
        help="load only this resource (repeatable)",
    )
    p.add_argument("--destination", default="duckdb", help="dlt destination (default: duckdb)")
    p.add_argument("--dataset-name", help="dataset (schema) name (default: <connector>_data)")
    p.add_argument("--pipeline-name", help="dlt pipeline name (default: headwater_<connector>)")
    p.add_argument("--base-url", help="the API's base URL (overrides settings)")
    p.add_argument(
        "--full-refresh",
        action="store_true",
        help="drop the connector's tables and state first, then load everything",
    )
    p.add_argument(
        "--all-or-nothing",
        action="store_true",
        help="load nothing if any resource fails (default: load the resources that "
        "succeeded, report the ones that failed, exit 1)",
    )
    p.add_argument(
        "--start",
        metavar="DATE",
        help="backfill incremental resources from DATE (ISO 8601, e.g. 2024-01-01); the "
        "normal run's position is left where it was",
    )
    p.add_argument(
        "--end",
        metavar="DATE",
        help="end of the backfill, exclusive (default: now); needs --start",
    )
    p.add_argument(
        "--replay",
        metavar="DIR",
        help="run offline against a recording (headwater record NAME --to DIR): no "
        "network, no credentials",
    )
    add_progress(p)
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    # start-up: `--help` and `list` import this module; the work loads on use
    from headwater.run.pipeline import run_connector
    from headwater.run.progress import make_progress

    started = time.monotonic()
    run = functools.partial(_replayed, run_connector, args.replay) if args.replay else run_connector
    result = run(
        args.name,
        settings_from_args(args),
        resources=args.resources,
        destination=args.destination,
        dataset_name=args.dataset_name,
        pipeline_name=args.pipeline_name,
        full_refresh=args.full_refresh,
        all_or_nothing=args.all_or_nothing,
        progress=make_progress(args.progress),
        start=args.start,
        end=args.end,
    )
    elapsed = time.monotonic() - started
    rows = sorted(result.row_counts.items())
    summary = (
        f"loaded {args.name} into {result.destination} dataset {result.dataset_name} "
        f"in {elapsed:.1f} s"
    )
    print(style(summary, BOLD, stream=sys.stdout))
    if rows:
        print_table(rows, ("table", "rows"))
    else:
        print("no new rows")
    if result.location:
        print(f"data: {result.location}")
    if result.hint:
        print(f"look: {result.hint}")
    for warning in result.warnings:
        prefix = style("headwater: warning:", YELLOW, BOLD, stream=sys.stderr)
        print(f"{prefix} {redact.redact(warning)}", file=sys.stderr)
    for failure in result.failures:
        print(f"{error_prefix()} {redact.redact(failure)}", file=sys.stderr)
    return EXIT_FAILED if result.failures else EXIT_OK


def _replayed(run_connector: Any, directory: str, name: str, settings: Any, **options: Any) -> Any:
    """``run_connector`` offline, served by the recording in ``directory`` (the
    resources it recorded, unless ``--resource`` names others), its incremental reads
    ending where the recorded run's did."""
    from headwater.run.replay import load_manifest, recorded_end, recorded_resources, replay

    if options.get("resources") is None:
        options["resources"] = recorded_resources(name, load_manifest(directory, name))
    options["now"] = recorded_end(directory, name)
    with replay(name, directory, settings) as replay_settings:
        return run_connector(name, replay_settings, **options)
