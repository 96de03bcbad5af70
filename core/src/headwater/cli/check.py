"""`headwater check NAME`: settings, a token and one page per resource, nothing loaded;
the schema drift of those pages.

The work: :mod:`headwater.run.check`.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from headwater.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    settings_from_args,
)
from headwater.term import GREEN, RED, YELLOW, style


def register(sub: Any) -> None:
    """Add the command and its arguments to the subparsers ``sub``."""
    p = sub.add_parser(
        "check",
        help="check settings and fetch one page of each resource, loading nothing",
        description="Resolve and validate settings, obtain a token, fetch the first page of "
        "each resource (of an incremental resource: the first range a run from a fresh "
        "pipeline reads, its start and end parameters sent) and report per resource, "
        "with its schema drift: declared fields "
        "never seen, fields seen but not declared, and type disagreements, with counts. "
        "Nothing is loaded.",
        epilog="examples:\n  headwater check directory --base-url http://127.0.0.1:8080\n"
        "  headwater check directory --replay tests/cassettes/directory",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("name", help="connector name")
    p.add_argument("--base-url", help="the API's base URL (overrides settings)")
    p.add_argument("--replay", metavar="DIR", help="check against a recording instead of the API")
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    # start-up: `--help` and `list` import this module; the work loads on use
    from headwater.run.check import NOT_CHECKED, check_connector

    drift: list[str] = []
    settings = settings_from_args(args)
    if args.replay:
        from headwater.run.replay import load_manifest, recorded_end, recorded_resources, replay

        recorded = recorded_resources(args.name, load_manifest(args.replay, args.name))
        # the first request of an incremental resource ends where the recorded run's did
        end = recorded_end(args.replay, args.name)
        with replay(args.name, args.replay, settings) as replayed:
            results = check_connector(args.name, replayed, drift=drift, end=end)
        if recorded is not None:  # a recording of some resources checks those
            results = [r for r in results if r[0] in recorded]
    else:
        results = check_connector(args.name, settings, drift=drift)
    failed = False
    for name, ok, detail in results:
        if ok and detail.startswith(NOT_CHECKED):  # a child: one request per parent
            mark = style("skip", YELLOW, stream=sys.stdout)
        else:
            mark = (
                style("ok  ", GREEN, stream=sys.stdout)
                if ok
                else style("FAIL", RED, stream=sys.stdout)
            )
        print(f"{mark}  {name}: {detail}")
        failed |= not ok
    for line in drift:
        print(f"{style('drift', YELLOW, stream=sys.stdout)}  {line}")
    return EXIT_FAILED if failed else EXIT_OK
