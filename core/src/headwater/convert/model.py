"""What a conversion produces: a connector declaration with its record schemas in
memory, the setting values the source gave, and what was understood on the way."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from attrs import field, frozen

from headwater.spec import Connector

__all__ = ["Converted", "SettingRef"]


@frozen
class SettingRef:
    """A value the config reads from dlt's configuration (``dlt.secrets["name"]`` or
    ``dlt.config["name"]``): the setting ``name``, which the user sets as any other."""

    name: str
    secret: bool = True

    def __str__(self) -> str:
        return f'dlt.{"secrets" if self.secret else "config"}["{self.name}"]'


@frozen
class Converted:
    """A connector declaration built from a config or a document.

    ``schemas`` maps each resource name to the JSON Schema of one record (the
    declaration's ``Resource.schema`` is the file it would be written to).
    ``settings`` holds the values the source spelled out (``base_url``, a token URL,
    literal credentials): the defaults of a run, overridden by the user's settings.
    ``references`` maps a setting to the ``dlt.secrets[...]`` name the config reads it
    from, when they differ. ``notes`` says what was understood ("understood X as Y");
    ``todos`` what a person must still decide (an OpenAPI operation whose pagination
    was not recognised).
    """

    connector: Connector
    schemas: Mapping[str, Mapping[str, Any]]
    settings: Mapping[str, Any] = field(factory=dict)
    references: Mapping[str, str] = field(factory=dict)
    notes: tuple[str, ...] = field(default=(), converter=tuple)
    todos: tuple[str, ...] = field(default=(), converter=tuple)
    #: resource name -> what a person must still decide about it (a TODO comment)
    resource_todos: Mapping[str, str] = field(factory=dict)
