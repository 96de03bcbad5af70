"""When the declared schema and the API disagree, the user is told (issue 15).

Through the CLI, against the simulator or a small HTTP server on 127.0.0.1: a resource
whose every record breaks its schema fails the run with one line (its records kept in
quarantine, the other resources loaded); some records breaking it is a warning with
counts; ids an API sends as integers load where the seeds leave their type open; and a
failure every resource shares is reported once.
"""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import attrs
import duckdb
import headwater
import pytest
from headwater.errors import ResponseError, RunError
from headwater.run.dlt_errors import explain
from headwater.schema import load_record_schema
from headwater.spec import RetryPolicy
from helpers import Declares, cli, connector, settings_env


def tables(db: Path) -> dict[str, int]:
    """``dataset.table -> rows`` of every table of a DuckDB file (dlt's own and the
    merge's staging tables left out)."""
    with duckdb.connect(str(db), read_only=True) as con:
        names = con.sql(
            "select table_schema, table_name from information_schema.tables "
            "where table_name not like '_dlt%' and table_schema not like '%_staging'"
        ).fetchall()
        return {
            f"{schema}.{name}": con.sql(f'select count(*) from {schema}."{name}"').fetchall()[0][0]
            for schema, name in names
        }


def query(db: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.sql(sql).fetchall()


def errors(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("headwater: error:")]


def shipped(connector_name: str, resource: str) -> dict:
    """A copy of a resource's shipped schema."""
    from headwater.plugin.manager import get_registry

    spec = get_registry().get(connector_name)
    return json.loads(json.dumps(load_record_schema(spec, spec.resource(resource))))


@pytest.fixture
def installed(headwater_plugins):
    """The shipped analytics and hr connectors, as the CLI subprocess finds them."""
    import headwater_analytics.hooks
    import headwater_directory.hooks
    import headwater_hr.hooks

    headwater_plugins(headwater_directory.hooks, headwater_analytics.hooks, headwater_hr.hooks)


# ------------------------------------------------------------ every record invalid


def test_a_resource_whose_every_record_breaks_its_schema_fails_the_run(
    installed, api_simulator, headwater_env
):
    # The API sends member_count as text in every group: the declaration says integer.
    groups = shipped("analytics_odata", "groups")
    groups["properties"]["member_count"] = {"type": "string"}
    sim = api_simulator(
        "analytics_odata",
        records={"users": 30, "groups": 12, "conversations": 7},
        schemas={"groups": groups},
    )
    result = cli("run", "analytics_odata", env=settings_env("analytics_odata", sim))

    assert result.returncode == 1, result.stderr
    [line] = errors(result.stderr)
    assert line.startswith("headwater: error: resource analytics_odata.groups: all 12 records")
    assert "(first: field 'member_count' is str " in line and "expected int" in line
    assert "kept in table groups_quarantine" in line
    assert "headwater_analytics/schemas/odata_groups.json" in line
    assert "SOURCES__ANALYTICS_ODATA__VALIDATION=warn" in line
    loaded = tables(headwater_env / "headwater_analytics_odata.duckdb")
    assert loaded["analytics_odata_data.groups_quarantine"] == 12
    assert "analytics_odata_data.groups" not in loaded  # no valid record: no table
    assert loaded["analytics_odata_data.users"] == 30  # the others still load
    assert loaded["analytics_odata_data.conversations"] == 7
    quarantined = query(
        headwater_env / "headwater_analytics_odata.duckdb",
        "select record, error from analytics_odata_data.groups_quarantine limit 1",
    )
    assert json.loads(quarantined[0][0])["member_count"]  # the record as the API sent it
    assert quarantined[0][1].startswith("field 'member_count' is str")


def test_a_child_resource_whose_every_record_breaks_its_schema_fails_the_run(
    installed, api_simulator, headwater_env
):
    meetings = shipped("analytics_meetings", "meetings")
    meetings["properties"]["status"] = {"type": "integer"}  # the declaration says string
    sim = api_simulator(
        "analytics_meetings", records={"users": 10, "meetings": 2}, schemas={"meetings": meetings}
    )
    result = cli("run", "analytics_meetings", env=settings_env("analytics_meetings", sim))

    assert result.returncode == 1, result.stderr
    [line] = errors(result.stderr)
    assert "resource analytics_meetings.meetings: all 18 records broke" in line
    assert "field 'status' is int" in line and "schemas/meetings.json" in line
    loaded = tables(headwater_env / "headwater_analytics_meetings.duckdb")
    assert loaded["analytics_meetings_data.users"] == 10
    assert loaded["analytics_meetings_data.meetings_quarantine"] == 18  # 9 hosts with 2 each


def test_through_the_python_api_the_extract_step_raises_it(
    installed, api_simulator, duckdb_pipeline
):
    employees = shipped("hr", "employees")
    employees["properties"]["timestamp"] = {"type": "boolean"}  # declared a date-time
    sim = api_simulator("hr", records={"employees": 5}, schemas={"employees": employees})
    pipeline = duckdb_pipeline("python_api")
    with pytest.raises(Exception) as failed:
        pipeline.run(headwater.source("hr", **sim.settings))
    known = explain(failed.value)
    assert isinstance(known, ResponseError) and known.resource == "employees"
    assert str(known).startswith(
        "resource hr.employees: all 5 records broke the declared schema "
        "(first: field 'timestamp' is bool"
    )
    assert "set validation to warn" in str(known)
    # the setting the message names loads them as they are
    pipeline.run(headwater.source("hr", validation="warn", **sim.settings))
    with pipeline.sql_client() as client:
        assert client.execute_sql("select count(*) from employees") == [(5,)]


# ------------------------------------------------------------ some records invalid


class _Records(BaseHTTPRequestHandler):
    """Serves ``server.records`` at ``/v1/resource`` as the hr API does (offset pages
    under ``data``)."""

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        if url.path != "/v1/resource" or query.get("api_key") != ["k"]:
            self.send_error(404 if url.path != "/v1/resource" else 401)
            return
        offset = int(query.get("offset", ["0"])[0])
        limit = int(query.get("limit", ["100"])[0])
        body = json.dumps({"data": self.server.records[offset : offset + limit]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def hr_api():
    """Factory: an hr API on 127.0.0.1 serving the given records; its settings."""
    servers: list[ThreadingHTTPServer] = []

    def serve(records: list[dict]) -> dict[str, str]:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _Records)
        server.records = records
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return {"SOURCES__HR__BASE_URL": f"http://127.0.0.1:{server.server_port}",
                "SOURCES__HR__API_KEY": "k"}  # fmt: skip

    yield serve
    for server in servers:
        server.shutdown()
        server.server_close()


def employee(i: int, **fields) -> dict:
    return {
        "id": f"e{i}",
        "customer_id": "c1",
        "resource_name": f"employee {i}",
        "timestamp": "2024-01-01T00:00:00Z",
        **fields,
    }


def test_some_records_breaking_the_schema_is_a_warning_with_counts(hr_api, headwater_env):
    records = [employee(i) for i in range(250)]
    for i in (3, 120, 201):
        records[i]["timestamp"] = "yesterday"
    result = cli("run", "hr", env=hr_api(records))

    assert result.returncode == 0, result.stderr
    assert errors(result.stderr) == []
    assert (
        "headwater: warning: resource hr.employees: 3 of 250 records broke the declared "
        "schema and are kept in table employees_quarantine (first: field 'timestamp' is "
        "'yesterday', not a valid date-time)"
    ) in result.stderr.splitlines()
    loaded = tables(headwater_env / "headwater_hr.duckdb")
    assert loaded == {"hr_data.employees": 247, "hr_data.employees_quarantine": 3}


# ------------------------------------------------------------ ids as integers


def test_hr_ids_sent_as_integers_or_strings_all_load(hr_api, headwater_env):
    # the seed leaves the type of id (and customer_id) open: real APIs send either
    records = [employee(i, id=i, customer_id=i % 3) for i in range(150)]
    records += [employee(i) for i in range(150, 200)]  # strings in the same run
    result = cli("run", "hr", env=hr_api(records))

    assert result.returncode == 0, result.stderr
    assert "broke the declared schema" not in result.stderr
    db = headwater_env / "headwater_hr.duckdb"
    assert tables(db) == {"hr_data.employees": 200}
    ids = {row[0] for row in query(db, "select id from hr_data.employees")}
    assert ids == {str(i) for i in range(150)} | {f"e{i}" for i in range(150, 200)}
    types = dict(
        query(
            db,
            "select column_name, data_type from information_schema.columns "
            "where table_name = 'employees'",
        )
    )
    assert types["id"] == types["customer_id"] == "VARCHAR"
    # a second run merges on the same keys: integer 7 and text "7" are one employee
    again = cli("run", "hr", env=hr_api(records))
    assert again.returncode == 0, again.stderr
    assert tables(db) == {"hr_data.employees": 200}


@pytest.mark.parametrize("name", ["analytics_odata", "analytics_events"])
def test_analytics_ids_sent_as_integers_all_load(name, installed, api_simulator, headwater_env):
    from headwater.plugin.manager import get_registry

    spec = get_registry().get(name)
    schemas = {}
    for resource in spec.resources:
        schema = shipped(name, resource.name)
        for field in ("id", "customer_id", "user_key"):
            if field in schema["properties"]:
                schema["properties"][field]["type"] = "integer"  # the simulator sends ints
        schemas[resource.name] = schema
    sim = api_simulator(name, records={r.name: 40 for r in spec.resources}, schemas=schemas)
    result = cli("run", name, env=settings_env(name, sim))

    assert result.returncode == 0, result.stderr
    assert "broke the declared schema" not in result.stderr
    db = headwater_env / f"headwater_{name}.duckdb"
    assert tables(db) == {f"{name}_data.{r.name}": 40 for r in spec.resources}
    first = spec.resources[0].name
    assert query(db, f"select min(id), max(id) from {name}_data.{first}") == [("1", "9")]


def test_union_ids_on_the_fast_path_become_text_and_bools_still_do_not_fit():
    from headwater.load.arrow import TEXT_OR_INTEGER, ArrowBatcher, fast_path_columns

    schema = {
        "type": "object",
        "properties": {"id": {"type": ["string", "integer"]}, "n": {"type": "integer"}},
    }
    columns = fast_path_columns(schema)
    assert columns == {"id": TEXT_OR_INTEGER, "n": "bigint"}
    batcher = ArrowBatcher(columns, rows=2)
    table, odd = list(batcher.batches([[{"id": 1, "n": 1}, {"id": "b", "n": 2}], [{"id": True}]]))
    assert table.column("id").to_pylist() == ["1", "b"]
    assert odd == [{"id": True}]  # a boolean is no id: the validator decides


# ------------------------------------------------------------ one shared failure, once


def test_a_refused_token_is_reported_once(installed, api_simulator, headwater_env):
    sim = api_simulator("analytics_odata", records={"users": 5, "groups": 5, "conversations": 5})
    env = settings_env("analytics_odata", sim, client_secret="not-the-secret")
    result = cli("run", "analytics_odata", env=env)

    assert result.returncode == 1, result.stderr
    assert result.stderr.count("refused the client credentials") == 1, result.stderr
    [line] = errors(result.stderr)
    assert "check client_id, client_secret and scope" in line
    assert "not-the-secret" not in result.stderr


def test_an_unreachable_host_is_reported_once(headwater_plugins, headwater_env):
    from headwater.run.pipeline import run_connector

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    one = connector("twoapi", retry=RetryPolicy(max_retries=1, backoff_factor=0.01))
    two = attrs.evolve(
        one,
        base_url=f"http://127.0.0.1:{port}",
        resources=[one.resources[0], attrs.evolve(one.resources[0], name="others", path="/o")],
    )
    headwater_plugins(Declares(two))
    with pytest.raises(RunError) as failed:
        run_connector("twoapi")
    text = str(failed.value)
    assert text.count("(ConnectionError)") == 1, text
    assert text.startswith("resource twoapi.")
