"""mkdocs hooks (``hooks:`` in mkdocs.yml): generated reference pages.

* Every installed connector gets a page ``connectors/<name>.md``, listed under the
  "Connectors" section of the nav: the hand-written page in ``docs/connectors/`` when
  there is one, a generated one otherwise.
* The generated blocks of a page (``<!-- generated: KIND ARG -->`` ... ``<!-- end
  generated -->``, see :mod:`docgen.pages`) are rendered again from the installed code
  while the site is built. ``docs/`` holds the same text, written by
  ``uv run python tools/gendocs.py``; tests/test_docs.py fails when it is stale.

An unknown marker, or a page for a connector that is not installed, is a warning, so
``mkdocs build --strict`` fails rather than publish a stale page.
"""

from __future__ import annotations

from typing import Any

from docgen import connectors, pages  # tools/ is on sys.path while mkdocs loads this
from mkdocs.plugins import get_plugin_logger
from mkdocs.structure.files import File, Files

log = get_plugin_logger("headwater-docs")

NAV_SECTION = "Connectors"

_registry: Any = None


def registry() -> Any:
    global _registry
    if _registry is None:
        _registry = connectors.load_registry()
    return _registry


def on_config(config: Any) -> Any:
    """Add every installed connector's page to the nav's "Connectors" section."""
    global _registry
    _registry = None  # `mkdocs serve` rebuilds: see newly installed connectors
    for item in config.nav or ():
        if isinstance(item, dict) and NAV_SECTION in item:
            entries = item[NAV_SECTION]
            listed = {e if isinstance(e, str) else next(iter(e.values())) for e in entries}
            for c in registry().connectors():
                path = f"connectors/{c.name}.md"
                if path not in listed:
                    entries.append({c.name: path})
            break
    else:
        log.warning(f"mkdocs.yml: the nav has no {NAV_SECTION!r} section for connector pages")
    return config


def on_files(files: Files, config: Any) -> Files:
    """A generated page for each installed connector without a hand-written one."""
    for c in registry().connectors():
        path = f"connectors/{c.name}.md"
        if files.get_file_from_path(path) is None:
            files.append(File.generated(config, path, content=connectors.stub_page(c)))
    return files


def on_page_markdown(markdown: str, page: Any, config: Any, files: Files) -> str:
    """Replace the generated blocks (and lone markers) of a page with fresh text."""
    if not pages.has_markers(markdown):
        return markdown
    renderer = pages.Renderer(log.warning, registry())
    return pages.expand(markdown, renderer, page.file.src_uri, keep_markers=False)
