"""Incremental loading end to end against the simulator's time-filtered API: bound
formats, bounds in a body, lookback, client-side filtering, windows, backfills,
resume after SIGKILL (see docs/incremental.md)."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone

import attrs
import duckdb
import headwater
import pytest
import timed_api
from headwater.load.assemble import build_source
from headwater.load.incremental import STATE_KEY, RunBounds
from headwater.run.pipeline import run_connector
from headwater.testing.conformance import ConformanceSuite
from headwater.timebounds import format_bound, parse_instant
from timed_api import TimedPlugin, timed

T0 = datetime(2024, 1, 1, tzinfo=timezone.utc)


@pytest.fixture
def serve(headwater_plugins, api_simulator, headwater_env):
    def start(connector=None, **options):
        connector = connector or timed()
        headwater_plugins(TimedPlugin(connector))
        return api_simulator(connector, schemas={"events": _schema()}, **options)

    return start


def _schema():
    from timed_api import SCHEMA

    return SCHEMA


def ts(record) -> datetime:
    return parse_instant(record["ts"])


def rows(pipeline_or_path, sql="select id from events order by id"):
    if isinstance(pipeline_or_path, str):
        with duckdb.connect(pipeline_or_path, read_only=True) as db:
            return db.execute(sql).fetchall()
    with pipeline_or_path.sql_client() as client:
        return client.execute_sql(sql)


def in_range(sim, lower, upper=None):
    return sorted(
        r["id"] for r in sim.data["events"] if ts(r) >= lower and (upper is None or ts(r) < upper)
    )


FORMATS = ["iso8601", "date", "unix", "unix_ms", "strftime:%Y%m%d%H%M%S"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_bounds_in_every_format_through_source(fmt, serve, duckdb_pipeline):
    sim = serve(timed(format=fmt, cursor_format="iso8601"))
    start = T0 if fmt == "date" else T0 + timedelta(hours=1)
    end = T0 + (timedelta(days=1) if fmt == "date" else timedelta(hours=3))
    pipeline = duckdb_pipeline("formats")
    # the end of a normal run is when it starts; fixed here to stay inside the data
    from headwater.load.assemble import build_source

    source = build_source(
        "timed", {"start_date": start.isoformat(), **sim.settings}, bounds=RunBounds(end=end)
    )
    pipeline.run(source)
    sent = sim.requests_for("events")[0].query
    assert sent["start"] == [str(format_bound(start, fmt))]
    assert sent["end"] == [str(format_bound(end, fmt))]
    assert [r[0] for r in rows(pipeline)] == in_range(sim, start, end)
    state = pipeline.state["sources"]["timed"]["resources"]["events"][STATE_KEY]
    assert state["position"] == end.isoformat().replace("+00:00", "Z")


def test_second_run_starts_where_the_first_ended(serve, duckdb_pipeline):
    sim = serve()
    pipeline = duckdb_pipeline("second")
    source = headwater.source("timed", start_date="2024-01-01", **sim.settings)
    pipeline.run(source)
    assert len(rows(pipeline)) == 250
    first_end = sim.requests_for("events")[0].query["end"][0]
    sim.reset_log()
    pipeline.run(headwater.source("timed", start_date="2024-01-01", **sim.settings))
    assert {r.query["start"][0] for r in sim.requests_for("events")} == {first_end}


def test_a_cursor_field_no_record_has_is_warned_about(
    headwater_plugins, api_simulator, headwater_env, duckdb_pipeline, caplog
):
    """A misspelled cursor_field: nothing moves the position, every run reads all again.
    The API is the timed one (cursor ts); the declaration says modified_at. With an end
    parameter the position follows the ranges requested: the warning says only what is
    wrong."""
    sim = api_simulator(timed(), schemas={"events": _schema()})
    served = len(sim.data["events"])
    for end_param, consequence in [
        (None, ", so its position does not advance and every run reads everything again;"),
        ("end", "; check cursor_field"),
    ]:
        headwater_plugins(TimedPlugin(timed(cursor_field="modified_at", end_param=end_param)))
        pipeline = duckdb_pipeline(f"no_cursor_{end_param}")
        caplog.clear()
        with caplog.at_level("WARNING", logger="headwater"):
            pipeline.run(headwater.source("timed", start_date="2024-01-01", **sim.settings))
        [warning] = [r.getMessage() for r in caplog.records if "cursor_field" in r.getMessage()]
        assert warning.startswith(
            f"resource events: none of its {served} records has a value for its incremental "
            f"cursor_field 'modified_at'{consequence}"
        ), warning
        assert "ts" in warning.rsplit("fields: ", 1)[1].rstrip(")").split(", "), warning
    caplog.clear()
    with caplog.at_level("WARNING", logger="headwater"):  # a right cursor: no warning
        headwater_plugins(TimedPlugin(timed()))
        pipeline.run(headwater.source("timed", start_date="2024-01-01", **sim.settings))
    assert not [r for r in caplog.records if "cursor_field" in r.getMessage()]


def test_a_child_cursor_field_no_record_has_is_warned_about_once(
    headwater_plugins, api_simulator, headwater_env, duckdb_pipeline, caplog
):
    from timed_api import SCHEMA, with_children

    user_schema = {"type": "object", "properties": {"id": {"type": "string"}}, "required": ["id"]}
    schemas = {"users": user_schema, "meetings": SCHEMA}
    sim = api_simulator(with_children(), schemas=schemas, records={"users": 5, "meetings": 4})
    headwater_plugins(
        TimedPlugin(with_children(cursor_field="modified_at", end_param=None), schemas)
    )
    with caplog.at_level("WARNING", logger="headwater"):
        duckdb_pipeline("child_cursor").run(
            headwater.source("timed", start_date="2024-01-01", **sim.settings)
        )
    served = sum(len(v) for v in sim.data["meetings"].values())
    [warning] = [r.getMessage() for r in caplog.records if "cursor_field" in r.getMessage()]
    assert warning.startswith(
        f"resource meetings: none of its {served} records has a value for its incremental "
        "cursor_field 'modified_at', so its position does not advance"
    ), warning


def test_bounds_in_a_post_body(serve, duckdb_pipeline):
    sim = serve(timed(location="body", format="unix", cursor_format="iso8601"))
    end = T0 + timedelta(hours=2)
    from headwater.load.assemble import build_source

    pipeline = duckdb_pipeline("body")
    pipeline.run(
        build_source(
            "timed", {"start_date": "2024-01-01", **sim.settings}, bounds=RunBounds(end=end)
        )
    )
    requests = sim.requests_for("events")
    assert all(r.method == "POST" and "start" not in r.query for r in requests)
    body = json.loads(requests[0].body)
    assert body["filter"] == {"kind": "all"}
    assert (body["start"], body["end"]) == (int(T0.timestamp()), int(end.timestamp()))
    assert [r[0] for r in rows(pipeline)] == in_range(sim, T0, end)


def test_lookback_fetches_late_records_again_and_merge_keeps_one_copy(serve, duckdb_pipeline):
    sim = serve(timed(lookback="2h"))
    from headwater.load.assemble import build_source

    pipeline = duckdb_pipeline("lookback")
    settings = {"start_date": "2024-01-01", **sim.settings}
    pipeline.run(build_source("timed", settings, bounds=RunBounds(end=T0 + timedelta(hours=5))))
    assert len(rows(pipeline)) == 250
    late = sim.arrive_late("events", 3, T0 + timedelta(hours=4, minutes=30))
    sim.reset_log()
    pipeline.run(build_source("timed", settings, bounds=RunBounds(end=T0 + timedelta(hours=6))))
    sent = sim.requests_for("events")[0].query
    assert sent["start"] == ["2024-01-01T03:00:00Z"]  # position 05:00 less 2 h
    loaded = [r[0] for r in rows(pipeline)]
    assert len(loaded) == len(set(loaded)) == 253  # re-fetched ones merged, late ones added
    assert {r["id"] for r in late} <= set(loaded)


def test_without_lookback_late_records_are_missed(serve, duckdb_pipeline):
    sim = serve()
    from headwater.load.assemble import build_source

    pipeline = duckdb_pipeline("nolookback")
    settings = {"start_date": "2024-01-01", **sim.settings}
    pipeline.run(build_source("timed", settings, bounds=RunBounds(end=T0 + timedelta(hours=5))))
    sim.arrive_late("events", 3, T0 + timedelta(hours=4, minutes=30))
    pipeline.run(build_source("timed", settings, bounds=RunBounds(end=T0 + timedelta(hours=6))))
    assert len(rows(pipeline)) == 250


def test_client_filter_drops_what_the_api_sends_outside_the_slice(serve):
    # the API has no end parameter: each slice's request returns everything after it
    sim = serve(timed(end_param=None, client_filter=True, window="1h", format="iso8601"))
    start, end = T0, T0 + timedelta(hours=2)
    result = run_connector("timed", sim.settings, start=start.isoformat(), end=end.isoformat())
    requests = sim.requests_for("events")
    assert {r.query["start"][0] for r in requests} == {
        "2024-01-01T00:00:00Z",
        "2024-01-01T01:00:00Z",
    }
    assert all("end" not in r.query for r in requests)
    loaded = [r[0] for r in rows(result.location, "select id from timed_data.events order by id")]
    assert loaded == in_range(sim, start, end)


def test_unreadable_cursor_is_quarantined_not_a_crash(serve, duckdb_pipeline):
    sim = serve(timed(end_param=None))
    sim.arrive_late("events", 2, "not a time")
    pipeline = duckdb_pipeline("badcursor")
    pipeline.run(headwater.source("timed", **sim.settings))
    assert len(rows(pipeline)) == 250
    bad = rows(pipeline, "select error from events_quarantine")
    assert len(bad) == 2 and "not a time" in bad[0][0] and "format" in bad[0][0]


# ----------------------------------------------------------------- bad input, one line


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--start", "2024-02-01", "--end", "2024-01-01"], {}, "is not before --end"),
        (["--start", "yesterday"], {}, "--start 'yesterday' is not a date"),
        (["--start", "2024-01-01", "--end", "31/01/2024"], {}, "--end '31/01/2024' is not a date"),
        (["--end", "2024-01-01"], {}, "--end needs --start"),
        ([], {"SOURCES__TIMED__WINDOW": "0h"}, "window '0h' must be longer than zero"),
        ([], {"SOURCES__TIMED__WINDOW": "daily"}, "window 'daily' is not a duration"),
        ([], {"SOURCES__TIMED__START_DATE": "soon"}, "start_date 'soon' is not a date"),
        # a typo for 2024: every run would read nothing and exit 0
        ([], {"SOURCES__TIMED__START_DATE": "2204-01-01"}, "2204-01-01 is in the future"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args, env, message, serve, capsys, monkeypatch):
    from headwater.cli import main

    sim = serve()
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    code = main(["run", "timed", "--base-url", sim.base_url, *args])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert message in err and "\n" not in err
    assert sim.requests == []


def test_unknown_format_is_refused_where_declared():
    with pytest.raises(ValueError, match="format 'rfc' is unknown; use one of iso8601"):
        timed(format="rfc")
    with pytest.raises(ValueError, match="window needs end_param"):
        timed(end_param=None, window="1d")


# ------------------------------------------------- backfills and resume after SIGKILL


def _cli(sim, spec, *args, tmp_env=None):
    import os
    import sys
    from pathlib import Path

    tests = str(Path(__file__).resolve().parents[1])
    env = {
        **os.environ,
        "TIMED_SPEC": json.dumps(spec),
        "PYTHONPATH": os.pathsep.join([tests, os.environ.get("PYTHONPATH", "")]),
        "SOURCES__TIMED__BASE_URL": sim.base_url,
        **(tmp_env or {}),
    }
    from timed_api import CLI

    return [sys.executable, "-c", CLI, "run", "timed", *args], env


def _table(sql="select id from timed_data.events order by id"):
    return [r[0] for r in rows("headwater_timed.duckdb", sql)]


def test_backfill_leaves_the_normal_position_where_it_was(serve):
    import subprocess

    sim = serve()
    command, env = _cli(sim, {}, tmp_env={"SOURCES__TIMED__START_DATE": "2024-01-01T02:00:00Z"})
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    first_end = sim.requests_for("events")[0].query["end"][0]
    assert _table() == in_range(sim, T0 + timedelta(hours=2))
    sim.reset_log()
    backfill = [*command, "--start", "2024-01-01", "--end", "2024-01-01T02:00:00Z"]
    done = subprocess.run(backfill, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    sent = {(r.query["start"][0], r.query["end"][0]) for r in sim.requests_for("events")}
    assert sent == {("2024-01-01T00:00:00Z", "2024-01-01T02:00:00Z")}
    assert _table() == sorted(r["id"] for r in sim.data["events"])
    sim.reset_log()
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    # the normal run goes on from where it was, not from the backfill's end
    assert {r.query["start"][0] for r in sim.requests_for("events")} == {first_end}


@pytest.mark.parametrize("mode", ["backfill", "normal"])
def test_killed_run_resumes_after_the_last_loaded_slice(mode, serve):
    """SIGKILL while slice 4 of 10 is read: the rerun asks for nothing before slice 4,
    and the (append) table holds every record exactly once."""
    import signal
    import subprocess
    import time

    sim = serve(latency=0.03)
    spec = {"window": "30m", "write_disposition": "append"}
    if mode == "backfill":
        start = T0
        args = ["--start", "2024-01-01T00:00:00Z", "--end", "2024-01-01T05:00:00Z"]
        extra = {}
    else:
        now = datetime.now(timezone.utc).replace(microsecond=0)
        start = now - timedelta(hours=5)
        for k in range(1, 100):  # records spread over the last five hours
            sim.arrive_late("events", 1, start + timedelta(minutes=3 * k))
        args = []
        extra = {"SOURCES__TIMED__START_DATE": start.isoformat()}
    end = start + timedelta(hours=5)
    expected = in_range(sim, start, end if mode == "backfill" else None)
    kill_at = format_bound(start + timedelta(hours=2), "iso8601")  # slice 4's start
    command, env = _cli(sim, spec, *args, tmp_env=extra)
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not any(r.query.get("start") == [kill_at] for r in sim.requests_for("events")):
        assert process.poll() is None, process.stderr.read().decode()[-2000:]
        assert time.monotonic() < deadline, "slice 4 was never requested"
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    loaded = _table()
    assert loaded and len(loaded) == len(set(loaded)) < len(expected)
    sim.reset_log()
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    starts = sorted(r.query["start"][0] for r in sim.requests_for("events"))
    assert starts[0] == kill_at  # nothing before the slice that was cut short
    final = _table()
    assert len(final) == len(set(final))  # exactly once, though the table appends
    assert sorted(final) == expected


def test_parallel_windows_read_slices_at_once_and_load_each_record_once(serve):
    sim = serve(timed(window="30m", write_disposition="append"), latency=0.02)
    settings = {**sim.settings, "parallel_windows": 4}
    result = run_connector(
        "timed", settings, start="2024-01-01T00:00:00Z", end="2024-01-01T05:00:00Z"
    )
    assert sim.peak_concurrency >= 3
    starts = sorted({r.query["start"][0] for r in sim.requests_for("events")})
    assert len(starts) == 10  # every slice read, each once
    assert len(sim.requests_for("events")) == len(
        {(r.query["start"][0], r.query.get("offset", ["0"])[0]) for r in sim.requests_for("events")}
    )
    loaded = [r[0] for r in rows(result.location, "select id from timed_data.events")]
    assert len(loaded) == len(set(loaded))
    assert sorted(loaded) == in_range(sim, T0, T0 + timedelta(hours=5))
    assert result.row_counts["events"] == len(loaded)


# ------------------------------------------------------------- per-parent positions


def test_child_resource_keeps_a_position_per_parent(
    headwater_plugins, api_simulator, headwater_env, duckdb_pipeline
):
    from headwater.load.assemble import build_source
    from timed_api import SCHEMA, TimedPlugin, with_children

    connector = with_children()
    user_schema = {"type": "object", "properties": {"id": {"type": "string"}}, "required": ["id"]}
    headwater_plugins(TimedPlugin(connector, {"users": user_schema}))
    sim = api_simulator(
        connector,
        schemas={"users": user_schema, "meetings": SCHEMA},
        records={"users": 5, "meetings": 4},
    )
    settings = {"start_date": "2024-01-01", **sim.settings}
    pipeline = duckdb_pipeline("children")
    first_end = T0 + timedelta(days=1)
    pipeline.run(build_source("timed", settings, bounds=RunBounds(end=first_end)))
    expected = sum(len(v) for v in sim.data["meetings"].values())
    assert len(rows(pipeline, "select id from meetings")) == expected
    state = pipeline.state["sources"]["timed"]["resources"]["meetings"][STATE_KEY]
    old_users = [u["id"] for u in sim.data["users"]]
    assert state["parents"] == {u: "2024-01-02T00:00:00Z" for u in old_users}

    sim.grow("users", 2)
    sim.reset_log()
    # new users' meetings are stamped with the time they were added: this run ends now
    pipeline.run(build_source("timed", settings))
    starts = {r.path.split("/")[3]: r.query["start"][0] for r in sim.requests_for("meetings")}
    new_users = [u["id"] for u in sim.data["users"] if u["id"] not in old_users]
    assert {starts[u] for u in old_users} == {"2024-01-02T00:00:00Z"}  # each its own position
    assert {starts[u] for u in new_users} == {"2024-01-01T00:00:00Z"}  # first time: start_date
    total = sum(len(v) for v in sim.data["meetings"].values())
    loaded = rows(pipeline, "select user_id, id from meetings")
    assert len(loaded) == len(set(loaded)) == total


def _append_child(headwater_plugins, api_simulator, key):
    """``timed`` whose ``meetings`` (a child of ``users``) append, read from each
    user's latest cursor on an inclusive since API; the simulator serving it."""
    from timed_api import SCHEMA, TimedPlugin, with_children

    connector = with_children(end_param=None, format="iso8601")
    users, meetings = connector.resources
    meetings = attrs.evolve(meetings, write_disposition="append", primary_key=key or None)
    connector = attrs.evolve(connector, resources=[users, meetings])
    user_schema = {"type": "object", "properties": {"id": {"type": "string"}}, "required": ["id"]}
    headwater_plugins(TimedPlugin(connector, {"users": user_schema}))
    return api_simulator(
        connector,
        schemas={"users": user_schema, "meetings": SCHEMA},
        records={"users": 4, "meetings": 5},
    )


@pytest.mark.parametrize("key", [("user_id", "id"), ()], ids=["keyed", "keyless"])
def test_an_append_child_loads_each_parents_boundary_records_once(
    key, headwater_plugins, api_simulator, headwater_env, duckdb_pipeline
):
    """An inclusive since API answers each parent's records at its position again: an
    append child keeps their identities per parent and appends none of them twice,
    while a record that arrives later at a parent is loaded."""
    sim = _append_child(headwater_plugins, api_simulator, key)
    settings = {"start_date": "2024-01-01", **sim.settings}
    pipeline = duckdb_pipeline(f"child_boundary_{len(key)}")
    count = "select count(*), count(distinct (user_id, id)) from meetings"
    pipeline.run(headwater.source("timed", **settings))
    total = sum(len(v) for v in sim.data["meetings"].values())
    assert rows(pipeline, count) == [(total, total)]
    state = pipeline.state["sources"]["timed"]["resources"]["meetings"][STATE_KEY]
    assert set(state["boundaries"]) == set(state["parents"])  # per parent, at its position
    # the next request of each parent answers its record at the position again, and
    # one that arrived since: only the new one is appended
    sim.grow("meetings", 1)
    pipeline.run(headwater.source("timed", **settings))
    total = sum(len(v) for v in sim.data["meetings"].values())
    assert rows(pipeline, count) == [(total, total)]


def test_an_append_childs_boundary_identities_are_capped_with_a_warning(
    headwater_plugins, api_simulator, headwater_env, duckdb_pipeline, caplog, monkeypatch
):
    """The identities kept at the parents' positions are capped in all (the state
    stays small however many parents): the ones past the cap are forgotten, said once."""
    import headwater.load.incremental as incremental

    monkeypatch.setattr(incremental, "MAX_BOUNDARY_IDS", 2)
    sim = _append_child(headwater_plugins, api_simulator, ("user_id", "id"))
    pipeline = duckdb_pipeline("child_boundary_cap")
    pipeline.run(headwater.source("timed", start_date="2024-01-01", **sim.settings))
    state = pipeline.state["sources"]["timed"]["resources"]["meetings"][STATE_KEY]
    assert sum(len(ids) for ids in state["boundaries"].values()) == 2
    warnings = [r.getMessage() for r in caplog.records if "forgets" in r.getMessage()]
    assert len(warnings) == 1
    assert warnings[0].startswith("resource meetings: ")
    assert "merge on a primary key, or use a finer cursor" in warnings[0]


# ------------------------------------------------------------------ conformance


class TestTimedConformance(ConformanceSuite):
    """The whole suite, backfill and resume-after-kill included, on a windowable API."""

    connector = "timed"
    plugins = (timed_api.PLUGIN,)

    @pytest.fixture(autouse=True)
    def _entry_point(self, tmp_path, monkeypatch):
        for key, value in timed_api.install(tmp_path).items():
            monkeypatch.setenv(key, value)

    @pytest.fixture
    def serve(self, spec, api_simulator):
        def start(**options):
            schemas = {"events": timed_api.SCHEMA}
            return api_simulator(spec, records={"events": 250}, schemas=schemas, **options)

        return start


def test_parallel_slices_share_one_rate_limit(serve):
    """Four slices at once under the rate_limit setting (8/second; the API allows 10):
    the API never answers 429 and no second holds more than 8 requests, which four
    limiters, one a slice, would exceed."""
    sim = serve(timed(window="30m"), rate_limit="10/second", latency=0.2)
    settings = {**sim.settings, "parallel_windows": 4, "rate_limit": "8/second"}
    start, end = "2024-01-01T00:00:00Z", "2024-01-01T05:00:00Z"
    run_connector("timed", settings, start=start, end=end, all_or_nothing=True)
    requests = sim.requests_for("events")
    assert len(requests) > 8 and {r.status for r in requests} == {200}
    times = sorted(r.time for r in requests)
    # arrival times carry a loaded machine's scheduling jitter: a window 0.1 s short of
    # the second, and one arrival's slack; four limiters would send about 20 a second
    assert max(sum(1 for t in times if first <= t < first + 0.9) for first in times) <= 9
    assert sim.peak_concurrency >= 2


def test_a_backfill_loads_only_the_incremental_resources(
    headwater_plugins, api_simulator, headwater_env
):
    """``--start`` without ``--resource``: the plain ``users`` table is read (it is the
    meetings' parent) but not loaded again; ``meetings`` gets the range."""
    from timed_api import SCHEMA, TimedPlugin, with_children

    connector = with_children()
    user_schema = {"type": "object", "properties": {"id": {"type": "string"}}, "required": ["id"]}
    headwater_plugins(TimedPlugin(connector, {"users": user_schema}))
    sim = api_simulator(
        connector,
        schemas={"users": user_schema, "meetings": SCHEMA},
        records={"users": 3, "meetings": 4},
    )
    first = run_connector("timed", {"start_date": "2024-01-01", **sim.settings})
    assert first.row_counts["users"] == 3
    backfill = run_connector("timed", sim.settings, start="2024-01-01", end="2024-01-02")
    assert not backfill.failures
    assert "users" not in backfill.row_counts
    assert backfill.row_counts["meetings"] == sum(
        1 for v in sim.data["meetings"].values() for r in v if ts(r) < T0 + timedelta(days=1)
    )
    with duckdb.connect(backfill.location, read_only=True) as db:
        [(users,)] = db.sql("select count(*) from timed_data.users").fetchall()
    assert users == 3  # merged or appended, the plain table was not loaded twice


def test_a_backfill_loads_the_children_of_the_parents_in_its_range(
    headwater_plugins, api_simulator, headwater_env
):
    """A plain child of an incremental parent has its parent's range: a backfill (and a
    Dagster partition, which runs one) loads the children of the parents it reads."""
    import attrs
    from headwater.spec import ParentSpec, Resource
    from timed_api import SCHEMA

    notes = Resource(
        name="notes",
        path="/v1/events/{eid}/notes",
        schema="unused.json",
        data_selector="data",
        parent=ParentSpec(resource="events", field="id", placeholder="eid", column="event_id"),
        primary_key=("event_id", "id"),
    )
    connector = attrs.evolve(timed(), resources=[*timed().resources, notes])
    note_schema = {"type": "object", "properties": {"id": {"type": "string"}}, "required": ["id"]}
    headwater_plugins(TimedPlugin(connector, {"notes": note_schema}))
    sim = api_simulator(
        connector,
        schemas={"events": SCHEMA, "notes": note_schema},
        records={"events": 40, "notes": 2},
    )
    backfill = run_connector("timed", sim.settings, start="2024-01-01", end="2024-01-02")
    assert not backfill.failures
    parents = [e["id"] for e in sim.data["events"] if ts(e) < T0 + timedelta(days=1)]
    assert backfill.row_counts["events"] == len(parents)
    assert backfill.row_counts["notes"] == sum(len(sim.data["notes"][p]) for p in parents) > 0


def test_a_later_slice_whose_every_record_breaks_the_schema_is_quarantined_not_lost(serve):
    """The last of six slices (loaded in its own round, after five others) sends only a
    record that breaks the schema: it is kept in the quarantine table, as in a run's
    first slice, and the resource is reported as failed; the slices before stay loaded."""
    from headwater.testing import Fault

    sim = serve(timed(window="1h", write_disposition="append"))
    backfill = {"start": "2024-01-01T00:00:00Z", "end": "2024-01-01T06:00:00Z"}
    dry = run_connector(
        "timed", sim.settings, pipeline_name="dry", dataset_name="dry_data", **backfill
    )
    assert not dry.failures
    last = len(sim.requests_for("events"))  # the empty sixth slice's one request
    bad = {"data": [{"ts": "2024-01-01T05:30:00Z", "kind": "no id"}]}
    sim.add_fault(Fault("status", status=200, resource="events", after=last - 1, body=bad))
    sim.reset_log()
    result = run_connector("timed", sim.settings, **backfill)
    assert result.failed == ("events",)
    assert any("events" in line and "quarantine" in line for line in result.failures), result
    loaded = [r[0] for r in rows(result.location, "select id from timed_data.events")]
    assert sorted(loaded) == in_range(sim, T0, T0 + timedelta(hours=6))
    [(kept,)] = rows(result.location, "select count(*) from timed_data.events_quarantine")
    assert kept == 1


def test_slices_without_records_are_loaded_together_not_one_by_one(serve):
    """A 48-hour backfill in 1-hour slices of an API whose records span a few hours:
    each slice with records is loaded on its own (a kill loses at most one), the empty
    slices after them in one more load, not one load each; every record once."""
    sim = serve(timed(window="1h", write_disposition="append"))
    end = T0 + timedelta(hours=48)
    result = run_connector("timed", sim.settings, start=T0.isoformat(), end=end.isoformat())
    assert not result.failures
    hours = [(T0 + timedelta(hours=h), T0 + timedelta(hours=h + 1)) for h in range(48)]
    with_records = sum(1 for lower, upper in hours if in_range(sim, lower, upper))
    assert 0 < with_records < 10  # the simulator's records span a few hours
    starts = [r.query["start"][0] for r in sim.requests_for("events")]
    assert len(set(starts)) == 48  # every slice requested
    loaded = [r[0] for r in rows(result.location, "select id from timed_data.events")]
    assert sorted(loaded) == in_range(sim, T0, end)  # once each, though the table appends
    [(loads,)] = rows(result.location, "select count(*) from timed_data._dlt_loads")
    # one load per slice with records, then the empty ones; a slow machine may need
    # two loads for them (EMPTY_SLICES_SECONDS), never one each
    assert with_records < loads <= with_records + 2, (loads, with_records)


def test_a_lookback_read_in_several_loads_reads_all_of_it(serve):
    """Window 1h, lookback 3h: the second run reads three slices before its position,
    loading after each that has records. It went on from the position after the first
    of them, so late records in the other two were never loaded."""
    sim = serve(timed(window="1h", lookback="3h"))
    start = datetime.now(timezone.utc) - timedelta(hours=6)
    for k in range(6):  # a record in each hour of the first run
        sim.arrive_late("events", 1, start + timedelta(minutes=30 + 60 * k))
    settings = {**sim.settings, "start_date": start.isoformat()}
    first = run_connector("timed", settings)
    assert not first.failures
    reached = datetime.now(timezone.utc)  # the first run's position is no later
    late = [
        *sim.arrive_late("events", 1, reached - timedelta(minutes=150)),
        *sim.arrive_late("events", 1, reached - timedelta(minutes=90)),
        *sim.arrive_late("events", 1, reached - timedelta(minutes=30)),
    ]
    second = run_connector("timed", settings)
    assert not second.failures
    loaded = {r[0] for r in rows(second.location, "select id from timed_data.events")}
    assert {r["id"] for r in late} <= loaded, sorted({r["id"] for r in late} - loaded)


def test_slices_whose_every_record_is_filtered_out_are_loaded_together(serve):
    """An API without an end parameter sends each slice every later record too; a slice
    whose records all fall after it has nothing to load, as an empty one."""
    sim = serve(timed(window="1h", end_param=None, client_filter=True, write_disposition="append"))
    sim.arrive_late("events", 2, T0 + timedelta(hours=40, minutes=30))
    end = T0 + timedelta(hours=48)
    result = run_connector("timed", sim.settings, start=T0.isoformat(), end=end.isoformat())
    assert not result.failures
    hours = [(T0 + timedelta(hours=h), T0 + timedelta(hours=h + 1)) for h in range(48)]
    with_records = sum(1 for lower, upper in hours if in_range(sim, lower, upper))
    loaded = [r[0] for r in rows(result.location, "select id from timed_data.events")]
    assert sorted(loaded) == in_range(sim, T0, end)
    [(loads,)] = rows(result.location, "select count(*) from timed_data._dlt_loads")
    # 35 slices between the first records and the late ones hold nothing to load
    assert with_records < loads <= with_records + 3, (loads, with_records)


def test_a_window_cutting_the_range_into_too_many_slices_is_one_line(serve, capsys, monkeypatch):
    """window=1s from 2024: 93 million slices were built in memory before the first
    request (180 MB more every second, no word)."""
    from headwater.cli import main
    from helpers import use_settings

    sim = serve(timed(window="1h"))
    use_settings(monkeypatch, "timed", sim)
    monkeypatch.setenv("SOURCES__TIMED__WINDOW", "1s")
    monkeypatch.setenv("SOURCES__TIMED__START_DATE", "2024-01-01")
    code = main(["run", "timed", "--progress", "off"])
    [line] = capsys.readouterr().err.strip().splitlines()
    assert code == 2, line
    assert re.fullmatch(
        r"headwater: error: window 1s cuts 2024-01-01T00:00:00Z to \S+ into [\d,]+ slices, "
        r"more than 200,000; use a longer window or a later start",
        line,
    ), line
    assert sim.requests_for("events") == []


def test_cursors_in_another_format_than_the_bounds_name_cursor_format_as_the_fix(
    headwater_plugins, api_simulator, headwater_env
):
    """Bounds in unix seconds, records' cursors in ISO 8601, no cursor_format: every
    record is quarantined, and the fix given was the schema file or validation=warn,
    neither of which helps."""
    sim = api_simulator(
        timed(format="unix", cursor_format="iso8601"), schemas={"events": _schema()}
    )
    headwater_plugins(TimedPlugin(timed(format="unix")))
    result = run_connector("timed", {**sim.settings, "start_date": "2024-01-01"})
    [failure] = result.failures
    assert "the incremental cursor of all" in failure and "cannot be read" in failure, failure
    assert failure.endswith(
        "declare the format the records write it in as the incremental's cursor_format "
        "(format is that of the request's bounds)"
    ), failure


def test_adjacent_backfills_of_a_since_api_keep_the_record_on_their_boundary(serve):
    """A since API answers strictly after its bound: the backfill [X, Y) asked since=X
    and lost the record at exactly X, which [W, X) had left out too (so did each Dagster
    partition its first instant)."""
    sim = serve(timed(window="1h", end_param=None, client_filter=True, write_disposition="append"))
    moments = sorted({ts(r) for r in sim.data["events"]})
    middle = moments[len(moments) // 2]  # a record's own instant
    end = moments[-1] + timedelta(seconds=1)
    for lower, upper in [(T0, middle), (middle, end)]:
        done = run_connector("timed", sim.settings, start=lower.isoformat(), end=upper.isoformat())
        assert not done.failures
    loaded = [r[0] for r in rows(done.location, "select id from timed_data.events")]
    assert sorted(loaded) == in_range(sim, T0, end)


# ------------------------------------------------------- an append resource's boundary


@pytest.mark.parametrize("primary_key", ["id", None], ids=["keyed", "keyless"])
def test_an_append_resource_loads_its_boundary_records_once(
    primary_key, serve, headwater_plugins, duckdb_pipeline
):
    # The position of an API without an end parameter is the latest cursor loaded, and
    # the next run asks from it: an inclusive API (the simulator's, with a declared
    # format) answers the records at that cursor again. An append resource must not
    # append them twice (dlt.sources.incremental does not), and a record that arrives
    # later at that same cursor is still loaded.
    connector = timed(end_param=None, format="iso8601", write_disposition="append")
    [resource] = connector.resources
    connector = attrs.evolve(connector, resources=[attrs.evolve(resource, primary_key=primary_key)])
    sim = serve(connector)
    pipeline = duckdb_pipeline(f"boundary_{primary_key or 'none'}")
    count = "select count(*), count(distinct id) from events"
    for _ in range(2):
        pipeline.run(headwater.source("timed", start_date="2024-01-01", **sim.settings))
        assert rows(pipeline, count) == [(250, 250)]
    latest = max(ts(r) for r in sim.data["events"])
    [late] = sim.arrive_late("events", 1, latest)
    pipeline.run(headwater.source("timed", start_date="2024-01-01", **sim.settings))
    assert rows(pipeline, count) == [(251, 251)]
    assert rows(pipeline, f"select count(*) from events where id = '{late['id']}'") == [(1,)]
    asked = {r.query["start"][0] for r in sim.requests_for("events")[-2:]}
    assert asked == {format_bound(latest, "iso8601")}  # read from the position: no gap


def test_an_integer_initial_is_sent_as_a_number(headwater_plugins, api_simulator, headwater_env):
    # dlt's rest_api sends an integer initial_value as the number it is; a declaration
    # with an undeclared format and initial "1704067800" asks the same
    connector = timed(end_param=None, initial="1704067800")
    headwater_plugins(TimedPlugin(connector))
    sim = api_simulator(connector, schemas={"events": _schema()})
    rows_loaded = list(headwater.source("timed", **sim.settings).resources["events"])
    assert rows_loaded
    # (a second early: a plain since API answers strictly after its bound)
    assert sim.requests_for("events")[0].query["start"] == ["1704067799"]


def test_a_since_apis_first_run_keeps_the_record_on_its_start_date(serve, duckdb_pipeline):
    # A plain since API answers strictly after its bound: the first run asks from a
    # second before start_date and keeps [start_date, ...), as a backfill's --start does
    sim = serve(timed(end_param=None))
    start = sorted(ts(r) for r in sim.data["events"])[100]
    pipeline = duckdb_pipeline("since_first")
    source = headwater.source("timed", start_date=start.isoformat(), **sim.settings)
    pipeline.run(source)
    assert [r[0] for r in rows(pipeline)] == in_range(sim, start)
    asked = sim.requests_for("events")[0].query["start"][0]
    assert parse_instant(asked) == start - timedelta(seconds=1)


KILL_BETWEEN_COMMIT_AND_STATE = (
    "import os, signal\n"
    "from dlt.extract.extract import Extract\n"
    "from dlt.pipeline.pipeline import Pipeline\n"
    "commit, save = Extract.commit_packages, Pipeline._save_state\n"
    "committed = []\n"
    "def commit_packages(self, *a, **k):\n"
    "    commit(self, *a, **k)\n"
    "    committed.append(True)\n"
    "def save_state(self, *a, **k):\n"
    "    if committed:\n"
    "        os.kill(os.getpid(), signal.SIGKILL)  # the package is in, the state is not\n"
    "    return save(self, *a, **k)\n"
    "Extract.commit_packages = commit_packages\n"
    "Pipeline._save_state = save_state\n"
)


def test_a_run_killed_before_it_saved_its_state_is_loaded_once(serve):
    """SIGKILL between dlt's commit of the extracted package and its save of the
    pipeline's state: the package holds the new position, the local state does not.
    The next run reads the records again from the old position; the append table must
    still get each record once (a black-box probe saw an append table with records
    twice after a series of kills; this is the narrowest window a kill can hit)."""
    import subprocess

    sim = serve()
    spec = {"write_disposition": "append"}
    extra = {"SOURCES__TIMED__START_DATE": "2024-01-01T00:00:00Z"}
    command, env = _cli(sim, spec, tmp_env=extra)
    killed = [command[0], "-c", KILL_BETWEEN_COMMIT_AND_STATE + command[2], *command[3:]]
    done = subprocess.run(killed, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == -9, done.stderr
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    final = _table()
    assert sorted(final) == sorted(r["id"] for r in sim.data["events"])
    assert len(final) == len(set(final))


# ------------------------------------------------------- add_limit inside a slice


@pytest.mark.parametrize("window", [None, "1d"], ids=["one_range", "windowed"])
def test_add_limit_inside_a_slice_then_a_normal_run_loads_each_record_once(
    window, serve, duckdb_pipeline
):
    # add_limit closes the read in the middle of a bounded range (an API with an end
    # parameter, maybe cut into windows): the position moves to the latest cursor
    # yielded and the records yielded at it are kept, so the next run appends neither
    # a record twice nor skips the rest of the slice.
    options = {"window": window} if window else {}
    sim = serve(timed(write_disposition="append", format="iso8601", **options))
    pipeline = duckdb_pipeline(f"limit_{window or 'range'}")
    count = "select count(*), count(distinct id) from events"
    end = max(ts(r) for r in sim.data["events"]) + timedelta(seconds=1)
    source = build_source(
        "timed", {"start_date": "2024-01-01", **sim.settings}, bounds=RunBounds(end=end)
    )
    source.resources["events"].add_limit(2)
    pipeline.run(source)
    assert rows(pipeline, count) == [(40, 40)]
    state = pipeline.state["sources"]["timed"]["resources"]["events"][STATE_KEY]
    assert state["position"] == max(r[0] for r in rows(pipeline, "select ts from events")).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )
    pipeline.run(
        build_source(
            "timed", {"start_date": "2024-01-01", **sim.settings}, bounds=RunBounds(end=end)
        )
    )
    total = len(sim.data["events"])
    assert rows(pipeline, count) == [(total, total)]


# ------------------------------------- a plain since API's later runs and the lookback


@pytest.mark.parametrize("disposition", ["merge", "append"])
def test_a_since_apis_later_run_loads_a_record_arriving_at_its_position(
    disposition, serve, duckdb_pipeline
):
    """A plain since API answers strictly after its bound. A later run asked
    since=<position> and never loaded a record that arrived afterwards with exactly the
    position's cursor: every read asks a second early and drops what is before its
    start; the records already loaded at the position are merged, or skipped by their
    identities (append), so none is loaded twice."""
    sim = serve(timed(end_param=None, write_disposition=disposition))
    pipeline = duckdb_pipeline(f"since_later_{disposition}")
    count = "select count(*), count(distinct id) from events"
    pipeline.run(headwater.source("timed", start_date="2024-01-01", **sim.settings))
    assert rows(pipeline, count) == [(250, 250)]
    latest = max(ts(r) for r in sim.data["events"])
    [late] = sim.arrive_late("events", 1, latest)
    sim.reset_log()
    pipeline.run(headwater.source("timed", start_date="2024-01-01", **sim.settings))
    assert rows(pipeline, count) == [(251, 251)]
    assert rows(pipeline, f"select count(*) from events where id = '{late['id']}'") == [(1,)]
    asked = sim.requests_for("events")[0].query["start"][0]
    assert parse_instant(asked) == latest - timedelta(seconds=1)


@pytest.mark.parametrize("window", ["1d", None], ids=["windowed", "unwindowed"])
def test_a_client_filtered_since_apis_later_run_asks_a_second_early(window, serve, duckdb_pipeline):
    # client_filter: a later run starts at position less lookback (the end of the
    # slices read; without a window, the latest cursor loaded) and asks a second
    # before it, as every read of a since API does
    spec = timed(end_param=None, client_filter=True, window=window, lookback="2h")
    sim = serve(spec)
    end = max(ts(r) for r in sim.data["events"]) + timedelta(seconds=1)
    settings = {"start_date": "2024-01-01", **sim.settings}
    from headwater.load.assemble import build_source

    pipeline = duckdb_pipeline(f"client_filtered_{window or 'whole'}")
    first_end = end - timedelta(hours=3)
    pipeline.run(build_source("timed", settings, bounds=RunBounds(end=first_end)))
    # (without a window nothing bounds the read: the first run reads to the latest)
    position = first_end if window else end - timedelta(seconds=1)
    sim.reset_log()
    pipeline.run(build_source("timed", settings, bounds=RunBounds(end=end)))
    asked = parse_instant(sim.requests_for("events")[0].query["start"][0])
    assert asked == position - timedelta(hours=2, seconds=1)
    assert rows(pipeline, "select count(*), count(distinct id) from events") == [(250, 250)]


@pytest.mark.parametrize(
    ("options", "primary_key"),
    [
        ({"end_param": None, "format": "iso8601"}, "id"),
        ({"end_param": None, "format": "iso8601"}, None),
        ({"end_param": None}, "id"),
        ({}, "id"),
    ],
    ids=["inclusive-since", "inclusive-since-keyless", "plain-since", "end-param"],
)
def test_an_append_resource_with_a_lookback_appends_no_record_twice(
    options, primary_key, serve, duckdb_pipeline
):
    # A lookback reads the records of its span again, for the late ones among them: an
    # append resource keeps the identities of the records it loaded within the lookback
    # of its position and skips them when they come again; a late record is loaded.
    from headwater.load.assemble import build_source

    connector = timed(write_disposition="append", lookback="2h", **options)
    [resource] = connector.resources
    connector = attrs.evolve(connector, resources=[attrs.evolve(resource, primary_key=primary_key)])
    sim = serve(connector)
    pipeline = duckdb_pipeline(f"append_lookback_{len(options)}_{primary_key or 'none'}")
    settings = {"start_date": "2024-01-01", **sim.settings}
    end = max(ts(r) for r in sim.data["events"]) + timedelta(seconds=1)
    count = "select count(*), count(distinct id) from events"
    for _ in range(2):
        pipeline.run(build_source("timed", settings, bounds=RunBounds(end=end)))
        assert rows(pipeline, count) == [(250, 250)]
    late = sim.arrive_late("events", 2, end - timedelta(hours=1))
    pipeline.run(build_source("timed", settings, bounds=RunBounds(end=end + timedelta(minutes=1))))
    assert rows(pipeline, count) == [(252, 252)]
    assert {r["id"] for r in late} <= {r[0] for r in rows(pipeline)}


# ------------------------------------------------ bounds finer than the declared format


def test_a_backfill_finer_than_the_date_format_reads_the_days_around_it(serve):
    # format="date" cannot write 01:00: [01:00, 03:00) asked since=day&until=day (an
    # empty range) and loaded nothing; the enclosing days are asked, [A, B) is kept
    sim = serve(timed(format="date", cursor_format="iso8601"))
    start, end = T0 + timedelta(hours=1), T0 + timedelta(hours=3)
    done = run_connector("timed", sim.settings, start=start.isoformat(), end=end.isoformat())
    assert not done.failures
    sent = {(r.query["start"][0], r.query["end"][0]) for r in sim.requests_for("events")}
    assert sent == {("2024-01-01", "2024-01-02")}
    loaded = [r[0] for r in rows(done.location, "select id from timed_data.events order by id")]
    assert loaded == in_range(sim, start, end)


def test_a_later_run_on_the_same_day_asks_a_range_that_is_not_empty(serve, duckdb_pipeline):
    # a date-format API's second run of a day asked since=day&until=day; it asks the
    # day to the next and keeps [position, end)
    from headwater.load.assemble import build_source

    sim = serve(timed(format="date", cursor_format="iso8601"))
    pipeline = duckdb_pipeline("same_day")
    settings = {"start_date": "2024-01-01", **sim.settings}
    for end in (T0 + timedelta(hours=2), T0 + timedelta(hours=3)):
        sim.reset_log()
        pipeline.run(build_source("timed", settings, bounds=RunBounds(end=end)))
    sent = {(r.query["start"][0], r.query["end"][0]) for r in sim.requests_for("events")}
    assert sent == {("2024-01-01", "2024-01-02")}
    loaded = [r[0] for r in rows(pipeline)]
    assert loaded == in_range(sim, T0, T0 + timedelta(hours=3))
