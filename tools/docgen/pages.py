"""Generated blocks of the Markdown pages: what the mkdocs hooks expand while the site is
built, and what ``tools/gendocs.py`` writes into ``docs/`` so that the generated reference
is readable in the repository too (on GitHub, in an editor, in a diff).

A block is a marker on a line of its own, the generated text, and an end marker::

    <!-- generated: cli run -->

    ...generated Markdown...

    <!-- end generated -->

A marker without an end marker (a page being written) expands too. Markers:

  ``<!-- generated: connector NAME -->``   the connector's reference (docgen.connectors)
  ``<!-- generated: connectors -->``       a table of every installed connector
  ``<!-- generated: cli-overview -->``     top-level usage, global options, commands
  ``<!-- generated: cli COMMAND -->``      one command's reference
  ``<!-- generated: cli -->``              "Other commands": those without a marker of their own
  ``<!-- generated: specs -->``            the spec classes (docgen.specs)
  ``<!-- generated: api MODULE.NAME -->``  an object's signature and docstring (docgen.api)
  ``<!-- generated: modules PACKAGE -->``  a package's modules, each with its docstring
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import api, cli, connectors, specs

__all__ = [
    "END",
    "MARKER",
    "REFRESH",
    "Renderer",
    "expand",
    "has_markers",
    "stale_pages",
    "write_pages",
]

MARKER = re.compile(r"^<!-- generated: ([\w-]+)(?: ([\w.]+))? -->$")
END = "<!-- end generated -->"
#: The command that rewrites the generated blocks of ``docs/`` (quoted in error messages).
REFRESH = "uv run python tools/gendocs.py"

#: ``warn(message)``: how a renderer reports a marker it cannot expand.
Warn = Callable[[str], None]


class Renderer:
    """Renders the markers against the installed code; ``warn`` receives what cannot be."""

    def __init__(self, warn: Warn, registry: Any = None) -> None:
        self.warn = warn
        self._registry = registry

    def registry(self) -> Any:
        if self._registry is None:
            self._registry = connectors.load_registry()
        return self._registry

    def render(self, kind: str, arg: str | None, page_path: str, on_page: set[str]) -> str:
        if kind == "connector" and arg:
            names = {c.name for c in self.registry().connectors()}
            if arg not in names:
                self.warn(
                    f"{page_path}: connector {arg!r} is not installed, so its reference "
                    f"cannot be generated (installed: {', '.join(sorted(names))})"
                )
                return ""
            return connectors.render_connector(self.registry(), arg)
        if kind == "connectors" and not arg:
            return connectors.render_index(self.registry())
        if kind == "cli-overview" and not arg:
            return cli.render_overview()
        if kind == "cli" and arg:
            if arg not in cli.commands():
                self.warn(f"{page_path}: `headwater {arg}` is not a command")
                return ""
            return cli.render_command(arg, level=3)
        if kind == "cli" and not arg:
            rest = [name for name in cli.commands() if name not in on_page]
            if not rest:
                return ""
            return "## Other commands\n\n" + "\n".join(
                cli.render_command(name, level=3) for name in rest
            )
        if kind == "specs" and not arg:
            return specs.render_specs()
        if kind == "modules" and arg:
            return api.render_modules(arg)
        if kind == "api" and arg:
            try:
                return api.render_object(arg)
            except (ImportError, AttributeError) as exc:
                self.warn(f"{page_path}: cannot document {arg}: {exc}")
                return ""
        self.warn(f"{page_path}: unknown marker <!-- generated: {kind} {arg or ''} -->")
        return ""


def has_markers(markdown: str) -> bool:
    return any(MARKER.match(line) for line in markdown.splitlines())


def expand(markdown: str, renderer: Renderer, page_path: str, *, keep_markers: bool) -> str:
    """``markdown`` with each generated block (or lone marker) replaced by fresh text.

    ``keep_markers``: keep the markers around the text (what ``docs/`` holds), else only
    the text (what the site shows).
    """
    lines = markdown.split("\n")
    found = [MARKER.match(line) for line in lines]
    on_page = {m.group(2) for m in found if m and m.group(1) == "cli" and m.group(2)}
    out: list[str] = []
    i = 0
    while i < len(lines):
        m = found[i]
        if m is None:
            out.append(lines[i])
            i += 1
            continue
        # The block's old text runs to its end marker, unless another marker (or the
        # page's end) comes first: then this marker stands alone.
        end = next(
            (j for j in range(i + 1, len(lines)) if lines[j] == END or found[j] is not None),
            None,
        )
        text = renderer.render(m.group(1), m.group(2), page_path, on_page).strip("\n")
        if keep_markers:
            out.extend([lines[i], "", *([text, ""] if text else []), END])
        else:
            out.append(text)
        i = end + 1 if end is not None and lines[end] == END else i + 1
    return "\n".join(out)


def _pages(docs: Path) -> list[Path]:
    return sorted(p for p in docs.rglob("*.md") if has_markers(p.read_text()))


def _regenerated(docs: Path, renderer: Renderer) -> dict[Path, tuple[str, str]]:
    """``{page: (text on disk, text regenerated)}`` for every page with markers."""
    pages = {}
    for page in _pages(docs):
        old = page.read_text()
        path = page.relative_to(docs).as_posix()
        pages[page] = (old, expand(old, renderer, path, keep_markers=True))
    return pages


def stale_pages(docs: Path, renderer: Renderer) -> list[Path]:
    """The pages of ``docs`` whose generated blocks differ from what the code generates."""
    return [p for p, (old, new) in _regenerated(docs, renderer).items() if old != new]


def write_pages(docs: Path, renderer: Renderer) -> list[Path]:
    """Rewrite the generated blocks of the pages of ``docs``; the pages that changed."""
    changed = []
    for page, (old, new) in _regenerated(docs, renderer).items():
        if old != new:
            page.write_text(new)
            changed.append(page)
    return changed
