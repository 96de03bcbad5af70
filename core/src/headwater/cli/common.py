"""What the commands share: exit codes, the argument parser class, tables, errors."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from headwater.term import BOLD, RED, style

__all__ = [
    "EXIT_FAILED",
    "EXIT_OK",
    "EXIT_USAGE",
    "Parser",
    "add_progress",
    "error_prefix",
    "print_table",
    "settings_from_args",
]

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class Parser(argparse.ArgumentParser):
    """argparse with the contract's exit code 2 and a one-line error."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USAGE, f"headwater: error: {message} (see `{self.prog} --help`)\n")


def add_progress(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--progress",
        choices=("auto", "bar", "log", "off"),
        default="auto",
        help="progress on stderr: a live line on a terminal (bar), timestamped lines "
        "otherwise (log), or none (default: auto)",
    )


def print_table(rows: Sequence[Sequence[Any]], header: Sequence[str]) -> None:
    cells = [list(map(str, header))] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    for n, row in enumerate(cells):
        line = "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
        print(style(line, BOLD, stream=sys.stdout) if n == 0 else line)
        if n == 0:
            print("  ".join("-" * w for w in widths))


def settings_from_args(args: argparse.Namespace) -> dict[str, Any]:
    return {"base_url": args.base_url} if getattr(args, "base_url", None) else {}


def error_prefix() -> str:
    return style("headwater: error:", RED, BOLD, stream=sys.stderr)
