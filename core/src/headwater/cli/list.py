"""`headwater list`: the installed connectors, their distribution, version and resources."""

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
        "list",
        help="list installed connectors",
        description="List installed connectors, their distribution and version, and resources.",
        epilog="examples:\n  headwater list\n"
        "  pip install headwater-hr && headwater list     # hr appears",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    # start-up: the registry loads the plugins, which `--help` does not need
    from headwater.plugin.manager import get_registry

    registry = get_registry()
    rows = []
    for connector in registry.connectors():
        dist = registry.plugin_distribution(registry.owner(connector.name))
        rows.append(
            (
                connector.name,
                dist[0] if dist else f"(plugin {registry.owner(connector.name)})",
                dist[1] if dist else "",
                ", ".join(connector.resource_names),
            )
        )
    if not rows:
        print("no connectors installed; install one, e.g. `pip install ./connectors/directory`")
        return EXIT_OK
    print_table(rows, ("connector", "distribution", "version", "resources"))
    return EXIT_OK
