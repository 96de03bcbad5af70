"""`headwater record NAME --to DIR`: the connector's real traffic, scrubbed, as cassettes.

The work: :mod:`headwater.run.record`.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from headwater import redact
from headwater.cli.common import EXIT_FAILED, EXIT_OK, error_prefix, print_table, settings_from_args


def register(sub: Any) -> None:
    """Add the command and its arguments to the subparsers ``sub``."""
    p = sub.add_parser(
        "record",
        help="record the API's answers as scrubbed cassettes for offline replays",
        description="Run a connector against its API (loading nothing) and write every "
        "request and response, secrets replaced by placeholders before anything is "
        "written, as vcrpy cassettes in DIR. Replay them with `headwater run NAME "
        "--replay DIR`.",
        epilog="examples:\n  headwater record directory --pages 2 --to tests/cassettes/directory\n"
        "  headwater record hr --resource employees --mask email --to recordings/hr",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("name", help="connector name")
    p.add_argument("--to", required=True, metavar="DIR", help="folder for the cassettes")
    p.add_argument(
        "--resource",
        action="append",
        dest="resources",
        metavar="R",
        help="record only this resource (repeatable)",
    )
    p.add_argument(
        "--pages", type=int, metavar="N", help="at most N pages per resource (default: all)"
    )
    p.add_argument(
        "--mask",
        action="append",
        default=[],
        metavar="FIELD",
        help="a record field holding personal data: its values are masked (repeatable)",
    )
    p.add_argument("--base-url", help="the API's base URL (overrides settings)")
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    # start-up: `--help` and `list` import this module; the work loads on use
    from headwater.run.record import record_connector

    result = record_connector(
        args.name,
        settings_from_args(args),
        to=args.to,
        resources=args.resources,
        pages=args.pages,
        mask=args.mask,
    )
    if result.kept:
        print(
            f"{error_prefix()} {redact.redact(result.failure)}; nothing was recorded: the "
            f"earlier recording in {result.directory} is kept as it was",
            file=sys.stderr,
        )
        return EXIT_FAILED
    print(f"recorded {args.name} into {result.directory} (secrets replaced by placeholders)")
    print_table(sorted(result.cassettes.items()), ("cassette", "requests"))
    if result.failure:
        print(f"{error_prefix()} {redact.redact(result.failure)}", file=sys.stderr)
        return EXIT_FAILED
    print(f"replay: headwater run {args.name} --replay {result.directory}")
    return EXIT_OK
