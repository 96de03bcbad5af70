"""mkdocs hooks (``hooks:`` in mkdocs.yml): generated reference pages.

* Every installed connector gets a page ``connectors/<name>.md``, listed under the
  "Connectors" section of the nav: the hand-written page in ``docs/connectors/`` when
  there is one, a generated one otherwise.
* Markers on a line of their own are replaced while the site is built:

  ``<!-- generated: connector NAME -->``   the connector's reference (docgen.connectors)
  ``<!-- generated: connectors -->``       a table of every installed connector
  ``<!-- generated: cli-overview -->``     top-level usage, global options, commands
  ``<!-- generated: cli COMMAND -->``      one command's reference
  ``<!-- generated: cli -->``              "Other commands": those without a marker of their own
  ``<!-- generated: specs -->``            the spec classes (docgen.specs)
  ``<!-- generated: api MODULE.NAME -->``  an object's signature and docstring (docgen.api)
  ``<!-- generated: modules PACKAGE -->``  a package's modules, each with its docstring

An unknown marker, or a page for a connector that is not installed, is a warning, so
``mkdocs build --strict`` fails rather than publish a stale page.
"""

from __future__ import annotations

import re
from typing import Any

from docgen import api, cli, connectors, specs  # tools/ is on sys.path while mkdocs loads this
from mkdocs.plugins import get_plugin_logger
from mkdocs.structure.files import File, Files

log = get_plugin_logger("headwater-docs")

MARKER = re.compile(r"^<!-- generated: ([\w-]+)(?: ([\w.]+))? -->$", re.M)
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


def _expand(kind: str, arg: str | None, page_path: str, on_page: set[str]) -> str:
    if kind == "connector" and arg:
        names = {c.name for c in registry().connectors()}
        if arg not in names:
            log.warning(
                f"{page_path}: connector {arg!r} is not installed, so its reference cannot "
                f"be generated (installed: {', '.join(sorted(names))})"
            )
            return ""
        return connectors.render_connector(registry(), arg)
    if kind == "connectors" and not arg:
        return connectors.render_index(registry())
    if kind == "cli-overview" and not arg:
        return cli.render_overview()
    if kind == "cli" and arg:
        if arg not in cli.commands():
            log.warning(f"{page_path}: `headwater {arg}` is not a command")
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
            log.warning(f"{page_path}: cannot document {arg}: {exc}")
            return ""
    log.warning(f"{page_path}: unknown marker <!-- generated: {kind} {arg or ''} -->")
    return ""


def on_page_markdown(markdown: str, page: Any, config: Any, files: Files) -> str:
    """Replace the markers on a page with generated Markdown."""
    found = MARKER.findall(markdown)
    on_page = {arg for kind, arg in found if kind == "cli" and arg}
    path = page.file.src_uri
    return MARKER.sub(lambda m: _expand(m.group(1), m.group(2), path, on_page), markdown)
