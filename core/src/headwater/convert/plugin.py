"""A converted declaration as a plugin: it declares the connector and answers
``headwater_record_schema`` from the schemas held in memory, so a
:class:`~headwater.convert.model.Converted` runs with no package on disk."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from headwater.convert.model import Converted
from headwater.markers import hookimpl
from headwater.spec import Connector, Resource

__all__ = ["InMemoryConnector"]


class InMemoryConnector:
    """The plugin of one converted connector (register it with the plugin manager)."""

    def __init__(self, converted: Converted) -> None:
        self.converted = converted

    @hookimpl
    def headwater_connectors(self) -> Sequence[Connector]:
        """The converted connector."""
        return [self.converted.connector]

    @hookimpl
    def headwater_record_schema(
        self, connector: Connector, resource: Resource
    ) -> Mapping[str, Any] | None:
        """The converted schema of ``resource`` (``None`` for another connector's)."""
        if connector.name != self.converted.connector.name:
            return None
        return self.converted.schemas.get(resource.name)
