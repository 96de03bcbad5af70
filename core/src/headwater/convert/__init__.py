"""Declarations built from what users already have: a dlt ``rest_api`` config
(:mod:`~headwater.convert.rest_api`, reading files with
:mod:`~headwater.convert.config_file` and the seeds' ``{{ response... }}`` templates with
:mod:`~headwater.convert.templates`) or an OpenAPI document
(:mod:`~headwater.convert.openapi`), each turned into a :class:`~headwater.spec.Connector`
plus a JSON Schema per resource, held in memory (:class:`Converted`).

It builds data only: no dlt, no HTTP. ``headwater.from_rest_api`` (above ``load``)
turns a :class:`Converted` into a source; ``headwater.scaffold`` writes it out as a
connector package.

May import: the foundation modules (``spec``, ``errors``, ``schema``, ``markers``, ...).
"""

from __future__ import annotations

from headwater.convert.model import Converted, SettingRef

__all__ = ["Converted", "SettingRef"]
