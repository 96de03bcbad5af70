"""Headwater's default hook implementations, one module per concern.

Each is registered ``trylast`` as plugin ``builtin.<module>``, so any installed
plugin can override or wrap it. They import dlt and requests lazily: the plugin
manager is built for ``headwater list`` too, which must stay fast.

May import: ``headwater.http`` and the foundation modules (as ``headwater.plugin``).
"""

from __future__ import annotations

from types import ModuleType

from headwater.plugin.builtin import auth, errors, pagination, schema

__all__ = ["builtin_plugins"]


def builtin_plugins() -> list[tuple[str, ModuleType]]:
    """``(name, module)`` of every builtin plugin, in registration order."""
    return [
        ("builtin.auth", auth),
        ("builtin.pagination", pagination),
        ("builtin.schema", schema),
        ("builtin.errors", errors),
    ]
