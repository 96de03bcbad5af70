"""The simulator's collaborators on their own: the token endpoint (``TokenEndpoint``)
and the pager (``Pager``), called directly, without a server."""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import parse_qs, quote_plus, urlencode, urlsplit

import pytest
from headwater.spec import (
    ApiKeyAuth,
    BasicAuth,
    CursorPagination,
    NextLinkPagination,
    OAuth2ClientCredentials,
    OffsetPagination,
    PageNumberPagination,
    Resource,
)
from headwater.testing.paging import MAX_PAGE_SIZE, Pager
from headwater.testing.server import ClientError, dumps
from headwater.testing.tokens import DEFAULT_TOKEN_PATH, TokenEndpoint

CREDS = {"client_id": "cid", "client_secret": "s3cr:t/+"}


def form(**fields: str) -> bytes:
    return urlencode(fields).encode()


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def issue(endpoint: TokenEndpoint, **extra: str) -> str:
    response = endpoint.answer("POST", {}, form(grant_type="client_credentials", **CREDS, **extra))
    assert response.status == 200, response.body
    return json.loads(response.body)["access_token"]


def test_token_endpoint_issues_tokens_that_api_requests_may_use_until_revoked() -> None:
    endpoint = TokenEndpoint(OAuth2ClientCredentials(), CREDS, ttl=60.0)
    assert endpoint.path == DEFAULT_TOKEN_PATH
    assert endpoint.unauthorized({}, {}).status == 401
    token = issue(endpoint)
    assert endpoint.issued == 1
    assert endpoint.unauthorized(bearer(token), {}) is None
    assert endpoint.unauthorized(bearer("forged"), {}).status == 401
    endpoint.revoke()
    assert endpoint.unauthorized(bearer(token), {}).status == 401
    endpoint.reset_count()
    assert endpoint.issued == 0


def test_token_endpoint_refuses_wrong_secrets_grants_and_methods() -> None:
    endpoint = TokenEndpoint(OAuth2ClientCredentials(), CREDS, ttl=60.0)
    wrong = {**CREDS, "client_secret": "nope"}
    assert endpoint.answer("POST", {}, form(grant_type="client_credentials", **wrong)).status == 401
    assert endpoint.answer("POST", {}, form(grant_type="password", **CREDS)).status == 400
    assert endpoint.answer("GET", {}, b"").status == 405
    assert endpoint.issued == 0


def test_token_endpoint_accepts_form_encoded_basic_credentials() -> None:
    endpoint = TokenEndpoint(OAuth2ClientCredentials(), CREDS, ttl=60.0)
    pair = f"{quote_plus(CREDS['client_id'])}:{quote_plus(CREDS['client_secret'])}"
    header = {"authorization": "Basic " + base64.b64encode(pair.encode()).decode()}
    response = endpoint.answer("POST", header, form(grant_type="client_credentials"))
    assert response.status == 200
    assert json.loads(response.body)["expires_in"] == 60


def test_token_endpoint_serves_the_spec_token_path_on_the_api_host() -> None:
    endpoint = TokenEndpoint(
        OAuth2ClientCredentials(token_url="{base_url}/oauth/token"), CREDS, ttl=1.0
    )
    assert endpoint.path == "/oauth/token"
    assert endpoint.is_token_path("/oauth/token/")
    assert not endpoint.is_token_path("/users")


@pytest.mark.parametrize(
    ("auth", "good", "query"),
    [
        (ApiKeyAuth(name="X-Key"), {"x-key": "k"}, {}),
        (ApiKeyAuth(name="key", location="query"), {}, {"key": ["k"]}),
        (
            BasicAuth(),
            {"authorization": "Basic " + base64.b64encode(b"u:p").decode()},
            {},
        ),
    ],
)
def test_credential_checks_of_the_other_auth_kinds(
    auth: Any, good: dict[str, str], query: dict[str, list[str]]
) -> None:
    endpoint = TokenEndpoint(auth, {"api_key": "k", "username": "u", "password": "p"}, 1.0)
    assert endpoint.path is None
    assert endpoint.unauthorized(good, query) is None
    assert endpoint.unauthorized({}, {}).status == 401


ITEMS = [dumps({"id": i}) for i in range(25)]


def resource(pagination: Any, data_selector: str | None = "data") -> Resource:
    return Resource(
        name="users",
        path="/users",
        schema="users.json",
        data_selector=data_selector,
        pagination=pagination,
    )


def test_pager_cuts_offset_pages_with_the_total_and_caps_the_limit() -> None:
    spec = OffsetPagination(limit=10, total_path=("meta", "total"))
    body = json.loads(Pager(100).page(resource(spec), ITEMS, "/users", {"offset": ["20"]}, "x"))
    assert body == {"data": [{"id": i} for i in range(20, 25)], "meta": {"total": 25}}
    many = [dumps({"id": i}) for i in range(MAX_PAGE_SIZE + 5)]
    capped = Pager(100).page(resource(spec), many, "/users", {"limit": ["5000"]}, "x")
    assert len(json.loads(capped)["data"]) == MAX_PAGE_SIZE


def test_pager_max_page_size_caps_pages_and_counts_them_at_the_cap() -> None:
    """An API that serves fewer records than asked for (Jira's 50 of maxResults=100)
    reports its page count at the size it really serves."""
    spec = PageNumberPagination(page_size=10, total_pages_path="pages", total_path="total")
    body = json.loads(Pager(100, max_page_size=4).page(resource(spec), ITEMS, "/u", {}, "x"))
    assert body == {"data": [{"id": i} for i in range(4)], "pages": 7, "total": 25}
    query = {"page": ["7"]}
    last = json.loads(Pager(100, max_page_size=4).page(resource(spec), ITEMS, "/u", query, "x"))
    assert [r["id"] for r in last["data"]] == [24]


def test_pager_cursor_tokens_walk_every_record_once() -> None:
    spec = CursorPagination(cursor_path="next", cursor_param="cursor", page_size=10)
    seen: list[int] = []
    query: dict[str, list[str]] = {}
    for _ in range(10):
        body = json.loads(Pager(100).page(resource(spec), ITEMS, "/users", query, "x"))
        seen += [r["id"] for r in body["data"]]
        if not body["next"]:
            break
        query = {"cursor": [body["next"]]}
    assert seen == list(range(25))
    with pytest.raises(ClientError, match="invalid cursor"):
        Pager(100).page(resource(spec), ITEMS, "/users", {"cursor": ["bogus"]}, "x")


def test_pager_next_links_use_its_page_size_and_the_base_url() -> None:
    pager = Pager(page_size=20)
    spec = NextLinkPagination(next_path="@odata.nextLink")
    base = "http://127.0.0.1:1"
    body = json.loads(pager.page(resource(spec, "value"), ITEMS, "/users", {"$top": ["5"]}, base))
    assert len(body["value"]) == 20
    assert body["@odata.context"] == f"{base}/$metadata#users"
    link = urlsplit(body["@odata.nextLink"])
    assert f"{link.scheme}://{link.netloc}{link.path}" == f"{base}/users"
    assert parse_qs(link.query)["$top"] == ["5"]
    last = parse_qs(link.query)
    rest = json.loads(pager.page(resource(spec, "value"), ITEMS, "/users", last, base))
    assert [r["id"] for r in rest["value"]] == list(range(20, 25))
    assert "@odata.nextLink" not in rest
