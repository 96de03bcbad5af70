"""A Headwater source behaves like any other dlt source.

Names: tables and columns come out as dlt's default naming makes them, the names the
seeds' own ``rest_api`` configs give (compared side by side against dlt's
``rest_api_source`` on the same API); the API's spelling is the opt-in ``naming=api``.
Per-record steps (``add_map``, ``add_filter``, ``add_yield_map``) get dict records.
``headwater.source()`` can be built where its settings are not available yet.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import attrs
import duckdb
import headwater
import pytest
from dlt.pipeline.exceptions import PipelineStepFailed
from headwater.errors import ConfigError, SettingsError
from headwater.run.dlt_errors import explain
from headwater.spec import IncrementalSpec, Resource
from headwater_analytics.odata import ANALYTICS_ODATA
from headwater_directory.hooks import DIRECTORY
from helpers import Declares, cli, connector, settings_env

DLT_COLUMNS = {"_dlt_id", "_dlt_load_id"}


@pytest.fixture
def with_analytics(headwater_plugins):
    """The analytics connectors registered too (the core tests have only directory)."""
    import headwater_analytics.hooks
    import headwater_directory.hooks

    headwater_plugins(headwater_directory.hooks, headwater_analytics.hooks)


def columns_of(pipeline: Any) -> dict[str, set[str]]:
    """Every data table the pipeline loaded and its columns, read from the destination."""
    with pipeline.sql_client() as client:
        rows = client.execute_sql(
            "select table_name, column_name from information_schema.columns "
            "where table_schema = %s",
            pipeline.dataset_name,
        )
    tables: dict[str, set[str]] = {}
    for table, column in rows:
        if not table.startswith("_dlt"):
            tables.setdefault(table, set()).add(column)
    return tables


def oauth(sim: Any) -> dict[str, Any]:
    """The seeds' ``oauth2`` auth block, pointed at the simulator."""
    settings = sim.settings
    auth = {
        "type": "oauth2_client_credentials",
        "access_token_url": settings["token_url"],
        "client_id": settings["client_id"],
        "client_secret": settings["client_secret"],
    }
    if "scope" in settings:
        auth["access_token_request_data"] = {"scope": settings["scope"]}
    return auth


def rest_api_pipeline(make: Any, name: str, config: dict[str, Any]) -> Any:
    from dlt.sources.rest_api import rest_api_source

    pipeline = make(f"rest_api_{name}")
    pipeline.run(rest_api_source(config, name=name))
    return pipeline


# ----------------------------------------------------------------------------- naming


def test_cli_run_names_columns_as_dlt_does(api_simulator, headwater_env):
    sim = api_simulator(DIRECTORY, records={"directory_users": 250}, extra_field=False)
    done = cli("run", "directory", "--progress", "off", env=settings_env("directory", sim))
    assert done.returncode == 0, done.stderr
    db = headwater_env / "headwater_directory.duckdb"
    with duckdb.connect(str(db), read_only=True) as con:
        columns = [
            r[0]
            for r in con.sql(
                "select column_name from information_schema.columns where table_schema = "
                "'directory_data' and table_name = 'directory_users' order by ordinal_position"
            ).fetchall()
        ]
        [loaded] = con.sql(
            "select count(*), count(last_login_time) from directory_data.directory_users"
        ).fetchall()
    assert columns == ["id", "etag", "last_login_time", "_dlt_load_id", "_dlt_id"]
    served = sim.data["directory_users"]
    assert loaded == (250, sum(1 for r in served if r["lastLoginTime"] is not None))


SEED_CONFIGS = {
    # seed 000, as written
    "directory": lambda sim: {
        "client": {"base_url": sim.base_url, "auth": oauth(sim)},
        "resource_defaults": {"primary_key": "id", "write_disposition": "merge"},
        "resources": [
            {
                "name": "directory_users",
                "endpoint": {
                    "path": "/v1/users",
                    "data_selector": "users",
                    "paginator": {"type": "offset", "limit": 100, "total_path": None},
                },
            }
        ],
    },
    # seed 001, with what its template cursor means: follow @odata.nextLink
    "analytics_odata": lambda sim: {
        "client": {"base_url": sim.base_url, "auth": oauth(sim)},
        "resource_defaults": {"primary_key": "id", "write_disposition": "merge"},
        "resources": [
            {
                "name": name,
                "endpoint": {
                    "path": f"/v1/resource/{name}",
                    "data_selector": "value",
                    "paginator": {"type": "json_link", "next_url_path": "['@odata.nextLink']"},
                },
            }
            for name in ("users", "groups", "conversations")
        ],
    },
}


@pytest.mark.parametrize("arrow", [True, False], ids=["arrow", "rows"])
@pytest.mark.parametrize("spec", [DIRECTORY, ANALYTICS_ODATA], ids=lambda c: c.name)
def test_same_tables_and_columns_as_the_seeds_rest_api_config(
    spec, arrow, api_simulator, duckdb_pipeline, headwater_env, with_analytics
):
    sim = api_simulator(spec, records={r.name: 150 for r in spec.resources})
    ours = duckdb_pipeline(f"headwater_{spec.name}")
    ours.run(headwater.source(spec.name, arrow=arrow, **sim.settings))
    theirs = rest_api_pipeline(duckdb_pipeline, spec.name, SEED_CONFIGS[spec.name](sim))
    expected = columns_of(theirs)
    assert set(expected) == {r.name for r in spec.resources}
    assert columns_of(ours) == expected


AWKWARD = [
    {
        "id": "u1",
        "etag": "e1",
        "@odata.etag": 'W/"1"',
        "lastLoginTime": "2024-01-01T00:00:00Z",
        "userName": "ann",
        "homeAddress": {"streetName": "Main St", "zipCode": "12345"},
        "phoneNumbers": [{"phoneType": "work", "number": "1"}],
    },
    {
        "id": "u2",
        "etag": "e2",
        "@odata.etag": 'W/"2"',
        "lastLoginTime": None,
        "userName": "bob",
        "homeAddress": {"streetName": "High St", "zipCode": None},
        "phoneNumbers": [],
    },
]


@pytest.mark.parametrize("arrow", [True, False], ids=["arrow", "rows"])
def test_awkward_field_names_and_nested_tables_as_rest_api_names_them(
    arrow, headwater_plugins, requests_mock, duckdb_pipeline, headwater_env
):
    headwater_plugins(Declares(connector()))
    requests_mock.get("https://api.test/items", json={"data": AWKWARD})
    ours = duckdb_pipeline("headwater_awkward")
    ours.run(headwater.source("testapi", arrow=arrow))
    config = {
        "client": {"base_url": "https://api.test"},
        "resources": [
            {
                "name": "items",
                "primary_key": "id",
                "write_disposition": "merge",
                "endpoint": {
                    "path": "/items",
                    "data_selector": "data",
                    "paginator": {"type": "single_page"},
                },
            }
        ],
    }
    theirs = rest_api_pipeline(duckdb_pipeline, "testapi", config)
    expected = columns_of(theirs)
    assert {"last_login_time", "aodata_etag", "home_address__street_name"} <= expected["items"]
    assert "items__phone_numbers" in expected
    assert columns_of(ours) == expected


def test_naming_api_keeps_the_apis_spelling_in_one_column(
    api_simulator, duckdb_pipeline, headwater_env, monkeypatch
):
    sim = api_simulator(DIRECTORY, records={"directory_users": 120}, extra_field=False)
    monkeypatch.setenv("SOURCES__DIRECTORY__NAMING", "api")
    pipeline = duckdb_pipeline("headwater_api_names")
    pipeline.run(headwater.source("directory", **sim.settings))
    columns = columns_of(pipeline)["directory_users"]
    assert columns == {"id", "etag", "lastLoginTime"} | DLT_COLUMNS
    with pipeline.sql_client() as client:
        [(kind,)] = client.execute_sql(
            "select data_type from information_schema.columns where table_schema = %s "
            "and column_name = 'lastLoginTime'",
            pipeline.dataset_name,
        )
    assert kind == "TIMESTAMP WITH TIME ZONE"  # the declared type: the declared column


@pytest.mark.parametrize("arrow", [True, False], ids=["arrow", "rows"])
@pytest.mark.parametrize(
    "how", ["SCHEMA__NAMING=direct", "SCHEMA__NAMING=sql_cs_v1", "schema", "destination"]
)
def test_dlts_own_naming_names_the_declared_columns_too(
    how, arrow, api_simulator, duckdb_pipeline, headwater_env, monkeypatch
):
    """dlt's naming, however it is chosen (its SCHEMA__NAMING config, a schema given to
    pipeline.run, the destination's naming convention), names the declared columns as
    it names the records' fields: one column per field, with the declared type and key
    (the declared columns were named by snake_case: last_login_time stayed, empty,
    beside the data's lastLoginTime)."""
    import dlt

    sim = api_simulator(DIRECTORY, records={"directory_users": 60}, extra_field=False)
    source = headwater.source("directory", arrow=arrow, **sim.settings)
    pipeline = duckdb_pipeline("headwater_dlt_naming")
    if how.startswith("SCHEMA__NAMING="):
        monkeypatch.setenv("SCHEMA__NAMING", how.split("=")[1])
        pipeline.run(source)
    elif how == "schema":
        pipeline.run(source, schema=dlt.Schema("directory", normalizers={"names": "direct"}))
    else:
        path = str(headwater_env / "naming_destination.duckdb")
        pipeline = dlt.pipeline(
            pipeline_name="headwater_destination_naming",
            destination=dlt.destinations.duckdb(path, naming_convention="direct"),
            dataset_name="naming_data",
            pipelines_dir=str(headwater_env / "pipelines"),
        )
        pipeline.run(source)
    assert columns_of(pipeline)["directory_users"] == {"id", "etag", "lastLoginTime"} | DLT_COLUMNS
    columns = pipeline.default_schema.tables["directory_users"]["columns"]
    assert columns["lastLoginTime"]["data_type"] == "timestamp"
    assert [name for name, c in columns.items() if c.get("primary_key")] == ["id"]
    with pipeline.sql_client() as client:
        [(loaded,)] = client.execute_sql('select count("lastLoginTime") from directory_users')
    assert loaded == sum(1 for r in sim.data["directory_users"] if r["lastLoginTime"] is not None)


def test_dlts_naming_config_names_a_child_resources_declared_columns(
    headwater_plugins, requests_mock, duckdb_pipeline, headwater_env, monkeypatch
):
    from headwater.spec import ParentSpec
    from helpers import SCHEMA

    items = connector()
    logins = Resource(
        name="logins",
        path="/items/{item}/logins",
        schema=SCHEMA,
        data_selector="data",
        parent=ParentSpec(resource="items", placeholder="item", column="itemId"),
    )
    headwater_plugins(Declares(attrs.evolve(items, resources=[*items.resources, logins])))
    requests_mock.get("https://api.test/items", json={"data": [{"id": "u1"}, {"id": "u2"}]})
    login = {"id": "l1", "etag": "e", "lastLoginTime": "2024-01-01T00:00:00Z"}
    requests_mock.get(re.compile(r"https://api.test/items/u\d/logins"), json={"data": [login]})
    monkeypatch.setenv("SCHEMA__NAMING", "direct")
    pipeline = duckdb_pipeline("headwater_child_naming")
    pipeline.run(headwater.source("testapi"))
    assert columns_of(pipeline)["logins"] == {"id", "etag", "lastLoginTime", "itemId"} | DLT_COLUMNS
    columns = pipeline.default_schema.tables["logins"]["columns"]
    assert columns["lastLoginTime"]["data_type"] == "timestamp"
    assert columns["itemId"]["nullable"] is False


def test_bad_naming_setting_is_a_one_line_settings_error(api_simulator, headwater_env):
    sim = api_simulator(DIRECTORY, records={"directory_users": 1})
    env = {**settings_env("directory", sim), "SOURCES__DIRECTORY__NAMING": "camel"}
    done = cli("run", "directory", "--progress", "off", env=env)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "headwater: error: invalid setting naming for connector directory "
        "(env SOURCES__DIRECTORY__NAMING): 'camel' is not one of 'snake_case', 'api'"
    ]
    assert sim.requests == []


@pytest.mark.parametrize("arrow", ["1", "0"], ids=["arrow", "rows"])
def test_camel_case_cursor_and_key_on_snake_case_columns(
    arrow, headwater_plugins, requests_mock, duckdb_pipeline, headwater_env, monkeypatch
):
    monkeypatch.setenv("HEADWATER_ARROW", arrow)
    spec = connector(
        primary_key="id",
        incremental=IncrementalSpec(cursor_field="lastLoginTime", param="since"),
    )
    headwater_plugins(Declares(spec))
    first = [
        {"id": f"u{i}", "etag": "a", "lastLoginTime": f"2024-01-0{i}T00:00:00Z"} for i in (1, 2)
    ]
    api = requests_mock.get("https://api.test/items", json={"data": first})
    pipeline = duckdb_pipeline("headwater_cursor")
    pipeline.run(headwater.source("testapi"))
    api = requests_mock.get(
        "https://api.test/items",
        json={
            "data": [
                {**first[1], "etag": "b", "lastLoginTime": "2024-01-02T12:00:00Z"},
                {"id": "u3", "lastLoginTime": "2024-01-03T00:00:00Z"},
            ]
        },
    )
    pipeline.run(headwater.source("testapi"))
    # the cursor, by API name (a second before it: a since API answers strictly after)
    assert api.last_request.qs["since"] == ["2024-01-01t23:59:59z"]
    with pipeline.sql_client() as client:
        rows = client.execute_sql("select id, etag from items order by id")
    assert [tuple(r) for r in rows] == [("u1", "a"), ("u2", "b"), ("u3", None)]  # merged on id
    assert "lastLoginTime" not in columns_of(pipeline)["items"]


def test_child_resource_columns_are_snake_case(
    api_simulator, duckdb_pipeline, headwater_env, with_analytics
):
    from headwater_analytics.meetings import ANALYTICS_MEETINGS

    sim = api_simulator(ANALYTICS_MEETINGS, records={"users": 5, "meetings": 3})
    pipeline = duckdb_pipeline("headwater_meetings_names")
    pipeline.run(headwater.source("analytics_meetings", **sim.settings))
    meetings = columns_of(pipeline)["meetings"]
    assert {"id", "topic", "start_time", "user_id"} <= meetings
    assert all(c == c.lower() for c in meetings)


# -------------------------------------------------------------- per-record steps


def test_without_steps_the_fast_path_yields_arrow_tables(api_simulator, headwater_env):
    sim = api_simulator(DIRECTORY, records={"directory_users": 30})
    items = list(headwater.source("directory", **sim.settings).resources["directory_users"])
    assert items and all(hasattr(item, "column_names") for item in items)


@pytest.mark.parametrize("arrow", [None, False], ids=["default", "rows"])
def test_add_map_add_filter_add_yield_map_get_dicts(
    arrow, api_simulator, duckdb_pipeline, headwater_env
):
    sim = api_simulator(DIRECTORY, records={"directory_users": 250})
    seen: list[type] = []

    def mark(record: dict) -> dict:
        seen.append(type(record))
        return {**record, "etag": "mapped:" + str(record["etag"]), "mappedBy": "add_map"}

    def copies(record: dict):
        yield record
        yield {**record, "id": record["id"] + "-copy"}

    source = headwater.source("directory", arrow=arrow, **sim.settings)
    users = source.resources["directory_users"]
    users.add_filter(lambda record: not record["id"].endswith("7"))
    users.add_map(mark)
    users.add_yield_map(copies)
    pipeline = duckdb_pipeline("headwater_steps")
    pipeline.run(source)
    kept = [r for r in sim.data["directory_users"] if not r["id"].endswith("7")]
    assert set(seen) == {dict} and len(seen) == len(kept)
    with pipeline.sql_client() as client:
        [(rows, mapped, by)] = client.execute_sql(
            "select count(*), count(*) filter (where etag like 'mapped:%%'), "
            "count(*) filter (where mapped_by = 'add_map') from directory_users"
        )
    assert rows == mapped == by == 2 * len(kept)


def rows_in(resource: Any) -> int:
    """The records a resource iterated on its own yields (Arrow tables or dicts)."""
    return sum(getattr(item, "num_rows", 1) for item in resource)


@pytest.mark.parametrize("arrow", [None, False], ids=["default", "rows"])
def test_add_limit_counts_pages_as_on_a_rest_api_resource(
    arrow, api_simulator, duckdb_pipeline, headwater_env
):
    """add_limit(n) loads n pages and asks for no more, on a merge resource too (whose
    "deduplicated" hint once took the first of the n items) and on the Arrow path
    (which batches many pages into one table)."""
    sim = api_simulator(DIRECTORY, records={"directory_users": 1000})
    page = sim.page_size
    assert 2 * page < 1000
    users = headwater.source("directory", arrow=arrow, **sim.settings).resources["directory_users"]
    assert rows_in(users.add_limit(2)) == 2 * page
    assert len(sim.requests_for("directory_users")) == 2  # no page read ahead of the limit
    pipeline = duckdb_pipeline("headwater_limit")
    pipeline.run(headwater.source("directory", arrow=arrow, **sim.settings).add_limit(1))
    with pipeline.sql_client() as client:
        [(rows, distinct)] = client.execute_sql(
            "select count(*), count(distinct id) from directory_users"
        )
    assert rows == distinct == page
    # counting rows instead of items: whole pages until the count is reached
    assert page + 1 <= rows_in(users.add_limit(page + 1, count_rows=True)) <= 1000


def test_add_limit_on_an_incremental_resource_reads_no_page_past_it(
    api_simulator, with_analytics, headwater_env
):
    from headwater_analytics.events import ANALYTICS_EVENTS

    sim = api_simulator(ANALYTICS_EVENTS, records={"events": 1000})
    events = headwater.source("analytics_events", **sim.settings).resources["events"]
    assert rows_in(events.add_limit(3)) == 3 * sim.page_size
    assert len(sim.requests_for("events")) == 3


def _events_state(pipeline: Any) -> dict[str, Any]:
    """Headwater's incremental state of the resource ``events`` (in the state of the
    source it ran in: a resource run on its own has one named after the pipeline)."""
    for source in pipeline.state.get("sources", {}).values():
        resource = source.get("resources", {}).get("events")
        if resource is not None:
            return resource.get("headwater_incremental", {})
    return {}


def _events_loaded(pipeline: Any) -> tuple[int, int, str | None]:
    """(rows, distinct ids, latest timestamp) of the events table."""
    with pipeline.sql_client() as client:
        [(rows, distinct, latest)] = client.execute_sql(
            "select count(*), count(distinct id), max(timestamp) from events"
        )
    return rows, distinct, latest


@pytest.mark.parametrize("step", [False, True], ids=["plain", "with_map"])
def test_add_limit_on_an_incremental_resource_keeps_the_position_it_loaded(
    step, api_simulator, with_analytics, duckdb_pipeline, headwater_env
):
    """add_limit closes the read: the records it yielded count as read, so the next run
    (appending) loads the others, none twice, as dlt's incremental keeps its last_value."""
    from headwater_analytics.events import ANALYTICS_EVENTS

    sim = api_simulator(ANALYTICS_EVENTS, records={"events": 500})
    pipeline = duckdb_pipeline("headwater_limit_position")
    source = headwater.source("analytics_events", **sim.settings)
    if step:
        source.resources["events"].add_map(lambda record: record)
    source.resources["events"].add_limit(1)
    pipeline.run(source, write_disposition="append")
    first = sim.data["events"][: sim.page_size]
    assert _events_state(pipeline)["position"][:19] == max(r["timestamp"] for r in first)[:19]
    pipeline.run(headwater.source("analytics_events", **sim.settings), write_disposition="append")
    rows, distinct, _ = _events_loaded(pipeline)
    assert rows == distinct == len(sim.data["events"])


def test_a_filter_moves_the_position_only_over_the_records_it_kept(
    api_simulator, with_analytics, duckdb_pipeline, headwater_env
):
    """The position follows the records that passed the user's add_filter (dlt's
    incremental reads those): the next run loads the records the filter dropped."""
    from headwater_analytics.events import ANALYTICS_EVENTS

    sim = api_simulator(ANALYTICS_EVENTS, records={"events": 300})
    records = sim.data["events"]
    cut = records[len(records) // 3]["timestamp"]
    kept = [r["timestamp"] for r in records if r["timestamp"] < cut]
    pipeline = duckdb_pipeline("headwater_filter_position")
    source = headwater.source("analytics_events", **sim.settings)
    source.resources["events"].add_filter(lambda record: record["timestamp"] < cut)
    pipeline.run(source)
    assert _events_loaded(pipeline)[:2] == (len(kept), len(kept))
    assert _events_state(pipeline)["position"][:19] == max(kept)[:19]
    pipeline.run(headwater.source("analytics_events", **sim.settings))
    rows, distinct, _ = _events_loaded(pipeline)
    assert rows == distinct == len(records)


def test_a_yield_map_moves_the_position_over_every_record_it_yields(
    api_simulator, with_analytics, duckdb_pipeline, headwater_env
):
    """An add_yield_map's records pass Headwater's step one by one, from a generator dlt
    drains after the resource's own generator ended: the position is the latest cursor
    of all of them, and the next run appends none twice."""
    from headwater_analytics.events import ANALYTICS_EVENTS

    sim = api_simulator(ANALYTICS_EVENTS, records={"events": 300})
    records = sim.data["events"]
    pipeline = duckdb_pipeline("headwater_yield_map_position")
    source = headwater.source("analytics_events", **sim.settings)
    source.resources["events"].add_yield_map(lambda record: (yield record))
    pipeline.run(source, write_disposition="append")
    assert _events_loaded(pipeline)[:2] == (len(records), len(records))
    latest = max(r["timestamp"] for r in records)
    assert _events_state(pipeline)["position"][:19] == latest[:19]
    pipeline.run(headwater.source("analytics_events", **sim.settings), write_disposition="append")
    rows, distinct, _ = _events_loaded(pipeline)
    assert rows == distinct == len(records)


@pytest.mark.parametrize("kind", ["add_map", "add_yield_map"])
def test_a_map_may_rename_a_declared_not_null_field(
    kind, api_simulator, with_analytics, duckdb_pipeline, headwater_env
):
    """A map reshapes the records after Headwater checked them: the declared columns
    other than the key are nullable then, and what the map returns loads (a renamed
    ``timestamp`` goes to a ``ts`` column), as on a rest_api resource, run after run."""
    from headwater_analytics.events import ANALYTICS_EVENTS

    sim = api_simulator(ANALYTICS_EVENTS, records={"events": 50})

    def rename(record):
        return {**{k: v for k, v in record.items() if k != "timestamp"}, "ts": record["timestamp"]}

    pipeline = duckdb_pipeline(f"headwater_map_not_null_{kind}")
    for _ in range(2):
        source = headwater.source("analytics_events", **sim.settings)
        if kind == "add_map":
            source.resources["events"].add_map(rename)
        else:
            source.resources["events"].add_yield_map(lambda record: (yield rename(record)))
        pipeline.run(source)
    with pipeline.sql_client() as client:
        [(rows, stamped, untimed)] = client.execute_sql(
            "select count(*), count(ts), count(*) - count(timestamp) from events"
        )
    assert rows == stamped == untimed == len(sim.data["events"])
    columns = pipeline.default_schema.get_table("events")["columns"]
    assert columns["id"]["nullable"] is False  # the key stays NOT NULL


def test_a_dlt_incremental_with_an_end_value_is_a_backfill_that_moves_no_position(
    api_simulator, with_analytics, duckdb_pipeline, headwater_env
):
    """dlt documents that an incremental with an end_value leaves the state alone: the
    next normal run loads everything the range left out."""
    import dlt
    from headwater.timebounds import parse_instant
    from headwater_analytics.events import ANALYTICS_EVENTS

    sim = api_simulator(ANALYTICS_EVENTS, records={"events": 300})
    records = sim.data["events"]
    start, end = (parse_instant(records[i]["timestamp"]) for i in (100, 200))
    pipeline = duckdb_pipeline("headwater_dlt_backfill")
    source = headwater.source("analytics_events", **sim.settings)
    source.resources["events"].apply_hints(
        incremental=dlt.sources.incremental("timestamp", initial_value=start, end_value=end)
    )
    pipeline.run(source)
    inside = [r for r in records if start <= parse_instant(r["timestamp"]) < end]
    assert _events_loaded(pipeline)[:2] == (len(inside), len(inside))
    assert "position" not in _events_state(pipeline)
    pipeline.run(headwater.source("analytics_events", **sim.settings))
    rows, distinct, _ = _events_loaded(pipeline)
    assert rows == distinct == len(records)


@pytest.mark.parametrize("arrow", [None, False], ids=["default", "rows"])
def test_a_table_renamed_with_apply_hints_takes_the_declared_columns_alone(
    arrow, api_simulator, duckdb_pipeline, headwater_env
):
    """apply_hints(table_name=...) as on any dlt resource: the records go to that table,
    with the declared column types, and the declared table is not left in the schema
    empty (never created, so the dataset API failed on it)."""
    sim = api_simulator(DIRECTORY, records={"directory_users": 40})
    source = headwater.source("directory", arrow=arrow, **sim.settings)
    source.resources["directory_users"].apply_hints(table_name="people")
    pipeline = duckdb_pipeline("headwater_renamed")
    pipeline.run(source)
    assert list(pipeline.default_schema.data_table_names()) == ["people"]
    columns = pipeline.default_schema.tables["people"]["columns"]
    assert columns["last_login_time"]["data_type"] == "timestamp"
    assert columns["id"]["nullable"] is False and columns["id"]["primary_key"] is True
    with pipeline.sql_client() as client:
        assert client.execute_sql("select count(*) from people") == [(40,)]


def test_steps_on_a_resource_run_on_its_own(api_simulator, duckdb_pipeline, headwater_env):
    sim = api_simulator(DIRECTORY, records={"directory_users": 40})
    resource = headwater.source("directory", **sim.settings).resources["directory_users"]
    pipeline = duckdb_pipeline("headwater_resource_steps")
    pipeline.run(resource.add_map(lambda record: {**record, "seenBy": record["id"]}))
    with pipeline.sql_client() as client:
        [(same,)] = client.execute_sql(
            "select count(*) filter (where seen_by = id) from directory_users"
        )
    assert same == 40


@pytest.mark.parametrize("copy", ["with_resources", "clone"])
def test_steps_added_to_a_copy_of_the_source_apply(
    copy, api_simulator, duckdb_pipeline, headwater_env
):
    """with_resources() and clone() return a new source: steps and hints given to it
    (not to the source Headwater built) must work as on the original."""
    sim = api_simulator(DIRECTORY, records={"directory_users": 1000})

    def copied() -> Any:
        source = headwater.source("directory", **sim.settings)
        return (
            source.with_resources("directory_users")
            if copy == "with_resources"
            else (source.clone())
        )

    limited = duckdb_pipeline("copy_limit")
    limited.run(copied().add_limit(1))
    mapped = duckdb_pipeline("copy_map")
    source = copied()
    source.resources["directory_users"].add_map(lambda r: {**r, "seenBy": r["id"]})
    mapped.run(source)
    renamed = duckdb_pipeline("copy_renamed")
    source = copied()
    source.resources["directory_users"].apply_hints(table_name="people")
    renamed.run(source)
    with limited.sql_client() as client:
        assert client.execute_sql("select count(*) from directory_users") == [(sim.page_size,)]
    with mapped.sql_client() as client:
        [(same,)] = client.execute_sql(
            "select count(*) filter (where seen_by = id) from directory_users"
        )
    assert same == 1000
    assert list(renamed.default_schema.data_table_names()) == ["people"]


def test_a_table_name_function_sends_each_record_to_its_table(
    api_simulator, duckdb_pipeline, headwater_env
):
    """dlt cannot apply a table-name function to an Arrow table: such a resource gets
    dict records, as with a per-record step."""
    sim = api_simulator(DIRECTORY, records={"directory_users": 60})
    source = headwater.source("directory", **sim.settings)
    source.resources["directory_users"].apply_hints(
        table_name=lambda record: "odd" if int(record["id"][-1], 16) % 2 else "even"
    )
    pipeline = duckdb_pipeline("by_function")
    pipeline.run(source)
    odd = sum(1 for r in sim.data["directory_users"] if int(r["id"][-1], 16) % 2)
    with pipeline.sql_client() as client:
        assert client.execute_sql("select count(*) from odd") == [(odd,)]
        assert client.execute_sql("select count(*) from even") == [(60 - odd,)]
    # the declared table, never created, is not left in the schema (rest_api's has
    # only the tables it loads; the dataset API failed on it)
    assert sorted(pipeline.default_schema.data_table_names()) == ["even", "odd"]
    assert len(pipeline.dataset()["odd"].fetchall()) == odd


def test_a_child_resource_renamed_with_apply_hints_takes_the_declared_columns_alone(
    api_simulator, duckdb_pipeline, headwater_env, with_analytics
):
    """apply_hints(table_name=...) on a child resource, as on a top-level one: its
    records go to that table with the declared column types, and its declared table
    is not left in the schema, never created (pipeline.dataset()["meetings"] failed),
    also after a refresh."""
    from headwater_analytics.meetings import ANALYTICS_MEETINGS

    sim = api_simulator(ANALYTICS_MEETINGS, records={"users": 4, "meetings": 3})

    def renamed() -> Any:
        source = headwater.source("analytics_meetings", **sim.settings)
        source.resources["meetings"].apply_hints(table_name="mtgs")
        return source

    pipeline = duckdb_pipeline("child_renamed")
    pipeline.run(renamed())
    assert sorted(pipeline.default_schema.data_table_names()) == ["mtgs", "users"]
    columns = pipeline.default_schema.tables["mtgs"]["columns"]
    assert columns["start_time"]["data_type"] == "timestamp"
    assert columns["id"]["data_type"] == "bigint" and columns["id"]["nullable"] is False
    assert columns["user_id"]["nullable"] is False
    served = sum(len(meetings) for meetings in sim.data["meetings"].values())
    assert len(pipeline.dataset()["mtgs"].fetchall()) == served
    pipeline.run(renamed(), refresh="drop_resources")
    assert sorted(pipeline.default_schema.data_table_names()) == ["mtgs", "users"]


def test_a_table_name_function_on_a_child_resource(
    api_simulator, duckdb_pipeline, headwater_env, with_analytics
):
    from headwater_analytics.meetings import ANALYTICS_MEETINGS

    sim = api_simulator(ANALYTICS_MEETINGS, records={"users": 4, "meetings": 3})
    source = headwater.source("analytics_meetings", **sim.settings)
    source.resources["meetings"].apply_hints(
        table_name=lambda record: "even" if record["id"] % 2 == 0 else "odd"
    )
    pipeline = duckdb_pipeline("child_by_function")
    pipeline.run(source)
    assert sorted(pipeline.default_schema.data_table_names()) == ["even", "odd", "users"]
    served = [m for meetings in sim.data["meetings"].values() for m in meetings]
    even = sum(1 for meeting in served if meeting["id"] % 2 == 0)
    assert len(pipeline.dataset()["even"].fetchall()) == even
    assert len(pipeline.dataset()["odd"].fetchall()) == len(served) - even


def test_resources_left_out_leave_no_table_in_the_schema(
    api_simulator, duckdb_pipeline, headwater_env, with_analytics
):
    """with_resources("users"): groups and conversations were in the schema, never
    created, and pipeline.dataset()["groups"] failed; rest_api lists only what it loads."""
    sim = api_simulator("analytics_odata")
    pipeline = duckdb_pipeline("left_out")
    pipeline.run(headwater.source("analytics_odata", **sim.settings).with_resources("users"))
    assert list(pipeline.default_schema.data_table_names()) == ["users"]
    # a later run of another resource keeps the table loaded before
    pipeline.run(headwater.source("analytics_odata", **sim.settings).with_resources("groups"))
    assert sorted(pipeline.default_schema.data_table_names()) == ["groups", "users"]
    assert len(pipeline.dataset()["users"].fetchall()) == len(sim.data["users"])


# ------------------------------------------------------------ settings at extraction


def test_source_without_settings_lists_resources_and_fails_on_extraction(
    api_simulator, duckdb_pipeline, headwater_env, monkeypatch
):
    sim = api_simulator(DIRECTORY, records={"directory_users": 60})
    source = headwater.source("directory")  # nothing configured: no error yet
    assert list(source.resources.keys()) == ["directory_users"]
    pipeline = duckdb_pipeline("headwater_lazy")
    with pytest.raises(PipelineStepFailed) as failed:
        pipeline.run(source)
    error = explain(failed.value)
    assert isinstance(error, SettingsError)
    assert str(error) == (
        "missing setting client_id for connector directory: set SOURCES__DIRECTORY__CLIENT_ID "
        "or [sources.directory] client_id in .dlt/secrets.toml; missing setting client_secret "
        "for connector directory: set SOURCES__DIRECTORY__CLIENT_SECRET or [sources.directory] "
        "client_secret in .dlt/secrets.toml"
    )
    assert sim.requests == []
    assert columns_of_safe(pipeline) == {}  # nothing loaded

    for key, value in settings_env("directory", sim).items():
        monkeypatch.setenv(key, value)
    pipeline.run(source)  # the same source object, now that the settings are there
    with pipeline.sql_client() as client:
        [(rows,)] = client.execute_sql("select count(*) from directory_users")
    assert rows == 60


def columns_of_safe(pipeline: Any) -> dict[str, set[str]]:
    try:
        return columns_of(pipeline)
    except Exception:  # no dataset: nothing was loaded
        return {}


def test_source_reads_no_secret_when_built(headwater_env, monkeypatch):
    class Spy(dict):
        looked_up: list[str] = []

        def __contains__(self, key: object) -> bool:
            self.looked_up.append(str(key))
            return super().__contains__(key)

        def __getitem__(self, key: str) -> str:
            self.looked_up.append(key)
            return super().__getitem__(key)

    import os

    spy = Spy(os.environ)
    monkeypatch.setattr(os, "environ", spy)
    Path(".dlt").mkdir()
    Path(".dlt/secrets.toml").write_text("this is not TOML [")
    source = headwater.source("directory")
    assert list(source.resources.keys()) == ["directory_users"]
    assert not [key for key in spy.looked_up if "CLIENT_SECRET" in key or "CLIENT_ID" in key]


def test_a_setting_that_shapes_the_source_must_not_change_after_it_is_built(
    api_simulator, duckdb_pipeline, headwater_env, monkeypatch
):
    sim = api_simulator(DIRECTORY, records={"directory_users": 10})
    source = headwater.source("directory", **sim.settings)
    monkeypatch.setenv("SOURCES__DIRECTORY__NAMING", "api")
    with pytest.raises(PipelineStepFailed) as failed:
        duckdb_pipeline("headwater_changed").run(source)
    error = explain(failed.value)
    assert isinstance(error, ConfigError)
    assert str(error) == (
        "setting naming of connector directory is 'api', but was 'snake_case' when "
        "headwater.source() built the source; build the source again after changing it"
    )
    assert sim.requests == []


def test_cli_run_still_fails_fast_on_a_missing_setting(api_simulator, headwater_env):
    sim = api_simulator(DIRECTORY, records={"directory_users": 10})
    env = {k: v for k, v in settings_env("directory", sim).items() if "CLIENT_SECRET" not in k}
    done = cli("run", "directory", "--progress", "off", env=env)
    assert done.returncode == 2
    assert "missing setting client_secret for connector directory" in done.stderr
    assert sim.requests == []
    assert not (headwater_env / "headwater_directory.duckdb").exists()


@pytest.mark.parametrize("arrow", [None, False], ids=["default", "rows"])
def test_scd2_retires_only_changed_rows(arrow, api_simulator, duckdb_pipeline, headwater_env):
    # dlt's scd2 merge tells row versions apart by the hash it puts in _dlt_id: the
    # same records loaded again retire nothing, a changed record retires one version
    sim = api_simulator(DIRECTORY, records={"directory_users": 40})
    pipeline = duckdb_pipeline(f"headwater_scd2_{arrow}")
    scd2 = {"disposition": "merge", "strategy": "scd2"}
    count = (
        "select count(*), count(*) filter (where _dlt_valid_to is not null) from directory_users"
    )
    for _ in range(2):
        source = headwater.source("directory", arrow=arrow, **sim.settings)
        source.resources["directory_users"].apply_hints(write_disposition=scd2)
        pipeline.run(source)
        with pipeline.sql_client() as client:
            assert client.execute_sql(count) == [(40, 0)]
    sim.mutate("directory_users", 3)
    pipeline.run(headwater.source("directory", arrow=arrow, **sim.settings), write_disposition=scd2)
    with pipeline.sql_client() as client:
        assert client.execute_sql(count) == [(43, 3)]


def test_two_sources_of_one_connector_one_sent_to_another_table(
    api_simulator, duckdb_pipeline, headwater_env
):
    # two tenants of one API in one pipeline.run: the second source's records go to
    # their own table; the first one's table stays in the schema they share
    sim = api_simulator(DIRECTORY, records={"directory_users": 30})
    first = headwater.source("directory", **sim.settings)
    second = headwater.source("directory", **sim.settings)
    second.resources["directory_users"].apply_hints(table_name="users_tenant_b")
    pipeline = duckdb_pipeline("headwater_two_tenants")
    pipeline.run([first, second])
    with pipeline.sql_client() as client:
        counts = [
            client.execute_sql(f"select count(*) from {table}")[0][0]
            for table in ("directory_users", "users_tenant_b")
        ]
    assert counts == [30, 30]


def test_an_empty_primary_key_hint_takes_the_declared_key_away(
    api_simulator, duckdb_pipeline, headwater_env
):
    # as on any dlt resource: no key, so a merge appends
    sim = api_simulator(DIRECTORY, records={"directory_users": 20})
    pipeline = duckdb_pipeline("headwater_no_key")
    for _ in range(2):
        source = headwater.source("directory", **sim.settings)
        source.resources["directory_users"].apply_hints(primary_key=[])
        pipeline.run(source)
    columns = pipeline.default_schema.tables["directory_users"]["columns"]
    assert not [name for name, column in columns.items() if column.get("primary_key")]
    with pipeline.sql_client() as client:
        assert client.execute_sql("select count(*) from directory_users") == [(40,)]


@pytest.mark.parametrize("nested", [True, False], ids=["nested", "flat"])
def test_a_resource_run_on_its_own_keeps_the_declared_column_types(
    nested, requests_mock, duckdb_pipeline, headwater_plugins
):
    """pipeline.run(source.resources[...]) puts the resource in a source dlt makes, with
    a schema of its own: the declared types come along (hr's id is declared text, the
    API sends 1 and "2"; dlt alone would make it bigint from the first value)."""
    import headwater_hr.hooks

    headwater_plugins(headwater_hr.hooks)
    records = [
        {"id": i if i % 2 else str(i), "customer_id": i, "timestamp": "2024-01-01T00:00:00Z"}
        | ({"address": {"street": f"{i} Main"}} if nested else {})
        for i in range(1, 11)
    ]
    requests_mock.get("https://api.example.com/v1/resource", json={"data": records})
    resource = headwater.source("hr", api_key="k").resources["employees"]
    pipeline = duckdb_pipeline(f"resource_alone_{nested}")
    pipeline.run(resource)
    columns = pipeline.default_schema.tables["employees"]["columns"]
    assert columns["id"]["data_type"] == "text"
    assert columns["timestamp"]["data_type"] == "timestamp"
    with pipeline.sql_client() as client:
        assert sorted(client.execute_sql("select id from employees")) == sorted(
            (str(i),) for i in range(1, 11)
        )


@pytest.mark.parametrize("arrow", [True, False], ids=["fast", "rows"])
def test_a_column_hint_of_another_type_gets_the_apis_values(
    arrow, api_simulator, duckdb_pipeline, headwater_env
):
    """apply_hints(columns=...) retyping a declared column, as on a rest_api resource:
    a date-time declared column hinted text keeps the text the API sent (not a
    timestamp cast back to text), and a text column hinted bigint gets dlt's variant
    column for values that are not numbers instead of failing the load."""
    sim = api_simulator(DIRECTORY, records={"directory_users": 30}, extra_field=False)
    source = headwater.source("directory", arrow=arrow, **sim.settings)
    source.resources["directory_users"].apply_hints(
        columns={"lastLoginTime": {"data_type": "text"}, "etag": {"data_type": "bigint"}}
    )
    pipeline = duckdb_pipeline(f"retyped_{arrow}")
    pipeline.run(source)
    sent = {r["id"]: r["lastLoginTime"] for r in sim.data["directory_users"]}
    with pipeline.sql_client() as client:
        loaded = dict(client.execute_sql("select id, last_login_time from directory_users"))
        assert loaded == sent
        [(variants,)] = client.execute_sql("select count(etag__v_text) from directory_users")
    assert variants == sum(1 for r in sim.data["directory_users"] if r["etag"] is not None)


def test_a_table_name_function_is_not_asked_about_quarantine_rows(
    requests_mock, duckdb_pipeline, headwater_plugins
):
    """dlt asks a table-name function for every row: the quarantine rows went to the
    user's table (its NOT NULL id failed the load, nothing loaded)."""
    import headwater_hr.hooks

    headwater_plugins(headwater_hr.hooks)
    records = [{"id": str(i), "timestamp": "2024-01-01T00:00:00Z"} for i in range(1, 11)]
    records[3] = {"timestamp": "2024-01-01T00:00:00Z"}  # no id: breaks the schema
    requests_mock.get("https://api.example.com/v1/resource", json={"data": records})
    asked: list[list[str]] = []

    def table(record):
        asked.append(sorted(record))
        return "staff"

    source = headwater.source("hr", api_key="k")
    source.resources["employees"].apply_hints(table_name=table)
    pipeline = duckdb_pipeline("table_fn_quarantine")
    pipeline.run(source)
    with pipeline.sql_client() as client:
        assert client.execute_sql("select count(*) from staff") == [(9,)]
        assert client.execute_sql("select count(*) from employees_quarantine") == [(1,)]
    assert all("record" not in keys for keys in asked)
