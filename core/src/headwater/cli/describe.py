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
        description="Show a connector's auth (where its credentials go), settings "
        "(required, secret, defaults, env var names), resources (method, path, params, "
        "headers, body), pagination, schema columns, retry policy and response rules. "
        "Read from the declaration: no request is sent and no secret is read; an auth or "
        "paginator a plugin's own hook provides is shown as custom (plugin NAME).",
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
