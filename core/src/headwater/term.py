"""Terminal output: colors only where a person reads them.

Colors are used when the stream is a terminal, ``NO_COLOR`` is unset (https://no-color.org)
and ``TERM`` is not ``dumb``; ``FORCE_COLOR`` turns them on anyway (CI logs that render
ANSI). Pipes, files and CI logs otherwise get plain text.
"""

from __future__ import annotations

import os
from typing import TextIO

__all__ = ["BOLD", "DIM", "GREEN", "RED", "YELLOW", "color_enabled", "is_terminal", "style"]

BOLD, DIM, RED, GREEN, YELLOW = "1", "2", "31", "32", "33"


def is_terminal(stream: TextIO) -> bool:
    """Whether ``stream`` is an interactive terminal (not a pipe, file or dumb terminal)."""
    try:
        return stream.isatty() and os.environ.get("TERM", "") != "dumb"
    except (AttributeError, ValueError):  # closed or not a real stream
        return False


def color_enabled(stream: TextIO) -> bool:
    """Whether to color text written to ``stream``."""
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    return is_terminal(stream)


def style(text: str, *codes: str, stream: TextIO) -> str:
    """``text`` wrapped in the ANSI ``codes`` when ``stream`` gets colors, else as is."""
    if not codes or not color_enabled(stream):
        return text
    return f"\x1b[{';'.join(codes)}m{text}\x1b[0m"
