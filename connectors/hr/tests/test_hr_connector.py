"""hr (seed 004): API key in the query string, offset pagination, merge on id — and the
key never leaks: not in CLI output (success or failure), not in any file written."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import duckdb
import headwater
import pytest
from headwater.errors import ResponseError, SettingsError
from headwater.run import explain
from headwater.testing import Fault
from headwater.testing import rows_of as records
from headwater_hr.hooks import HR

BASE = "https://api.example.com"
KEY = "hr-key-Q7x9-unit"
CANARY = "canary-HrKey-5d2f81"

# The CLI in a subprocess, with every installed plugin plus one that keeps the declared
# retry policy but waits 0 s between attempts (4 attempts of a permanent 503 would
# otherwise wait 2 + 4 + 8 s).
FAST_RETRY_CLI = """
import sys
import attrs
from headwater import hookimpl
from headwater.plugin import manager as plugins

class FastRetry:
    @hookimpl
    def headwater_retry_policy(self, connector):
        return attrs.evolve(connector.retry, backoff_factor=0)

plugins.use(plugins.make_plugin_manager(plugins=[("fast_retry", FastRetry())]))
from headwater.cli import main
sys.exit(main(sys.argv[1:]))
"""


def query(request) -> dict[str, list[str]]:
    """The query of a recorded request, case kept (requests-mock lower-cases ``.query``)."""
    return parse_qs(urlsplit(request.url).query)


def serve_employees(requests_mock, total: int):
    employees = [
        {"id": f"emp-{i:05d}", "customer_id": "c-1", "resource_name": f"Employee {i}",
         "timestamp": "2024-02-03T04:05:06Z"}
        for i in range(total)
    ]  # fmt: skip

    def respond(request, context):
        params = query(request)
        if params.get("api_key") != [KEY]:
            context.status_code = 401
            return {"error": "invalid api key"}
        offset, limit = int(params["offset"][0]), int(params["limit"][0])
        return {"data": employees[offset : offset + limit]}

    return requests_mock.get(f"{BASE}/v1/resource", json=respond)


def test_api_key_in_the_query_of_every_page(requests_mock):
    api = serve_employees(requests_mock, 230)
    rows = records(headwater.source("hr", api_key=KEY))
    assert len(rows) == 230
    assert [query(r) for r in api.request_history] == [
        {"offset": [str(o)], "limit": ["100"], "api_key": [KEY]} for o in (0, 100, 200)
    ]
    for request in api.request_history:
        assert KEY not in str(request.headers)


def test_api_key_is_required(requests_mock):
    source = headwater.source("hr")  # settings are resolved when it is extracted
    with pytest.raises(Exception) as info:
        records(source)
    error = explain(info.value)
    assert isinstance(error, SettingsError)
    assert str(error) == (
        "missing setting api_key for connector hr: set "
        "SOURCES__HR__API_KEY or [sources.hr] api_key in .dlt/secrets.toml"
    )
    assert requests_mock.request_history == []


def test_api_key_from_secrets_toml(requests_mock, headwater_env):
    (headwater_env / ".dlt").mkdir()
    (headwater_env / ".dlt" / "secrets.toml").write_text(f'[sources.hr]\napi_key = "{KEY}"\n')
    serve_employees(requests_mock, 3)
    assert len(records(headwater.source("hr"))) == 3


def test_rejected_key_error_does_not_show_the_key(requests_mock):
    serve_employees(requests_mock, 3)
    wrong = "wrong-key-Zz81"
    with pytest.raises(Exception) as info:
        list(headwater.source("hr", api_key=wrong))
    error = explain(info.value)
    assert isinstance(error, ResponseError)
    assert "answered HTTP 401" in str(error)
    assert "api_key=***" in str(error)
    assert wrong not in str(error)


# ------------------------------------------------------------------ end to end


def cli(*args: str, env: dict[str, str], fast_retry: bool = False) -> subprocess.CompletedProcess:
    command = ["-c", FAST_RETRY_CLI] if fast_retry else ["-m", "headwater"]
    return subprocess.run(
        [sys.executable, *command, *args],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=120,
    )


def sim_env(sim) -> dict[str, str]:
    return {f"SOURCES__HR__{k.upper()}": v for k, v in sim.settings.items()}


def files_containing(root: Path, needle: bytes) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and needle in p.read_bytes()]


def test_e2e_cli_loads_merges_and_never_shows_the_key(api_simulator, headwater_env, tmp_path):
    sim = api_simulator(HR, records={"employees": 456}, credentials={"api_key": CANARY})
    env = sim_env(sim)
    first = cli("-v", "run", "hr", env=env)
    assert first.returncode == 0, first.stderr
    db = headwater_env / "headwater_hr.duckdb"
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.sql("select count(*), count(distinct id) from hr_data.employees").fetchall() == [
            (456, 456)
        ]
        columns = {
            name: (dtype, nullable)
            for name, dtype, nullable in con.sql(
                "select column_name, data_type, is_nullable from information_schema.columns "
                "where table_schema = 'hr_data' and table_name = 'employees'"
            ).fetchall()
        }
    assert columns["id"] == ("VARCHAR", "NO")
    assert columns["customer_id"] == columns["resource_name"] == ("VARCHAR", "YES")
    assert columns["timestamp"] == ("TIMESTAMP WITH TIME ZONE", "YES")
    assert all(r.query["api_key"] == [CANARY] for r in sim.requests_for("employees"))
    assert len(sim.requests_for("employees")) == 5  # 4 pages of 100, one of 56

    sim.mutate("employees", 4)
    sim.grow("employees", 44)
    second = cli("run", "hr", env=env)
    assert second.returncode == 0, second.stderr
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.sql("select count(*), count(distinct id) from hr_data.employees").fetchall() == [
            (500, 500)
        ]
        changed = sim.data["employees"][0]
        assert con.sql(
            f"select resource_name from hr_data.employees where id = '{changed['id']}'"
        ).fetchall() == [(changed["resource_name"],)]

    for result in (first, second):
        assert CANARY not in result.stdout + result.stderr
    assert files_containing(tmp_path, CANARY.encode()) == []


@pytest.mark.parametrize(
    "fault, message, attempts",
    [
        (Fault("status", status=503, count=None), "answered HTTP 503", 4),
        (Fault("malformed_json", count=None), "answered malformed JSON", 1),
    ],
    ids=["permanent-503", "malformed-json"],
)
def test_e2e_cli_failure_exit_1_one_line_and_no_key_anywhere(
    api_simulator, headwater_env, tmp_path, fault, message, attempts
):
    sim = api_simulator(HR, records={"employees": 150}, faults=[fault],
                        credentials={"api_key": CANARY})  # fmt: skip
    result = cli("--debug", "run", "hr", env=sim_env(sim), fast_retry=True)
    assert result.returncode == 1, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("headwater: error: resource hr.employees: GET ")
    assert message in last
    assert "api_key=***" in last
    if attempts > 1:
        assert "still failing after 4 attempts" in last
    # "maximum retries 3": 4 attempts, then the run fails
    assert len(sim.requests_for("employees")) == attempts
    assert CANARY not in result.stdout + result.stderr  # --debug: tracebacks, urllib3 logs
    assert files_containing(tmp_path, CANARY.encode()) == []


# ------------------------------------------------------------- packaging


def test_hr_installs_alone_its_entry_point_and_dependencies():
    (ep,) = [e for e in metadata.entry_points(group="headwater") if e.name == "hr"]
    assert ep.value == "headwater_hr.hooks"
    assert ep.dist is not None and ep.dist.name == "headwater-hr"
    # the core, and destination drivers only as extras
    assert metadata.requires("headwater-hr") == [
        "headwater>=0.1.0",
        "headwater[duckdb]>=0.1.0; extra == 'duckdb'",
        "headwater[postgres]>=0.1.0; extra == 'postgres'",
    ]
    # Importing the plugin pulls in no other connector distribution.
    code = (
        "import sys, headwater_hr.hooks; "
        "print(sorted(m for m in sys.modules if m.startswith(('headwater_analytics', "
        "'headwater_directory'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_hr_alone_in_a_plugin_manager(headwater_plugins):
    import headwater_hr.hooks

    headwater_plugins(headwater_hr.hooks)  # no entry points: nothing else installed
    assert [c.name for c in headwater.connectors()] == ["hr"]
