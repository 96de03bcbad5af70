"""Headwater connectors as Dagster assets (the ``headwater[dagster]`` extra).

::

    import dagster as dg
    import headwater.dagster

    defs = dg.Definitions(assets=headwater.dagster.assets("analytics_meetings"))

One asset per resource, built from the connector's declaration: loading the
definitions reads no setting and makes no request. Each materialization builds a fresh
source and runs it as ``headwater run`` does (see :func:`assets`).

May import every layer below ``cli`` (it is beside it, at the top).
"""

from __future__ import annotations

from headwater.dagster.steps import assets

__all__ = ["assets"]
