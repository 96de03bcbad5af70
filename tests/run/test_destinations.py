"""The same loads into DuckDB and a real PostgreSQL, held to the same results.

Connectors run against the API simulator and load through what users call:
``headwater.source()`` with ``dlt.pipeline(..., destination=...)``, and the
``headwater run NAME --destination ...`` CLI. Every assertion reads the destination back
with its own driver (duckdb, psycopg2), not through dlt: exact row counts, column types
(compared as the same logical types on both destinations), every value against what the
simulator served, and merges: a second run duplicates nothing and a record changed on
the server is updated.

PostgreSQL comes from ``tests/postgres_server.py``: ``HEADWATER_TEST_POSTGRES`` (as
``eval "$(.ci/start-postgres)"`` sets it), else a private server started for the
session; the PostgreSQL cases skip, saying how to get one, only when none can start.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import date, datetime
from importlib.resources import files
from pathlib import Path
from typing import Any

import attrs
import dlt
import duckdb
import headwater
import pytest
from headwater import hookimpl
from headwater.spec import Connector, OffsetPagination, Resource
from headwater_directory.hooks import DIRECTORY
from headwater_hr.hooks import HR
from helpers import cli, files_containing, settings_env
from postgres_server import PostgresServer, ServerUnavailable, postgres_server

DESTINATIONS = ("duckdb", "postgres")
DLT_TABLES = {"_dlt_loads", "_dlt_pipeline_state", "_dlt_version"}
DLT_COLUMNS = {"_dlt_id": ("text", False), "_dlt_load_id": ("text", False)}
EXTRA_FIELD = "extra_note"  # the undeclared field the simulator adds to every record
CANARY = "canary-ApiSecret-41d7e0"
WRONG_PASSWORD = "canary-PgPassword-93b1c5"

# --------------------------------------------------------------------- connectors

# directory and hr declare only strings and date-times; this one declares every scalar
# type a JSON Schema can (and a camelCase boolean, which PostgreSQL must keep as is).
TYPED_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "name": {"type": "string"},
        "isActive": {"type": ["boolean", "null"]},
        "score": {"type": ["number", "null"], "minimum": -1000, "maximum": 1000},
        "visits": {"type": ["integer", "null"], "minimum": 0, "maximum": 100000},
        "birthDate": {"type": ["string", "null"], "format": "date"},
        "updatedAt": {"type": ["string", "null"], "format": "date-time"},
    },
    "required": ["id", "name"],
    "additionalProperties": True,
}
TYPED = Connector(
    name="typed",
    package="headwater_directory",  # its schema comes from the hook below, not a file
    base_url="https://api.example.com",
    resources=[
        Resource(
            name="things",
            path="/v1/things",
            data_selector="data",
            pagination=OffsetPagination(limit=100),
            primary_key="id",
            write_disposition="merge",
            schema="schemas/things.json",
        )
    ],
)


class TypedPlugin:
    """Declares a connector with the typed record schema (``typed`` by default)."""

    def __init__(self, connector: Connector = TYPED, schema: Mapping[str, Any] = TYPED_SCHEMA):
        self.connector = connector
        self.schema = schema

    @hookimpl
    def headwater_connectors(self) -> list[Connector]:
        return [self.connector]

    @hookimpl
    def headwater_record_schema(self, connector: Connector, resource: Resource) -> Any:
        return self.schema if connector.name == self.connector.name else None


#: ``typed`` appended instead of merged: a load that stages nothing
APPENDED = attrs.evolve(
    TYPED,
    name="appended",
    resources=[attrs.evolve(TYPED.resources[0], write_disposition="append")],
)

#: ``typed`` whose records each hold a value of three lines
MULTILINE = attrs.evolve(TYPED, name="multiline")
MULTILINE_SCHEMA: dict[str, Any] = {
    **TYPED_SCHEMA,
    "properties": {
        **TYPED_SCHEMA["properties"],
        "note": {"type": "string", "const": "line1\nline2\nline3"},
    },
    "required": ["id", "name", "note"],
}


@attrs.frozen
class Case:
    """One connector's resource loaded in one way."""

    id: str
    connector: Connector
    records: int
    arrow: bool = True  # the Arrow fast path (csv into PostgreSQL) or dict rows

    @property
    def name(self) -> str:
        return self.connector.name

    @property
    def resource(self) -> Resource:
        (resource,) = self.connector.resources
        return resource

    @property
    def table(self) -> str:
        return self.resource.name

    def schema(self) -> Mapping[str, Any]:
        if self.connector is TYPED:
            return TYPED_SCHEMA
        text = files(self.connector.package).joinpath(self.resource.schema).read_text()
        return json.loads(text)


DIRECTORY_CASE = Case("directory", DIRECTORY, 1234)
HR_CASE = Case("hr", HR, 567)
TYPED_CASE = Case("typed", TYPED, 345)
CASES = (
    DIRECTORY_CASE,
    HR_CASE,
    TYPED_CASE,
    Case("directory-rows", DIRECTORY, 321, arrow=False),
    Case("typed-rows", TYPED, 345, arrow=False),
)


def _case_ids(case: Case) -> str:
    return case.id


# ---------------------------------------------------------------- expected results

_LOGICAL_JSON = {"string": "text", "integer": "bigint", "number": "double", "boolean": "bool"}
_LOGICAL_FORMAT = {"date-time": "timestamptz", "date": "date"}


def expected_columns(case: Case) -> dict[str, tuple[str, bool]]:
    """Column -> (logical type, nullable) that the record schema declares, plus the
    undeclared field and dlt's own columns."""
    schema = case.schema()
    required = set(schema.get("required", ()))
    out: dict[str, tuple[str, bool]] = {}
    for name, prop in schema["properties"].items():
        types = [prop["type"]] if isinstance(prop["type"], str) else list(prop["type"])
        kinds = [t for t in types if t != "null"]
        # a string that may also be an integer (an id either way) is a text column
        (json_type,) = ["string"] if "string" in kinds else kinds
        logical = _LOGICAL_FORMAT.get(prop.get("format", ""), _LOGICAL_JSON[json_type])
        nullable = "null" in types or name not in required
        out[column_name(name)] = (logical, nullable and name != case.resource.primary_key)
    out[EXTRA_FIELD] = ("text", True)
    out.update(DLT_COLUMNS)
    return out


def column_name(field: str) -> str:
    """The column of an API field: dlt's default naming (``lastLoginTime`` ->
    ``last_login_time``), as Headwater's default ``naming`` setting gives."""
    from dlt.common.normalizers.naming.snake_case import NamingConvention

    return NamingConvention().normalize_identifier(field)


def data_columns(case: Case) -> list[str]:
    """The columns that carry the API's data (declared fields and the undeclared one)."""
    return [*case.schema()["properties"], EXTRA_FIELD]


def served_rows(sim: Any, case: Case, columns: Sequence[str]) -> dict[Any, tuple]:
    """What the simulator serves now, as rows keyed by id, typed as the schema says."""
    props = case.schema()["properties"]

    def typed(name: str, value: Any) -> Any:
        if value is None:
            return None
        fmt = props.get(name, {}).get("format")
        if fmt == "date-time":
            return datetime.fromisoformat(value.replace("Z", "+00:00"))
        if fmt == "date":
            return date.fromisoformat(value)
        return value

    rows = {}
    for record in sim.data[case.table]:
        rows[record["id"]] = tuple(typed(c, record.get(c)) for c in columns)
    return rows


# ---------------------------------------------------------------------- targets

_LOGICAL_SQL = {
    "varchar": "text",
    "character varying": "text",
    "text": "text",
    "timestamp with time zone": "timestamptz",
    "boolean": "bool",
    "bigint": "bigint",
    "double": "double",
    "double precision": "double",
    "date": "date",
}


class Target:
    """A dataset on one destination, read back with that destination's own driver."""

    destination: str
    dataset: str
    placeholder: str

    def dlt_destination(self) -> Any:
        raise NotImplementedError

    def cli_env(self) -> dict[str, str]:
        return {}

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        raise NotImplementedError

    def pipeline(self, name: str, pipelines_dir: Path) -> dlt.Pipeline:
        return dlt.pipeline(
            pipeline_name=name,
            destination=self.dlt_destination(),
            dataset_name=self.dataset,
            pipelines_dir=str(pipelines_dir),
        )

    def tables(self) -> set[str]:
        p = self.placeholder
        sql = f"select table_name from information_schema.tables where table_schema = {p}"
        return {name for (name,) in self.query(sql, [self.dataset])}

    def columns(self, table: str) -> dict[str, tuple[str, bool]]:
        """Column -> (logical type, nullable). A type with no logical name is kept as
        ``destination:TYPE``, so it can only match a like one."""
        p = self.placeholder
        sql = (
            "select column_name, data_type, is_nullable from information_schema.columns "
            f"where table_schema = {p} and table_name = {p}"
        )
        out = {}
        for name, data_type, nullable in self.query(sql, [self.dataset, table]):
            logical = _LOGICAL_SQL.get(data_type.lower(), f"{self.destination}:{data_type}")
            out[name] = (logical, nullable == "YES")
        return out

    def counts(self, table: str) -> tuple[int, int]:
        """``(rows, distinct ids)``."""
        ((rows, ids),) = self.query(f'select count(*), count(distinct "id") from {self.q(table)}')
        return rows, ids

    def rows(self, table: str, columns: Sequence[str] | None = None) -> dict[Any, tuple]:
        """Rows keyed by ``id``: the ``columns`` given (by API field name), else every
        one dlt did not add."""
        if columns is None:
            columns = sorted(c for c in self.columns(table) if not c.startswith("_dlt"))
        names = ", ".join(f'"{column_name(c)}"' for c in columns)
        rows = self.query(f"select {names} from {self.q(table)}")
        key = list(columns).index("id")
        keyed = {row[key]: tuple(row) for row in rows}
        assert len(keyed) == len(rows), f"{table} holds duplicate ids"
        return keyed

    def q(self, table: str) -> str:
        return f'"{self.dataset}"."{table}"'


class DuckDBTarget(Target):
    destination = "duckdb"
    placeholder = "?"

    def __init__(self, path: Path, dataset: str) -> None:
        self.path = path
        self.dataset = dataset

    def dlt_destination(self) -> Any:
        return dlt.destinations.duckdb(str(self.path))

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        with duckdb.connect(str(self.path), read_only=True) as con:
            return con.execute(sql, list(params)).fetchall()


class PostgresTarget(Target):
    destination = "postgres"
    placeholder = "%s"

    def __init__(self, server: PostgresServer, dataset: str) -> None:
        self.server = server
        self.dataset = dataset

    def dlt_destination(self) -> Any:
        # as users name it, with the credentials from the environment (cli_env)
        return "postgres"

    def cli_env(self) -> dict[str, str]:
        return {"DESTINATION__POSTGRES__CREDENTIALS": self.server.url}

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        with contextlib.closing(self.server.connect()) as con, con.cursor() as cur:
            cur.execute(sql, list(params))
            return cur.fetchall()


# ---------------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """The PostgreSQL server of the session (see ``tests/postgres_server.py``)."""
    with contextlib.ExitStack() as stack:
        try:
            server = stack.enter_context(postgres_server())
        except ServerUnavailable as exc:
            pytest.skip(str(exc))
        except RuntimeError as exc:
            pytest.fail(str(exc), pytrace=False)
        yield server


@pytest.fixture
def target(
    request: pytest.FixtureRequest, headwater_env: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[..., Target]]:
    """Factory: ``target(destination, prefix, duckdb_file=None)`` a dataset of its own on
    that destination (PostgreSQL: a new schema, dropped after the test; DuckDB: a file
    in the test's directory). The PostgreSQL credentials go in the environment, where
    users put them, so dlt and the CLI find them alike."""
    made: list[PostgresTarget] = []

    def make(destination: str, prefix: str, duckdb_file: str | None = None) -> Target:
        if destination == "duckdb":
            return DuckDBTarget(headwater_env / (duckdb_file or f"{prefix}.duckdb"), f"{prefix}_ds")
        server: PostgresServer = request.getfixturevalue("postgres")
        made.append(PostgresTarget(server, server.new_dataset(prefix)))
        monkeypatch.setenv("DESTINATION__POSTGRES__CREDENTIALS", server.url)
        return made[-1]

    yield make
    for pg in made:
        pg.server.drop_datasets(pg.dataset)


@pytest.fixture
def use_case(
    headwater_plugins: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> Callable[[Case], None]:
    """Register the connectors of the cases (only them) and pick the Arrow path or not."""

    def use(case: Case) -> None:
        import headwater_directory.hooks
        import headwater_hr.hooks

        headwater_plugins(headwater_directory.hooks, headwater_hr.hooks, TypedPlugin())
        monkeypatch.setenv("HEADWATER_ARROW", "1" if case.arrow else "0")

    return use


# ----------------------------------------------------------------------- helpers


def simulate(api_simulator: Callable[..., Any], case: Case, **options: Any) -> Any:
    """A simulator serving the case's records (the typed schema given, not read)."""
    schemas = {case.table: TYPED_SCHEMA} if case.connector is TYPED else None
    return api_simulator(
        case.connector, records={case.table: case.records}, schemas=schemas, **options
    )


def secret_credentials(case: Case) -> dict[str, str]:
    """The connector's secret set to the canary."""
    return {"api_key" if case.connector is HR else "client_secret": CANARY}


def assert_loaded_as_served(target: Target, sim: Any, case: Case) -> dict[Any, tuple]:
    """The table holds exactly what the simulator serves, typed as declared, and
    nothing else landed (no quarantine table); returns its rows."""
    served = served_rows(sim, case, data_columns(case))
    assert target.tables() == {case.table, *DLT_TABLES}
    assert target.columns(case.table) == expected_columns(case)
    assert target.counts(case.table) == (len(served), len(served))
    loaded = target.rows(case.table, data_columns(case))
    assert loaded.keys() == served.keys()
    different = [key for key in served if loaded[key] != served[key]]
    assert different == [], (
        f"{len(different)} rows differ, e.g. {loaded[different[0]]} != {served[different[0]]}"
    )
    return loaded


MUTATED, GROWN = 7, 11


def change_the_server(sim: Any, case: Case) -> set[Any]:
    """Change the first records and add new ones; returns the ids changed."""
    changed = {r["id"] for r in sim.data[case.table][:MUTATED]}
    sim.mutate(case.table, MUTATED)
    sim.grow(case.table, GROWN)
    return changed


def assert_merged(
    before: dict[Any, tuple], after: dict[Any, tuple], changed: set[Any], case: Case
) -> None:
    """``after`` is ``before`` with exactly the ``changed`` rows updated and the new
    ones added (it equals what is served: assert_loaded_as_served)."""
    assert len(after) == case.records + GROWN
    assert len(set(after) - set(before)) == GROWN
    assert {key for key in before if after[key] != before[key]} == changed


# ------------------------------------------------------------------------- tests


@pytest.mark.parametrize("destination", DESTINATIONS)
@pytest.mark.parametrize("case", CASES, ids=_case_ids)
def test_python_api_loads_types_values_and_merges(
    case, destination, target, use_case, api_simulator, tmp_path
):
    use_case(case)
    sim = simulate(api_simulator, case)
    dest = target(destination, case.name)
    pipeline = dest.pipeline(f"py_{case.name}", tmp_path / "pipelines")
    assert Path(pipeline.working_dir).is_relative_to(tmp_path)  # never /var/dlt

    pipeline.run(headwater.source(case.name, **sim.settings))
    first = assert_loaded_as_served(dest, sim, case)

    # The same data again: merged on the primary key, nothing duplicated or changed.
    pipeline.run(headwater.source(case.name, **sim.settings))
    assert dest.counts(case.table) == (case.records, case.records)
    assert dest.rows(case.table, data_columns(case)) == first

    changed = change_the_server(sim, case)
    pipeline.run(headwater.source(case.name, **sim.settings))
    third = assert_loaded_as_served(dest, sim, case)
    assert_merged(first, third, changed, case)


@pytest.mark.parametrize("destination", DESTINATIONS)
@pytest.mark.parametrize("case", [DIRECTORY_CASE, HR_CASE], ids=_case_ids)
def test_cli_run_loads_merges_and_never_shows_a_secret(
    case, destination, target, use_case, api_simulator, headwater_env, tmp_path
):
    use_case(case)
    sim = simulate(api_simulator, case, credentials=secret_credentials(case))
    # The CLI's DuckDB file is <pipeline>.duckdb in the working directory.
    dest = target(destination, case.name, duckdb_file=f"headwater_{case.name}.duckdb")
    env = {**settings_env(case.name, sim), **dest.cli_env()}
    args = ("run", case.name, "--destination", destination, "--dataset-name", dest.dataset)

    first = cli("--debug", "-v", *args, env=env)
    assert first.returncode == 0, first.stderr
    assert re.search(rf"^{case.table}\s+{case.records}$", first.stdout, re.M), first.stdout
    before = assert_loaded_as_served(dest, sim, case)

    changed = change_the_server(sim, case)
    second = cli(*args, env=env)
    assert second.returncode == 0, second.stderr
    assert re.search(rf"^{case.table}\s+{case.records + GROWN}$", second.stdout, re.M)
    after = assert_loaded_as_served(dest, sim, case)
    assert_merged(before, after, changed, case)

    output = first.stdout + first.stderr + second.stdout + second.stderr
    secrets = [CANARY]
    # the "look:" command works as printed, in the environment that ran `headwater run`
    (look,) = [line[len("look: ") :] for line in first.stdout.splitlines() if "look: " in line]
    look_env = {**os.environ, **env}
    if isinstance(dest, PostgresTarget):
        secrets.append(dest.server.password)
        assert "data: postgresql://" in first.stdout  # where it loaded, password masked
        # psql asks for the password, or reads it
        look_env["PGPASSWORD"] = dest.server.password
    shown = subprocess.run(
        look, shell=True, capture_output=True, text=True, env=look_env, timeout=60
    )
    assert shown.returncode == 0, shown.stderr
    if isinstance(dest, PostgresTarget):
        assert "(5 rows)" in shown.stdout
    else:
        assert f"data: {headwater_env / dest.path.name}" in first.stdout.splitlines()
        assert f"headwater query {case.name} " in look
        cells = {cell for line in shown.stdout.splitlines()[2:] for cell in line.split()}
        assert len(cells & {str(r["id"]) for r in sim.data[case.table]}) == 10
        assert "(10 rows)" in shown.stdout.splitlines()
    for secret in secrets:
        assert secret not in output
        assert files_containing(tmp_path, secret) == []


@pytest.mark.parametrize("case", [DIRECTORY_CASE, HR_CASE, TYPED_CASE], ids=_case_ids)
def test_both_destinations_hold_the_same_result(case, target, use_case, api_simulator, tmp_path):
    use_case(case)
    sim = simulate(api_simulator, case)
    sim.mutate(case.table, MUTATED)  # a second version of some records, served once
    results = {}
    for destination in DESTINATIONS:
        dest = target(destination, case.name)
        pipeline = dest.pipeline(f"both_{case.name}_{destination}", tmp_path / "pipelines")
        pipeline.run(headwater.source(case.name, **sim.settings))
        # every column that landed, not only the declared ones
        results[destination] = (
            dest.tables(),
            dest.columns(case.table),
            dest.rows(case.table),
        )
    assert results["duckdb"] == results["postgres"]
    columns = sorted(data_columns(case), key=column_name)  # the order of the columns
    assert results["postgres"][2] == served_rows(sim, case, columns)


def test_wrong_postgres_password_fails_in_one_line_and_leaks_nothing(
    target, use_case, api_simulator, tmp_path
):
    use_case(DIRECTORY_CASE)
    sim = api_simulator(DIRECTORY, records={"directory_users": 50})
    dest = target("postgres", "wrong_pw")
    assert isinstance(dest, PostgresTarget)
    wrong = dest.server.url.replace(f":{dest.server.password}@", f":{WRONG_PASSWORD}@")
    assert wrong != dest.server.url
    env = {**settings_env("directory", sim), "DESTINATION__POSTGRES__CREDENTIALS": wrong}
    args = ("run", "directory", "--destination", "postgres", "--dataset-name", dest.dataset)

    for verbosity in ((), ("--debug", "-v")):
        result = cli(*verbosity, *args, env=env)
        assert result.returncode == 1, result.stderr
        last = result.stderr.strip().splitlines()[-1]
        assert last.startswith("headwater: error: "), last
        assert "password authentication failed" in last
        assert WRONG_PASSWORD not in result.stdout + result.stderr
    assert files_containing(tmp_path, WRONG_PASSWORD) == []
    assert dest.tables() == set()  # nothing loaded


@pytest.mark.parametrize(
    ("credentials", "says"),
    [
        pytest.param(
            f"postgresql://headwater:{WRONG_PASSWORD}@127.0.0.1:notaport/db", (), id="bad-port"
        ),
        pytest.param(f"headwater:{WRONG_PASSWORD}@127.0.0.1/db", (), id="no-scheme"),
        # another database's URL: psycopg2 was handed it, and the run failed (exit 1)
        pytest.param(
            f"mysql://headwater:{WRONG_PASSWORD}@127.0.0.1:5432/db",
            ("DESTINATION__POSTGRES__CREDENTIALS", "mysql://", "postgresql://"),
            id="other-scheme",
        ),
    ],
)
def test_malformed_postgres_credentials_are_a_usage_error_that_shows_no_password(
    credentials, says, use_case, api_simulator, headwater_env, tmp_path
):
    """An invalid setting: exit 2, one line, before any request, and even --debug does
    not show the password. Needs no server: nothing may connect."""
    use_case(DIRECTORY_CASE)
    sim = api_simulator(DIRECTORY, records={"directory_users": 50})
    env = {**settings_env("directory", sim), "DESTINATION__POSTGRES__CREDENTIALS": credentials}
    result = cli("--debug", "run", "directory", "--destination", "postgres", env=env)
    assert WRONG_PASSWORD not in result.stdout + result.stderr
    assert files_containing(tmp_path, WRONG_PASSWORD) == []
    assert sim.requests == []
    assert result.returncode == 2, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("headwater: error: ") and "unexpected" not in last, last
    assert all(part in last for part in says), last


@pytest.mark.parametrize("destination", DESTINATIONS)
def test_a_full_refresh_after_loads_that_staged_nothing(
    destination, target, headwater_plugins, api_simulator, headwater_env
):
    # dlt empties the staging dataset after every load, making it when it is missing:
    # after appends only, an empty schema the full refresh then failed to drop from
    # ("Table with name _dlt_version does not exist!")
    from headwater.run.pipeline import run_connector

    headwater_plugins(TypedPlugin(APPENDED))
    sim = api_simulator(APPENDED, records={"things": 30}, schemas={"things": TYPED_SCHEMA})
    dest = target(destination, "appended", duckdb_file="headwater_appended.duckdb")
    options = {"destination": destination, "dataset_name": dest.dataset}
    run_connector("appended", sim.settings, **options)
    run_connector("appended", sim.settings, **options)
    assert dest.counts("things") == (60, 30)  # appended twice
    result = run_connector(
        "appended", sim.settings, resources=["things"], full_refresh=True, **options
    )
    assert result.row_counts == {"things": 30}
    assert dest.counts("things") == (30, 30)


class LoadRefused(Exception):
    """The load step of a run failed (as for a role that may not write)."""


@pytest.mark.parametrize(("arrow", "file_format"), [(True, "csv"), (False, "insert_values")])
def test_the_summary_counts_exactly_the_rows_a_failed_load_left(
    arrow, file_format, target, headwater_plugins, api_simulator, headwater_env, monkeypatch
):
    # A run whose load failed leaves its normalized package; the next run loads it with
    # its own and counts its rows. PostgreSQL's csv files (the Arrow path) were counted
    # by their lines: the header, and every line of a quoted value, counted as a row.
    # The dataset is made first: where it does not exist dlt drops the package left
    # (and the next run counts none of it, see tests/dagster).
    from dlt.pipeline.pipeline import Pipeline
    from headwater.load.packages import pending
    from headwater.run.pipeline import run_connector
    from headwater.run.workdir import default_names, folder_pipelines_dir

    monkeypatch.setenv("HEADWATER_ARROW", "1" if arrow else "0")
    headwater_plugins(TypedPlugin(MULTILINE, MULTILINE_SCHEMA))
    sim = api_simulator(MULTILINE, records={"things": 40}, schemas={"things": MULTILINE_SCHEMA})
    dest = target("postgres", "failed_load")
    options = {"destination": "postgres", "dataset_name": dest.dataset}

    def refused(self: Any, *args: Any, **kwargs: Any) -> Any:
        raise LoadRefused("permission denied for schema")

    assert run_connector("multiline", sim.settings, **options).row_counts == {"things": 40}
    with monkeypatch.context() as patch:
        patch.setattr(Pipeline, "load", refused)
        with pytest.raises(Exception, match="permission denied"):
            run_connector("multiline", sim.settings, **options)
    name = default_names("multiline")[0]
    pipeline = dlt.attach(pipeline_name=name, pipelines_dir=folder_pipelines_dir())
    (left,) = pending(pipeline)  # the failed run's package, in the format of the case
    things = {job.job_file_info for job in left.jobs if job.job_file_info.table_name == "things"}
    assert {info.file_format for info in things} == {file_format}

    result = run_connector("multiline", sim.settings, **options)
    assert result.row_counts == {"things": 80}  # its own 40 and the 40 left to load
    assert result.leftover_counts == {"things": 40}
    assert dest.counts("things") == (40, 40)  # merged on their keys
    assert dest.query(f"select distinct note from {dest.q('things')}") == [("line1\nline2\nline3",)]


#: values that begin a line of their own in a file that does not escape line breaks
AWKWARD = "line1\n(line2\nSELECT 3,\n\"quoted\", 'single' \\"


@pytest.mark.parametrize(
    ("destination", "file_format", "settings"),
    [
        ("postgres", "csv", {}),
        ("postgres", "csv", {"DATA_WRITER__DELIMITER": "|", "DATA_WRITER__INCLUDE_HEADER": "0"}),
        ("postgres", "insert_values", {}),
        ("mssql", "insert_values", {}),
        ("synapse", "insert_values", {}),  # SELECT ... UNION ALL, not VALUES
        ("duckdb", "jsonl", {}),
        ("duckdb", "parquet", {}),
    ],
    ids=lambda v: (
        ("-".join(f"{k}={x}" for k, x in v.items()) or "defaults") if isinstance(v, dict) else v
    ),
)
def test_the_rows_left_to_load_are_counted_exactly_in_every_file_format(
    destination, file_format, settings, headwater_env, monkeypatch
):
    # What the next run adds to its summary for a package left to load, read from the
    # files dlt's normalize wrote for the destination (normalizing connects nowhere).
    from headwater.load.packages import pending_rows

    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    pipeline = dlt.pipeline(
        f"left_{destination}_{file_format}",
        destination=destination,
        dataset_name="left",
        pipelines_dir=str(headwater_env / "pipelines"),
    )
    records = [{"id": i, "note": AWKWARD, "tags": [AWKWARD, "x"]} for i in range(57)]
    pipeline.extract(dlt.resource(records, name="things"), loader_file_format=file_format)
    pipeline.normalize()
    assert pending_rows(pipeline) == {"things": 57, "things__tags": 114}


class Served:
    """A JSON API on 127.0.0.1 answering every GET with ``{"data": records}``: the
    records as they are at the request (a test changes them between runs)."""

    def __init__(self, records: list[dict[str, Any]]) -> None:
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        served = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = json.dumps({"data": served.records}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.records = records
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def settings(self) -> dict[str, str]:
        return {"base_url": f"http://127.0.0.1:{self.server.server_port}", "api_key": "key"}

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def served(use_case: Callable[[Case], None]) -> Iterator[Callable[..., Served]]:
    """Factory: ``served(records)`` a :class:`Served` API for the ``hr`` connector (on
    the Arrow fast path)."""
    use_case(HR_CASE)
    made: list[Served] = []

    def make(records: list[dict[str, Any]]) -> Served:
        made.append(Served(records))
        return made[-1]

    yield make
    for api in made:
        api.close()


def load_hr(dest: Target, api: Served, tmp_path: Path) -> None:
    """Load what ``api`` serves now with the ``hr`` connector."""
    pipeline = dest.pipeline("py_hr_served", tmp_path / "pipelines")
    pipeline.run(headwater.source("hr", **api.settings))


@pytest.mark.parametrize("destination", DESTINATIONS)
@pytest.mark.parametrize("changed", [1.5, "text-1"], ids=["float", "text"])
def test_an_undeclared_field_that_changes_type_between_runs_gets_a_variant_column(
    changed, destination, target, served, tmp_path
):
    # run 1 makes an integer column of an undeclared field; run 2 sends 1.5 or text in
    # it: DuckDB stored 1.5 as 2, PostgreSQL failed every later run on the package
    records = [{"id": f"e{i}", "amount": 1} for i in range(2)]
    api = served(records)
    dest = target(destination, "retyped")
    load_hr(dest, api, tmp_path)
    api.records = [{**r, "amount": changed} for r in records]  # a batch of one type
    load_hr(dest, api, tmp_path)
    variant = "amount__v_double" if isinstance(changed, float) else "amount__v_text"
    assert dest.columns("employees")["amount"] == ("bigint", True)
    select = f'select id, amount, "{variant}" from {dest.q("employees")} order by id'
    assert dest.query(select) == [("e0", None, changed), ("e1", None, changed)]
    # the old data again: it loads (no failed package is left to fail every run)
    api.records = records
    load_hr(dest, api, tmp_path)
    assert dest.query(select) == [("e0", 1, None), ("e1", 1, None)]


@pytest.mark.parametrize("destination", DESTINATIONS)
@pytest.mark.parametrize("arrow", [True, False], ids=["arrow", "rows"])
def test_a_nul_character_is_dropped_as_dlts_row_path_drops_it(
    arrow, destination, target, served, tmp_path, monkeypatch
):
    # PostgreSQL cannot store NUL (\x00) in text: the Arrow path's csv failed the load
    # ("invalid byte sequence for encoding UTF8: 0x00") and every run after it. dlt's
    # rows (insert_values) drop it, into DuckDB too: both paths load the same values
    monkeypatch.setenv("HEADWATER_ARROW", "1" if arrow else "0")
    records = [
        {"id": "k\x001", "resource_name": "nul\x00byte", "note": "\x00a\x00\x00b\x00"},
        {"id": "k2", "resource_name": "fine", "note": "fine"},
    ]
    api = served(records)
    dest = target(destination, "nul")
    load_hr(dest, api, tmp_path)
    load_hr(dest, api, tmp_path)  # merged on the key, NUL and all: nothing duplicated
    select = f"select id, resource_name, note from {dest.q('employees')} order by id"
    assert dest.query(select) == [("k1", "nulbyte", "ab"), ("k2", "fine", "fine")]
