"""`headwater describe NAME` shows every declared auth, request and pagination kind
readably — from the declaration alone: no request is sent, no secret is read."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from headwater import TokenStore, hookimpl
from headwater.cli import main
from headwater.spec import (
    Connector,
    CursorPagination,
    HeaderCursorPagination,
    JwtBearer,
    JwtGrant,
    LastRecordPagination,
    LinkHeaderPagination,
    NextLinkPagination,
    OAuth2ClientCredentials,
    OAuth2RefreshToken,
    OffsetPagination,
    PageNumberPagination,
    Resource,
    SessionLogin,
    TemplateAuth,
)
from helpers import SCHEMA, Declares

CANARY = "canary-describe-5e1f"


def connector(
    name: str, *, auth=None, settings=None, connector_headers=None, **resource
) -> Connector:
    spec = dict(name="items", path="/items", schema=SCHEMA, data_selector="data")
    spec.update(resource)
    return Connector(
        name=name,
        package="headwater_directory",
        base_url="https://api.test",
        auth=auth,
        settings=settings or {},
        headers=connector_headers or {},
        resources=[Resource(**spec)],
    )


def describe(capsys, headwater_plugins, declared: Connector, env=None, plugins=()) -> str:
    headwater_plugins(Declares(declared), *plugins)
    saved = dict(os.environ)
    os.environ.update(env or {})
    try:
        code = main(["describe", declared.name])
    finally:
        os.environ.clear()
        os.environ.update(saved)
    out, err = capsys.readouterr()
    assert (code, err) == (0, "")
    return out


AUTH_KINDS = [
    (
        OAuth2ClientCredentials(client_auth="basic", scope="read:all"),
        [
            "auth:         oauth2_client_credentials",
            "token URL {base_url}/oauth2/token (setting token_url)",
            "client id and secret sent as HTTP basic (client_secret_basic); scope read:all",
            "client_secret  secret, required",
        ],
    ),
    (
        OAuth2RefreshToken(token_url="https://login.test/oauth/token", client_auth="basic"),
        [
            "auth:         oauth2_refresh_token",
            "access token from the refresh_token setting at the token URL "
            "https://login.test/oauth/token (setting token_url)",
            "sent as HTTP basic (client_secret_basic)",
            "a rotated refresh token is kept in the token store for the next run",
            "refresh_token  secret, required",
            "env SOURCES__KIND__REFRESH_TOKEN; TOML [sources.kind] refresh_token in "
            ".dlt/secrets.toml",
        ],
    ),
    (
        JwtGrant(algorithm="ES256", scope="read", claims={"tenant": "t1"}, lifetime=600),
        [
            "auth:         jwt_grant",
            "JWT grant (RFC 7523): an assertion signed ES256 with the private_key setting, "
            "exchanged at the token URL {base_url}/oauth2/token (setting token_url)",
            "iss = setting issuer, sub = setting subject (if set), aud = the token URL, "
            'lifetime 600 s, claims {"tenant": "t1"}; scope read',
            "private_key    secret, required",
        ],
    ),
    (
        JwtBearer(audience="https://api.test/", algorithm="RS384"),
        [
            "auth:         jwt_bearer",
            "self-signed JWT (RS384, setting private_key) sent as Authorization: Bearer <jwt>",
            "iss = setting issuer, aud = https://api.test/, lifetime 3600 s",
            "private_key    secret, required",
        ],
    ),
    (
        SessionLogin(
            login_path="/api/login",
            token_header="X-Session",
            location="cookie",
            name="sid",
            template="{token}",
            expires_in=900,
        ),
        [
            "auth:         session",
            "session login: POST /api/login with the json body "
            '{"username": "{username}", "password": "{password}"}',
            "token from response header X-Session, sent as cookie sid: {token}",
            "logs in again on a 401 and after 900 s",
            "password       secret, required",
        ],
    ),
    (
        SessionLogin(token_path="data.session", location="query", name="session_id"),
        [
            "token from body field data.session, sent as query parameter session_id: "
            "Bearer {token}",
            "logs in again on a 401",
        ],
    ),
    (
        TemplateAuth(
            headers={"Authorization": "Token {api_key}", "X-Account": "{account_id}"},
            query={"app": "{app_id}"},
            secret_settings=["api_key"],
        ),
        [
            "auth:         template",
            "templated credentials: headers Authorization: Token {api_key}, "
            "X-Account: {account_id}; query parameters app: {app_id}",
            "api_key        secret, required",
            "env SOURCES__KIND__ACCOUNT_ID; TOML [sources.kind] account_id in .dlt/config.toml",
        ],
    ),
]


@pytest.mark.parametrize("auth,expected", AUTH_KINDS, ids=lambda x: getattr(x, "kind", None))
def test_describe_shows_each_auth_kind_and_where_its_credentials_go(
    capsys, headwater_plugins, auth, expected
):
    text = describe(capsys, headwater_plugins, connector("kind", auth=auth))
    for line in expected:
        assert line in text
    assert "custom" not in text  # the builtin hooks build them: declared, not custom


def test_secrets_of_every_kind_are_never_printed(capsys, headwater_plugins):
    """Secret settings set in the environment (as a user exports them before `describe`)
    are not read: the text names them, never their values."""
    for auth in [a for a, _ in AUTH_KINDS]:
        declared = connector("kind", auth=auth)
        from headwater.settings import env_var, settings_schema

        props = settings_schema(declared)["properties"]
        secrets = [k for k, p in props.items() if p.get("writeOnly")]
        assert secrets, auth.kind
        env = {env_var("kind", k): f"{CANARY}-{k}" for k in secrets}
        text = describe(capsys, headwater_plugins, declared, env=env)
        assert CANARY not in text, auth.kind
        for key in secrets:
            assert f"{key:<14} secret" in text


def test_describe_says_where_the_token_store_keeps_rotated_refresh_tokens(
    capsys, headwater_plugins, tmp_path, monkeypatch
):
    """A refresh-token connector's rotated tokens go to the headwater_token_store hook's
    store: describe names it (the file, and whether HEADWATER_TOKEN_DIR chose it)."""
    import platformdirs

    declared = connector("crm", auth=OAuth2RefreshToken())
    env = {"HEADWATER_TOKEN_DIR": str(tmp_path / "tokens"), "SOURCES__CRM__REFRESH_TOKEN": CANARY}
    text = describe(capsys, headwater_plugins, declared, env=env)
    where = tmp_path / "tokens" / "crm.json"
    assert f"  token store:  file {where} (owner-only; HEADWATER_TOKEN_DIR)\n" in text
    assert CANARY not in text
    monkeypatch.delenv("HEADWATER_TOKEN_DIR")
    text = describe(capsys, headwater_plugins, declared)
    default = Path(platformdirs.user_data_dir("headwater", appauthor=False)) / "tokens"
    line = f"  token store:  file {default / 'crm.json'} (owner-only; default; "
    assert line + "HEADWATER_TOKEN_DIR moves it)\n" in text
    assert not (tmp_path / "tokens").exists()  # describe only says where: it creates nothing
    # auth kinds that keep no token have no store
    assert "token store" not in describe(capsys, headwater_plugins, connector("plain"))


class VaultStore(TokenStore):
    def __init__(self, url: str, token: str) -> None:
        self.url, self.token = url, token

    def __repr__(self) -> str:
        return f"VaultStore({self.url!r}, token={self.token!r})"

    def load(self, connector, key):
        return None

    def save(self, connector, key, token):
        pass


class Vault:
    @hookimpl
    def headwater_token_store(self, connector, settings):
        return VaultStore(f"https://vault.test/{connector.name}", f"{CANARY}-vault")


def test_describe_names_a_plugins_token_store(capsys, headwater_plugins):
    declared = connector("crm", auth=OAuth2RefreshToken())
    env = {"SOURCES__CRM__REFRESH_TOKEN": CANARY}
    text = describe(capsys, headwater_plugins, declared, env=env, plugins=(Vault(),))
    # named by its class: its repr holds the vault's own credential
    assert "  token store:  custom (plugin Vault): VaultStore\n" in text
    assert CANARY not in text


def test_describe_shows_method_path_params_headers_and_body_as_templates(capsys, headwater_plugins):
    declared = connector(
        "search",
        settings={
            "tenant": {"type": "string"},
            "region": {"type": "string", "default": "eu"},
            "search": {"type": "string", "default": "*"},
        },
        connector_headers={"Accept": "application/json", "X-Tenant": "{tenant}"},
        method="POST",
        path="/v1/{tenant}/search",
        params={"limit": "50", "region": "{region}"},
        # a resource's headers come on top of the connector's
        headers={"X-Api-Version": "2024-01"},
        json={"query": "{search}", "page": {"size": 50}},
        data_selector="$.results[*]",
        pagination=CursorPagination(
            cursor_path="meta.next", cursor_param="page.after", location="body"
        ),
    )
    text = describe(capsys, headwater_plugins, declared)
    for line in [
        "  headers:      Accept: application/json, X-Tenant: {tenant} (every request)",
        "    request:           POST /v1/{tenant}/search",
        "    params:            limit=50, region={region}",
        "    headers:           X-Api-Version: 2024-01",
        '    body:              {"query": "{search}", "page": {"size": 50}}',
        "    templates:         {tenant} = setting tenant, {region} = setting region, "
        "{search} = setting search",
        "    data selector:     '$.results[*]'",
        "cursor from body field meta.next sent back in body field page.after; stops when it "
        "is missing or empty",
    ]:
        assert line in text


def test_describe_shows_a_body_with_literal_braces_as_it_is_sent(capsys, headwater_plugins):
    query = "{{items(first:{first}){{nodes{{id}}}}}}"
    declared = connector(
        "gql",
        settings={"first": {"type": "integer", "default": 50}},
        method="POST",
        json={"query": query},
    )
    text = describe(capsys, headwater_plugins, declared)
    assert '    body:              {"query": "{items(first:{first}){nodes{id}}}"}' in text
    assert "    templates:         {first} = setting first" in text


def test_describe_refuses_a_body_doubling_some_braces_but_not_others(capsys, headwater_plugins):
    declared = connector("gql", method="POST", json={"query": "{items{nodes{id name}}}"})
    headwater_plugins(Declares(declared))
    code = main(["describe", "gql"])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1
    assert "resource items: json.query doubles some literal braces" in err
    assert "double every literal brace" in err


PAGINATION_KINDS = [
    (
        OffsetPagination(limit=50),
        "offset in ?offset=, limit 50 in ?limit=; stops at a page shorter than 50",
    ),
    (
        OffsetPagination(offset_param="startAt", limit_param="maxResults", total_path="total"),
        "offset in ?startAt=, limit 100 in ?maxResults=; stops at the total at total or an "
        "empty page (a page shorter than 100 only when the API sends no total)",
    ),
    (
        LinkHeaderPagination(),
        "next page URL from the Link response header "
        '(rel="next", RFC 8288; same host only); stops when there is none',
    ),
    (
        LinkHeaderPagination(rel="older"),
        'Link response header (rel="older"',
    ),
    (
        HeaderCursorPagination(
            header="X-Next-Page-Token", cursor_param="page_token", page_size=200
        ),
        "cursor from the X-Next-Page-Token response header sent back in ?page_token=, "
        "?page_size= 200; stops when it is missing or empty",
    ),
    (
        LastRecordPagination(page_size=100),
        "the last record's id sent in ?starting_after=, ?limit= 100; stops when has_more is "
        "false, or a page is empty or short",
    ),
    (
        LastRecordPagination(cursor_field="object_id", has_more_path=None),
        "the last record's object_id sent in ?starting_after=; stops when a page is empty",
    ),
    (
        PageNumberPagination(total_path="meta.total", page_size=25, start=0),
        "page number in ?page= from 0, ?per_page= 25; stops at the record count at "
        "meta.total or an empty page (a short one only when the API sends no count)",
    ),
    (
        PageNumberPagination(page_size=25),
        "page number in ?page= from 1, ?per_page= 25; stops at an empty page or a short one",
    ),
    (
        PageNumberPagination(total_pages_path="pages", location="body"),
        "page number in body field page from 1; stops at the page count at pages or an empty page",
    ),
    (
        NextLinkPagination(next_path="next_page", end_path="end_of_stream"),
        "next page URL from body field next_page (same host only); stops when it is missing "
        "or empty, or when end_of_stream is true (that page is the last)",
    ),
    (
        CursorPagination(cursor_path="after_cursor", end_path=("meta", "end_of_stream")),
        "cursor from body field after_cursor sent back in ?cursor=; stops when it is missing "
        "or empty, or when meta.end_of_stream is true (that page is the last)",
    ),
]


@pytest.mark.parametrize(
    "pagination,expected", PAGINATION_KINDS, ids=lambda x: getattr(x, "kind", None)
)
def test_describe_shows_each_pagination_kind(capsys, headwater_plugins, pagination, expected):
    method = "POST" if getattr(pagination, "location", "query") == "body" else "GET"
    declared = connector("pages", pagination=pagination, method=method)
    text = describe(capsys, headwater_plugins, declared)
    assert f"    pagination:        {pagination.kind}(" in text
    assert f"                       {expected}" in text or expected in text


def test_the_tutorials_github_style_connector_is_described_as_the_page_shows(
    capsys, headwater_plugins
):
    """docs/writing-a-connector.md declares a GitHub-style API without hook code (bearer,
    Link header pages, required path settings); describe prints what the page quotes."""
    import re
    from pathlib import Path

    import attrs

    page = (Path(__file__).parents[2] / "docs" / "writing-a-connector.md").read_text()
    section = page[page.index("## Another API, declared") :]
    section = section[: section.find("\n## ", 1)]  # this section only
    [hooks] = re.findall(r"^```python\n(.*?)^```$", section, re.M | re.S)
    [shown] = re.findall(r"^```text\n(.*?)^```$", section, re.M | re.S)
    namespace: dict = {"__name__": "octo_hooks", "__package__": "headwater_directory"}
    exec(compile(hooks, "writing-a-connector.md", "exec"), namespace)
    octo = namespace["OCTO"]
    assert "def headwater_" not in hooks.replace("def headwater_connectors", "")  # no hooks
    # the page's schema files are the tutorial's own; any shipped schema will do here
    octo = attrs.evolve(octo, resources=[attrs.evolve(r, schema=SCHEMA) for r in octo.resources])
    text = describe(capsys, headwater_plugins, octo)
    for line in shown.splitlines():
        if line != "...":
            assert line in text.splitlines(), line


def test_describe_names_the_resources_a_resource_rule_applies_to(capsys, headwater_plugins):
    import attrs
    from headwater.spec import ResponseRule

    gone = ResponseRule(action="ignore", status_code=404)
    busy = ResponseRule(action="retry", contains="busy")
    base = connector("scoped", response_rules=[gone])
    more = Resource(name="more", path="/more", schema=SCHEMA, data_selector="data")
    declared = attrs.evolve(base, response_rules=[busy], resources=[*base.resources, more])
    lines = describe(capsys, headwater_plugins, declared).splitlines()
    assert "  rule:         status 404 -> ignore (items only)" in lines
    assert "  rule:         body contains 'busy' -> retry" in lines


@pytest.mark.parametrize(
    "declared, position",
    [
        ({"end_param": "until"}, "position: the end of the last completed range or slice"),
        (
            {"window": "1d", "client_filter": True},
            "position: the end of the last completed range or slice",
        ),
        ({}, "position: the latest cursor loaded (with a window setting: the end of the last"),
    ],
    ids=["end_param", "window", "since_only"],
)
def test_describe_says_where_the_position_is_as_runs_move_it(
    capsys, headwater_plugins, declared, position
):
    """A declared window makes the position the end of the last completed slice (as a
    run moves it); describe said 'the latest cursor loaded' for it."""
    from headwater.spec import IncrementalSpec

    spec = IncrementalSpec(cursor_field="updated_at", param="since", **declared)
    text = describe(capsys, headwater_plugins, connector("tracked", incremental=spec))
    assert position in " ".join(text.split())
