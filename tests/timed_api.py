"""A connector with a time-filtered API for the incremental tests: ``events`` (query
bounds), ``searches`` (bounds in a POST body). ``TIMED`` is the default declaration;
:func:`timed` builds variants. Run the CLI in a subprocess with :data:`CLI` (the
variant chosen by the ``TIMED_SPEC`` environment variable, a JSON object of
IncrementalSpec arguments)."""

from __future__ import annotations

import json
import os

from headwater import hookimpl
from headwater.spec import Connector, IncrementalSpec, OffsetPagination, Resource

SCHEMA = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "ts": {"type": "string", "format": "date-time"},
        "kind": {"type": "string"},
    },
    "required": ["id", "ts"],
}


def timed(write_disposition: str = "merge", **incremental) -> Connector:
    """The ``timed`` connector with ``events`` incremental as given."""
    options = {"cursor_field": "ts", "param": "start", "end_param": "end"}
    options.update(incremental)
    spec = IncrementalSpec(**options)
    body = spec.location == "body"
    return Connector(
        name="timed",
        package="headwater_directory",
        auth=None,
        resources=[
            Resource(
                name="events",
                path="/v1/events",
                schema="unused.json",
                data_selector="data",
                method="POST" if body else "GET",
                json={"filter": {"kind": "all"}} if body else None,
                pagination=OffsetPagination(limit=20),
                write_disposition=write_disposition,
                incremental=spec,
            )
        ],
    )


class TimedPlugin:
    """Declares one variant of ``timed`` and supplies its schema."""

    def __init__(self, connector: Connector, schemas: dict | None = None) -> None:
        self.connector = connector
        self.schemas = schemas or {}

    @hookimpl
    def headwater_connectors(self):
        return [self.connector]

    @hookimpl
    def headwater_record_schema(self, connector, resource):
        if connector.name != "timed":
            return None
        return self.schemas.get(resource.name, SCHEMA)


def from_env() -> Connector:
    """The variant named by ``TIMED_SPEC`` (JSON; ``write_disposition`` included)."""
    return timed(**json.loads(os.environ.get("TIMED_SPEC", "{}")))


#: ``python -c CLI args...``: the headwater CLI with only the timed plugin installed
CLI = (
    "import sys\n"
    "from headwater.plugin import manager as plugins\n"
    "from timed_api import TimedPlugin, from_env\n"
    "plugins.use(plugins.make_plugin_manager(plugins=[('timed', TimedPlugin(from_env()))],"
    " entry_points=False))\n"
    "from headwater.cli import main\n"
    "sys.exit(main(sys.argv[1:]))\n"
)


def with_children(**incremental) -> Connector:
    """``users`` (plain) and ``meetings``: one request per user, incremental per user."""
    options = {"cursor_field": "ts", "param": "start", "end_param": "end"}
    options.update(incremental)
    from headwater.spec import ParentSpec

    return Connector(
        name="timed",
        package="headwater_directory",
        resources=[
            Resource(
                name="users",
                path="/v1/users",
                schema="unused.json",
                data_selector="data",
                pagination=OffsetPagination(limit=50),
            ),
            Resource(
                name="meetings",
                path="/v1/users/{uid}/meetings",
                schema="unused.json",
                data_selector="data",
                pagination=OffsetPagination(limit=50),
                parent=ParentSpec(
                    resource="users", field="id", placeholder="uid", column="user_id"
                ),
                primary_key=("user_id", "id"),
                incremental=IncrementalSpec(**options),
            ),
        ],
    )


#: the plugin an installed ``timed`` distribution would register (see :func:`install`)
PLUGIN = TimedPlugin(from_env())


def install(root) -> dict[str, str]:
    """The environment (``PYTHONPATH``) under which a CLI subprocess finds ``timed``."""
    from helpers import fake_distribution

    return fake_distribution(root, "timed-api", "timed = timed_api:PLUGIN")
