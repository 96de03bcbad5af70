"""End to end: the directory connector against the simulator, through the CLI and Python."""

from __future__ import annotations

import subprocess
from pathlib import Path

import duckdb
import headwater
import pytest
from headwater.testing import Fault
from headwater_directory.hooks import DIRECTORY
from helpers import cli, files_containing, settings_env

CANARY = "canary-Secret-7c1e9b"


def rows(db: Path) -> dict[str, tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        result = con.sql("select id, etag, last_login_time from directory_data.directory_users")
        return {r[0]: r for r in result.fetchall()}


def served(sim) -> dict[str, tuple]:
    return {r["id"]: r for r in sim.data["directory_users"]}


def test_cli_run_loads_every_user_once_and_merges(api_simulator, headwater_env, tmp_path):
    # Tokens live 1 s and each request takes 0.1 s: the run outlives several tokens.
    sim = api_simulator(
        DIRECTORY,
        records={"directory_users": 1234},
        token_ttl=1.0,
        latency=0.1,
        credentials={"client_secret": CANARY},
    )
    env = settings_env("directory", sim)
    first = cli("-v", "run", "directory", "--destination", "duckdb", env=env)
    assert first.returncode == 0, first.stderr
    db = headwater_env / "headwater_directory.duckdb"
    loaded = rows(db)
    assert len(loaded) == 1234
    assert set(loaded) == set(served(sim))
    assert sim.tokens_issued >= 2  # renewed mid-run
    assert "directory_users" in first.stdout and "1234" in first.stdout

    with duckdb.connect(str(db), read_only=True) as con:
        columns = {
            name: (dtype, nullable)
            for name, dtype, nullable in con.sql(
                "select column_name, data_type, is_nullable from information_schema.columns "
                "where table_schema = 'directory_data' and table_name = 'directory_users'"
            ).fetchall()
        }
        assert con.sql(
            "select count(*), count(distinct id) from directory_data.directory_users"
        ).fetchall() == [(1234, 1234)]
    assert columns["id"] == ("VARCHAR", "NO")
    assert columns["etag"] == ("VARCHAR", "YES")
    # dlt's default naming, as the seed's rest_api config gives: one column, snake_case
    assert columns["last_login_time"] == ("TIMESTAMP WITH TIME ZONE", "YES")
    assert "lastLoginTime" not in columns and "lastlogintime" not in columns
    assert "extra_note" in columns  # fields beyond the schema are kept

    sim.mutate("directory_users", 5)
    sim.grow("directory_users", 10)
    second = cli("run", "directory", env=env)
    assert second.returncode == 0, second.stderr
    reloaded = rows(db)
    assert len(reloaded) == 1244
    expected = served(sim)
    changed = [i for i in expected if i in loaded and expected[i]["etag"] != loaded[i][1]]
    assert len(changed) == 5
    for user_id in changed:
        assert reloaded[user_id][1] == expected[user_id]["etag"]

    out = (first.stdout + first.stderr + second.stdout + second.stderr).encode()
    assert CANARY.encode() not in out
    assert files_containing(tmp_path, CANARY.encode()) == []


@pytest.mark.parametrize(
    "fault, message",
    [
        (Fault("status", status=404, count=None), "answered HTTP 404"),
        (Fault("malformed_json", count=None, after=2), "answered malformed JSON"),
        (Fault("html_200", count=None), "answered an HTML page instead of JSON"),
    ],
)
def test_cli_failure_is_one_line_exit_1_and_leaks_nothing(
    api_simulator, headwater_env, tmp_path, fault, message
):
    sim = api_simulator(
        DIRECTORY,
        records={"directory_users": 500},
        faults=[fault],
        credentials={"client_secret": CANARY},
    )
    result = cli("--debug", "run", "directory", env=settings_env("directory", sim))
    assert result.returncode == 1, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("headwater: error: resource directory.directory_users")
    assert message in last
    out = (result.stdout + result.stderr).encode()
    assert CANARY.encode() not in out
    assert files_containing(tmp_path, CANARY.encode()) == []
    plain = cli("run", "directory", env=settings_env("directory", sim))
    assert "Traceback" not in plain.stderr  # only --debug shows tracebacks


def test_cli_config_errors_exit_2_before_any_request(api_simulator, headwater_env):
    sim = api_simulator(DIRECTORY)
    env = settings_env("directory", sim)
    del env["SOURCES__DIRECTORY__CLIENT_SECRET"]
    result = cli("run", "directory", env=env)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "headwater: error: missing setting client_secret for connector directory: set "
        "SOURCES__DIRECTORY__CLIENT_SECRET or [sources.directory] client_secret in "
        ".dlt/secrets.toml"
    )
    unknown = cli("run", "nope", env=env)
    assert unknown.returncode == 2 and "connector 'nope' is not installed" in unknown.stderr
    resource = cli("run", "directory", "--resource", "users", env=settings_env("directory", sim))
    assert resource.returncode == 2
    assert "has no resource 'users'; did you mean directory_users?" in resource.stderr
    assert sim.requests == []  # nothing was requested
    assert not (headwater_env / "headwater_directory.duckdb").exists()


def test_python_api_into_duckdb(api_simulator, duckdb_pipeline):
    sim = api_simulator(DIRECTORY, records={"directory_users": 321})
    pipeline = duckdb_pipeline("py_directory")
    source = headwater.source("directory", **sim.settings)
    pipeline.run(source)
    pipeline.run(headwater.source("directory", **sim.settings))  # merge: no duplicates
    with pipeline.sql_client() as client:
        assert client.execute_sql("select count(*), count(distinct id) from directory_users") == [
            (321, 321)
        ]
    token_requests = [r for r in sim.requests if r.resource == "token"]
    assert len(token_requests) == 2  # one per run, not one per page or resource


def test_describe_and_list(headwater_env):
    listed = cli("list", env={})
    assert listed.returncode == 0
    assert "directory" in listed.stdout and "headwater-directory" in listed.stdout
    described = cli("describe", "directory", env={})
    assert described.returncode == 0
    for text in (
        "GET /v1/users",
        "offset(limit=100",
        "SOURCES__DIRECTORY__CLIENT_SECRET",
        # the columns as loaded (dlt's naming), with the API's field where it differs
        "last_login_time  timestamp  nullable (API field lastLoginTime)",
        "id               text       not null, primary key",
        "429, 500, 502, 503, 504",
    ):
        assert text in described.stdout
    # naming = "api" loads the API's spelling
    as_api = cli("describe", "directory", env={"SOURCES__DIRECTORY__NAMING": "api"})
    assert "      lastLoginTime  timestamp  nullable\n" in as_api.stdout


def test_check_reads_one_page_per_resource_and_loads_nothing(api_simulator, headwater_env):
    sim = api_simulator(DIRECTORY, records={"directory_users": 3000})
    result = cli("check", "directory", env=settings_env("directory", sim))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines[0] == "ok    directory_users: first page: 100 records"
    # then the page's schema drift: the simulator's one undeclared field (#19)
    assert lines[1:] == [
        "drift  resource directory_users (100 records from 1 pages): fields seen but not "
        "declared: extra_note (100)"
    ]
    assert len(sim.requests_for("directory_users")) == 1
    assert len(sim.requests_for("token")) == 1
    assert not (headwater_env / "headwater_directory.duckdb").exists()

    bad = {
        **settings_env("directory", sim),
        "SOURCES__DIRECTORY__CLIENT_SECRET": "wrong-secret-value",
    }
    refused = cli("check", "directory", env=bad)
    assert refused.returncode == 1
    assert "refused the client credentials" in refused.stdout
    assert "wrong-secret-value" not in refused.stdout + refused.stderr


def test_missing_destination_setting_is_a_usage_error(api_simulator, headwater_env):
    sim = api_simulator(DIRECTORY, records={"directory_users": 10})
    result = cli(
        "run", "directory", "--destination", "filesystem", env=settings_env("directory", sim)
    )
    assert result.returncode == 2, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last == (
        "headwater: error: the destination's setting bucket_url is not set: set "
        "DESTINATION__FILESYSTEM__BUCKET_URL or [destination.filesystem] bucket_url in "
        ".dlt/config.toml"
    )


def test_summary_offers_a_look_only_at_a_table_that_exists(api_simulator, headwater_env):
    # An API with no records yet: no table is created, so there is nothing to look at.
    sim = api_simulator(DIRECTORY, records={"directory_users": 0})
    empty = cli("run", "directory", "--progress", "off", env=settings_env("directory", sim))
    assert empty.returncode == 0, empty.stderr
    assert "no new rows" in empty.stdout and "look:" not in empty.stdout

    sim.grow("directory_users", 3)
    loaded = cli("run", "directory", "--progress", "off", env=settings_env("directory", sim))
    assert loaded.returncode == 0, loaded.stderr
    (look,) = [line[len("look: ") :] for line in loaded.stdout.splitlines() if "look: " in line]
    # run as printed, in the environment that ran `headwater run`
    shown = subprocess.run(look, shell=True, capture_output=True, text=True, check=True)
    assert all(r["id"] in shown.stdout for r in sim.data["directory_users"])
