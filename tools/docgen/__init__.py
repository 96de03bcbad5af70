"""Documentation generated from the code, so that it cannot drift from it.

Used by the mkdocs hooks in ``tools/mkdocs_hooks.py`` while the site is built:

* :mod:`docgen.connectors` renders each installed connector's reference from its
  declared specs (and the hooks of the installed plugins);
* :mod:`docgen.cli` renders the command reference from the real argparse parser;
* :mod:`docgen.specs` renders the spec classes a connector author declares with.

A page asks for generated text with a marker on a line of its own, e.g.
``<!-- generated: connector directory -->``; on GitHub the marker is an invisible
comment, and the page says where the generated reference can be read.
"""
