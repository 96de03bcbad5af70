"""`headwater new NAME`: scaffold a connector distribution (the work: :mod:`headwater.scaffold`)."""

from __future__ import annotations

import argparse
from typing import Any


def register(sub: Any) -> None:
    """Add the command and its arguments to the subparsers ``sub``."""
    p = sub.add_parser(
        "new",
        help="scaffold a new connector distribution",
        description="Create a connector distribution for a new API: pyproject with the "
        "entry point, the hooks module, a JSON Schema, a settings schema, tests that run the "
        "conformance suite, and a README. It installs and its tests pass as generated.",
        epilog="examples:\n  headwater new acme\n  headwater new acme --directory ~/src\n"
        '  cd headwater-acme && pip install -e ".[duckdb,test]" && pytest',
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("name", help="connector name: lower case letters, digits and _")
    p.add_argument(
        "--directory",
        default=".",
        help="where to create headwater-NAME/ (default: the current directory)",
    )
    p.add_argument(
        "--force", action="store_true", help="write into headwater-NAME/ even if it exists"
    )
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    # start-up: `--help` and `list` import this module; the work loads on use
    from headwater.scaffold import cmd_new as scaffold

    return scaffold(args)
