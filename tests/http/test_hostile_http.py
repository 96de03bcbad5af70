"""Hostile servers: credentials never leave their origin, and memory and time stay
bounded whatever the server sends. Every test talks to real HTTP servers on 127.0.0.1
(:class:`headwater.testing.HostileServer`), through ``headwater.source()`` or the CLI.
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import logging
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import headwater
import pytest
from headwater.errors import RedirectRefused, ResponseError, ResponseTooLarge
from headwater.http.session import (
    DEFAULT_MAX_RESPONSE_BYTES,
    HttpLimits,
    check_redirect,
    retrying_session,
)
from headwater.run.dlt_errors import explain
from headwater.spec import (
    ApiKeyAuth,
    BasicAuth,
    BearerAuth,
    OAuth2ClientCredentials,
    RetryPolicy,
    SessionLogin,
)
from headwater.testing import (
    Bomb,
    EndlessChunks,
    HostileServer,
    Json,
    Redirect,
    Token,
    Trickle,
)
from headwater.testing.hostile import EmptyGzipBlocks, SlowHeaders
from helpers import Declares, connector, records

SECRET = "canary-Hostile-5b2f9e"
TOKEN = "canary-Token-0d41aa"
PAGE = {"data": records(3)}
QUICK = RetryPolicy(max_retries=1, backoff_factor=0.01, max_delay=0.05)

#: every auth kind of the core: (spec, settings holding the canary secret)
AUTH_KINDS = {
    "oauth2": (OAuth2ClientCredentials(), {"client_id": "id-1", "client_secret": SECRET}),
    "api_key_header": (ApiKeyAuth(name="X-Api-Key", location="header"), {"api_key": SECRET}),
    "api_key_query": (ApiKeyAuth(name="api_key", location="query"), {"api_key": SECRET}),
    "bearer": (BearerAuth(), {"token": SECRET}),
    "basic": (BasicAuth(), {"username": "user-1", "password": SECRET}),
}


@pytest.fixture
def servers():
    """Two hostile servers: the API, and another origin (another port) recording what
    reaches it."""
    with HostileServer() as api, HostileServer() as elsewhere:
        api.serve("/token", Token(access_token=TOKEN))
        yield api, elsewhere


def run_source(headwater_plugins, duckdb_pipeline, conn, **settings):
    headwater_plugins(Declares(conn))
    pipeline = duckdb_pipeline("hostile")
    pipeline.run(headwater.source(conn.name, **settings))
    with pipeline.sql_client() as client:
        return client.execute_sql("select id from items")


def oauth_settings(api: HostileServer) -> dict[str, str]:
    """Settings of an OAuth2 connector whose API and token endpoint (``/token``) are
    ``api``."""
    return {
        "base_url": api.base_url,
        "token_url": api.url("/token"),
        "client_id": "id-1",
        "client_secret": SECRET,
    }


def error_of(headwater_plugins, duckdb_pipeline, conn, **settings) -> ResponseError:
    with pytest.raises(Exception) as err:
        run_source(headwater_plugins, duckdb_pipeline, conn, **settings)
    known = explain(err.value)
    assert isinstance(known, ResponseError), repr(err.value)
    assert "\n" not in str(known)
    return known


# ------------------------------------------------------ credentials and redirects


@pytest.mark.parametrize("kind", list(AUTH_KINDS))
@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_cross_origin_redirect_is_refused_and_carries_no_credential(
    headwater_plugins, duckdb_pipeline, servers, kind, status
):
    api, elsewhere = servers
    spec, secrets = AUTH_KINDS[kind]
    api.serve("/items", Redirect(elsewhere.url("/items"), status=status))
    # the other origin asks for credentials: nothing may be re-sent to it either
    elsewhere.serve("/items", Json({"error": "who are you"}, status=401))
    conn = connector(auth=spec, retry=QUICK)
    settings = {"base_url": api.base_url, "token_url": api.url("/token"), **secrets}
    if kind != "oauth2":
        settings.pop("token_url")

    error = error_of(headwater_plugins, duckdb_pipeline, conn, **settings)

    assert isinstance(error, RedirectRefused)
    message = str(error)
    assert "resource testapi.items" in message
    assert api.base_url in message and elsewhere.base_url in message
    assert "set base_url" in message
    assert SECRET not in message and TOKEN not in message
    assert elsewhere.requests == []
    assert not elsewhere.saw(SECRET) and not elsewhere.saw(TOKEN)


def test_redirect_to_another_host_on_the_same_port_is_refused(
    headwater_plugins, duckdb_pipeline, servers
):
    api, _ = servers
    # localhost and 127.0.0.1 are one machine but two origins
    api.serve("/items", Redirect(api.base_url.replace("127.0.0.1", "localhost") + "/v2"))
    api.serve("/v2", Json(PAGE))
    conn = connector(auth=BearerAuth(), retry=QUICK)
    error = error_of(headwater_plugins, duckdb_pipeline, conn, base_url=api.base_url, token=SECRET)
    assert isinstance(error, RedirectRefused)
    assert [r.path for r in api.requests] == ["/items"]


@pytest.mark.parametrize("kind", list(AUTH_KINDS))
def test_same_origin_redirect_is_followed_with_the_credentials(
    headwater_plugins, duckdb_pipeline, servers, kind
):
    api, _ = servers
    spec, secrets = AUTH_KINDS[kind]
    api.serve("/items", Redirect("/v2/items", status=308, keep_query=True))
    api.serve("/v2/items", Json(PAGE))
    settings = {"base_url": api.base_url, "token_url": api.url("/token"), **secrets}
    if kind != "oauth2":
        settings.pop("token_url")
    rows = run_source(headwater_plugins, duckdb_pipeline, connector(auth=spec), **settings)
    assert sorted(r[0] for r in rows) == sorted(r["id"] for r in PAGE["data"])
    moved = [r for r in api.requests if r.path == "/v2/items"]
    assert len(moved) == 1
    assert moved[0].carries(TOKEN if kind == "oauth2" else SECRET)


class _EchoAuthorization:
    """A redirect to ``path`` with the request's Authorization header in the query, on a
    connection closed after it (so that urllib3 opens, and logs, the next request)."""

    def __init__(self, path: str) -> None:
        self.path = path

    def respond(self, handler) -> None:
        echoed = quote(handler.headers.get("Authorization", ""), safe="")
        handler.send_response(302)
        handler.send_header("Location", f"{self.path}?tok={echoed}")
        handler.send_header("Content-Length", "0")
        handler.send_header("Connection", "close")
        handler.end_headers()
        handler.close_connection = True


def test_a_basic_credential_echoed_base64_encoded_into_a_url_is_masked_in_the_logs(
    headwater_plugins, duckdb_pipeline, servers, caplog
):
    """urllib3 logs the redirected request's URL at DEBUG, with the base64 of
    user:password in it."""
    api, _ = servers
    api.serve("/items", _EchoAuthorization("/v2/items"))
    api.serve("/v2/items", Json(PAGE))
    caplog.set_level(logging.DEBUG)
    settings = {"base_url": api.base_url, "username": "user-1", "password": SECRET}
    rows = run_source(headwater_plugins, duckdb_pipeline, connector(auth=BasicAuth()), **settings)
    assert len(rows) == len(PAGE["data"])
    encoded = base64.b64encode(f"user-1:{SECRET}".encode()).decode()
    assert [r.query["tok"] for r in api.requests if r.path == "/v2/items"] == [f"Basic {encoded}"]
    moved = [r.getMessage() for r in caplog.records if "/v2/items?tok=" in r.getMessage()]
    assert moved, "urllib3 logged no request of the redirect"
    assert all("tok=***" in m for m in moved), moved
    assert encoded.rstrip("=") not in caplog.text


def test_a_redirect_loop_is_named_as_one_and_not_sent_again(
    headwater_plugins, duckdb_pipeline, servers
):
    api, _ = servers
    api.serve("/items", Redirect("/items", status=302, keep_query=True))
    known = error_of(headwater_plugins, duckdb_pipeline, connector(), base_url=api.base_url)
    assert str(known).startswith("resource testapi.items: GET ")
    assert str(known).endswith(
        "was redirected in a loop (too many redirects); set base_url to the address the "
        "API really answers at"
    )
    # one attempt of requests' 30 redirects, not one per retry
    assert len([r for r in api.requests if r.path == "/items"]) == 31


def test_https_to_http_downgrade_is_refused():
    with pytest.raises(RedirectRefused, match="downgrade from https to http"):
        check_redirect("https://api.test/items?page=2", "http://api.test/items?page=2", 301)
    check_redirect("https://api.test/items", "https://API.test:443/v2/items")  # same origin


@pytest.mark.parametrize("status", [307, 308, 302])
def test_token_endpoint_redirect_to_another_origin_is_an_error_not_a_token(
    headwater_plugins, duckdb_pipeline, servers, status
):
    api, elsewhere = servers
    api.serve("/token", Redirect(elsewhere.url("/token"), status=status))
    elsewhere.serve("/token", Token(access_token=TOKEN))
    api.serve("/items", Json(PAGE))
    conn = connector(auth=OAuth2ClientCredentials(), retry=QUICK)
    error = error_of(
        headwater_plugins,
        duckdb_pipeline,
        conn,
        base_url=api.base_url,
        token_url=api.url("/token"),
        client_id="id-1",
        client_secret=SECRET,
    )
    message = str(error)
    assert "token endpoint" in message
    assert api.base_url in message and elsewhere.base_url in message
    assert elsewhere.requests == []  # the form (client secret) was never re-posted
    assert [r.path for r in api.requests] == ["/token"]  # and no API request was made


def parser_differential_locations(api: HostileServer, elsewhere: HostileServer, path: str):
    """``Location`` values that URL parsers read differently: urllib3 (which prepares
    a request) sees ``elsewhere`` where ``urllib.parse`` sees ``api``, or refuses."""
    port, other = api.base_url.rsplit(":", 1)[1], elsewhere.base_url.rsplit(":", 1)[1]
    return {
        "backslash": f"http://127.0.0.1:{other}\\@127.0.0.1:{port}{path}",
        "two_backslashes": f"http://127.0.0.1:{other}\\\\@127.0.0.1:{port}{path}",
        # U+FF20 sent as UTF-8 bytes (the server writes headers as latin-1)
        "fullwidth_at": f"http://127.0.0.1:{port}\uff20127.0.0.1:{other}{path}".encode().decode(
            "latin-1"
        ),
        "fullwidth_at_elsewhere": f"http://127.0.0.1:{other}\uff20x{path}".encode().decode(
            "latin-1"
        ),
    }


FORMS = ["backslash", "two_backslashes", "fullwidth_at", "fullwidth_at_elsewhere"]


@pytest.mark.parametrize("form", FORMS)
def test_token_redirect_read_differently_by_url_parsers_never_reaches_another_origin(
    headwater_plugins, duckdb_pipeline, servers, form
):
    api, elsewhere = servers
    location = parser_differential_locations(api, elsewhere, "/token")[form]
    api.serve("/old-token", Redirect(location, status=307))
    elsewhere.serve("/", Token(access_token=TOKEN))
    api.serve("/items", Json(PAGE))
    error = error_of(
        headwater_plugins,
        duckdb_pipeline,
        connector(auth=OAuth2ClientCredentials(), retry=QUICK),
        base_url=api.base_url,
        token_url=api.url("/old-token"),
        client_id="id-1",
        client_secret=SECRET,
    )
    assert isinstance(error, RedirectRefused), error
    assert "token endpoint" in str(error) and "set token_url" in str(error)
    assert SECRET not in str(error)
    assert elsewhere.requests == []  # the client secret never left the token origin
    assert [r.path for r in api.requests] == ["/old-token"]


@pytest.mark.parametrize("path", ["session", "lean"])
@pytest.mark.parametrize("form", FORMS)
def test_api_redirect_read_differently_by_url_parsers_never_reaches_another_origin(form, path):
    """Both request paths (``Session.send`` and the page loop's :class:`LeanGet`): the
    redirect is refused, or followed to the API's own origin — never elsewhere."""
    import requests
    from headwater import redact
    from headwater.http.authenticators import ApiKeyAuthenticator

    redact.register([SECRET])
    with HostileServer() as api, HostileServer() as elsewhere:
        location = parser_differential_locations(api, elsewhere, "/items")[form]
        api.serve("/r", Redirect(location, status=307))
        api.serve("/items", Json(PAGE))
        elsewhere.serve("/items", Json(PAGE))
        session = retrying_session(QUICK, url=api.base_url)
        request = requests.Request(
            "GET", api.url("/r"), auth=ApiKeyAuthenticator("api_key", SECRET, "query")
        )
        try:
            if path == "lean":
                lean = session.headwater_lean
                response = lean.send(lean.prepare(request), timeout=5)
            else:
                response = session.send(session.prepare_request(request), timeout=5)
        except RedirectRefused as refused:
            assert SECRET not in str(refused) and "\n" not in str(refused)
        else:
            assert response.status_code == 200
            assert api.requests[0].path == "/r"
        assert elsewhere.requests == []
        assert not elsewhere.saw(SECRET)


def test_token_endpoint_redirect_within_its_origin_is_followed(
    headwater_plugins, duckdb_pipeline, servers
):
    api, _ = servers
    api.serve("/old-token", Redirect("/token", status=307))
    api.serve("/items", Json(PAGE))
    rows = run_source(
        headwater_plugins,
        duckdb_pipeline,
        connector(auth=OAuth2ClientCredentials()),
        base_url=api.base_url,
        token_url=api.url("/old-token"),
        client_id="id-1",
        client_secret=SECRET,
    )
    assert len(rows) == 3
    reposted = [r for r in api.requests if r.path == "/token"]
    assert reposted and reposted[0].method == "POST" and SECRET.encode() in reposted[0].body


def test_token_endpoint_303_is_followed_with_a_get_without_the_form(
    headwater_plugins, duckdb_pipeline, servers
):
    api, _ = servers
    api.serve("/old-token", Redirect("/token", status=303))
    api.serve("/items", Json(PAGE))
    rows = run_source(
        headwater_plugins,
        duckdb_pipeline,
        connector(auth=OAuth2ClientCredentials()),
        base_url=api.base_url,
        token_url=api.url("/old-token"),
        client_id="id-1",
        client_secret=SECRET,
    )
    assert len(rows) == 3
    moved = [r for r in api.requests if r.path == "/token"]
    assert [r.method for r in moved] == ["GET"]  # RFC 9110: a 303 is followed with GET
    assert not moved[0].carries(SECRET)


class RawJson:
    """``body`` sent as it is, with ``status`` (JSON no encoder would write)."""

    def __init__(self, body: bytes, status: int = 200) -> None:
        self.body, self.status = body, status

    def respond(self, handler) -> None:
        handler.send_response(self.status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(self.body)))
        handler.end_headers()
        handler.write(self.body)


class GzipRaw(RawJson):
    """``body`` (already gzip-compressed) sent with ``Content-Encoding: gzip``."""

    def respond(self, handler) -> None:
        handler.send_response(self.status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Encoding", "gzip")
        handler.send_header("Content-Length", str(len(self.body)))
        handler.end_headers()
        handler.write(self.body)


@pytest.mark.parametrize("status", [200, 400])
def test_a_token_answer_nested_too_deep_is_one_error(
    headwater_plugins, duckdb_pipeline, servers, status
):
    api, _ = servers
    api.serve("/token", RawJson(b"[" * 100_000 + b"]" * 100_000, status=status))
    api.serve("/items", Json(PAGE))
    error = error_of(
        headwater_plugins,
        duckdb_pipeline,
        connector(auth=OAuth2ClientCredentials(), retry=QUICK),
        base_url=api.base_url,
        token_url=api.url("/token"),
        client_id="id-1",
        client_secret=SECRET,
    )
    message = str(error)
    assert "token endpoint" in message and "RecursionError" not in message
    assert ("did not answer with an access_token" if status == 200 else "refused") in message
    assert [r.path for r in api.requests] == ["/token"]


def test_a_token_with_a_line_break_is_trimmed_or_refused_and_never_shown(
    headwater_plugins, duckdb_pipeline, servers, tmp_path
):
    """A token ending in a newline is sent without it; one with a break inside cannot be
    a header: one line, and the token is masked (requests' error showed it escaped)."""
    api, _ = servers
    api.serve("/items", Json(PAGE))
    settings = {
        "base_url": api.base_url,
        "token_url": api.url("/token"),
        "client_id": "id-1",
        "client_secret": SECRET,
    }
    conn = connector(auth=OAuth2ClientCredentials(), retry=QUICK)
    api.serve("/token", Token(access_token=TOKEN + "\n"))
    assert run_source(headwater_plugins, duckdb_pipeline, conn, **settings)
    assert api.saw(f"Bearer {TOKEN}".encode())
    api.serve("/token", Token(access_token=f"{TOKEN}\r\nX-Injected: yes"))
    error = error_of(headwater_plugins, duckdb_pipeline, conn, **settings)
    message = str(error)
    assert "answered an access token with a line break or control character" in message
    assert TOKEN not in message and TOKEN not in repr(error)


def test_401_renewal_never_runs_for_another_origin():
    """The OAuth2 401 hook is copied onto redirected requests: it is bound to the origin
    the token was sent to."""
    import requests
    from headwater.http.authenticators import OAuth2ClientCredentialsAuthenticator

    with HostileServer() as api, HostileServer() as elsewhere:
        api.serve("/token", Token(access_token=TOKEN))
        elsewhere.serve("/items", Json({}, status=401))
        auth = OAuth2ClientCredentialsAuthenticator(api.url("/token"), "id-1", SECRET)
        prepared = requests.Request("GET", api.url("/items"), auth=auth).prepare()
        assert auth.tokens_obtained == 1
        moved = prepared.copy()  # what requests' redirect loop sends, hooks included
        moved.prepare_url(elsewhere.url("/items"), None)
        del moved.headers["Authorization"]  # requests strips it on a host change
        session = requests.Session()
        response = session.send(moved)
        assert response.status_code == 401
        assert auth.tokens_obtained == 1
        assert len(elsewhere.requests) == 1 and not elsewhere.saw(TOKEN)


# --------------------------------------------------------------- response size


#: Starts the command and writes its exit code and peak RSS (KiB) to argv[1]. Linux
#: gives an exec'd child the peak RSS of the memory it was forked from: started from
#: the test's worker (hundreds of MB once it has run heavy tests), the command's own
#: peak would be hidden under the worker's. This small launcher is what it forks from.
_LAUNCHER = """
import resource, subprocess, sys
report, timeout, *command = sys.argv[1:]
proc = subprocess.Popen(command)
try:
    code = proc.wait(float(timeout))
except subprocess.TimeoutExpired:
    proc.kill()
    code = proc.wait()
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
with open(report, "w") as f:
    f.write(f"{code} {peak}")
"""


def peak_rss_cli(
    *args: str, env: dict[str, str], cwd: os.PathLike, timeout: float = 120
) -> tuple[int, str, int]:
    """Run ``headwater ARGS`` in a subprocess, in ``cwd``, with ``env`` over the
    environment without any ``SOURCES__*`` variable: exit code, stdout + stderr, and
    the peak RSS (bytes) of that process alone (started by :data:`_LAUNCHER`)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryDirectory() as tmp:
        report = os.path.join(tmp, "report")
        headwater = [sys.executable, "-m", "headwater"]
        subprocess.run(
            [sys.executable, "-c", _LAUNCHER, report, str(timeout), *headwater, *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={
                **{k: v for k, v in os.environ.items() if not k.startswith("SOURCES__")},
                **env,
            },
            cwd=cwd,
            check=False,
            timeout=timeout + 30,
        )
        with open(report) as f:
            code, peak = (int(x) for x in f.read().split())
        out.seek(0)
        text = out.read().decode(errors="replace")
    return code, text, peak * 1024


def hr_env(work: Path, limit: int) -> dict[str, str]:
    """The environment of ``headwater run hr`` in ``work``: the canary key, the size
    limit, and this test's own dlt data and project dirs (no ambient setting)."""
    return {
        "SOURCES__HR__API_KEY": SECRET,
        "SOURCES__HR__MAX_RESPONSE_BYTES": str(limit),
        "DLT_DATA_DIR": str(work.parent / "dlt_data"),
        "DLT_PROJECT_DIR": str(work),
    }


RSS_CAP = 300 * 1024**2  # the CLI peaks at ~170 MB here; the bombs inflate to 1 GiB and more


@pytest.mark.parametrize(
    "behaviour",
    [Bomb(size=1024**3, encoding="gzip"), EndlessChunks(max_bytes=1536 * 1024**2)],
    ids=["gzip_bomb", "endless_chunked"],
)
def test_huge_body_is_one_error_with_memory_bounded(behaviour, headwater_env):
    """Through the CLI, in a process of its own (its peak RSS measured alone, with
    ``wait4``): ~7 s, the CLI's start-up on a shared machine. The process runs in this
    test's own folder and dlt data dir, with no ambient ``SOURCES__HR__*`` setting:
    parallel runs of the test never share a pipeline (or its lock)."""
    limit = 8 * 1024 * 1024  # above the bomb's compressed size (~1 MB): inflating counts
    with HostileServer() as api:
        api.serve("/v1/resource", behaviour)
        url = api.url("/v1/resource")
        code, output, rss = peak_rss_cli(
            "run",
            "hr",
            "--base-url",
            api.base_url,
            env=hr_env(headwater_env, limit),
            cwd=headwater_env,
        )
    assert code == 1, output
    lines = [line for line in output.splitlines() if "max_response_bytes" in line]
    assert len(lines) == 1, output
    line = lines[0]
    print(f"peak RSS {rss / 1024**2:.0f} MB; {line}")
    assert "hr.employees" in line
    assert url in line
    assert str(limit) in line
    assert "SOURCES__HR__MAX_RESPONSE_BYTES" in line
    assert SECRET not in output
    assert len(api.requests) == 1  # a body over the limit is not retried
    assert rss < RSS_CAP, f"peak RSS {rss / 1024**2:.0f} MB"


@pytest.mark.parametrize("gzip", [False, True])
def test_a_large_body_is_held_once_while_read(gzip):
    """The body is read into one growing buffer: at its peak the client holds about
    the body, not the body twice (a list of chunks joined at the end)."""
    import tracemalloc
    import zlib

    size = 16 * 1024**2
    body = b'{"data": "' + b"x" * (size - 13) + b'"}'
    with HostileServer() as api:
        if gzip:
            api.serve("/big", GzipRaw(zlib.compress(body, wbits=31)))
        else:
            api.serve("/big", RawJson(body))
        session = retrying_session(QUICK, limits=HttpLimits(max_response_bytes=2 * size))
        tracemalloc.start()
        try:
            response = session.get(api.url("/big"))
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert response.content == body
    assert peak < 1.4 * size, f"peak {peak / size:.2f} x the body"


def test_deflate_bomb_stops_at_the_limit(headwater_plugins, duckdb_pipeline):
    with HostileServer() as api:
        api.serve("/items", Bomb(size=64 * 1024**2, encoding="deflate"))
        error = error_of(
            headwater_plugins,
            duckdb_pipeline,
            connector(retry=QUICK),
            base_url=api.base_url,
            max_response_bytes=100_000,
        )
    assert isinstance(error, ResponseTooLarge)
    assert "resource testapi.items" in str(error) and "100000 bytes" in str(error)


class DeclaresHuge:
    """Headers declaring a 1 GB body, then a few bytes and silence (5 s at most): only
    a client that believes the header stops at once."""

    def respond(self, handler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(10**9))
        handler.end_headers()
        handler.write(b'{"data": [')
        until = time.monotonic() + 5
        while handler.serving and time.monotonic() < until:
            time.sleep(0.05)


def test_declared_content_length_over_the_limit_stops_before_reading(
    headwater_plugins, duckdb_pipeline
):
    with HostileServer() as api:
        api.serve("/items", DeclaresHuge())
        error = error_of(
            headwater_plugins,
            duckdb_pipeline,
            connector(retry=QUICK),
            base_url=api.base_url,
            max_response_bytes=50_000,
            read_timeout=0.5,
        )
    # a client reading the body would stall until the read timeout and retry
    assert isinstance(error, ResponseTooLarge), error
    assert "50000 bytes" in str(error) and "SOURCES__TESTAPI__MAX_RESPONSE_BYTES" in str(error)
    assert len(api.requests) == 1


@pytest.mark.parametrize("gzip", [False, True])
def test_the_default_limit_is_256_mib_and_a_page_under_a_limit_loads(
    headwater_plugins, duckdb_pipeline, gzip
):
    assert DEFAULT_MAX_RESPONSE_BYTES == HttpLimits().max_response_bytes == 256 * 1024**2
    with HostileServer() as api:
        api.serve("/items", Json(PAGE, gzip=gzip))
        rows = run_source(
            headwater_plugins,
            duckdb_pipeline,
            connector(),
            base_url=api.base_url,
            max_response_bytes=len(str(PAGE)) * 2,
        )
    assert len(rows) == 3


# ----------------------------------------------------------------- deadline


def test_a_token_endpoint_past_the_deadline_is_named_as_for_a_page(
    headwater_plugins, duckdb_pipeline
):
    """It was 'token request to <url> failed: ResponseDeadlineExceeded': only the class
    name, where a page names the deadline and the setting to raise."""
    with HostileServer() as api:
        api.serve("/token", Trickle(length=100_000, interval=0.01))
        conn = connector(auth=OAuth2ClientCredentials(), retry=QUICK)
        settings = {**oauth_settings(api), "response_deadline": 0.3}
        error = error_of(headwater_plugins, duckdb_pipeline, conn, **settings)
    message = str(error)
    assert message.startswith(f"token request to {settings['token_url']} failed (")
    assert (
        "(no complete response within the response_deadline of 0.3 s; raise the "
        "response_deadline setting" in message
    ), message
    assert "ResponseDeadlineExceeded" not in message and SECRET not in message


class ClosingTrickle:
    """A body of ``length`` bytes trickled a byte every 20 ms on a connection the answer
    closes (HTTP/1.0, or ``Connection: close``), declared by ``Content-Length`` or
    chunked: http.client lets go of the connection's socket as soon as it has read such
    a head, while the body is still read from it."""

    def __init__(self, *, http10: bool = False, chunked: bool = False, length: int = 200):
        self.http10, self.chunked, self.length = http10, chunked, length

    def respond(self, handler) -> None:
        body = b'{"access_token": "t", "token": "t", "data": []}'.ljust(self.length)
        handler.close_connection = True
        head = [b"HTTP/1.0 200 OK" if self.http10 else b"HTTP/1.1 200 OK"]
        head.append(b"Content-Type: application/json")
        length = b"Content-Length: %d" % len(body)
        head.append(b"Transfer-Encoding: chunked" if self.chunked else length)
        if not self.http10:
            head.append(b"Connection: close")
        if not handler.write(b"\r\n".join(head) + b"\r\n\r\n"):
            return
        for i in range(len(body)):
            byte = body[i : i + 1]
            frame = b"1\r\n%s\r\n" % byte if self.chunked else byte
            if not handler.serving or not handler.write(frame):
                return
            time.sleep(0.02)


#: each trickle takes 4 s or more; the deadline must cut every attempt at 0.3 s
CLOSING_TRICKLES = {
    "http10_length": ClosingTrickle(http10=True),
    "close_length": ClosingTrickle(),
    "close_chunked": ClosingTrickle(chunked=True),
}


def assert_cut_at_the_deadline(attempts, deadline: float) -> None:
    """Every attempt the server saw began about a deadline (+ QUICK's backoff) after the
    one before, not a whole trickle (4 s) later. Timed by the server's threads, which a
    loaded machine may run late: hence the margins."""
    assert len(attempts) == QUICK.max_retries + 1, attempts
    gaps = [later.time - earlier.time for earlier, later in itertools.pairwise(attempts)]
    assert all(deadline / 2 <= gap < 2.0 for gap in gaps), gaps


@pytest.mark.parametrize("trickle", ["kept_alive", *CLOSING_TRICKLES])
def test_trickling_body_ends_at_the_deadline_and_is_retried(
    headwater_plugins, duckdb_pipeline, trickle
):
    """On a connection the answer closes, the watchdog shut down the connection's
    socket, which http.client had already let go of: each attempt ran the whole
    trickle (R5)."""
    with HostileServer() as api:
        behaviour = CLOSING_TRICKLES.get(trickle, Trickle(length=100_000, interval=0.01))
        api.serve("/items", behaviour)
        error = error_of(
            headwater_plugins,
            duckdb_pipeline,
            connector(retry=QUICK),
            base_url=api.base_url,
            response_deadline=0.3,
        )
        attempts = api.wait_for_requests(QUICK.max_retries + 1)
    message = str(error)
    assert "resource testapi.items" in message
    assert "response_deadline of 0.3 s" in message
    assert f"after {len(attempts)} attempts" in message
    # timed by the server (dlt's start-up is not the deadline's): each attempt was
    # abandoned at the deadline (seconds of trickle otherwise), then retried
    assert_cut_at_the_deadline(attempts, 0.3)


@pytest.mark.parametrize("wire", [True, False], ids=["wire", "urllib3"])
def test_the_deadline_cuts_a_trickle_on_a_kept_alive_connection(wire):
    """A page asked on a connection kept alive by the page before: sent and read by
    headwater.http.wire, or by urllib3 (``HEADWATER_WIRE=0``)."""
    session = retrying_session(QUICK, limits=HttpLimits(response_deadline=0.3))
    session.get_adapter("http://").wire = wire
    with HostileServer() as api:
        api.serve("/first", Json(PAGE))
        api.serve("/items", CLOSING_TRICKLES["close_length"])
        assert session.get(api.url("/first")).json() == PAGE
        with pytest.raises(Exception, match=r"response_deadline of 0\.3 s"):
            session.get(api.url("/items"))
        attempts = api.wait_for_requests(QUICK.max_retries + 2)[1:]
    assert_cut_at_the_deadline(attempts, 0.3)


@pytest.mark.parametrize("kind", ["token", "login"])
def test_the_deadline_cuts_a_trickling_token_or_login_answer(
    headwater_plugins, duckdb_pipeline, kind
):
    with HostileServer() as api:
        if kind == "token":
            api.serve("/token", CLOSING_TRICKLES["http10_length"])
            conn = connector(auth=OAuth2ClientCredentials(), retry=QUICK)
            settings = oauth_settings(api)
        else:
            api.serve("/login", CLOSING_TRICKLES["http10_length"])
            conn = connector(auth=SessionLogin(), retry=QUICK)
            settings = {"base_url": api.base_url, "username": "u-1", "password": SECRET}
        settings["response_deadline"] = 0.3
        error = error_of(headwater_plugins, duckdb_pipeline, conn, **settings)
        attempts = api.wait_for_requests(QUICK.max_retries + 1)
    message = str(error)
    assert message.startswith(f"{kind} request to "), message
    assert "(no complete response within the response_deadline of 0.3 s; raise" in message
    assert_cut_at_the_deadline(attempts, 0.3)


def test_a_token_answer_cut_short_is_named_so(headwater_plugins, duckdb_pipeline):
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + b'{"access_token": '
    with raw_server(answer) as url:
        conn = connector(auth=OAuth2ClientCredentials(), retry=QUICK)
        settings = {"base_url": url, "token_url": url + "/token"}
        settings.update(client_id="id-1", client_secret=SECRET)
        error = error_of(headwater_plugins, duckdb_pipeline, conn, **settings)
    assert "the connection closed before the whole body came" in str(error), error


@pytest.mark.parametrize(
    "behaviour",
    [SlowHeaders(interval=0.05, max_seconds=8), EmptyGzipBlocks(max_seconds=8)],
    ids=["headers_never_end", "gzip_inflating_to_nothing"],
)
def test_the_deadline_holds_while_headers_trickle_and_while_inflating_nothing(
    headwater_plugins, duckdb_pipeline, behaviour
):
    """Each read gets bytes in time (no read timeout fires), but the response never
    completes: the deadline ends each attempt on time, whatever the read is doing."""
    with HostileServer() as api:
        api.serve("/items", behaviour)
        error = error_of(
            headwater_plugins,
            duckdb_pipeline,
            connector(retry=QUICK),
            base_url=api.base_url,
            response_deadline=0.5,
            read_timeout=5,
        )
        first, second = api.wait_for_requests(2)
    assert "response_deadline of 0.5 s" in str(error)
    assert "after 2 attempts" in str(error)
    # the second attempt started when the first one's deadline passed (+ 0.01 s backoff)
    assert 0.45 <= second.time - first.time < 2, second.time - first.time


def test_read_timeout_setting_applies(headwater_plugins, duckdb_pipeline):
    with HostileServer() as api:
        api.serve("/items", Trickle(length=50, interval=1.0), Json(PAGE))
        rows = run_source(
            headwater_plugins,
            duckdb_pipeline,
            connector(retry=QUICK),
            base_url=api.base_url,
            read_timeout=0.2,
        )
        first, second = api.requests  # the stalled read was abandoned and retried
    assert len(rows) == 3
    assert second.time - first.time < 0.9  # the read timeout, not the 1 s stall


def test_timeouts_are_settings_from_the_environment(headwater_plugins, monkeypatch):
    from headwater.settings import resolve_settings

    conn = connector()
    monkeypatch.setenv("SOURCES__TESTAPI__CONNECT_TIMEOUT", "2.5")
    monkeypatch.setenv("SOURCES__TESTAPI__READ_TIMEOUT", "7")
    monkeypatch.setenv("SOURCES__TESTAPI__RESPONSE_DEADLINE", "30")
    monkeypatch.setenv("SOURCES__TESTAPI__MAX_RETRY_AFTER", "12")
    limits = HttpLimits.from_settings(resolve_settings(conn), "testapi")
    assert limits.timeout(RetryPolicy()) == (2.5, 7)
    assert limits.deadline(RetryPolicy()) == 30
    assert limits.max_retry_after == 12
    # unset: the connector's policy decides, and the deadline is never below the read timeout
    defaults = HttpLimits()
    assert defaults.timeout(RetryPolicy(timeout=9)) == (9, 9)
    assert defaults.deadline(RetryPolicy(timeout=900)) == 900
    monkeypatch.setenv("SOURCES__TESTAPI__READ_TIMEOUT", "-1")
    with pytest.raises(Exception, match="read_timeout"):
        resolve_settings(conn)


# -------------------------------------------------------------- Retry-After


def test_a_retry_after_shorter_than_the_backoff_waits_the_backoff(
    headwater_plugins, duckdb_pipeline
):
    with HostileServer() as api:
        api.serve("/items", Json({}, status=503, headers={"Retry-After": "0.001"}), Json(PAGE))
        rows = run_source(
            headwater_plugins,
            duckdb_pipeline,
            connector(retry=RetryPolicy(max_retries=1, backoff_factor=0.3, max_delay=1)),
            base_url=api.base_url,
        )
        first, second = api.requests
    assert len(rows) == 3
    assert second.time - first.time >= 0.28  # the 0.3 s backoff, not 1 ms


@pytest.mark.parametrize(
    "value", ["٣", "NaN", "Fri, 31 Dec 99999 23:59:59 GMT", "9" * 5000, "-1", "\x00"]
)
def test_hostile_retry_after_is_survived(headwater_plugins, duckdb_pipeline, value):
    with HostileServer() as api:
        api.serve("/items", Json({}, status=429, headers={"Retry-After": value}), Json(PAGE))
        rows = run_source(
            headwater_plugins,
            duckdb_pipeline,
            connector(retry=QUICK),
            base_url=api.base_url,
            max_retry_after=0.2,
        )
        first, second = api.requests
    assert len(rows) == 3
    assert second.time - first.time < 1  # at most the 0.2 s cap, timed by the server


def test_a_capped_retry_after_wait_is_logged(headwater_plugins, duckdb_pipeline, caplog):
    with HostileServer() as api:
        api.serve("/items", Json({}, status=429, headers={"Retry-After": "86400"}), Json(PAGE))
        with caplog.at_level(logging.WARNING, logger="headwater.http.session"):
            rows = run_source(
                headwater_plugins,
                duckdb_pipeline,
                connector(retry=QUICK),
                base_url=api.base_url,
                max_retry_after=0.3,
            )
        first, second = api.requests
    assert len(rows) == 3
    assert second.time - first.time >= 0.25  # the cap, not the policy's 0.01 s
    assert second.time - first.time < 3
    capped = [r.getMessage() for r in caplog.records if "max_retry_after" in r.getMessage()]
    assert capped == [
        "the API asked to wait 86400 s before retrying (Retry-After: 86400); waiting "
        "0.3 s, the max_retry_after cap, instead"
    ]


@pytest.mark.parametrize("where", ["/items", "/token"])
def test_a_capped_wait_shorter_than_the_backoff_is_logged_as_waited(
    headwater_plugins, duckdb_pipeline, caplog, where
):
    """With the cap under the backoff, the warning said 'waiting 0.05 s, the
    max_retry_after cap' while the backoff's 0.1 s and 0.2 s were waited, and one more
    warning came with the last 429, after which nothing was retried."""
    forever = Json({}, status=429, headers={"Retry-After": "1000000000"})
    policy = RetryPolicy(max_retries=2, backoff_factor=0.1, max_delay=1)
    with HostileServer() as api:
        api.serve("/token", forever if where == "/token" else Token(access_token=TOKEN))
        api.serve("/items", forever if where == "/items" else Json(PAGE))
        with caplog.at_level(logging.WARNING, logger="headwater.http.session"):
            conn = connector(auth=OAuth2ClientCredentials(), retry=policy)
            settings = {**oauth_settings(api), "max_retry_after": 0.05}
            error = error_of(headwater_plugins, duckdb_pipeline, conn, **settings)
        sent = [r for r in api.requests if r.path == where]
    assert "429" in str(error)
    assert len(sent) == 3
    gaps = [later.time - earlier.time for earlier, later in itertools.pairwise(sent)]
    assert 0.09 <= gaps[0] < 0.5 and 0.19 <= gaps[1] < 0.6  # the backoff, not the cap
    warned = [r.getMessage() for r in caplog.records if "max_retry_after" in r.getMessage()]
    assert warned == [  # one per retry that followed, with the wait used
        "the API asked to wait 1000000000 s before retrying (Retry-After: 1000000000); "
        f"waiting {wait} s instead (the backoff; the max_retry_after cap is 0.05 s)"
        for wait in ("0.1", "0.2")
    ]


@pytest.mark.parametrize(
    ("headers", "why"),
    [
        ({f"X-H-{i}": "v" for i in range(150)}, "got more than 100 headers"),
        ({"X-Long": "v" * 70_000}, "got more than 65536 bytes when reading header line"),
    ],
    ids=["too_many_headers", "a_header_line_too_long"],
)
def test_an_answer_that_breaks_http_is_named(headwater_plugins, duckdb_pipeline, headers, why):
    """It was 'failed after 2 attempts (ConnectionError); check that the API is
    reachable', with http.client's reason nowhere, not even with --debug."""
    with HostileServer() as api:
        api.serve("/items", Json(PAGE, headers=headers))
        error = error_of(
            headwater_plugins, duckdb_pipeline, connector(retry=QUICK), base_url=api.base_url
        )
    assert f"(ConnectionError: the answer was not valid HTTP: {why})" in str(error), error


@contextlib.contextmanager
def raw_server(answer: bytes) -> Iterator[str]:
    """A server on 127.0.0.1 that reads each request and writes ``answer`` (bytes as
    they are: a status line no HTTP library would write), then closes; yields its
    base URL."""
    import socket
    import threading

    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                conn.recv(65536)
                conn.sendall(answer)

    threading.Thread(target=serve, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        listener.close()


def test_a_status_line_with_terminal_escapes_is_shown_escaped(headwater_plugins, duckdb_pipeline):
    """The reason phrase is the server's text: written into the error as it came, it
    cleared the terminal, set its title and printed a fake 'loaded OK' in red."""
    reason = b"\x1b[2J\x1b[1;31mheadwater: loaded OK\x1b]0;pwned\x07"
    with raw_server(b"HTTP/1.1 418 " + reason + b"\r\nContent-Length: 2\r\n\r\n{}") as url:
        error = error_of(
            headwater_plugins, duckdb_pipeline, connector(auth=None, retry=QUICK), base_url=url
        )
    message = str(error)
    assert "HTTP 418" in message and "loaded OK" in message
    assert "\x1b" not in message and "\x07" not in message
    assert "\\x1b[2J" in message


def test_a_body_cut_short_is_named_so(headwater_plugins, duckdb_pipeline):
    """requests calls any body cut short a ChunkedEncodingError, chunked or not."""
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + b'{"data": ['
    with raw_server(answer) as url:
        error = error_of(
            headwater_plugins, duckdb_pipeline, connector(auth=None, retry=QUICK), base_url=url
        )
    assert "the connection closed before the whole body came" in str(error)


def test_a_page_of_records_that_all_break_the_schema_keeps_memory_bounded(headwater_env):
    """400,000 empty records in one page of 1.2 MB, under the size limit: each became a
    quarantine row with its error, all at once (a probe: 4 MB of them, 1.2 GB of RSS).
    They are checked and set aside 10,000 at a time."""
    body = b'{"data": [' + b",".join([b"{}"] * 400_000) + b"]}"
    with HostileServer() as api:
        api.serve("/v1/resource", RawJson(body))
        code, output, rss = peak_rss_cli(
            "run",
            "hr",
            "--base-url",
            api.base_url,
            env=hr_env(headwater_env, 4 * 1024 * 1024),
            cwd=headwater_env,
        )
    print(f"peak RSS {rss / 1024**2:.0f} MB; exit {code}; {output[-300:]}")
    assert "Traceback" not in output and SECRET not in output
    assert rss < RSS_CAP, f"peak RSS {rss / 1024**2:.0f} MB"
