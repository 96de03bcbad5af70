"""Documentation generated from the code, so that it cannot drift from it.

Used by the mkdocs hooks in ``tools/mkdocs_hooks.py`` while the site is built:

* :mod:`docgen.connectors` renders each installed connector's reference from its
  declared specs (and the hooks of the installed plugins);
* :mod:`docgen.cli` renders the command reference from the real argparse parser;
* :mod:`docgen.specs` renders the spec classes a connector author declares with.

A page asks for generated text with a marker on a line of its own, e.g.
``<!-- generated: connector directory -->``; ``uv run python tools/gendocs.py`` writes
the text after it (up to ``<!-- end generated -->``) so that the page reads whole in the
repository too, and tests/test_docs.py fails when that text is stale
(:mod:`docgen.pages`).
"""
