"""Write the generated reference into the pages of ``docs/``.

    uv run python tools/gendocs.py            rewrite every stale generated block
    uv run python tools/gendocs.py --check    only list the stale pages (exit 1 if any)

The same text is rendered again while the site is built (tools/mkdocs_hooks.py); keeping
it in ``docs/`` too makes the reference readable in the repository, and shows a change
to a command, a spec or a connector as a diff of its documentation. tests/test_docs.py
fails when a page is stale. See :mod:`docgen.pages` for the markers.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from docgen import pages  # tools/ is sys.path[0] when this file is run

DOCS = Path(__file__).resolve().parents[1] / "docs"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tools/gendocs.py", description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="list stale pages, change nothing")
    args = parser.parse_args(argv)
    problems: list[str] = []
    renderer = pages.Renderer(problems.append)
    write = pages.stale_pages if args.check else pages.write_pages
    touched = write(DOCS, renderer)
    for problem in problems:
        print(f"gendocs: error: {problem}", file=sys.stderr)
    for page in touched:
        verb = "stale" if args.check else "updated"
        print(f"{verb}: {page.relative_to(DOCS.parent)}", flush=True)
    if problems:
        return 2
    if args.check and touched:
        print(f"refresh them with: {pages.REFRESH}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
