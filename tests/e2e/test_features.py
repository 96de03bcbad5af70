"""Core features end to end against the simulator: child resources, incremental sync,
resources added by a plugin, and schemas supplied by a plugin."""

from __future__ import annotations

import duckdb
import headwater
import pytest
from headwater import hookimpl
from headwater.errors import ConfigError, SettingsError
from headwater.spec import (
    ApiKeyAuth,
    Connector,
    IncrementalSpec,
    OffsetPagination,
    ParentSpec,
    Resource,
    ResponseRule,
    SinglePage,
)
from headwater.testing import Fault
from helpers import a_second_before, extraction_error, rows_of

SCHEMAS = {
    "people": {
        "type": "object",
        "properties": {"id": {"type": "string"}, "name": {"type": "string"}},
        "required": ["id"],
    },
    "notes": {
        "type": "object",
        "properties": {"id": {"type": "integer"}, "text": {"type": "string"}},
        "required": ["id"],
    },
    "logs": {
        "type": "object",
        "properties": {"id": {"type": "string"}, "line": {"type": "string"}},
        "required": ["id"],
    },
    "events": {
        "type": "object",
        "properties": {
            "id": {"type": "string"},
            "ts": {"type": "string", "format": "date-time"},
        },
        "required": ["id", "ts"],
    },
}

FEAT = Connector(
    name="feat",
    package="headwater_directory",
    auth=ApiKeyAuth(name="X-Key", location="header"),
    response_rules=[ResponseRule(action="ignore", status_code=404)],
    resources=[
        Resource(
            name="people",
            path="/v1/people",
            schema="unused.json",
            data_selector="data",
            pagination=OffsetPagination(limit=50),
        ),
        Resource(
            name="notes",
            path="/v1/people/{pid}/notes",
            schema="unused.json",
            data_selector="notes",
            pagination=SinglePage(),
            parent=ParentSpec(resource="people", field="id", placeholder="pid", column="person_id"),
            primary_key=("person_id", "id"),
        ),
        Resource(
            name="logs",
            path="/v1/logs",
            schema="unused.json",
            data_selector="data",
            pagination=OffsetPagination(limit=100, total_path="total"),
        ),
        Resource(
            name="events",
            path="/v1/events",
            schema="unused.json",
            data_selector="data",
            pagination=OffsetPagination(limit=100),
            incremental=IncrementalSpec(cursor_field="ts", param="since"),
        ),
    ],
)


class FeatPlugin:
    """Declares FEAT and supplies its schemas through the schema hook."""

    @hookimpl
    def headwater_connectors(self):
        return [FEAT]

    @hookimpl
    def headwater_record_schema(self, connector, resource):
        if connector.name == "feat":
            return SCHEMAS.get(resource.name, SCHEMAS["people"])
        return None


@pytest.fixture
def feat(headwater_plugins, api_simulator):
    headwater_plugins(FeatPlugin())

    def start(**options):
        return api_simulator(FEAT, schemas=SCHEMAS, **options)

    return start


def count(pipeline, sql):
    with pipeline.sql_client() as client:
        return client.execute_sql(sql)


def test_children_for_every_parent_concurrently_and_joinable(feat, duckdb_pipeline):
    sim = feat(records={"people": 120, "notes": 3, "events": 10}, latency=0.02)
    expected = sum(len(v) for v in sim.data["notes"].values())
    pipeline = duckdb_pipeline("children")
    pipeline.run(headwater.source("feat", resources=["notes"], max_workers=8, **sim.settings))
    assert count(pipeline, "select count(*) from notes") == [(expected,)]
    assert count(pipeline, "select count(*) from notes n join people p on n.person_id = p.id") == [
        (expected,)
    ]
    assert count(pipeline, "select count(*) from people") == [(120,)]
    assert sim.peak_concurrency >= 4  # child requests overlap
    # second run merges on (person_id, id): no duplicates
    pipeline.run(headwater.source("feat", resources=["notes"], **sim.settings))
    assert count(pipeline, "select count(*) from notes") == [(expected,)]


def test_child_404_skips_that_parent_only(feat, duckdb_pipeline, caplog):
    sim = feat(records={"people": 20, "notes": 2})
    # One worker: child requests go in parent order, so the 4th is people[3]'s.
    victim = sim.data["people"][3]["id"]
    sim.add_fault(Fault("status", status=404, resource="notes", count=1, after=3))
    pipeline = duckdb_pipeline("child404")
    pipeline.run(headwater.source("feat", resources=["notes"], max_workers=1, **sim.settings))
    expected = sum(len(v) for v in sim.data["notes"].values())
    loaded = count(pipeline, "select count(*) from notes")[0][0]
    assert loaded == expected - len(sim.data["notes"][victim])
    assert "ignoring HTTP 404" in caplog.text


def test_incremental_sends_since_and_loads_only_new(feat, duckdb_pipeline):
    sim = feat(records={"people": 1, "events": 250})
    pipeline = duckdb_pipeline("incr")
    pipeline.run(headwater.source("feat", resources=["events"], **sim.settings))
    assert count(pipeline, "select count(*) from events") == [(250,)]
    first_requests = sim.requests_for("events")
    assert all("since" not in r.query for r in first_requests)
    newest = max(r["ts"] for r in sim.data["events"])

    sim.reset_log()
    sim.grow("events", 7)
    pipeline.run(headwater.source("feat", resources=["events"], **sim.settings))
    assert count(pipeline, "select count(*) from events") == [(257,)]
    sent = {r.query["since"][0] for r in sim.requests_for("events")}
    assert sent == {a_second_before(newest)}  # a since API answers strictly after

    sim.reset_log()
    pipeline.run(
        headwater.source("feat", resources=["events"], sync_mode="full_refresh", **sim.settings)
    )
    assert all("since" not in r.query for r in sim.requests_for("events"))
    assert count(pipeline, "select count(*) from events") == [(257,)]


def test_headwater_resources_added_resource_inherits_everything(
    feat, headwater_plugins, api_simulator
):
    class MoreResources:
        @hookimpl
        def headwater_resources(self, connector, settings):
            if connector.name != "feat":
                return None
            return [
                Resource(
                    name="people_copy",
                    path="/v1/people",
                    schema="unused.json",
                    data_selector="data",
                    pagination=OffsetPagination(limit=50),
                )
            ]

    headwater_plugins(FeatPlugin(), MoreResources())
    sim = api_simulator(FEAT, schemas=SCHEMAS, records={"people": 60})
    source = headwater.source("feat", resources=["people_copy"], **sim.settings)
    rows = rows_of(source)
    assert len(rows) == 60

    class Clash:
        @hookimpl
        def headwater_resources(self, connector):
            return [Resource(name="people", path="/x", schema="s.json")]

    headwater_plugins(FeatPlugin(), Clash())
    # the answer is wrong whatever the settings: said by headwater.source(), not extraction
    with pytest.raises(ConfigError) as err:
        headwater.source("feat", **sim.settings)
    assert str(err.value) == (
        "plugin 'Clash' adds resource 'people' to connector feat, which already declares a "
        "resource of that name; rename the resource the plugin's headwater_resources adds"
    )

    class NeedsASecret:
        @hookimpl
        def headwater_resources(self, connector, settings):
            if connector.name != "feat":
                return None
            return [Resource(name=settings["name_from_secret"], path="/x", schema="s.json")]

    headwater_plugins(FeatPlugin(), NeedsASecret())
    # a hook that fails on the settings known when the source is built runs again, with
    # the resolved settings, when it is extracted
    error = extraction_error(headwater.source("feat", **sim.settings))
    assert isinstance(error, ConfigError)
    assert "plugin 'NeedsASecret' failed in headwater_resources" in str(error)


def test_parallel_pages_fetch_concurrently_in_order(feat, duckdb_pipeline):
    sim = feat(records={"people": 1, "logs": 3050}, latency=0.02)
    source = headwater.source("feat", resources=["logs"], parallel_pages=8, **sim.settings)
    got = [r["id"] for r in rows_of(source)]
    assert got == [r["id"] for r in sim.data["logs"]]  # every record, once, in order
    assert sim.peak_concurrency >= 4
    offsets = sorted(int(r.query["offset"][0]) for r in sim.requests_for("logs"))
    assert offsets == list(range(0, 3100, 100))  # no page twice, none past the total


@pytest.mark.parametrize("parallel", [1, 4])
def test_an_api_capping_its_pages_below_the_limit_loses_nothing(feat, parallel):
    """The API serves 40 of the 100 records asked for and reports its total: each page
    starts where the one before ended, until the total."""
    sim = feat(records={"people": 1, "logs": 237}, max_page_size=40)
    source = headwater.source("feat", resources=["logs"], parallel_pages=parallel, **sim.settings)
    got = [r["id"] for r in rows_of(source)]
    assert got == [r["id"] for r in sim.data["logs"]]
    offsets = [int(r.query["offset"][0]) for r in sim.requests_for("logs")]
    assert offsets == list(range(0, 237, 40))


def test_parallel_pages_setting_is_checked(feat):
    sim = feat(records={"people": 1})
    # checked when the source is extracted, before any request
    error = extraction_error(headwater.source("feat", parallel_pages={"people": 4}, **sim.settings))
    assert isinstance(error, SettingsError)
    assert "'people' is not a resource whose pages can be" in str(error)
    error = extraction_error(headwater.source("feat", parallel_pages=0, **sim.settings))
    assert isinstance(error, SettingsError) and "invalid setting parallel_pages" in str(error)
    assert sim.requests == []


def test_failed_resource_does_not_lose_the_others(feat, headwater_env):
    from headwater.errors import RunError
    from headwater.run.pipeline import run_connector

    sim = feat(records={"people": 30, "logs": 300})
    sim.add_fault(Fault("status", status=400, resource="logs", count=None, after=1))
    result = run_connector("feat", sim.settings, resources=["people", "logs"])
    assert len(result.failures) == 1
    assert result.failures[0].startswith("resource feat.logs: GET")
    assert "HTTP 400" in result.failures[0]
    assert result.row_counts == {"people": 30}
    db = headwater_env / "headwater_feat.duckdb"
    with duckdb.connect(str(db), read_only=True) as con:
        tables = {
            t
            for (t,) in con.sql(
                "select table_name from information_schema.tables where table_schema = 'feat_data'"
            ).fetchall()
        }
    assert "people" in tables and "logs" not in tables  # no half-loaded resource

    with pytest.raises(RunError, match="resource feat.logs"):
        run_connector(
            "feat",
            sim.settings,
            resources=["people", "logs"],
            all_or_nothing=True,
            pipeline_name="strict",
            dataset_name="strict_data",
        )
    strict = headwater_env / "strict.duckdb"
    if strict.exists():  # dlt may have created the file; it holds no people
        with duckdb.connect(str(strict), read_only=True) as con:
            assert con.sql(
                "select count(*) from information_schema.tables where table_name = 'people'"
            ).fetchall() == [(0,)]


def feat_api(requests_mock, people, notes=None, events=None):
    requests_mock.get("https://api.example.com/v1/people", json={"data": people})
    for person in people:
        requests_mock.get(
            f"https://api.example.com/v1/people/{person['id']}/notes",
            json={"notes": (notes or {}).get(person["id"], [{"id": 1, "text": "n"}])},
        )
    if events is not None:
        requests_mock.get("https://api.example.com/v1/events", json={"data": events})


def test_quarantined_records_do_not_break_an_incremental_resource(
    headwater_plugins, requests_mock, duckdb_pipeline
):
    headwater_plugins(FeatPlugin())
    good = [{"id": "e1", "ts": "2024-01-01T00:00:00Z"}, {"id": "e3", "ts": "2024-01-03T00:00:00Z"}]
    bad = {"id": 2, "ts": "2024-01-02T00:00:00Z"}  # an integer id where text is declared
    feat_api(requests_mock, [], events=[good[0], bad, good[1]])
    pipeline = duckdb_pipeline("incr_quarantine")
    pipeline.run(headwater.source("feat", resources=["events"], api_key="kkkk"))
    assert count(pipeline, "select id from events order by id") == [("e1",), ("e3",)]
    assert count(pipeline, "select count(*) from events_quarantine") == [(1,)]


def test_quarantined_parents_are_not_used_as_parents(
    headwater_plugins, requests_mock, duckdb_pipeline
):
    headwater_plugins(FeatPlugin())
    people = [{"id": "p1", "name": "Ann"}, {"id": "p2", "name": 42}, {"id": "p3", "name": "Cy"}]
    feat_api(requests_mock, people)
    pipeline = duckdb_pipeline("parent_quarantine")
    pipeline.run(headwater.source("feat", resources=["notes"], api_key="kkkk"))
    asked = sorted(r.path for r in requests_mock.request_history if r.path.endswith("/notes"))
    assert asked == ["/v1/people/p1/notes", "/v1/people/p3/notes"]
    assert count(pipeline, "select person_id from notes order by 1") == [("p1",), ("p3",)]
    assert count(pipeline, "select count(*) from people_quarantine") == [(1,)]


def test_full_refresh_of_one_resource_keeps_the_others(feat, headwater_env):
    from headwater.run.pipeline import run_connector

    sim = feat(records={"people": 10, "logs": 20})
    run_connector("feat", sim.settings, resources=["people", "logs"])
    run_connector("feat", sim.settings, resources=["people"], full_refresh=True)
    db = headwater_env / "headwater_feat.duckdb"
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.sql("select count(*) from feat_data.logs").fetchall() == [(20,)]
        assert con.sql("select count(*) from feat_data.people").fetchall() == [(10,)]


def test_run_recovers_after_the_database_file_is_deleted(feat, headwater_env):
    from headwater.run.pipeline import run_connector

    sim = feat(records={"people": 10, "logs": 20})
    run_connector("feat", sim.settings, resources=["people", "logs"])
    db = headwater_env / "headwater_feat.duckdb"
    db.unlink()  # the pipeline's state (in DLT_DATA_DIR) stays behind
    result = run_connector("feat", sim.settings, resources=["people", "logs"])
    assert result.failures == ()
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.sql("select count(*) from feat_data.logs").fetchall() == [(20,)]
        assert con.sql("select count(*) from feat_data.people").fetchall() == [(10,)]


@pytest.fixture
def bad_notes(headwater_plugins, requests_mock):
    """Two people, each with a good note and one that breaks the schema."""
    headwater_plugins(FeatPlugin())
    people = [{"id": "p1", "name": "Ann"}, {"id": "p2", "name": "Bo"}]
    bad = {"id": "not a number", "text": "x"}  # notes declare an integer id
    feat_api(requests_mock, people, notes={p["id"]: [{"id": 1, "text": "a"}, bad] for p in people})


def test_a_transformer_on_a_child_resource_takes_its_records_only(bad_notes, duckdb_pipeline):
    # the child's quarantine rows reached the user's transformer, whose rows then went
    # to notes_quarantine (record NOT NULL): the load failed, good rows and all
    import dlt

    seen: list[list[str]] = []

    @dlt.transformer(name="note_ids")
    def note_ids(items):
        rows = items.to_pylist() if hasattr(items, "to_pylist") else items
        for row in rows:
            seen.append(sorted(row))
            yield {"note": row["id"]}

    source = headwater.source("feat", api_key="kkkk")
    notes = source.resources["notes"]
    pipeline = duckdb_pipeline("child_transformer")
    pipeline.run([source.resources["people"], notes, notes | note_ids])
    assert count(pipeline, "select count(*) from note_ids") == [(2,)]
    assert count(pipeline, "select count(*) from notes_quarantine") == [(2,)]
    assert all("record" not in keys for keys in seen)


def test_a_table_name_function_on_a_child_is_not_asked_about_quarantine_rows(
    bad_notes, duckdb_pipeline
):
    asked: list[type] = []

    def table(record):
        asked.append(type(record))
        return "all_notes"

    source = headwater.source("feat", api_key="kkkk")
    source.resources["notes"].apply_hints(table_name=table)
    pipeline = duckdb_pipeline("child_table_fn")
    pipeline.run(source.with_resources("people", "notes"))
    assert count(pipeline, "select count(*) from all_notes") == [(2,)]
    assert count(pipeline, "select count(*) from notes_quarantine") == [(2,)]
    assert asked and all(kind is dict for kind in asked), set(asked)
