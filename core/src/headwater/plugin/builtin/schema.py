"""Builtin ``headwater_record_schema``: the JSON Schema file shipped with the connector."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from headwater.markers import hookimpl
from headwater.schema import load_record_schema
from headwater.spec import Connector, Resource


@hookimpl(trylast=True)
def headwater_record_schema(connector: Connector, resource: Resource) -> Mapping[str, Any]:
    """Load (once) and check the file named by ``resource.schema``."""
    return load_record_schema(connector, resource)
