"""Plugins: the pluggy hook specifications (``hookspecs``), the plugin manager and the
connector registry (``manager``), and the built-in hook implementations every
connector gets by default (``builtin``).

May import: ``headwater.http`` (the built-in hooks build authenticators and
paginators) and the foundation modules. Not ``load``, ``run`` or anything above.
"""
