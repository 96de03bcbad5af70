"""Record from the simulator with canary secrets, stop it, replay offline (#19)."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus, urlsplit

import attrs
import duckdb
import headwater
import pytest
from headwater import redact, spec
from headwater.errors import ConfigError
from headwater.run.record import record_connector
from headwater.run.replay import replay
from headwater.spec import (
    ApiKeyAuth,
    BasicAuth,
    BearerAuth,
    JwtBearer,
    JwtGrant,
    OAuth2ClientCredentials,
    OAuth2RefreshToken,
    OffsetPagination,
    Resource,
    SessionLogin,
    TemplateAuth,
)
from headwater_directory.hooks import DIRECTORY
from helpers import (
    SCHEMA,
    Declares,
    cli,
    connector,
    files_containing,
    rows_of,
    settings_env,
)

CANARY = "canary-Rec-5d2f81aa"

#: Every auth kind the simulator serves, with the settings that carry its secrets. An
#: auth kind declared in headwater.spec but missing here is reported by
#: test_every_served_auth_kind_has_a_canary_case (add it when the simulator serves it).
AUTH_CASES = {
    "api_key_header": (ApiKeyAuth(name="X-Api-Key"), {"api_key": CANARY}),
    "api_key_query": (ApiKeyAuth(name="api_key", location="query"), {"api_key": CANARY}),
    "bearer": (BearerAuth(), {"token": CANARY}),
    "basic": (BasicAuth(), {"username": "canary-user-77", "password": CANARY}),
    "oauth2_form": (
        OAuth2ClientCredentials(),
        {"client_id": "canary-client-31", "client_secret": CANARY},
    ),
    "oauth2_basic": (
        OAuth2ClientCredentials(client_auth="basic"),
        {"client_id": "canary-client-31", "client_secret": CANARY},
    ),
    "oauth2_refresh_token": (
        OAuth2RefreshToken(),
        {"client_id": "canary-client-31", "client_secret": CANARY, "refresh_token": CANARY + "r"},
    ),
    # the simulator makes the key pair of the JWT kinds: a canary key cannot sign
    "jwt_grant": (JwtGrant(), {}),
    "jwt_bearer": (JwtBearer(algorithm="ES256"), {}),
    "session": (SessionLogin(), {"username": "canary-user-77", "password": CANARY}),
    "template": (
        TemplateAuth(headers={"Authorization": "Token {api_key}", "X-Account": "{account}"}),
        {"api_key": CANARY, "account": CANARY + "a"},
    ),
}


def _token_files() -> dict[str, bytes]:
    """The token store's files (the default store, under HEADWATER_TOKEN_DIR)."""
    from headwater.http.token_store import default_token_dir

    root = default_token_dir()
    return {str(p): p.read_bytes() for p in root.rglob("*.json")} if root.exists() else {}


def _paged(name: str, auth) -> spec.Connector:
    return connector(
        name,
        auth=auth,
        pagination=OffsetPagination(limit=10, total_path=None),
    )


def _data(rows: list[dict]) -> list[dict]:
    """Rows without dlt's random row ids."""
    return [{k: v for k, v in row.items() if not k.startswith("_dlt")} for row in rows]


def _forms(value: str) -> list[bytes]:
    return [v.encode() for v in {value, quote(value, safe=""), quote_plus(value)}]


def _leaks(root: Path, secrets: dict[str, str]) -> list[str]:
    """Secret values (any encoding) found in any file under ``root``."""
    found = []
    needles = {k: v for k, v in secrets.items() if k != "username"}  # not a secret
    if "username" in secrets and "password" in secrets:
        pair = f"{secrets['username']}:{secrets['password']}".encode()
        needles["basic header"] = base64.b64encode(pair).decode()
    if "client_id" in secrets and "client_secret" in secrets:
        pair = f"{secrets['client_id']}:{secrets['client_secret']}".encode()
        needles["client basic header"] = base64.b64encode(pair).decode()
    for name, value in needles.items():
        for form in _forms(value):
            if files_containing(root, form):
                found.append(name)
    return found


@pytest.mark.parametrize("case", sorted(AUTH_CASES))
def test_no_secret_byte_reaches_the_cassettes_and_the_replay_loads_the_same_rows(
    case, headwater_env, headwater_plugins, api_simulator, tmp_path
):
    auth, secrets = AUTH_CASES[case]
    name = f"rec_{case}"
    declared = _paged(name, auth)
    headwater_plugins(Declares(declared))
    sim = api_simulator(declared, records={"items": 35}, credentials=secrets)
    cassettes = tmp_path / "cassettes"

    result = record_connector(name, sim.settings, to=cassettes)
    assert result.failure == ""
    # tokens issued at run time were registered for redaction: none is on disk either
    runtime = {f"registered {n}": v for n, v in enumerate(redact.registered()) if len(v) >= 8}
    assert _leaks(cassettes, {**secrets, **runtime}) == []
    live = rows_of(headwater.source(name, **sim.settings))
    requests_seen = len(sim.requests)
    sim.stop()

    key = sim.credentials.get("private_key")
    if key is not None:  # a JWT kind: the key's own lines are secrets too
        secrets = {**secrets, **{f"key line {n}": k for n, k in enumerate(key.splitlines()[2:-1])}}
        assert _leaks(cassettes, secrets) == []
    redact.forget()  # the replay must not need (or know) the real secrets
    explicit = {}
    if key is not None:  # a throwaway key signs what the replay sends
        from headwater.testing.tokens import generate_private_key

        explicit["private_key"] = generate_private_key(auth.algorithm)[0]
    stored = _token_files()
    with replay(name, cassettes, explicit) as settings:
        replayed = rows_of(headwater.source(name, **settings))
    # a replay's rotated refresh token is a placeholder: never in the user's token store
    assert _token_files() == stored
    assert _data(replayed) == _data(live)
    assert len(live) == 35 and requests_seen > 0


def test_every_served_auth_kind_has_a_canary_case(headwater_env):
    """An auth kind the simulator serves (and so a recording can scrub) has a case in
    AUTH_CASES; kinds the simulator does not serve yet are listed in the skip reason."""
    from headwater.testing import Simulator

    covered = {type(auth) for auth, _ in AUTH_CASES.values()}
    unserved = []
    for kind in spec._AUTH_TYPES:
        if kind in covered:
            continue
        try:
            credentials = Simulator(_paged("probe", kind())).credentials
        except Exception:  # no defaults: the simulator cannot serve it as is
            credentials = {}
        if not credentials:  # the simulator accepts no credential of this kind yet
            unserved.append(kind.__name__)
            continue
        pytest.fail(f"the simulator serves {kind.__name__}: add it to AUTH_CASES")
    if unserved:
        pytest.skip(f"not served by the simulator yet: {', '.join(unserved)}")


def test_cli_record_stop_the_api_then_run_replay_loads_what_was_recorded(
    api_simulator, headwater_env, tmp_path
):
    sim = api_simulator(
        DIRECTORY,
        records={"directory_users": 250},
        credentials={"client_secret": CANARY},
    )
    env = settings_env("directory", sim)
    cassettes = tmp_path / "rec"
    recorded = cli("record", "directory", "--pages", "2", "--to", str(cassettes), env=env)
    assert recorded.returncode == 0, recorded.stderr
    assert "directory_users" in recorded.stdout
    assert CANARY not in recorded.stdout + recorded.stderr
    assert files_containing(cassettes, CANARY) == []
    limit = int(sim.requests_for("directory_users")[0].query["limit"][0])
    first_two_pages = {r["id"] for r in sim.data["directory_users"][: 2 * limit]}
    sim.stop()

    # offline, and with no credential at all in the environment
    replayed = cli("run", "directory", "--replay", str(cassettes), env={"PATH": "/usr/bin"})
    assert replayed.returncode == 0, replayed.stderr
    with duckdb.connect(str(headwater_env / "headwater_directory.duckdb"), read_only=True) as con:
        ids = {r[0] for r in con.sql("select id from directory_data.directory_users").fetchall()}
    # the two pages recorded of the 250 users: exactly those, nothing invented
    assert ids == first_two_pages
    assert files_containing(headwater_env, CANARY) == []


class _EchoInStatusLine:
    """A page whose status line's reason phrase, and one header's name, are the API key
    the request carried (a server echoing what it got)."""

    def respond(self, handler) -> None:
        key = handler.headers.get("X-Api-Key", "")
        payload = json.dumps({"data": [{"id": "u1", "etag": "e1"}]}).encode()
        handler.send_response(200, f"OK {key}")
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(payload)))
        handler.send_header(f"X-{key}", "1")
        handler.end_headers()
        handler.write(payload)


def test_a_secret_echoed_in_the_reason_phrase_or_a_header_name_is_scrubbed(
    headwater_env, headwater_plugins, tmp_path
):
    """It was 'unexpected RuntimeError: refusing to write items.yaml: a secret survived
    scrubbing': the reason phrase and header names were kept as the server sent them."""
    from headwater.testing import HostileServer

    declared = connector("rec_reason", auth=ApiKeyAuth(name="X-Api-Key"))
    headwater_plugins(Declares(declared))
    cassettes = tmp_path / "rec"
    with HostileServer() as api:
        api.serve("/items", _EchoInStatusLine())
        result = record_connector(
            "rec_reason", {"base_url": api.base_url, "api_key": CANARY}, to=cassettes
        )
    assert result.failure == ""
    assert files_containing(cassettes, CANARY) == []
    text = (cassettes / "items.yaml").read_text()
    assert "message: OK redacted-api_key" in text
    assert "X-redacted-api_key" in text
    redact.forget()
    with replay("rec_reason", cassettes) as settings:
        assert [r["id"] for r in rows_of(headwater.source("rec_reason", **settings))] == ["u1"]


def test_a_cassette_that_would_hold_a_secret_is_refused_in_one_headwater_error():
    """The last-chance check was a RuntimeError ('unexpected RuntimeError' on the CLI)."""
    from headwater.errors import HeadwaterError
    from headwater.http.cassette import Scrubber, render_cassette
    from vcr.request import Request

    scrubber = Scrubber({"api_key": CANARY})
    request = Request("GET", "https://api.test/items", None, {})
    # a place no scrubbing reaches: the check must still hold it back
    answer = {"status": {"code": 200, "message": "OK"}, "headers": {}, "body": {"string": ""}}
    answer["note"] = CANARY
    with pytest.raises(HeadwaterError) as raised:
        render_cassette("items.yaml", [(request, answer)], scrubber)
    [line] = str(raised.value).splitlines()
    assert "refusing to write the cassette items.yaml" in line and CANARY not in line


def test_a_request_the_recording_lacks_fails_in_one_line_naming_the_closest(
    api_simulator, headwater_env, tmp_path
):
    sim = api_simulator(DIRECTORY, records={"directory_users": 250})
    cassettes = tmp_path / "rec"
    record_connector("directory", sim.settings, to=cassettes, pages=1)
    sim.stop()
    manifest = cassettes / "headwater-recording.json"
    data = json.loads(manifest.read_text())
    data["pages"] = None  # as if recorded whole: the replay asks for page 2
    manifest.write_text(json.dumps(data))

    result = cli("run", "directory", "--replay", str(cassettes), env={})
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "is not in the recording" in lines[0]
    assert "offset=100" in lines[0] and "closest recorded" in lines[0]
    assert "offset: 100, recorded 0" in lines[0]


def test_replay_of_a_folder_without_recording_is_a_usage_error(headwater_env, tmp_path):
    result = cli("run", "directory", "--replay", str(tmp_path), env={})
    assert result.returncode == 2
    assert "holds no recording" in result.stderr and "headwater record" in result.stderr


@pytest.fixture
def recorded_directory(api_simulator, tmp_path):
    """A recording of two pages of directory, its simulator stopped."""
    sim = api_simulator(DIRECTORY, records={"directory_users": 250})
    cassettes = tmp_path / "rec"
    record_connector("directory", sim.settings, to=cassettes, pages=2)
    sim.stop()
    return cassettes


@pytest.mark.parametrize("damage", ["cut short", "not YAML"])
def test_a_damaged_cassette_is_a_usage_error_naming_it(headwater_env, recorded_directory, damage):
    cassette = recorded_directory / "directory_users.yaml"
    text = cassette.read_text()
    cassette.write_text(text[: len(text) // 2] if damage == "cut short" else "[: {\n" + text)
    result = cli("run", "directory", "--replay", str(recorded_directory), env={})
    assert result.returncode == 2, result.stderr
    [line] = result.stderr.strip().splitlines()
    assert re.fullmatch(
        rf"headwater: error: the cassette {re.escape(str(cassette))} cannot be read "
        r"\(\w+\); record again with headwater record",
        line,
    ), line


@pytest.mark.parametrize(
    ("edit", "problem"),
    [
        (lambda r: r.pop("status"), "interaction 1: the response has no status code"),
        (lambda r: r["status"].update(code="abc"), "interaction 1: status code 'abc' is not"),
        (lambda r: r.update(headers=None), "interaction 1: the response headers are not a"),
        (lambda r: r.pop("body"), "interaction 1: the response has no body string"),
    ],
    ids=["no status", "status not a number", "headers null", "no body"],
)
def test_a_cassette_edited_out_of_shape_is_a_usage_error_naming_it(
    headwater_env, recorded_directory, edit, problem
):
    import yaml

    cassette = recorded_directory / "directory_users.yaml"
    data = yaml.safe_load(cassette.read_text())
    edit(data["interactions"][0]["response"])
    cassette.write_text(yaml.safe_dump(data))
    result = cli("run", "directory", "--replay", str(recorded_directory), env={})
    assert result.returncode == 2, result.stderr
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"headwater: error: the cassette {cassette} cannot be read ({problem}")
    assert line.endswith("record again with headwater record"), line


def test_a_manifest_without_its_base_url_is_a_usage_error(headwater_env, recorded_directory):
    manifest = recorded_directory / "headwater-recording.json"
    data = json.loads(manifest.read_text())
    del data["base_url"]
    manifest.write_text(json.dumps(data))
    result = cli("run", "directory", "--replay", str(recorded_directory), env={})
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip() == (
        f"headwater: error: --replay {recorded_directory}: headwater-recording.json has no "
        "base_url (edited by hand?); record again with headwater record"
    )


def test_a_failed_recording_keeps_the_earlier_one(api_simulator, headwater_env, tmp_path):
    sim = api_simulator(DIRECTORY, records={"directory_users": 250})
    env = settings_env("directory", sim)
    cassettes = tmp_path / "rec"
    assert cli("record", "directory", "--to", str(cassettes), env=env).returncode == 0
    before = {p.name: p.read_bytes() for p in cassettes.iterdir()}
    wrong = {**env, "SOURCES__DIRECTORY__CLIENT_SECRET": "wrong-secret"}
    failed = cli("record", "directory", "--to", str(cassettes), env=wrong)
    assert failed.returncode == 1
    [line] = failed.stderr.strip().splitlines()
    assert line.endswith(
        f"; nothing was recorded: the earlier recording in {cassettes} is kept as it was"
    ), line
    assert {p.name: p.read_bytes() for p in cassettes.iterdir()} == before
    # a first recording that fails is written: its errors replay too
    first = tmp_path / "first"
    assert cli("record", "directory", "--to", str(first), env=wrong).returncode == 1
    assert (first / "headwater-recording.json").exists()


def test_a_recording_of_some_resources_replays_those(api_simulator, headwater_env, tmp_path):
    from headwater_analytics.odata import ANALYTICS_ODATA

    sim = api_simulator(ANALYTICS_ODATA)
    cassettes = tmp_path / "rec"
    env = settings_env("analytics_odata", sim)
    recorded = cli(
        "record", "analytics_odata", "--resource", "users", "--pages", "1", "--to",
        str(cassettes), env=env,
    )  # fmt: skip
    assert recorded.returncode == 0, recorded.stderr
    sim.stop()
    replayed = cli("run", "analytics_odata", "--replay", str(cassettes), env={})
    assert replayed.returncode == 0, replayed.stderr
    with duckdb.connect(str(headwater_env / "headwater_analytics_odata.duckdb")) as con:
        tables = {
            r[0]
            for r in con.sql(
                "select table_name from information_schema.tables "
                "where table_schema = 'analytics_odata_data' and table_name not like '_dlt%'"
            ).fetchall()
        }
    assert tables == {"users"}
    checked = cli("check", "analytics_odata", "--replay", str(cassettes), env={})
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "users" in checked.stdout and "groups" not in checked.stdout


def test_a_recorded_object_setting_is_kept_and_given_back_on_replay(
    api_simulator, headwater_env, tmp_path
):
    """A non-secret setting that is an object (analytics_odata's extra_resources) is in
    the manifest like a text one: the replay reads the extra resource it recorded."""
    from headwater_analytics.odata import ANALYTICS_ODATA

    sim = api_simulator(ANALYTICS_ODATA, records={"users": 7})
    cassettes = tmp_path / "rec"
    env = settings_env("analytics_odata", sim)
    env["SOURCES__ANALYTICS_ODATA__EXTRA_RESOURCES"] = '{"users2": "/v1/resource/users"}'
    recorded = cli("record", "analytics_odata", "--to", str(cassettes), env=env)
    assert recorded.returncode == 0, recorded.stderr
    assert (cassettes / "users2.yaml").exists()
    manifest = json.loads((cassettes / "headwater-recording.json").read_text())
    assert manifest["settings"]["extra_resources"] == {"users2": "/v1/resource/users"}
    sim.stop()
    replayed = cli("run", "analytics_odata", "--replay", str(cassettes), env={})
    assert replayed.returncode == 0, replayed.stderr
    with duckdb.connect(str(headwater_env / "headwater_analytics_odata.duckdb")) as con:
        users = con.sql("select id from analytics_odata_data.users order by id").fetchall()
        again = con.sql("select id from analytics_odata_data.users2 order by id").fetchall()
    assert len(users) == 7
    assert again == users


def test_the_closest_recorded_request_is_shown_with_its_own_method(
    headwater_env, recorded_directory
):
    (recorded_directory / "_auth.yaml").unlink()  # the token request is gone
    result = cli("run", "directory", "--replay", str(recorded_directory), env={})
    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()
    assert "replay: POST /oauth2/token is not in the recording" in line, line
    assert "closest recorded: GET /" in line, line


def test_a_second_replay_into_the_same_pipeline_is_told_to_start_afresh(
    api_simulator, headwater_env, tmp_path
):
    """The second replay asks from the incremental position the first one left, which
    no recording has: the fix is a fresh pipeline, not another recording."""
    from headwater_analytics.events import ANALYTICS_EVENTS

    sim = api_simulator(ANALYTICS_EVENTS, records={"events": 120})
    cassettes = tmp_path / "rec"
    recorded = cli(
        "record",
        "analytics_events",
        "--to",
        str(cassettes),
        env=settings_env("analytics_events", sim),
    )
    assert recorded.returncode == 0, recorded.stderr
    sim.stop()
    replay_run = ["run", "analytics_events", "--replay", str(cassettes), "--progress", "off"]
    assert cli(*replay_run, env={}).returncode == 0
    again = cli(*replay_run, env={})
    assert again.returncode == 1
    [line] = again.stderr.strip().splitlines()
    assert "since=" in line and line.endswith(
        "it starts at another incremental position than the recording (the pipeline's, "
        "after an earlier load, or a start_date or --start given): replay with "
        "--full-refresh or another --pipeline-name, and without them"
    ), line
    assert cli(*replay_run, "--full-refresh", env={}).returncode == 0


# ----------------------------------------- incremental resources: the recorded run's end


def _record_timed(monkeypatch, headwater_plugins, api_simulator, tmp_path, **incremental):
    """`headwater record timed` (events incremental as given, start_date 2024-01-01)
    into ``tmp_path/rec``, the simulator stopped and its settings out of the
    environment; returns the folder and the ids the simulator served."""
    from headwater.cli import main
    from timed_api import SCHEMA, TimedPlugin, timed

    declared = timed(**incremental)
    headwater_plugins(TimedPlugin(declared))
    sim = api_simulator(declared, schemas={"events": SCHEMA})
    env = settings_env("timed", sim, start_date="2024-01-01")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    cassettes = tmp_path / "rec"
    assert main(["record", "timed", "--to", str(cassettes)]) == 0
    sim.stop()
    for key in env:
        monkeypatch.delenv(key)
    return cassettes, sorted(r["id"] for r in sim.data["events"])


INCREMENTAL_WITH_END = {
    "end_param": {"format": "unix_ms", "cursor_format": "iso8601"},
    "window": {"window": "180d"},
}


@pytest.mark.parametrize("incremental", sorted(INCREMENTAL_WITH_END))
def test_a_replay_of_a_resource_with_an_end_loads_exactly_what_was_recorded(
    incremental, monkeypatch, headwater_env, headwater_plugins, api_simulator, tmp_path, capsys
):
    """A normal run ends when it starts: the replay ends where the recorded run did,
    not at today's now, which no recording has."""
    from headwater.cli import main

    cassettes, served = _record_timed(
        monkeypatch, headwater_plugins, api_simulator, tmp_path,
        **INCREMENTAL_WITH_END[incremental],
    )  # fmt: skip
    assert main(["run", "timed", "--replay", str(cassettes), "--progress", "off"]) == 0, (
        capsys.readouterr().err
    )
    with duckdb.connect(str(headwater_env / "headwater_timed.duckdb"), read_only=True) as con:
        ids = [r[0] for r in con.sql("select id from timed_data.events order by id").fetchall()]
    assert ids == served
    out = headwater_env / "proposed"
    infer = ["schema", "infer", "timed", "--replay", str(cassettes), "--out", str(out)]
    assert main(infer) == 0, capsys.readouterr().err
    proposed = json.loads((out / "events.proposed.json").read_text())
    assert "ts" in proposed["properties"]


def test_a_recording_without_the_run_end_is_told_to_record_again(
    monkeypatch, headwater_env, headwater_plugins, api_simulator, tmp_path, capsys
):
    """A recording made before the manifest kept the run's end cannot be replayed with
    an end parameter: the fix is a new recording, not a fresh pipeline."""
    from headwater.cli import main

    cassettes, _ = _record_timed(
        monkeypatch, headwater_plugins, api_simulator, tmp_path,
        **INCREMENTAL_WITH_END["end_param"],
    )  # fmt: skip
    manifest = cassettes / "headwater-recording.json"
    data = json.loads(manifest.read_text())
    del data["end"]
    manifest.write_text(json.dumps(data))
    capsys.readouterr()
    assert main(["run", "timed", "--replay", str(cassettes), "--progress", "off"]) == 1
    [line] = capsys.readouterr().err.strip().splitlines()
    assert "(end: " in line, line
    assert line.endswith(
        "the recording does not keep the end of the recorded run (it was made by an "
        "earlier Headwater): record again with `headwater record`"
    ), line


def test_pages_caps_a_windowed_resource_as_a_whole_and_its_replay_loads_those_pages(
    monkeypatch, headwater_env, headwater_plugins, api_simulator, tmp_path, capsys
):
    """``--pages 2`` is two pages of the resource, not two of each window slice (slices
    read at once too), and the replay reads those pages and asks for nothing else."""
    import yaml
    from headwater.cli import main
    from timed_api import SCHEMA, TimedPlugin, timed

    declared = timed(window="30d")
    headwater_plugins(TimedPlugin(declared))
    sim = api_simulator(declared, schemas={"events": SCHEMA}, records={"events": 200})
    env = settings_env("timed", sim, start_date="2024-01-01", parallel_windows=4)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    cassettes = tmp_path / "rec"
    assert main(["record", "timed", "--pages", "2", "--to", str(cassettes)]) == 0
    sim.stop()
    for key in env:
        monkeypatch.delenv(key)
    tape = yaml.safe_load((cassettes / "events.yaml").read_text())["interactions"]
    assert len(tape) == 2
    served = sorted(
        row["id"] for i in tape for row in json.loads(i["response"]["body"]["string"])["data"]
    )
    assert served
    capsys.readouterr()
    assert main(["run", "timed", "--replay", str(cassettes), "--progress", "off"]) == 0, (
        capsys.readouterr().err
    )
    with duckdb.connect(str(headwater_env / "headwater_timed.duckdb"), read_only=True) as con:
        ids = [r[0] for r in con.sql("select id from timed_data.events order by id").fetchall()]
    assert ids == served


@pytest.mark.parametrize("incremental", sorted(INCREMENTAL_WITH_END))
def test_check_replays_the_first_request_a_run_sends(
    incremental, monkeypatch, headwater_env, headwater_plugins, api_simulator, tmp_path, capsys
):
    """`check --replay` asks for the first page of the first range a run reads (from the
    start_date, to the recorded end or the end of the first window): what was
    recorded, not a request without the bounds."""
    from headwater.cli import main

    cassettes, _ = _record_timed(
        monkeypatch, headwater_plugins, api_simulator, tmp_path,
        **INCREMENTAL_WITH_END[incremental],
    )  # fmt: skip
    capsys.readouterr()
    assert main(["check", "timed", "--replay", str(cassettes)]) == 0, capsys.readouterr().out
    assert "ok    events: first page: 20 records" in capsys.readouterr().out


def test_a_live_check_sends_the_bounds_of_a_runs_first_request(
    headwater_env, headwater_plugins, api_simulator
):
    """An API that needs its start parameter gets it from `check` too: the first
    request of an incremental resource is the one a run would send first."""
    from headwater.run.check import check_connector
    from headwater.timebounds import isoformat, parse_instant
    from timed_api import SCHEMA, TimedPlugin, timed

    declared = timed(window="30d")
    headwater_plugins(TimedPlugin(declared))
    sim = api_simulator(declared, schemas={"events": SCHEMA})
    [(name, ok, detail)] = check_connector("timed", {**sim.settings, "start_date": "2024-01-01"})
    assert (name, ok, detail) == ("events", True, "first page: 20 records")
    [sent] = sim.requests_for("events")
    assert sent.query["start"] == ["2024-01-01T00:00:00Z"]
    assert sent.query["end"] == [isoformat(parse_instant("2024-01-31"))]


def test_schema_infer_of_a_recording_of_some_resources_reads_those(
    api_simulator, headwater_env, tmp_path
):
    """As `run` and `check`, `schema infer --replay` reads the resources recorded."""
    from headwater_analytics.odata import ANALYTICS_ODATA

    sim = api_simulator(ANALYTICS_ODATA)
    cassettes = tmp_path / "rec"
    record = ["record", "analytics_odata", "--resource", "users", "--pages", "1"]
    recorded = cli(*record, "--to", str(cassettes), env=settings_env("analytics_odata", sim))
    assert recorded.returncode == 0, recorded.stderr
    sim.stop()
    out = tmp_path / "proposed"
    infer = ["schema", "infer", "analytics_odata", "--replay", str(cassettes), "--out", str(out)]
    inferred = cli(*infer, env={})
    assert inferred.returncode == 0, inferred.stderr
    assert sorted(p.name for p in out.iterdir()) == ["users.proposed.json"]


@pytest.mark.parametrize("incremental", sorted(INCREMENTAL_WITH_END))
def test_the_replay_fixture_ends_reads_where_the_recording_did(
    incremental, monkeypatch, headwater_env, headwater_plugins, api_simulator, tmp_path,
    headwater_replay, duckdb_pipeline,
):  # fmt: skip
    """A connector author's test: ``headwater.source(**headwater_replay(...))`` in a
    pipeline of their own, no bounds given: the reads end at the recorded end too."""
    cassettes, served = _record_timed(
        monkeypatch, headwater_plugins, api_simulator, tmp_path,
        **INCREMENTAL_WITH_END[incremental],
    )  # fmt: skip
    settings = headwater_replay("timed", cassettes)
    pipeline = duckdb_pipeline(f"fixture_{incremental}")
    pipeline.run(headwater.source("timed", **settings))
    with pipeline.sql_client() as client:
        ids = [r[0] for r in client.execute_sql("select id from events order by id")]
    assert ids == served


# ----------------------------------------- --mask: a parent's field in a child's path

#: users whose names are short (below redact.MIN_LENGTH) or long, ids integers
_USERS = [{"id": 1, "name": "annabelle"}, {"id": 2, "name": "bo"}, {"id": 3, "name": "cat"}]


def _parent_child(field: str) -> spec.Connector:
    """users at /users, and each user's items at /users/{<field>}/items."""
    from headwater.spec import ParentSpec, Resource

    users = Resource(name="users", path="/users", schema=SCHEMA, data_selector="data")
    items = Resource(
        name="items",
        path="/users/{who}/items",
        schema=SCHEMA,
        data_selector="data",
        parent=ParentSpec(resource="users", field=field, placeholder="who", column="owner"),
        primary_key=("owner", "id"),
    )
    return spec.Connector(
        name=f"rec_mask_{field}",
        package="headwater_directory",
        base_url="https://api.test",
        resources=[users, items],
    )


def _recorded_values(cassettes: Path) -> tuple[set[str], list[Any]]:
    """Every path segment of the recorded URLs, and every scalar of the recorded JSON
    bodies (with its field name: ``(name, value)``)."""
    from headwater.http.cassette import read_cassettes

    segments: set[str] = set()
    scalars: list[Any] = []

    def walk(value: Any, name: str | None = None) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                walk(item, key)
        elif isinstance(value, list):
            for item in value:
                walk(item, name)
        else:
            scalars.append((name, value))

    for _, request, answer in read_cassettes(cassettes):
        segments.update(urlsplit(request.uri).path.split("/"))
        body = answer["body"]["string"]
        if body:
            walk(json.loads(body))
    return segments, scalars


@pytest.mark.parametrize("field", ["name", "id"])
def test_a_masked_field_in_a_child_path_is_masked_one_to_one_whatever_its_length_or_type(
    field, headwater_env, headwater_plugins, tmp_path
):
    """It was: short names (below redact.MIN_LENGTH) kept in the child's URL, and every
    integer id masked to 0 while the URLs kept them: the recording leaked what the
    user asked to mask, and its replay failed or collapsed the users to one row."""
    from headwater.testing import HostileServer, Json

    headwater_plugins(Declares(_parent_child(field)))
    cassettes = tmp_path / "rec"
    with HostileServer() as api:
        api.serve("/users", Json({"data": _USERS}))
        for user in _USERS:
            api.serve(
                f"/users/{user[field]}/items",
                Json({"data": [{"id": 10 * user["id"] + n} for n in (1, 2)]}),
            )
        result = record_connector(
            f"rec_mask_{field}", {"base_url": api.base_url}, to=cassettes, mask=[field]
        )
    assert result.failure == ""
    originals = {user[field] for user in _USERS}
    segments, scalars = _recorded_values(cassettes)
    assert not {str(v) for v in originals} & segments, segments
    masked = [value for name, value in scalars if name == field]
    assert len(masked) >= len(_USERS) and not originals & set(masked), masked
    assert len(set(masked)) == len(masked)  # one-to-one (each value is recorded once)
    assert all(type(v) is type(next(iter(originals))) for v in masked)  # the JSON type kept

    redact.forget()
    with replay(f"rec_mask_{field}", cassettes, {"validation": "off"}) as settings:
        loaded = rows_of(headwater.source(f"rec_mask_{field}", **settings))
    rows = {
        "users": [r for r in loaded if "owner" not in r],
        "items": [r for r in loaded if "owner" in r],
    }
    assert len(rows["users"]) == len(_USERS)
    assert len(rows["items"]) == 2 * len(_USERS)
    assert {r["owner"] for r in rows["items"]} == {u[field] for u in rows["users"]}


@pytest.mark.parametrize(
    ("resource", "masked", "why"),
    [
        ("events", "timestamp", "it is the incremental cursor of resource events"),
        ("items", "id", "resource items sends its last record's id as the next page's after"),
        (
            "stripe",
            "id",
            "resource items sends its last record's id as the next page's starting_after",
        ),
    ],
)
def test_a_mask_the_replay_could_not_send_back_is_refused_before_recording(
    resource, masked, why, headwater_env, headwater_plugins, tmp_path
):
    """A masked value that the recorded run sent back to the API (an incremental
    cursor, the last record's id of a cursor pagination) would make every replay ask
    what the recording does not have: refused, nothing recorded."""
    from headwater.spec import CursorPagination, LastRecordPagination
    from headwater_analytics.events import ANALYTICS_EVENTS

    # a Stripe-like cursor: the id of the page's last record (a cursor path, or
    # LastRecordPagination's starting_after)
    paging = (
        LastRecordPagination()
        if resource == "stripe"
        else CursorPagination(cursor_path="$.data[-1].id", cursor_param="after")
    )
    headwater_plugins(Declares(ANALYTICS_EVENTS, connector("rec_mask_cursor", pagination=paging)))
    name = "analytics_events" if resource == "events" else "rec_mask_cursor"
    cassettes = tmp_path / "rec"
    with pytest.raises(ConfigError) as raised:
        record_connector(name, {"base_url": "http://127.0.0.1:9"}, to=cassettes, mask=[masked])
    [line] = str(raised.value).splitlines()
    assert line.startswith(f"--mask {masked}: {why}") and line.endswith("mask other fields")
    assert not cassettes.exists()
    if resource == "events":  # the command: one line, a usage error
        env = {"SOURCES__ANALYTICS_EVENTS__BASE_URL": "http://127.0.0.1:9"}
        result = cli("record", name, "--mask", masked, "--to", str(cassettes), env=env)
        assert result.returncode == 2, result.stderr
        assert result.stderr.strip().splitlines() == [f"headwater: error: {line}"]


# ----------------------------------------- one cassette per resource


def test_resources_sharing_a_path_each_get_their_own_cassette(
    headwater_env, headwater_plugins, tmp_path
):
    """It was: cassettes named by the resource whose path template matched the URL
    first, so recording `late` (same path as `early`) wrote early.yaml and said so."""
    from headwater.testing import HostileServer, Json

    early = Resource(name="early", path="/events", schema=SCHEMA, data_selector="data")
    late = attrs.evolve(early, name="late", write_disposition="append")
    headwater_plugins(
        Declares(
            spec.Connector(
                name="rec_shared",
                package="headwater_directory",
                base_url="https://api.test",
                resources=[early, late],
            )
        )
    )
    one, both = tmp_path / "one", tmp_path / "both"
    with HostileServer() as api:
        api.serve("/events", Json({"data": [{"id": "e1"}, {"id": "e2"}]}))
        settings = {"base_url": api.base_url}
        only_late = record_connector("rec_shared", settings, to=one, resources=["late"])
        every = record_connector("rec_shared", settings, to=both)
    assert dict(only_late.cassettes) == {"late": 1}
    assert sorted(p.name for p in one.glob("*.yaml")) == ["late.yaml"]
    assert dict(every.cassettes) == {"early": 1, "late": 1}
    assert sorted(p.name for p in both.glob("*.yaml")) == ["early.yaml", "late.yaml"]

    # a replay finds each request whatever cassette holds it: a recording made when
    # cassettes were named by path (late's requests in early.yaml) replays as well
    (one / "late.yaml").rename(one / "early.yaml")
    for recorded in (one, both):
        redact.forget()
        with replay("rec_shared", recorded) as settings:
            rows = rows_of(headwater.source("rec_shared", **settings).with_resources("late"))
        assert sorted(r["id"] for r in rows) == ["e1", "e2"]
