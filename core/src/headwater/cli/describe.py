"""`headwater describe NAME`: everything a connector declares.

The work: :mod:`headwater.run.describe`.
"""

from __future__ import annotations

import argparse
from typing import Any

from headwater.cli.common import (
    EXIT_OK,
)


def register(sub: Any) -> None:
    """Add the command and its arguments to the subparsers ``sub``."""
    p = sub.add_parser(
        "describe",
        help="show everything a connector declares",
        description="Show a connector's auth, settings (with env var names), resources, "
        "pagination, schema columns, retry policy and response rules.",
        epilog="example:\n  headwater describe directory",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("name", help="connector name")
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    # start-up: `--help` and `list` import this module; the work loads on use
    from headwater.run.describe import describe_connector

    print(describe_connector(args.name), end="")
    return EXIT_OK
