"""Auth kinds through headwater.source(): token form fields, sharing, renewal, key placement."""

from __future__ import annotations

import threading
from urllib.parse import parse_qs

import headwater
import pytest
from headwater.errors import ResponseError
from headwater.http.authenticators import OAuth2ClientCredentialsAuthenticator
from headwater.run.dlt_errors import explain
from headwater.spec import ApiKeyAuth, BasicAuth, BearerAuth, OAuth2ClientCredentials, SinglePage
from helpers import Declares, connector, records, rows_of

TOKEN_URL = "https://api.test/oauth2/token"


def test_oauth_form_fields_and_one_token_for_all_pages(headwater_plugins, requests_mock):
    requests_mock.post(TOKEN_URL, json={"access_token": "tok-1", "expires_in": 3600})
    requests_mock.get("https://api.test/items", json={"data": records(3)})
    conn = connector(
        auth=OAuth2ClientCredentials(
            scope="https://api.test/.default", extra_form={"audience": "x"}
        ),
        pagination=SinglePage(),
    )
    headwater_plugins(Declares(conn))
    src = headwater.source("testapi", client_id="cid-1", client_secret="csecret-1")
    assert len(rows_of(src)) == 3
    token_calls = [r for r in requests_mock.request_history if r.method == "POST"]
    assert len(token_calls) == 1
    form = parse_qs(token_calls[0].text)
    assert form == {
        "grant_type": ["client_credentials"],
        "client_id": ["cid-1"],
        "client_secret": ["csecret-1"],
        "scope": ["https://api.test/.default"],
        "audience": ["x"],
    }
    api = [r for r in requests_mock.request_history if r.method == "GET"]
    assert api[0].headers["Authorization"] == "Bearer tok-1"


def test_token_renewed_before_expiry(requests_mock):
    now = [1000.0]
    tokens = iter(["t1", "t2"])
    requests_mock.post(
        TOKEN_URL, json=lambda r, c: {"access_token": next(tokens), "expires_in": 100}
    )
    auth = OAuth2ClientCredentialsAuthenticator(TOKEN_URL, "id", "secret", clock=lambda: now[0])
    assert auth.token() == "t1"
    now[0] += 85  # within the lifetime, before the margin (a tenth of 100 s)
    assert auth.token() == "t1"
    now[0] += 6  # 91 s: inside the 10 s renewal margin
    assert auth.token() == "t2"
    assert auth.tokens_obtained == 2


def test_401_renews_once_and_retries(headwater_plugins, requests_mock):
    tokens = iter(["old", "new", "newer"])
    requests_mock.post(
        TOKEN_URL, json=lambda r, c: {"access_token": next(tokens), "expires_in": 3600}
    )

    def api(request, context):
        if request.headers["Authorization"] != "Bearer new":
            context.status_code = 401
            return {"error": "invalid_token"}
        return {"data": records(2)}

    requests_mock.get("https://api.test/items", json=api)
    conn = connector(auth=OAuth2ClientCredentials(), pagination=SinglePage())
    headwater_plugins(Declares(conn))
    assert len(rows_of(headwater.source("testapi", client_id="abcd", client_secret="efgh"))) == 2
    assert [r.method for r in requests_mock.request_history] == ["POST", "GET", "POST", "GET"]


def test_401_after_renewal_fails_clearly(headwater_plugins, requests_mock):
    requests_mock.post(TOKEN_URL, json={"access_token": "always-bad", "expires_in": 3600})
    requests_mock.get("https://api.test/items", status_code=401, json={"error": "revoked"})
    conn = connector(auth=OAuth2ClientCredentials(), pagination=SinglePage())
    headwater_plugins(Declares(conn))
    with pytest.raises(Exception) as err:
        rows_of(headwater.source("testapi", client_id="abcd", client_secret="efgh"))
    known = explain(err.value)
    assert isinstance(known, ResponseError)
    assert "HTTP 401" in str(known) and "check the credentials" in str(known)
    gets = [r for r in requests_mock.request_history if r.method == "GET"]
    assert len(gets) == 2  # the request, then one retry with a renewed token


def test_token_endpoint_refusal_is_explained(headwater_plugins, requests_mock):
    requests_mock.post(TOKEN_URL, status_code=401, json={"error": "invalid_client"})
    conn = connector(auth=OAuth2ClientCredentials(), pagination=SinglePage())
    headwater_plugins(Declares(conn))
    with pytest.raises(Exception) as err:
        rows_of(headwater.source("testapi", client_id="abcd", client_secret="wrong-secret"))
    msg = str(explain(err.value))
    assert "refused the client credentials (HTTP 401, error 'invalid_client')" in msg
    assert "wrong-secret" not in msg


def test_one_token_under_concurrency(requests_mock):
    calls = []

    def token(request, context):
        calls.append(1)
        return {"access_token": f"t{len(calls)}", "expires_in": 3600}

    requests_mock.post(TOKEN_URL, json=token)
    auth = OAuth2ClientCredentialsAuthenticator(TOKEN_URL, "id", "secret")
    got = []
    threads = [threading.Thread(target=lambda: got.append(auth.token())) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert got == ["t1"] * 16 and len(calls) == 1


@pytest.mark.parametrize("location", ["query", "header"])
def test_api_key_location(headwater_plugins, requests_mock, location):
    requests_mock.get("https://api.test/items", json={"data": records(1)})
    conn = connector(auth=ApiKeyAuth(name="api_key", location=location), pagination=SinglePage())
    headwater_plugins(Declares(conn))
    rows_of(headwater.source("testapi", api_key="key-123"))
    request = requests_mock.request_history[0]
    if location == "query":
        assert request.qs["api_key"] == ["key-123"]
        assert "api_key" not in request.headers
    else:
        assert request.headers["api_key"] == "key-123"
        assert "api_key" not in request.qs


def test_bearer_and_basic(headwater_plugins, requests_mock):
    requests_mock.get("https://api.test/items", json={"data": records(1)})
    headwater_plugins(
        Declares(
            connector("bearerapi", auth=BearerAuth(), pagination=SinglePage()),
            connector("basicapi", auth=BasicAuth(), pagination=SinglePage()),
        )
    )
    rows_of(headwater.source("bearerapi", token="tok-abc"))
    rows_of(headwater.source("basicapi", username="ann", password="pw-xyz"))
    first, second = requests_mock.request_history
    assert first.headers["Authorization"] == "Bearer tok-abc"
    assert second.headers["Authorization"] == "Basic YW5uOnB3LXh5eg=="


def test_headwater_auth_override(headwater_plugins, requests_mock):
    from headwater import hookimpl
    from requests.auth import AuthBase

    class Signed(AuthBase):
        def __call__(self, request):
            request.headers["X-Signature"] = "sig-1"
            return request

    class SigningPlugin:
        @hookimpl
        def headwater_auth(self, connector, settings):
            return Signed() if connector.name == "testapi" else None

    requests_mock.get("https://api.test/items", json={"data": records(1)})
    conn = connector(auth=BearerAuth(), pagination=SinglePage())
    headwater_plugins(Declares(conn), SigningPlugin())
    rows_of(headwater.source("testapi", token="tok-abc"))
    sent = requests_mock.request_history[0].headers
    assert sent["X-Signature"] == "sig-1" and "Authorization" not in sent


def test_api_key_in_query_is_not_repeated_on_next_links(headwater_plugins, requests_mock):
    from headwater.spec import NextLinkPagination

    link = "https://api.test/items?page=2&api_key=key-123"  # the API echoes the key back

    def cb(request, context):
        if "page=2" in request.url:
            return {"data": records(1, 1)}
        return {"data": records(1), "next": link}

    requests_mock.get("https://api.test/items", json=cb)
    conn = connector(
        auth=ApiKeyAuth(name="api_key", location="query"),
        pagination=NextLinkPagination(next_path="next"),
    )
    headwater_plugins(Declares(conn))
    assert len(rows_of(headwater.source("testapi", api_key="key-123"))) == 2
    assert [r.qs["api_key"] for r in requests_mock.request_history] == [["key-123"], ["key-123"]]
