"""Every auth kind of #16 against the simulator, through ``headwater.source()`` and the
CLI: the credentials each sends, renewal before expiry and once on 401, rotated refresh
tokens kept in the token store across runs, canary secrets in no output, file or row,
and one-line errors for bad input."""

from __future__ import annotations

import json
import logging
import os
import stat
import sys

import auth_examples
import duckdb
import headwater
import pytest
from auth_examples.entry_point import install
from headwater import hookimpl
from headwater.errors import ConfigError, ResponseError
from headwater.http.token_store import FileTokenStore, MemoryTokenStore, setting_key
from headwater.testing import Fault
from helpers import cli, extraction_error, files_containing, rows_of, settings_env

HUBSPOT, GOOGLE, LOGIN = auth_examples.HUBSPOT, auth_examples.GOOGLE, auth_examples.LOGIN
CANARY = "canary-Auth-5e2c91"
N = 60


@pytest.fixture
def examples(headwater_plugins):
    headwater_plugins(auth_examples)


def api_requests(sim, name):
    return [r for r in sim.requests_for(name)]


def store_path(name: str):
    return FileTokenStore().path(name)


# ------------------------------------------------------------------ every kind loads


@pytest.mark.parametrize("connector", auth_examples.EXAMPLES, ids=lambda c: c.name)
def test_every_kind_loads_every_record(examples, api_simulator, connector):
    sim = api_simulator(connector, records={r.name: N for r in connector.resources})
    rows = rows_of(headwater.source(connector.name, **sim.settings))
    assert len(rows) == N
    [resource] = connector.resources
    served = api_requests(sim, resource.name)
    assert served and all(r.status == 200 for r in served)


def test_session_login_sends_the_token_where_declared(examples, api_simulator):
    sim = api_simulator(LOGIN, records={"orders": N})
    rows_of(headwater.source("login_example", **sim.settings))
    [login] = sim.requests_for("token")
    assert login.method == "POST" and login.path == "/api/login"
    assert json.loads(login.body) == {
        "user": sim.settings["username"],
        "pass": sim.settings["password"],
        "client": "headwater",
    }
    orders = sim.requests_for("orders")
    assert len({r.headers["x-session"] for r in orders}) == 1
    assert all("authorization" not in r.headers for r in orders)


def test_cookie_session_and_template_headers(examples, api_simulator):
    cookie = api_simulator(auth_examples.COOKIE_LOGIN, records={"tickets": 30})
    rows_of(headwater.source("cookie_login_example", **cookie.settings))
    [login] = cookie.requests_for("token")
    assert login.headers["content-type"] == "application/x-www-form-urlencoded"
    assert all(r.headers["cookie"].startswith("sid=") for r in cookie.requests_for("tickets"))

    template = api_simulator(auth_examples.TEMPLATE, records={"projects": 30})
    rows_of(headwater.source("template_example", **template.settings))
    for r in template.requests_for("projects"):
        assert r.headers["authorization"] == f"Token token={template.settings['api_key']}"
        assert r.headers["x-account-id"] == template.settings["account_id"]


def test_client_secret_basic(examples, api_simulator):
    sim = api_simulator(auth_examples.BASIC_CLIENT, records={"items": 30})
    rows_of(headwater.source("basic_client_example", **sim.settings))
    [token] = sim.requests_for("token")
    assert token.headers["authorization"].startswith("Basic ")
    assert b"client_secret" not in token.body and b"client_id" not in token.body


def test_jwt_grant_signs_an_assertion_the_server_verifies(examples, api_simulator):
    import jwt

    sim = api_simulator(GOOGLE, records={"users": 30}, credentials={"subject": "admin@x.test"})
    rows_of(headwater.source("google_example", **sim.settings))
    [token] = sim.requests_for("token")
    form = dict(p.split("=", 1) for p in token.body.decode().split("&"))
    assert form["grant_type"] == "urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer"
    claims = jwt.decode(form["assertion"], options={"verify_signature": False})
    assert claims["iss"] == sim.settings["issuer"] and claims["sub"] == "admin@x.test"
    assert claims["aud"] == sim.token_url and claims["exp"] - claims["iat"] == 3600
    assert claims["scope"] == GOOGLE.auth.scope


# ------------------------------------------------------------------ token lifecycle


@pytest.mark.parametrize(
    "connector",
    [HUBSPOT, GOOGLE, LOGIN, auth_examples.BASIC_CLIENT],
    ids=lambda c: c.name,
)
def test_expiring_tokens_are_renewed_mid_run(examples, api_simulator, connector):
    [resource] = connector.resources
    # A lifetime of 1 s, which the API announces truthfully (expires_in is whole
    # seconds), and a run of ~1.5 s: the token is renewed ahead of its end. (A shorter
    # lifetime than announced makes renewal ride on 401s, which a loaded machine can
    # outrun: the re-sent request arriving after the new token's end too.)
    sim = api_simulator(connector, records={resource.name: 200}, token_ttl=1.0)
    sim.latency = 0.15
    rows = rows_of(headwater.source(connector.name, **sim.settings))
    assert len(rows) == 200
    assert sim.tokens_issued >= 2
    statuses = [r.status for r in sim.requests_for(resource.name)]
    assert statuses.count(401) <= 1, statuses  # renewed ahead, bar a loaded machine


@pytest.mark.parametrize(
    "connector",
    [HUBSPOT, GOOGLE, LOGIN, auth_examples.JWT_BEARER],
    ids=lambda c: c.name,
)
def test_a_401_mid_run_renews_once_and_continues(examples, api_simulator, connector):
    [resource] = connector.resources
    fault = Fault("status", status=401, resource=resource.name, after=2, count=1)
    sim = api_simulator(connector, records={resource.name: 100}, faults=[fault])
    rows = rows_of(headwater.source(connector.name, **sim.settings))
    assert len(rows) == 100
    statuses = [r.status for r in sim.requests_for(resource.name)]
    assert statuses.count(401) == 1 and statuses[3] == 200  # renewed once, re-sent, went on
    sent = [auth_value(r, connector) for r in sim.requests_for(resource.name)]
    assert sent[2] != sent[3]  # the re-sent request carried a new credential
    assert len(set(sent[3:])) == 1
    if connector is not auth_examples.JWT_BEARER:
        assert sim.tokens_issued == 2


def auth_value(request, connector):
    return request.headers.get("x-session") or request.headers.get("authorization")


def test_refresh_token_rotation_is_kept_for_the_next_run(examples, api_simulator, tmp_path):
    sim = api_simulator(HUBSPOT, records={"contacts": 50})
    original = sim.settings["refresh_token"]
    rows_of(headwater.source("hubspot_example", **sim.settings))
    assert sim.refresh_token != original  # rotated: the original is refused from now on
    store = FileTokenStore()
    key = setting_key("hubspot_example", original)
    assert store.load("hubspot_example", key) == sim.refresh_token
    # the second run, with the same (now stale) setting, uses the stored token
    rows = rows_of(headwater.source("hubspot_example", **sim.settings))
    assert len(rows) == 50 and sim.refresh_tokens_refused == 0
    assert store.load("hubspot_example", key) == sim.refresh_token
    if sys.platform != "win32":
        path = store.path("hubspot_example")
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
        # the store holds its own refresh token and nothing else secret
        text = path.read_text()
        assert original not in text and sim.settings["client_secret"] not in text
        assert sim.settings["client_id"] not in text
    # the store is under HEADWATER_TOKEN_DIR, never the working directory or dataset
    assert str(path).startswith(os.environ["HEADWATER_TOKEN_DIR"])


def test_a_new_refresh_token_setting_wins_over_the_stored_one(examples, api_simulator):
    sim = api_simulator(HUBSPOT, records={"contacts": 10})
    rows_of(headwater.source("hubspot_example", **sim.settings))
    # the user re-authorizes: the API's current refresh token, given as the setting
    fresh = sim.refresh_token
    rows_of(headwater.source("hubspot_example", **{**sim.settings, "refresh_token": fresh}))
    assert sim.refresh_tokens_refused == 0


def test_a_refused_refresh_token_says_get_a_new_one(examples, api_simulator):
    sim = api_simulator(HUBSPOT, records={"contacts": 10})
    error = extraction_error(
        headwater.source("hubspot_example", **{**sim.settings, "refresh_token": "revoked-1"})
    )
    assert isinstance(error, ResponseError)
    text = str(error)
    assert "\n" not in text and "get a new refresh_token" in text
    assert "refused refresh_token" in text and "check client_id" not in text
    assert "revoked-1" not in text


def test_cli_second_run_uses_the_rotated_refresh_token(examples, api_simulator, tmp_path):
    sim = api_simulator(HUBSPOT, records={"contacts": 40}, credentials={"refresh_token": CANARY})
    env = {**settings_env("hubspot_example", sim), **install(tmp_path)}
    outputs = []
    for run in (1, 2):
        done = cli("--debug", "run", "hubspot_example", "--progress", "off", env=env)
        assert done.returncode == 0, f"run {run}: {done.stderr[-3000:]}"
        outputs.append(done.stdout + done.stderr)
    assert sim.refresh_tokens_refused == 0
    assert len([r for r in sim.requests_for("token")]) == 2
    for output in outputs:
        assert CANARY not in output and sim.refresh_token not in output
    with duckdb.connect("headwater_hubspot_example.duckdb", read_only=True) as db:
        [schema] = db.sql(
            "select table_schema from information_schema.tables where table_name = 'contacts'"
        ).fetchone()
        assert db.sql(f'select count(*) from "{schema}".contacts').fetchone() == (40,)


# ------------------------------------------------------------------ the token store hook


class VaultStore(MemoryTokenStore):
    """A stand-in for a vault: records what it was asked."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []

    def load(self, connector, key):
        self.calls.append("load")
        return super().load(connector, key)

    def save(self, connector, key, token):
        self.calls.append("save")
        super().save(connector, key, token)


def test_headwater_token_store_hook_replaces_the_file_store(
    headwater_plugins, api_simulator, tmp_path
):
    vault = VaultStore()

    class VaultPlugin:
        @hookimpl
        def headwater_token_store(self, connector, settings):
            return vault if connector.name == "hubspot_example" else None

    headwater_plugins(auth_examples, VaultPlugin())
    sim = api_simulator(HUBSPOT, records={"contacts": 10})
    rows_of(headwater.source("hubspot_example", **sim.settings))
    assert vault.calls == ["load", "save"]
    assert list(vault.tokens.values()) == [sim.refresh_token]
    assert not store_path("hubspot_example").exists()
    rows_of(headwater.source("hubspot_example", **sim.settings))
    assert sim.refresh_tokens_refused == 0


def test_headwater_token_store_hook_answer_is_checked(headwater_plugins, api_simulator):
    class Broken:
        @hookimpl
        def headwater_token_store(self):
            return "not a store"

    headwater_plugins(auth_examples, Broken())
    sim = api_simulator(HUBSPOT, records={"contacts": 1})
    error = extraction_error(headwater.source("hubspot_example", **sim.settings))
    assert "headwater_token_store" in str(error) and "\n" not in str(error)


# ------------------------------------------------------------------ bad input


def test_a_private_key_that_does_not_load_is_one_line(examples, api_simulator):
    sim = api_simulator(GOOGLE, records={"users": 1})
    bad = "-----BEGIN PRIVATE KEY-----\n" + CANARY + "\n-----END PRIVATE KEY-----\n"
    error = extraction_error(
        headwater.source("google_example", **{**sim.settings, "private_key": bad})
    )
    assert isinstance(error, ConfigError)
    text = str(error)
    assert "\n" not in text and CANARY not in text
    assert "google_example" in text and "private_key" in text and "RS256" in text
    assert sim.requests_for("token") == []


def test_cli_bad_key_and_missing_setting_exit_2(examples, api_simulator, tmp_path):
    sim = api_simulator(GOOGLE, records={"users": 1})
    env = {**settings_env("google_example", sim), **install(tmp_path)}
    bad = {**env, "SOURCES__GOOGLE_EXAMPLE__PRIVATE_KEY": f"not a key {CANARY}"}
    done = cli("run", "google_example", "--progress", "off", env=bad)
    assert done.returncode == 2, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "private_key" in done.stderr
    assert CANARY not in done.stdout + done.stderr
    missing = dict(env)
    missing.pop("SOURCES__GOOGLE_EXAMPLE__ISSUER")
    done = cli("run", "google_example", "--progress", "off", env=missing)
    assert done.returncode == 2, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "issuer" in done.stderr


def test_login_refused_is_one_line_naming_the_settings(examples, api_simulator):
    sim = api_simulator(LOGIN, records={"orders": 1})
    error = extraction_error(
        headwater.source("login_example", **{**sim.settings, "password": CANARY})
    )
    assert isinstance(error, ResponseError)
    text = str(error)
    assert "\n" not in text and "username, password" in text and CANARY not in text


# ------------------------------------------------------------------ canary secrets


CANARIES = {
    "hubspot_example": ("refresh_token", "client_secret"),
    "google_example": (),  # private_key: the simulator's own key, checked below
    "jwt_bearer_example": (),
    "login_example": ("password",),
    "template_example": ("api_key",),
    "cookie_login_example": ("password",),
}


@pytest.mark.parametrize("name", sorted(CANARIES))
def test_canary_secrets_are_nowhere(examples, api_simulator, tmp_path, caplog, name):
    connector = next(c for c in auth_examples.EXAMPLES if c.name == name)
    [resource] = connector.resources
    given = {k: f"{CANARY}-{k}" for k in CANARIES[name]}
    sim = api_simulator(connector, records={resource.name: 40}, credentials=given)
    caplog.set_level(logging.DEBUG)
    env = {**settings_env(name, sim), **install(tmp_path)}
    done = cli("--debug", "run", name, "--progress", "off", env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    recorded = cli("--debug", "record", name, "--to", str(tmp_path / "cassettes"), env=env)
    assert recorded.returncode == 0, recorded.stderr[-3000:]
    outputs = done.stdout + done.stderr + recorded.stdout + recorded.stderr
    # in-process too: a 401 in the middle (renewed), then a run that fails for good
    if name != "template_example":  # static credentials: a 401 is final for them
        sim.add_fault(Fault("status", status=401, resource=resource.name, after=1, count=1))
        rows_of(headwater.source(name, **sim.settings))
        sim.clear_faults()
    sim.add_fault(Fault("status", status=400, resource=resource.name, count=None))
    error = extraction_error(headwater.source(name, **sim.settings))
    outputs += f"{error!s} {error!r}"
    rotated = {sim.refresh_token} if name == "hubspot_example" else set()
    issued = sim.issued_secrets
    # tokens, sessions, rotated refresh tokens: none in outputs either (JWT bearer and
    # templates obtain none from the API)
    assert issued or name in ("template_example", "jwt_bearer_example")
    key = sim.credentials.get("private_key", "")
    key_lines = [line for line in key.splitlines()[2:-1] if len(line) >= 16]
    store = FileTokenStore().path(name)
    values = duckdb_values(tmp_path / "work" / f"headwater_{name}.duckdb")
    # what the API saw as credentials (self-signed JWTs, templated keys, session ids)
    sent = {
        value.split()[-1].split("=")[-1]
        for r in sim.requests
        for h in ("authorization", "x-session", "cookie")
        if (value := r.headers.get(h))
    }
    for secret in [CANARY, *issued, *key_lines, *sent]:
        assert secret not in outputs
        assert secret not in caplog.text
        assert not any(secret in v for v in values)
        found = files_containing(tmp_path, secret)
        if secret in rotated:  # the current refresh token: in its own store only
            assert found == [store], found
        else:
            assert not found, (secret, found)


def duckdb_values(path) -> list[str]:
    """Every value of every table of a DuckDB file, as text."""
    with duckdb.connect(str(path), read_only=True) as db:
        tables = db.sql("select table_schema, table_name from information_schema.tables").fetchall()
        assert tables
        return [
            str(v)
            for schema, table in tables
            for row in db.sql(f'select * from "{schema}"."{table}"').fetchall()
            for v in row
        ]


# ------------------------------------------------------------------ concurrency, lifecycle


def test_two_runs_refreshing_at_once_do_not_spend_the_same_refresh_token(api_simulator):
    """Two runs (two store objects, as two processes would have) refresh at the same
    moment: the file lock makes the second wait and use the token the first rotated."""
    import threading

    from headwater.http.authenticators import OAuth2RefreshTokenAuthenticator

    sim = api_simulator(HUBSPOT, records={"contacts": 1})
    settings = sim.settings
    barrier = threading.Barrier(4)
    tokens, errors = [], []

    def run() -> None:
        auth = OAuth2RefreshTokenAuthenticator(
            settings["token_url"],
            settings["client_id"],
            settings["client_secret"],
            settings["refresh_token"],
            store=FileTokenStore(),
            connector="hubspot_example",
        )
        barrier.wait()
        try:
            tokens.append(auth.token())
        except ResponseError as exc:  # pragma: no cover - the failure this test guards
            errors.append(str(exc))

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(set(tokens)) == 4
    assert sim.refresh_tokens_refused == 0
    key = setting_key("hubspot_example", settings["refresh_token"])
    assert FileTokenStore().load("hubspot_example", key) == sim.refresh_token


def test_jwt_bearer_is_signed_again_before_it_expires():
    import jwt
    from headwater.http.authenticators import JwtBearerAuthenticator, JwtSigner
    from headwater.testing.tokens import generate_private_key

    pem, public = generate_private_key("ES256")
    now = [1000.0]
    signer = JwtSigner(pem, "ES256", issuer="me", audience="https://api", lifetime=600)
    auth = JwtBearerAuthenticator(signer, clock=lambda: now[0])
    first = auth.token()
    claims = jwt.decode(first, public, algorithms=["ES256"], audience="https://api")
    assert claims["iss"] == "me" and claims["exp"] - claims["iat"] == 600
    now[0] += 500  # within the margin (a tenth of the lifetime, at most 60 s): same JWT
    assert auth.token() == first
    now[0] += 50  # 550 s: past 600 - 60
    assert auth.token() != first and auth.tokens_obtained == 2


def test_client_secret_basic_form_encodes_both_parts():
    from urllib.parse import unquote_plus

    from headwater.http.authenticators import _client_auth

    form, headers = _client_auth("id:with colon", "s3cr&t+=", "basic")
    assert form == {}
    import base64

    user, password = base64.b64decode(headers["Authorization"][6:]).decode().split(":")
    assert (unquote_plus(user), unquote_plus(password)) == ("id:with colon", "s3cr&t+=")


def test_session_login_logs_in_again_when_the_session_expires(examples, api_simulator):
    sim = api_simulator(LOGIN, records={"orders": 200}, token_ttl=0.3)
    sim.latency = 0.05
    rows = rows_of(headwater.source("login_example", **sim.settings))
    assert len(rows) == 200
    logins = sim.requests_for("token")
    assert len(logins) >= 2 and all(r.status == 200 for r in logins)
    # a request refused for an expired session was re-sent once, with the new session
    orders = sim.requests_for("orders")
    assert sum(r.status == 401 for r in orders) <= len(logins) - 1


def test_an_unwritable_token_store_is_one_line(examples, api_simulator, tmp_path, monkeypatch):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")  # even root cannot make a directory inside a file
    monkeypatch.setenv("HEADWATER_TOKEN_DIR", str(blocker / "tokens"))
    sim = api_simulator(HUBSPOT, records={"contacts": 1})
    error = extraction_error(headwater.source("hubspot_example", **sim.settings))
    text = str(error)
    assert "\n" not in text and "token store" in text and "HEADWATER_TOKEN_DIR" in text


def test_simulator_accepts_a_real_key_and_refuses_a_fake_one(examples, api_simulator):
    from headwater.testing.tokens import generate_private_key

    pem, _ = generate_private_key("RS256")
    sim = api_simulator(GOOGLE, records={"users": 1}, credentials={"private_key": pem})
    assert sim.settings["private_key"] == pem
    assert len(rows_of(headwater.source("google_example", **sim.settings))) == 1
    with pytest.raises(ValueError, match="not a PEM private key"):
        api_simulator(GOOGLE, credentials={"private_key": "fake"})


def test_simulate_prints_a_private_key_the_shell_can_export(
    headwater_env, headwater_process, api_simulator, tmp_path
):
    """``headwater simulate`` for a JWT kind: the multi-line key is quoted for the shell,
    and a run with the exported settings loads every record."""
    import signal
    import subprocess

    expected = len(api_simulator(GOOGLE).settings)  # the export lines to wait for
    env = {**os.environ, **install(tmp_path)}
    server = headwater_process("simulate", "google_example", "--records", "30", env=env)
    try:
        text = ""
        while True:
            line = server.stdout.readline()
            assert line, server.stderr.read()
            if line.startswith("export ") or text:
                text += line
            exports = text.count("\nexport ") + text.startswith("export ")
            if exports == expected and text.count("'") % 2 == 0:
                break
        shown = subprocess.run(
            ["bash", "-c", text + "env -0"], capture_output=True, text=True, check=True
        ).stdout
        exported = dict(item.split("=", 1) for item in shown.split("\0") if "=" in item)
        assert "-----BEGIN PRIVATE KEY-----\n" in exported["SOURCES__GOOGLE_EXAMPLE__PRIVATE_KEY"]
        done = cli("run", "google_example", "--progress", "off", env={**exported, **env})
        assert done.returncode == 0, done.stderr[-3000:]
        with duckdb.connect("headwater_google_example.duckdb", read_only=True) as db:
            [schema] = db.sql(
                "select table_schema from information_schema.tables where table_name = 'users'"
            ).fetchone()
            assert db.sql(f'select count(*) from "{schema}".users').fetchone() == (30,)
    finally:
        server.send_signal(signal.SIGINT)
        server.communicate(timeout=30)


def test_cli_check_keeps_the_rotated_refresh_token_too(examples, api_simulator, tmp_path):
    sim = api_simulator(HUBSPOT, records={"contacts": 5})
    env = {**settings_env("hubspot_example", sim), **install(tmp_path)}
    for _ in range(2):
        done = cli("check", "hubspot_example", env=env)
        assert done.returncode == 0, done.stderr[-3000:]
    run = cli("run", "hubspot_example", "--progress", "off", env=env)
    assert run.returncode == 0, run.stderr[-3000:]
    assert sim.refresh_tokens_refused == 0 and len(sim.requests_for("token")) == 3
