"""``headwater.dagster.assets``: definitions from the declaration, runs as ``headwater run``.

- The definitions load with no setting in the environment and no network.
- Every asset of ``analytics_meetings`` (parent/child) and ``analytics_odata`` is
  materialized against the simulator, twice in one process, with one resource made to
  fail: its asset fails, the others are materialized; the rows in DuckDB are those the
  simulator served; the client secret (a canary) is nowhere in Dagster's storage, in
  its logs or in any file the runs wrote.
"""

from __future__ import annotations

import logging
import os
import socket
from datetime import datetime
from pathlib import Path

import attrs
import duckdb
import headwater_analytics.hooks
import pytest
from headwater import timebounds
from headwater.errors import ConfigError
from headwater.spec import Connector, IncrementalSpec, OffsetPagination, ParentSpec, Resource
from headwater.testing import Fault
from helpers import Declares, files_containing

dg = pytest.importorskip("dagster", reason="headwater[dagster] is not installed")
import headwater.dagster  # noqa: E402 - after the importorskip

CANARY = "canary-dagster-5e1f0c"
CONNECTORS = ("analytics_meetings", "analytics_odata")


@pytest.fixture
def analytics(headwater_plugins):
    headwater_plugins(headwater_analytics.hooks)


def keys(defs):
    return {key.to_user_string() for d in defs for key in d.keys}


def test_definitions_load_without_settings_or_network(analytics, monkeypatch):
    assert not [v for v in os.environ if v.startswith("SOURCES__")]

    def no_network(*args, **kwargs):
        raise AssertionError(f"definitions opened a connection: {args}")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    defs = [d for name in CONNECTORS for d in headwater.dagster.assets(name)]
    # what `dagster definitions validate` checks
    dg.Definitions.validate_loadable(dg.Definitions(assets=defs))
    assert keys(defs) == {
        "analytics_meetings/users",
        "analytics_meetings/meetings",
        "analytics_odata/users",
        "analytics_odata/groups",
        "analytics_odata/conversations",
    }
    specs = {k.to_user_string(): s for d in defs for k, s in d.specs_by_key.items()}
    meetings = specs["analytics_meetings/meetings"]
    assert [dep.asset_key.to_user_string() for dep in meetings.deps] == ["analytics_meetings/users"]
    assert specs["analytics_meetings/users"].deps == []
    assert meetings.group_name == "analytics_meetings"
    assert meetings.description.startswith("Meetings of each user")
    # the declared columns: types, keys, descriptions
    columns = {c.name: c for c in meetings.metadata["dagster/column_schema"].columns}
    # id is one column of the key (user_id, id): not null, not unique on its own
    assert not columns["id"].constraints.unique and not columns["id"].constraints.nullable
    assert meetings.metadata["headwater/primary_key"] == "user_id, id"
    assert meetings.metadata["headwater/write_disposition"] == "merge"
    users = {
        c.name: c for c in specs["analytics_odata/users"].metadata["dagster/column_schema"].columns
    }
    assert users and all(c.type for c in users.values())
    described = [c for c in columns.values() if c.description]
    assert described, "the schema's descriptions are the columns'"


def test_a_composite_key_lists_every_key_column_not_null_and_none_unique_alone(analytics):
    """meetings' key is (user_id, id): user_id, the parent's column that no record
    schema declares, is listed, and neither column is unique on its own; a key of
    one column is unique."""
    defs = [d for name in CONNECTORS for d in headwater.dagster.assets(name)]
    specs = {k.to_user_string(): s for d in defs for k, s in d.specs_by_key.items()}

    def columns(key: str) -> dict:
        return {c.name: c for c in specs[key].metadata["dagster/column_schema"].columns}

    meetings = columns("analytics_meetings/meetings")
    assert specs["analytics_meetings/meetings"].metadata["headwater/primary_key"] == "user_id, id"
    for name in ("user_id", "id"):
        assert not meetings[name].constraints.nullable, name
        assert not meetings[name].constraints.unique, name
    # the parent's column has the type of the parent's field it holds
    users = columns("analytics_meetings/users")
    assert meetings["user_id"].type == users["id"].type
    assert specs["analytics_meetings/users"].metadata["headwater/primary_key"] == "id"
    assert users["id"].constraints.unique and not users["id"].constraints.nullable


def test_options_are_checked_when_the_definitions_load(analytics):
    with pytest.raises(ConfigError, match="unknown option.*destinaton") as info:
        headwater.dagster.assets("analytics_odata", destinaton="duckdb")
    # the options it names are all it takes, its own spelled as it takes them
    named = str(info.value).rsplit("its options: ", 1)[1].split(", ")
    assert {"pipeline", "partitions_start", "translator", "settings", "destination"} <= set(named)
    with pytest.raises(ConfigError, match="has no resource 'user'"):
        headwater.dagster.assets("analytics_odata", resources=["user"])


def test_translator_and_resource_selection(analytics):
    defs = headwater.dagster.assets(
        "analytics_meetings",
        resources=["meetings"],
        group="meetings_api",
        translator=lambda connector, resource: ["raw", resource.name],
    )
    # the child's parent comes along: it is loaded with it
    assert keys(defs) == {"raw/users", "raw/meetings"}
    (spec,) = [s for d in defs for k, s in d.specs_by_key.items() if k.path[-1] == "meetings"]
    assert [dep.asset_key.path for dep in spec.deps] == [["raw", "users"]]
    assert spec.group_name == "meetings_api"


def _served(sim, resource):
    data = sim.data[resource]
    if isinstance(data, dict):  # a child: parent value -> records
        return sorted((parent, r["id"]) for parent, records in data.items() for r in records)
    return sorted(r["id"] for r in data)


def _loaded(database: Path, dataset: str, table: str, child: bool) -> list:
    columns = "user_id, id" if child else "id"
    with duckdb.connect(str(database), read_only=True) as con:
        rows = con.sql(f"select {columns} from {dataset}.{table}").fetchall()
    return sorted(tuple(r) if child else r[0] for r in rows)


def test_materialize_twice_with_a_failing_resource(
    analytics, api_simulator, monkeypatch, headwater_env, tmp_path, caplog, capfd
):
    caplog.set_level(logging.DEBUG)
    defs = [d for name in CONNECTORS for d in headwater.dagster.assets(name)]
    sims = {}
    for name in CONNECTORS:
        sim = api_simulator(
            name,
            records={"users": 45, "groups": 12, "conversations": 7}
            if name == "analytics_odata"
            else {"users": 35},
            credentials={"client_secret": CANARY},
        )
        sims[name] = sim
        for key, value in sim.settings.items():
            monkeypatch.setenv(f"SOURCES__{name.upper()}__{key.upper()}", value)
    sims["analytics_odata"].add_fault(Fault("status", status=400, resource="groups", count=None))
    (tmp_path / "dagster_home").mkdir()
    instance = dg.DagsterInstance.local_temp(str(tmp_path / "dagster_home"))

    for attempt in (1, 2):
        result = dg.materialize(defs, instance=instance, raise_on_error=False)
        assert not result.success
        materialized = {
            e.asset_key.to_user_string(): e.materialization.metadata["dagster/row_count"].value
            for e in result.get_asset_materialization_events()
        }
        assert materialized == {
            "analytics_meetings/users": 35,
            "analytics_meetings/meetings": len(_served(sims["analytics_meetings"], "meetings")),
            "analytics_odata/users": 45,
            "analytics_odata/conversations": 7,
        }, attempt
        (failure,) = result.get_step_failure_events()
        message = failure.event_specific_data.error.message
        assert "analytics_odata/groups" in message and "HTTP 400" in message
        # rows in DuckDB: what the simulator served, once each (merge on the keys)
        for name in CONNECTORS:
            database = headwater_env / f"headwater_{name}.duckdb"
            for resource in ("users", "meetings", "conversations"):
                if resource not in sims[name].data:
                    continue
                child = resource == "meetings"
                assert _loaded(database, f"{name}_data", resource, child) == _served(
                    sims[name], resource
                ), (name, resource, attempt)
        with duckdb.connect(str(headwater_env / "headwater_analytics_odata.duckdb")) as con:
            tables = {
                r[0] for r in con.sql("select table_name from information_schema.tables").fetchall()
            }
        assert "groups" not in tables

    # the secret: sent to the token endpoint, never written or logged
    assert sims["analytics_meetings"].tokens_issued >= 2
    out, err = capfd.readouterr()
    assert CANARY not in out + err + caplog.text
    assert files_containing(tmp_path, CANARY) == []
    logs = instance.all_logs(result.run_id)
    assert logs and not [e for e in logs if CANARY in str(e)]


def _windowed(window: str = "1d", initial: str = "2024-01-01") -> Connector:
    """One events resource, incremental on ``timestamp`` in windows of ``window`` from
    ``initial`` on."""
    return Connector(
        name="windowed",
        package="headwater_analytics",
        base_url="https://api.test",
        resources=[
            Resource(
                name="events",
                path="/v1/events",
                data_selector="data",
                pagination=OffsetPagination(limit=500),
                schema="schemas/events.json",
                incremental=IncrementalSpec(  # type: ignore[call-arg]
                    cursor_field="timestamp",
                    param="since",
                    end_param="until",
                    initial=initial,
                    window=window,
                ),
            )
        ],
    )


@pytest.mark.skipif(
    "window" not in {f.name for f in attrs.fields(IncrementalSpec)},  # HAS_WINDOWS
    reason="IncrementalSpec has no `window` yet (the incremental issue adds it): "
    "partitioned assets are built only for resources that declare windows",
)
def test_windowed_resource_is_daily_partitioned_and_a_partition_runs_its_window(
    headwater_plugins, api_simulator, monkeypatch, headwater_env, tmp_path
):
    headwater_plugins(Declares(_windowed()))
    (asset,) = headwater.dagster.assets("windowed")
    partitions = asset.partitions_def
    assert isinstance(partitions, dg.DailyPartitionsDefinition)
    assert partitions.get_first_partition_key() == "2024-01-01"
    # 3000 records a minute apart from 2024-01-01T00:00Z: three days' worth
    sim = api_simulator("windowed", records={"events": 3000}, page_size=500)
    for key, value in sim.settings.items():
        monkeypatch.setenv(f"SOURCES__WINDOWED__{key.upper()}", value)
    (tmp_path / "dagster_home").mkdir()
    instance = dg.DagsterInstance.local_temp(str(tmp_path / "dagster_home"))
    result = dg.materialize([asset], instance=instance, partition_key="2024-01-02")
    assert result.success
    (event,) = result.get_asset_materialization_events()
    metadata = event.materialization.metadata
    assert (metadata["start"].value, metadata["end"].value) == ("2024-01-02", "2024-01-03")
    served = sorted(
        str(r["id"]) for r in sim.data["events"] if r["timestamp"].startswith("2024-01-02")
    )
    assert len(served) == 1440
    with duckdb.connect(str(headwater_env / "headwater_windowed.duckdb")) as con:
        loaded = sorted(
            str(r[0]) for r in con.sql("select id from windowed_data.events").fetchall()
        )
    assert loaded == served


HAS_WINDOWS = "window" in {f.name for f in attrs.fields(IncrementalSpec)}


@attrs.frozen
class _Windowed(IncrementalSpec):
    """An incremental spec with a window, as the incremental issue declares one (here
    before that lands, for the definitions side only)."""

    window: str | None = None


def _windowed_spec(*args, **kwargs) -> IncrementalSpec:
    """The installed IncrementalSpec with a window (and the API's end parameter a
    window needs), or a stand-in before the incremental issue lands."""
    if HAS_WINDOWS:
        return IncrementalSpec(*args, end_param="until", **kwargs)  # type: ignore[call-arg]
    return _Windowed(*args, **kwargs)


def _windowed_asset(headwater_plugins, api_simulator, monkeypatch, tmp_path, window, events):
    """The asset of :func:`_windowed` (``window``), its simulator serving ``events``
    records a minute apart from 2024-01-01T00:00Z, and a Dagster instance."""
    headwater_plugins(Declares(_windowed(window)))
    (asset,) = headwater.dagster.assets("windowed")
    sim = api_simulator("windowed", records={"events": events}, page_size=500)
    for key, value in sim.settings.items():
        monkeypatch.setenv(f"SOURCES__WINDOWED__{key.upper()}", value)
    (tmp_path / "dagster_home").mkdir()
    return asset, sim, dg.DagsterInstance.local_temp(str(tmp_path / "dagster_home"))


def _fail_the_load(asset, instance, monkeypatch, partition: str) -> None:
    """Materialize ``partition`` with its load refused (as DuckDB refuses a file a
    reader has open): extracted and normalized, not loaded."""
    from dlt.pipeline.pipeline import Pipeline

    def locked(self, *args, **kwargs):
        raise OSError("IO Error: Could not set lock on file windowed.duckdb")

    with monkeypatch.context() as patch:
        patch.setattr(Pipeline, "load", locked)
        failed = dg.materialize(
            [asset], instance=instance, partition_key=partition, raise_on_error=False
        )
    assert not failed.success


@pytest.mark.skipif(not HAS_WINDOWS, reason="IncrementalSpec has no `window` yet")
def test_rows_a_failed_partition_left_are_reported_apart_from_the_next_partitions(
    headwater_plugins, api_simulator, monkeypatch, headwater_env, tmp_path
):
    """A partition whose load failed (the DuckDB file locked by a reader) leaves its
    rows extracted; the next partition loads them with its own, and its row_count is
    its own window's rows, the others under headwater/leftover_rows."""
    asset, sim, instance = _windowed_asset(
        headwater_plugins, api_simulator, monkeypatch, tmp_path, "1d", 3000
    )
    assert dg.materialize([asset], instance=instance, partition_key="2024-01-01").success
    _fail_the_load(asset, instance, monkeypatch, "2024-01-02")
    result = dg.materialize([asset], instance=instance, partition_key="2024-01-03")
    assert result.success
    (event,) = result.get_asset_materialization_events()
    metadata = event.materialization.metadata

    def day(date: str) -> int:
        return sum(1 for r in sim.data["events"] if r["timestamp"].startswith(date))

    assert metadata["dagster/row_count"].value == day("2024-01-03")
    assert metadata["headwater/leftover_rows"].value == day("2024-01-02")
    with duckdb.connect(str(headwater_env / "headwater_windowed.duckdb")) as con:
        [(total,)] = con.sql("select count(*) from windowed_data.events").fetchall()
    assert total == len(sim.data["events"])
    logs = [str(e.user_message) for e in instance.all_logs(result.run_id)]
    assert any(
        f"{day('2024-01-02')} rows of windowed/events an earlier run left" in m for m in logs
    ), logs


@pytest.mark.skipif(not HAS_WINDOWS, reason="IncrementalSpec has no `window` yet")
def test_rows_of_a_first_load_that_failed_are_not_counted_when_dlt_drops_them(
    headwater_plugins, api_simulator, monkeypatch, headwater_env, tmp_path
):
    """The pipeline's first load failed: the destination has no dataset, and dlt drops
    the package left (the failed partition reads its window again when materialized):
    the next partition does not count its rows as loaded."""
    asset, sim, instance = _windowed_asset(
        headwater_plugins, api_simulator, monkeypatch, tmp_path, "1d", 3000
    )
    _fail_the_load(asset, instance, monkeypatch, "2024-01-01")
    result = dg.materialize([asset], instance=instance, partition_key="2024-01-02")
    (event,) = result.get_asset_materialization_events()
    metadata = event.materialization.metadata
    with duckdb.connect(str(headwater_env / "headwater_windowed.duckdb")) as con:
        [(total,)] = con.sql("select count(*) from windowed_data.events").fetchall()
    second = sum(1 for r in sim.data["events"] if r["timestamp"].startswith("2024-01-02"))
    assert metadata["dagster/row_count"].value == total == second
    assert "headwater/leftover_rows" not in metadata


def test_a_windowed_resource_and_its_children_are_one_partitioned_step(headwater_plugins):
    declared = Connector(
        name="windowed",
        package="headwater_analytics",
        resources=[
            Resource(name="plain", path="/plain", schema="schemas/events.json"),
            Resource(
                name="events",
                path="/events",
                schema="schemas/events.json",
                incremental=_windowed_spec(
                    "timestamp", "since", initial="2024-01-01T00:00:00Z", window="1h"
                ),
            ),
            Resource(
                name="details",
                path="/events/{event_id}",
                schema="schemas/events.json",
                parent=ParentSpec(resource="events", placeholder="event_id"),
            ),
        ],
    )
    headwater_plugins(Declares(declared))
    plain, windowed = headwater.dagster.assets("windowed")
    assert plain.partitions_def is None
    assert keys([plain]) == {"windowed/plain"}
    assert keys([windowed]) == {"windowed/events", "windowed/details"}
    assert isinstance(windowed.partitions_def, dg.HourlyPartitionsDefinition)
    assert windowed.partitions_def.get_first_partition_key() == "2024-01-01-00:00"
    (late,) = headwater.dagster.assets(
        "windowed", resources=["events"], partitions_start="2025-03-01"
    )
    assert late.partitions_def.get_first_partition_key() == "2025-03-01-00:00"


def test_missing_partitions_start_is_one_clear_error():
    from headwater.dagster.steps import _partitions

    spec = Connector(
        name="odd",
        package="headwater_analytics",
        resources=[Resource(name="events", path="/e", schema="schemas/events.json")],
    )
    with pytest.raises(ConfigError, match="declares no incremental initial value"):
        _partitions(spec, list(spec.resources), "1d", None)
    with pytest.raises(ConfigError, match="partitions start 'soon' is not an ISO date"):
        _partitions(spec, list(spec.resources), "1d", "soon")


def _covers(partitions, start: datetime) -> None:
    """The first partition holds ``start`` and the next ones follow it without a gap."""
    first = partitions.get_first_partition_key()
    window = partitions.time_window_for_partition_key(first)
    assert window.start <= start < window.end, (first, window)
    key = first
    for _ in range(3):
        following = partitions.get_next_partition_key(key)
        after = partitions.time_window_for_partition_key(following)
        assert after.start == window.end, (key, following)
        key, window = following, after


@pytest.mark.parametrize(
    ("window", "initial", "kind", "first"),
    [
        # 2024-01-01 is a Monday: Dagster's weeks start on Sunday unless told otherwise
        ("7d", "2024-01-01", dg.WeeklyPartitionsDefinition, "2024-01-01"),
        ("1w", "2024-01-03T06:30:00Z", dg.WeeklyPartitionsDefinition, "2024-01-03"),
        ("1d", "2024-01-01T06:30:00Z", dg.DailyPartitionsDefinition, "2024-01-01"),
        ("24h", "2024-01-01T23:59:59Z", dg.DailyPartitionsDefinition, "2024-01-01"),
        ("1h", "2024-01-01T06:30:00Z", dg.HourlyPartitionsDefinition, "2024-01-01-06:00"),
        ("60m", "2024-01-01T06:00:00+02:00", dg.HourlyPartitionsDefinition, "2024-01-01-04:00"),
    ],
)
def test_the_first_partition_holds_the_initial_value(
    headwater_plugins, window, initial, kind, first
):
    """A weekly asset from a Monday started on the next Sunday, and an hourly one from
    06:30 at 07:00: the records before belonged to no partition, and a Dagster backfill
    of every partition never loaded them."""
    headwater_plugins(Declares(_windowed(window, initial)))
    (asset,) = headwater.dagster.assets("windowed")
    partitions = asset.partitions_def
    assert isinstance(partitions, kind)
    assert partitions.get_first_partition_key() == first
    _covers(partitions, timebounds.parse_instant(initial))
    # partitions_start alike, in UTC whatever its offset
    start = "2024-02-07T01:00:00+03:00"  # a Tuesday in UTC
    (late,) = headwater.dagster.assets("windowed", partitions_start=start)
    _covers(late.partitions_def, timebounds.parse_instant(start))


def test_a_weekly_partition_from_a_monday_loads_that_monday(
    headwater_plugins, api_simulator, monkeypatch, headwater_env, tmp_path
):
    # 300 records a minute apart from Monday 2024-01-01T00:00Z
    asset, _sim, instance = _windowed_asset(
        headwater_plugins, api_simulator, monkeypatch, tmp_path, "7d", 300
    )
    first = asset.partitions_def.get_first_partition_key()
    result = dg.materialize([asset], instance=instance, partition_key=first)
    (event,) = result.get_asset_materialization_events()
    metadata = event.materialization.metadata
    assert (metadata["start"].value, metadata["end"].value) == ("2024-01-01", "2024-01-08")
    assert metadata["dagster/row_count"].value == 300


def test_a_window_without_dagster_partitions_is_an_unpartitioned_asset(
    headwater_plugins, api_simulator, monkeypatch, headwater_env, tmp_path
):
    """A 6h window raised a ConfigError: no asset of the connector was defined, not
    even its other resources'."""
    declared = _windowed("6h")
    plain = attrs.evolve(declared.resources[0], name="plain", path="/v1/plain", incremental=None)
    declared = attrs.evolve(declared, resources=[*declared.resources, plain])
    headwater_plugins(Declares(declared))
    with pytest.warns(UserWarning) as caught:
        (step,) = headwater.dagster.assets("windowed")
    (warning,) = [str(w.message) for w in caught]
    assert "windowed.events" in warning and "'6h'" in warning
    assert "1h, 1d or 7d" in warning
    assert step.partitions_def is None
    assert keys([step]) == {"windowed/events", "windowed/plain"}
    # a materialization is an incremental run, cut in the window's slices (here the
    # window setting's, so that 2024 to now is a few requests)
    sim = api_simulator(declared, records={"events": 300, "plain": 5}, page_size=500)
    for key, value in {**sim.settings, "window": "365d"}.items():
        monkeypatch.setenv(f"SOURCES__WINDOWED__{key.upper()}", value)
    (tmp_path / "dagster_home").mkdir()
    instance = dg.DagsterInstance.local_temp(str(tmp_path / "dagster_home"))
    result = dg.materialize([step], instance=instance)
    counts = {
        e.asset_key.to_user_string(): e.materialization.metadata["dagster/row_count"].value
        for e in result.get_asset_materialization_events()
    }
    assert counts == {"windowed/events": 300, "windowed/plain": 5}
    assert len(sim.requests_for("events")) > 1  # sliced


def test_a_dagster_dlt_translator_names_the_assets(analytics, monkeypatch):
    from dagster_dlt import DagsterDltTranslator

    class Raw(DagsterDltTranslator):
        def get_asset_spec(self, data):
            default = super().get_asset_spec(data)
            return default.replace_attributes(
                key=dg.AssetKey(["raw", data.resource.name]), owners=["team:data"]
            )

    def no_network(*args, **kwargs):
        raise AssertionError(f"definitions opened a connection: {args}")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    (step,) = headwater.dagster.assets("analytics_meetings", translator=Raw())
    specs = {k.to_user_string(): s for k, s in step.specs_by_key.items()}
    assert set(specs) == {"raw/users", "raw/meetings"}
    assert [d.asset_key.to_user_string() for d in specs["raw/meetings"].deps] == ["raw/users"]
    assert specs["raw/users"].owners == ["team:data"]


def test_a_subset_runs_only_its_resources_and_missing_settings_fail_in_one_line(
    analytics, api_simulator, monkeypatch, tmp_path
):
    defs = headwater.dagster.assets("analytics_odata")
    (tmp_path / "dagster_home").mkdir()
    instance = dg.DagsterInstance.local_temp(str(tmp_path / "dagster_home"))
    # no settings where the step runs: the step fails with Headwater's one line
    result = dg.materialize(defs, instance=instance, raise_on_error=False)
    (failure,) = result.get_step_failure_events()
    message = failure.event_specific_data.error.message
    assert "client_id" in message and "SOURCES__ANALYTICS_ODATA__CLIENT_ID" in message
    assert result.get_asset_materialization_events() == []

    sim = api_simulator("analytics_odata", records={"users": 3, "groups": 4, "conversations": 5})
    for key, value in sim.settings.items():
        monkeypatch.setenv(f"SOURCES__ANALYTICS_ODATA__{key.upper()}", value)
    result = dg.materialize(defs, instance=instance, selection=["analytics_odata/groups"])
    (event,) = result.get_asset_materialization_events()
    assert event.asset_key.to_user_string() == "analytics_odata/groups"
    assert event.materialization.metadata["dagster/row_count"].value == 4
    assert sim.requests_for("users") == [] and sim.requests_for("conversations") == []


def test_a_secret_in_the_query_string_stays_out_of_dagster(
    headwater_plugins, api_simulator, monkeypatch, tmp_path, capfd, caplog
):
    # hr sends its API key in the query string: the failing request's URL holds it
    import headwater_hr.hooks

    headwater_plugins(headwater_hr.hooks)
    sim = api_simulator("hr", records={"employees": 5}, credentials={"api_key": CANARY})
    sim.add_fault(Fault("status", status=400, resource="employees", count=None))
    for key, value in sim.settings.items():
        monkeypatch.setenv(f"SOURCES__HR__{key.upper()}", value)
    (tmp_path / "dagster_home").mkdir()
    instance = dg.DagsterInstance.local_temp(str(tmp_path / "dagster_home"))
    caplog.set_level(logging.DEBUG, logger="urllib3")  # full URLs: restored after the test
    result = dg.materialize(headwater.dagster.assets("hr"), instance=instance, raise_on_error=False)
    (failure,) = result.get_step_failure_events()
    assert "HTTP 400" in failure.event_specific_data.error.message
    assert sim.requests_for("employees")  # the key was sent
    out, err = capfd.readouterr()
    assert CANARY not in out + err + caplog.text
    assert not [e for e in instance.all_logs(result.run_id) if CANARY in str(e)]
    assert files_containing(tmp_path, CANARY) == []


def test_an_unexpected_error_fails_the_step_redacted(analytics, monkeypatch, tmp_path):
    from headwater import redact
    from headwater.dagster import steps as module

    def broken(*args, **kwargs):
        redact.register([CANARY])  # as resolving the settings does
        raise RuntimeError(f"bug while holding {CANARY}")

    monkeypatch.setattr(module, "run_connector", broken)
    (tmp_path / "dagster_home").mkdir()
    instance = dg.DagsterInstance.local_temp(str(tmp_path / "dagster_home"))
    result = dg.materialize(
        headwater.dagster.assets("analytics_odata"), instance=instance, raise_on_error=False
    )
    (failure,) = result.get_step_failure_events()
    assert "RuntimeError: bug while holding ***" in failure.event_specific_data.error.message
    assert not [e for e in instance.all_logs(result.run_id) if CANARY in str(e)]
    assert files_containing(tmp_path, CANARY) == []


def test_a_partition_of_one_windowed_asset_runs_that_resource_alone(
    headwater_plugins, api_simulator, monkeypatch, headwater_env, tmp_path
):
    """Two windowed resources in one step: materializing one asset's partition asked
    the other's API too and loaded it, while Dagster recorded it as not materialized."""
    declared = _windowed()
    audits = attrs.evolve(declared.resources[0], name="audits", path="/v1/audits")
    declared = attrs.evolve(declared, resources=[*declared.resources, audits])
    headwater_plugins(Declares(declared))
    (asset,) = headwater.dagster.assets("windowed")
    sim = api_simulator(declared, records={"events": 200, "audits": 200}, page_size=500)
    for key, value in sim.settings.items():
        monkeypatch.setenv(f"SOURCES__WINDOWED__{key.upper()}", value)
    (tmp_path / "dagster_home").mkdir()
    instance = dg.DagsterInstance.local_temp(str(tmp_path / "dagster_home"))
    result = dg.materialize(
        [asset],
        instance=instance,
        partition_key="2024-01-01",
        selection=[dg.AssetKey(["windowed", "events"])],
    )
    assert result.success
    assert [e.asset_key for e in result.get_asset_materialization_events()] == [
        dg.AssetKey(["windowed", "events"])
    ]
    assert sim.requests_for("events") and not sim.requests_for("audits")


def test_pipeline_name_is_taken_for_pipeline(
    analytics, api_simulator, monkeypatch, headwater_env, tmp_path
):
    """assets(..., pipeline_name=...) was accepted and ignored: the run went into the
    default pipeline."""
    defs = headwater.dagster.assets("analytics_odata", resources=["users"], pipeline_name="mine")
    sim = api_simulator("analytics_odata", records={"users": 5})
    for key, value in sim.settings.items():
        monkeypatch.setenv(f"SOURCES__ANALYTICS_ODATA__{key.upper()}", value)
    (tmp_path / "dagster_home").mkdir()
    instance = dg.DagsterInstance.local_temp(str(tmp_path / "dagster_home"))
    result = dg.materialize(defs, instance=instance)
    [event] = result.get_asset_materialization_events()
    assert event.materialization.metadata["headwater/pipeline"].value == "mine"
    assert (headwater_env / "mine.duckdb").exists()


def test_a_plugin_whose_record_schema_fails_is_named_when_the_definitions_load(
    headwater_plugins,
):
    from headwater import hookimpl
    from headwater.errors import PluginError

    class SchemaStoreDown:
        @hookimpl(tryfirst=True)
        def headwater_record_schema(self, connector, resource):
            raise RuntimeError("schema store down")

    headwater_plugins(headwater_analytics.hooks, SchemaStoreDown())
    with pytest.raises(PluginError) as err:
        headwater.dagster.assets("analytics_meetings")
    assert str(err.value) == (
        "plugin 'SchemaStoreDown' failed in headwater_record_schema for connector "
        "analytics_meetings: RuntimeError: schema store down"
    )
