"""The pluggy markers. ``hookimpl`` is public (re-exported by :mod:`headwater`); the
spec marker stays private to the core."""

from __future__ import annotations

import pluggy

#: The project name: the pluggy project, the entry-point group and the hook prefix.
PROJECT = "headwater"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)
