"""`headwater plugins`: the registered plugins and the hooks each implements."""

from __future__ import annotations

import argparse
from typing import Any

from headwater.cli.common import (
    EXIT_OK,
    print_table,
)


def register(sub: Any) -> None:
    """Add the command and its arguments to the subparsers ``sub``."""
    p = sub.add_parser(
        "plugins",
        help="list plugins and the hooks each implements",
        description="List registered plugins, their distribution and implemented hooks.",
        epilog="examples:\n  headwater plugins\n"
        "  HEADWATER_DISABLE_PLUGINS=my_plugin headwater plugins   # without one plugin",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    # start-up: `--help` and `list` import this module; the work loads on use
    from headwater.plugin.manager import describe_plugins, get_plugin_manager

    rows = [
        (p["name"], f"{p['distribution']} {p['version']}".strip(), ", ".join(p["hooks"]))
        for p in describe_plugins(get_plugin_manager())
    ]
    print_table(rows, ("plugin", "distribution", "hooks"))
    return EXIT_OK
