"""Faults survived and nothing lost, against the simulator (real HTTP on 127.0.0.1)."""

from __future__ import annotations

import email.utils
import os
import signal
import subprocess
import sys
import time

import attrs
import duckdb
import headwater
import pytest
from headwater import hookimpl
from headwater.errors import ResponseError
from headwater.run.dlt_errors import explain
from headwater.testing import Fault
from headwater_directory.hooks import DIRECTORY
from helpers import Declares, cli, extraction_error, settings_env


class QuickRetries:
    """The directory connector's policy with short waits (codes and counts unchanged)."""

    def __init__(self, **changes) -> None:
        self.changes = {"backoff_factor": 0.01, "max_delay": 0.05, **changes}

    @hookimpl(wrapper=True)
    def headwater_retry_policy(self, connector, resource):
        policy = yield
        return attrs.evolve(policy, **self.changes)


@pytest.fixture
def directory(headwater_plugins, api_simulator):
    import headwater_directory.hooks

    def start(quick=None, **options):
        headwater_plugins(headwater_directory.hooks, QuickRetries(**(quick or {})))
        return api_simulator(DIRECTORY, **options)

    return start


def load(sim, duckdb_pipeline, name="reliability"):
    pipeline = duckdb_pipeline(name)
    pipeline.run(headwater.source("directory", **sim.settings))
    with pipeline.sql_client() as client:
        rows = client.execute_sql("select id from directory_users")
    assert len(rows) == len({r[0] for r in rows}), "duplicates loaded"
    return {r[0] for r in rows}


def served_ids(sim):
    return {r["id"] for r in sim.data["directory_users"]}


def gap_after(sim, status):
    """Seconds between the first response with ``status`` and the next request."""
    log = [r for r in sim.requests if r.resource == "directory_users"]
    i = next(n for n, r in enumerate(log) if r.status == status)
    return log[i + 1].time - (log[i].time + log[i].duration)


def test_retry_after_seconds_is_honoured(directory, duckdb_pipeline):
    sim = directory(faults=[Fault("status", status=429, retry_after="1", after=1)])
    assert load(sim, duckdb_pipeline) == served_ids(sim)
    assert gap_after(sim, 429) >= 0.9  # the policy alone would wait 0.01 s


def test_retry_after_http_date_is_honoured(directory, duckdb_pipeline):
    when = email.utils.formatdate(time.time() + 2, usegmt=True)
    sim = directory(faults=[Fault("status", status=429, retry_after=when, after=1)])
    assert load(sim, duckdb_pipeline) == served_ids(sim)
    # the retry came no sooner than the date said (the policy alone waits 0.01 s); timed
    # against the date itself, which a loaded machine may reach before the 429 is sent
    log = [r for r in sim.requests if r.resource == "directory_users"]
    i = next(n for n, r in enumerate(log) if r.status == 429)
    assert log[i + 1].time >= email.utils.parsedate_to_datetime(when).timestamp() - 0.05


def test_retry_after_zero_does_not_spin(directory, duckdb_pipeline):
    sim = directory(faults=[Fault("status", status=429, retry_after="0", count=3)])
    assert load(sim, duckdb_pipeline) == served_ids(sim)
    statuses = [r.status for r in sim.requests if r.resource == "directory_users"]
    assert statuses[:4] == [429, 429, 429, 200]  # within the policy: 3 retries


def test_5xx_bursts_and_dropped_connections_lose_nothing(directory, duckdb_pipeline):
    faults = [
        Fault("status", status=500, after=1),
        Fault("status", status=502, after=1),
        Fault("drop", after=2),
        Fault("status", status=503, after=3),
        Fault("status", status=504, after=3),
    ]
    sim = directory(records={"directory_users": 777}, faults=faults)
    assert load(sim, duckdb_pipeline) == served_ids(sim)
    statuses = [r.status for r in sim.requests if r.resource == "directory_users"]
    assert {500, 502, 0, 503, 504} <= set(statuses)


def test_read_timeout_is_retried(directory, duckdb_pipeline):
    sim = directory(quick={"timeout": 0.5}, faults=[Fault("latency", delay=2.0, after=1)])
    assert load(sim, duckdb_pipeline) == served_ids(sim)

    def offsets():
        return [r.query["offset"][0] for r in sim.requests if r.resource == "directory_users"]

    deadline = time.monotonic() + 5  # the slow answer is logged when its 2 s are up
    while offsets().count("100") < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert offsets().count("100") == 2  # the slow page, then its retry


def test_revoked_token_is_renewed_once(directory, duckdb_pipeline):
    sim = directory(faults=[Fault("status", status=401, after=1)])
    assert load(sim, duckdb_pipeline) == served_ids(sim)
    assert sim.tokens_issued == 2


def test_401_after_renewal_fails_clearly(directory, duckdb_pipeline):
    sim = directory(faults=[Fault("status", status=401, after=1, count=None)])
    with pytest.raises(Exception) as err:
        load(sim, duckdb_pipeline)
    known = explain(err.value)
    assert isinstance(known, ResponseError)
    assert "HTTP 401" in str(known) and "check the credentials" in str(known)
    assert sim.tokens_issued == 2  # renewed once, then gave up


def test_token_endpoint_briefly_failing(headwater_plugins, api_simulator, duckdb_pipeline):
    # Token requests retry with the connector's declared policy, which the QuickRetries
    # hook does not reach: the declaration itself gets the short waits here.
    quick = attrs.evolve(DIRECTORY.retry, backoff_factor=0.01, max_delay=0.05)
    connector = attrs.evolve(DIRECTORY, retry=quick)
    headwater_plugins(Declares(connector))
    sim = api_simulator(connector, faults=[Fault("status", status=503, resource="token", count=2)])
    assert load(sim, duckdb_pipeline) == served_ids(sim)
    token_statuses = [r.status for r in sim.requests if r.resource == "token"]
    assert token_statuses == [503, 503, 200]


# ------------------------------------------------------------------ process killed


@pytest.fixture
def cli_run(headwater_process):
    """``cli_run(name, env, cwd)``: `headwater run NAME` in a subprocess, stopped after
    the test even when the test fails before killing it."""

    def start(name, env, cwd):
        return headwater_process("run", name, env=env, cwd=cwd)

    return start


def kill_when(sim, process, requests, resource, sig=signal.SIGKILL):
    deadline = time.monotonic() + 60
    while len(sim.requests_for(resource)) < requests:
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the run never got going"
        time.sleep(0.01)
    process.send_signal(sig)
    process.wait(timeout=30)


def rerun_loads_every_user_once(sim, env, cwd, cli_run) -> None:
    """Run `headwater run directory` again, at full speed: every record of ``sim`` is
    then in the table, once."""
    sim.latency = 0.0
    done = cli_run("directory", env, cwd)
    _out, err = done.communicate(timeout=300)
    assert done.returncode == 0, err
    served = len(sim.data["directory_users"])
    with duckdb.connect(str(cwd / "headwater_directory.duckdb"), read_only=True) as con:
        rows = con.sql("select count(*), count(distinct id) from directory_data.directory_users")
        assert rows.fetchall() == [(served, served)]


def test_sigkill_mid_run_then_every_record_exactly_once(api_simulator, headwater_env, cli_run):
    sim = api_simulator(DIRECTORY, records={"directory_users": 4000}, latency=0.03)
    env = settings_env("directory", sim)
    kill_when(sim, cli_run("directory", env, headwater_env), 15, "directory_users")
    rerun_loads_every_user_once(sim, env, headwater_env, cli_run)


def test_sigterm_mid_run_is_one_line_exit_143_and_the_next_run_completes(
    api_simulator, headwater_env, cli_run
):
    # SIGTERM (what Kubernetes and systemd send) ended the run silently, exit 143
    sim = api_simulator(DIRECTORY, records={"directory_users": 300}, latency=0.05)
    env = settings_env("directory", sim)
    run = cli_run("directory", env, headwater_env)
    kill_when(sim, run, 2, "directory_users", signal.SIGTERM)
    _out, err = run.communicate(timeout=60)
    assert (run.returncode, err) == (128 + signal.SIGTERM, "headwater: terminated\n")
    rerun_loads_every_user_once(sim, env, headwater_env, cli_run)


def test_sigkill_never_advances_incremental_state_past_what_was_loaded(
    api_simulator, headwater_env, cli_run
):
    from headwater.plugin.manager import get_registry, make_plugin_manager, use

    use(make_plugin_manager(strict=True))  # the installed analytics connector
    events = get_registry().get("analytics_events")
    sim = api_simulator(events, records={"events": 3000}, latency=0.03)
    env = {f"SOURCES__ANALYTICS_EVENTS__{k.upper()}": v for k, v in sim.settings.items()}
    kill_when(sim, cli_run("analytics_events", env, headwater_env), 12, "events")
    db = headwater_env / "headwater_analytics_events.duckdb"
    loaded_max = None
    if db.exists():
        with duckdb.connect(str(db), read_only=True) as con:
            found = con.sql(
                "select count(*) from information_schema.tables where table_name = 'events'"
            ).fetchall()
            if found == [(1,)]:
                (loaded_max,) = con.sql(
                    'select max("timestamp") from analytics_events_data.events'
                ).fetchall()[0]
    sim.reset_log()
    sim.latency = 0.0
    done = cli_run("analytics_events", env, headwater_env)
    _out, err = done.communicate(timeout=300)
    assert done.returncode == 0, err
    sent = [r.query.get("since", [None])[0] for r in sim.requests_for("events")]
    if loaded_max is None:
        assert sent[0] is None  # nothing was loaded: the state did not move
    else:
        assert sent[0] is None or sent[0] <= loaded_max.isoformat().replace("+00:00", "Z")
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.sql("select count(*), count(distinct id) from analytics_events_data.events")
        assert rows.fetchall() == [(3000, 3000)]


# -------------------------------------------------------------------- rate limits


def busiest_window(times, seconds):
    """The most request arrivals within any window of ``seconds``."""
    times = sorted(times)
    most, start = 0, 0
    for end, t in enumerate(times):
        while t - times[start] >= seconds:
            start += 1
        most = max(most, end - start + 1)
    return most


def test_simulator_enforces_a_rate_limit(api_simulator):
    import requests

    sim = api_simulator(DIRECTORY, rate_limit="5/second")
    token = requests.post(
        sim.settings["token_url"],
        data={
            "grant_type": "client_credentials",
            **{k: sim.settings[k] for k in ("client_id", "client_secret")},
        },
    ).json()["access_token"]
    statuses = []
    for _ in range(8):
        r = requests.get(f"{sim.base_url}/v1/users", headers={"Authorization": f"Bearer {token}"})
        statuses.append((r.status_code, r.headers.get("Retry-After")))
    assert [s for s, _ in statuses[:5]] == [200] * 5
    assert statuses[5][0] == 429 and int(statuses[5][1]) >= 1


def test_declared_rate_limit_holds_with_concurrent_requests(api_simulator, headwater_plugins):
    from headwater.plugin.manager import get_registry, make_plugin_manager, use

    use(make_plugin_manager(strict=True))
    meetings = get_registry().get("analytics_meetings")
    # the API allows 25/second; the run is told 20/second and uses 8 workers
    sim = api_simulator(
        meetings, records={"users": 60, "meetings": 1}, rate_limit="25/second", latency=0.2
    )
    source = headwater.source(
        "analytics_meetings", rate_limit="20/second", max_workers=8, **sim.settings
    )
    rows = [r for r in source]
    assert rows  # loaded
    api = [r for r in sim.requests if r.resource != "token"]
    assert all(r.status != 429 for r in api), "the API had to refuse requests"
    # arrival times carry the loaded machine's scheduling jitter (sent 1.0 s apart can
    # arrive 0.95 s apart): count over a window 0.1 s short of the limit's second, with
    # one arrival's slack; without the limit, 8 workers would send about 40 a second
    assert busiest_window([r.time for r in api], 0.9) <= 21
    assert sim.peak_concurrency >= 2  # the requests did run concurrently


def test_rate_limit_setting_is_checked():
    from headwater.errors import SettingsError

    source = headwater.source(
        "directory", client_id="abcd", client_secret="efgh", rate_limit="fast"
    )
    error = extraction_error(source)  # checked when the source is extracted
    assert isinstance(error, SettingsError) and "invalid setting rate_limit" in str(error)


KILL_AT_NORMALIZE_COMMIT = """
import os, signal, sys
from dlt.common.storages.load_storage import LoadStorage
commit = LoadStorage.commit_new_load_package
def killed(self, load_id, *args, **kwargs):
    commit(self, load_id, *args, **kwargs)
    os.kill(os.getpid(), signal.SIGKILL)  # before the extracted package is deleted
LoadStorage.commit_new_load_package = killed
from headwater.cli import main
sys.exit(main(["run", "directory", "--progress", "off"]))
"""


def killed_by(script: str, sim, cwd) -> None:
    """Run ``script`` (a `headwater run directory` that kills itself somewhere) in
    ``cwd`` against ``sim``, and check that it was killed."""
    killed = subprocess.run(
        [sys.executable, "-c", script],
        env={**os.environ, **settings_env("directory", sim)},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr


def test_a_run_killed_in_dlts_normalize_commit_is_finished_by_the_next(
    api_simulator, headwater_env
):
    # dlt renames the normalized package, then deletes the extracted one: killed in
    # between, every later run failed on "Directory not empty" until .headwater was
    # deleted by hand
    sim = api_simulator(DIRECTORY, records={"directory_users": 300})
    first = cli("run", "directory", "--progress", "off", env=settings_env("directory", sim))
    assert first.returncode == 0, first.stderr
    killed_by(KILL_AT_NORMALIZE_COMMIT, sim, headwater_env)
    done = cli("run", "directory", "--progress", "off", env=settings_env("directory", sim))
    assert done.returncode == 0, done.stderr
    with duckdb.connect(str(headwater_env / "headwater_directory.duckdb"), read_only=True) as con:
        rows = con.sql("select count(*), count(distinct id) from directory_data.directory_users")
        assert rows.fetchall() == [(300, 300)]
        # the first run's, the killed run's (loaded once) and the last run's packages
        loads = con.sql("select count(*) from directory_data._dlt_loads").fetchall()
        assert loads == [(3,)]


KILL_BEFORE_LOAD = """
import os, signal, sys
from dlt.pipeline.pipeline import Pipeline
def killed(self, *args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)  # normalized, not loaded
Pipeline.load = killed
from headwater.cli import main
sys.exit(main(["run", "directory", "--progress", "off"]))
"""


def test_the_summary_counts_the_rows_a_killed_run_left_to_load(api_simulator, headwater_env):
    # the next run loads the killed run's normalized package with its own: its summary
    # counted its own records only (an append API with nothing new said "no new rows"
    # while the killed run's rows went into the table)
    sim = api_simulator(DIRECTORY, records={"directory_users": 250})
    env = settings_env("directory", sim)
    # a first run makes the dataset: on a pipeline's first run dlt's sync with the
    # destination drops a package left unloaded (nothing to count then)
    assert cli("run", "directory", "--progress", "off", env=env).returncode == 0
    killed_by(KILL_BEFORE_LOAD, sim, headwater_env)
    done = cli("run", "directory", "--progress", "off", env=env)
    assert done.returncode == 0, done.stderr
    # the killed run's 250 and this run's 250, merged on their keys
    assert "directory_users  500" in done.stdout.splitlines(), done.stdout
    with duckdb.connect(str(headwater_env / "headwater_directory.duckdb"), read_only=True) as con:
        rows = con.sql("select count(*) from directory_data.directory_users").fetchall()
        loads = con.sql("select count(*) from directory_data._dlt_loads").fetchall()
    assert rows == [(250,)]
    assert loads == [(3,)]  # the first run's, the killed run's and this one's
