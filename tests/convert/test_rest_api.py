"""What ``convert_rest_api`` declares for each rest_api key, what it reports, and the
one-line errors for what it cannot honour."""

from __future__ import annotations

import pytest
from headwater.convert.config_file import load_config_file, parse_python_config
from headwater.convert.model import SettingRef
from headwater.convert.rest_api import convert_rest_api
from headwater.errors import ConfigError
from headwater.spec import (
    ApiKeyAuth,
    BasicAuth,
    BearerAuth,
    CursorPagination,
    HeaderCursorPagination,
    IncrementalSpec,
    LinkHeaderPagination,
    NextLinkPagination,
    OAuth2ClientCredentials,
    OAuth2RefreshToken,
    OffsetPagination,
    PageNumberPagination,
    ParentSpec,
    ResponseRule,
    SinglePage,
)


def config(paginator=None, auth=None, **endpoint):
    endpoint.setdefault("path", "/items")
    endpoint.setdefault("data_selector", "data")
    endpoint["paginator"] = paginator or "single_page"
    client = {"base_url": "https://api.test/"}
    if auth is not None:
        client["auth"] = auth
    return {"client": client, "resources": [{"name": "items", "endpoint": endpoint}]}


def declared(cfg):
    return convert_rest_api(cfg, "t")


def pagination(paginator, **endpoint):
    return declared(config(paginator, **endpoint)).connector.resources[0].pagination


@pytest.mark.parametrize(
    ("paginator", "expected"),
    [
        ("single_page", SinglePage()),
        ({"type": "offset", "limit": 50}, OffsetPagination(limit=50, total_path="total")),
        (
            {
                "type": "offset",
                "limit": 10,
                "offset_param": "skip",
                "limit_param": "take",
                "total_path": "$.meta.count",
            },
            OffsetPagination(
                limit=10, offset_param="skip", limit_param="take", total_path="meta.count"
            ),
        ),
        (
            {
                "type": "offset",
                "limit": 10,
                "offset_body_path": "page.offset",
                "limit_body_path": "page.limit",
                "total_path": None,
            },
            OffsetPagination(
                limit=10, offset_param="page.offset", limit_param="page.limit", location="body"
            ),
        ),
        ({"type": "page_number"}, PageNumberPagination(start=0, total_pages_path="total")),
        (
            {"type": "page_number", "base_page": 1, "page_param": "p", "total_path": None},
            PageNumberPagination(page_param="p", start=1),
        ),
        ({"type": "cursor"}, CursorPagination(cursor_path="cursors.next", cursor_param="cursor")),
        (
            {"type": "cursor", "cursor_path": "$.next", "cursor_body_path": "after"},
            CursorPagination(cursor_path="next", cursor_param="after", location="body"),
        ),
        ("json_link", NextLinkPagination(next_path="next")),
        (
            {"type": "json_response", "next_url_path": "links.next"},
            NextLinkPagination(next_path="links.next"),
        ),
        ("header_link", LinkHeaderPagination(rel="next")),
        (
            {"type": "header_link", "links_next_key": "following"},
            LinkHeaderPagination(rel="following"),
        ),
        ("header_cursor", HeaderCursorPagination(header="next", cursor_param="cursor")),
        (
            {"type": "header_cursor", "cursor_key": "X-Next", "cursor_param": "c"},
            HeaderCursorPagination(header="X-Next", cursor_param="c"),
        ),
    ],
)
def test_every_rest_api_paginator_maps_onto_a_declared_kind(paginator, expected):
    assert pagination(paginator) == expected


def dlt_paginators():
    """(a dlt paginator instance, the mapping form rest_api reads the same way)."""
    from dlt.sources.helpers.rest_client import paginators as p

    return [
        (p.SinglePagePaginator(), "single_page"),
        (p.OffsetPaginator(limit=10, total_path="total"), {"type": "offset", "limit": 10}),
        (
            p.OffsetPaginator(limit=5, offset_param="skip", limit_param="take", total_path=None),
            {
                "type": "offset",
                "limit": 5,
                "offset_param": "skip",
                "limit_param": "take",
                "total_path": None,
            },
        ),
        (
            p.OffsetPaginator(
                limit=10, offset_body_path="page.offset", limit_body_path="page.limit"
            ),
            {
                "type": "offset",
                "limit": 10,
                "offset_body_path": "page.offset",
                "limit_body_path": "page.limit",
            },
        ),
        (
            p.PageNumberPaginator(base_page=1, page_param="p", total_path="meta.total_pages"),
            {
                "type": "page_number",
                "base_page": 1,
                "page_param": "p",
                "total_path": "meta.total_pages",
            },
        ),
        (
            p.PageNumberPaginator(base_page=1, page=3, total_path=None),
            {"type": "page_number", "base_page": 1, "page": 3, "total_path": None},
        ),
        (
            p.JSONLinkPaginator(next_url_path="paging.next"),
            {"type": "json_link", "next_url_path": "paging.next"},
        ),
        (p.HeaderLinkPaginator(), "header_link"),
        (
            p.HeaderLinkPaginator(links_next_key="following"),
            {"type": "header_link", "links_next_key": "following"},
        ),
        (
            p.JSONResponseCursorPaginator(cursor_path="meta.next_cursor", cursor_param="after"),
            {"type": "cursor", "cursor_path": "meta.next_cursor", "cursor_param": "after"},
        ),
        (
            p.JSONResponseCursorPaginator(cursor_path="next", cursor_body_path="after"),
            {"type": "cursor", "cursor_path": "next", "cursor_body_path": "after"},
        ),
        (
            p.HeaderCursorPaginator(cursor_key="X-Next", cursor_param="c"),
            {"type": "header_cursor", "cursor_key": "X-Next", "cursor_param": "c"},
        ),
    ]


@pytest.mark.parametrize(("instance", "mapping"), dlt_paginators(), ids=lambda x: type(x).__name__)
def test_a_dlt_paginator_instance_is_read_as_its_mapping_form(instance, mapping):
    assert pagination(instance) == pagination(mapping)
    # on the client too, as rest_api takes it
    cfg = config()
    cfg["client"]["paginator"] = instance
    del cfg["resources"][0]["endpoint"]["paginator"]
    assert declared(cfg).connector.resources[0].pagination == pagination(mapping)


def test_a_dlt_paginator_instance_with_what_headwater_cannot_honour_names_it():
    from dlt.sources.helpers.rest_client import paginators as p

    with pytest.raises(ConfigError, match=r"maximum_offset is not supported .*max_pages"):
        pagination(p.OffsetPaginator(limit=10, maximum_offset=100))
    with pytest.raises(ConfigError, match=r"has_more_path is not supported"):
        pagination(p.JSONResponseCursorPaginator(cursor_path="next", has_more_path="more"))


def test_a_config_file_may_construct_dlt_paginators_as_dlt_docs_show():
    text = """
from dlt.sources.helpers.rest_client import paginators
from dlt.sources.helpers.rest_client.paginators import OffsetPaginator, HeaderLinkPaginator

config = {
    "client": {"base_url": "https://api.test", "paginator": HeaderLinkPaginator()},
    "resources": [
        {"name": "a", "endpoint": {"path": "/a", "data_selector": "data",
            "paginator": OffsetPaginator(limit=10, total_path=None)}},
        {"name": "b", "endpoint": {"path": "/b", "data_selector": "data",
            "paginator": paginators.JSONResponseCursorPaginator("meta.next", "after")}},
        {"name": "c", "endpoint": {"path": "/c", "data_selector": "$"}},
    ],
}
"""
    got = declared(parse_python_config(text))
    a, b, c = (r.pagination for r in got.connector.resources)
    assert a == pagination({"type": "offset", "limit": 10, "total_path": None})
    assert b == pagination({"type": "cursor", "cursor_path": "meta.next", "cursor_param": "after"})
    assert c == LinkHeaderPagination()
    bad = text.replace("HeaderLinkPaginator()", "HeaderLinkPaginator(**links)")
    with pytest.raises(ConfigError, match="HeaderLinkPaginator.*keyword arguments"):
        parse_python_config(bad)


def test_a_custom_paginator_class_is_one_line_naming_the_fix():
    from dlt.sources.helpers.rest_client import paginators as p

    class NextPage(p.OffsetPaginator):
        def update_state(self, response, data=None):
            super().update_state(response, data)

    for paginator, named in ((NextPage(limit=10), "NextPage"), (object(), "object")):
        with pytest.raises(ConfigError) as info:
            pagination(paginator)
        message = str(info.value)
        assert "\n" not in message and named in message
        assert message.startswith("resources['items'].endpoint.paginator")
    with pytest.raises(ConfigError, match="headwater_paginator"):
        pagination(NextPage(limit=10))


@pytest.mark.parametrize(
    ("auth", "expected", "settings"),
    [
        ({"token": "t0k"}, BearerAuth(), {"token": "t0k"}),
        ({"type": "bearer", "token": "t0k"}, BearerAuth(), {"token": "t0k"}),
        ({"type": "api_key", "api_key": "k"}, ApiKeyAuth(name="Authorization"), {"api_key": "k"}),
        (
            {"type": "api_key", "name": "key", "location": "param", "api_key": "k"},
            ApiKeyAuth(name="key", location="query"),
            {"api_key": "k"},
        ),
        (
            {"type": "http_basic", "username": "u", "password": "p"},
            BasicAuth(),
            {"username": "u", "password": "p"},
        ),
        (
            {
                "type": "oauth2_client_credentials",
                "access_token_url": "https://id.test/token",
                "client_id": "i",
                "client_secret": "s",
                "access_token_request_data": {"scope": "read", "audience": "api"},
            },
            OAuth2ClientCredentials(
                token_url="https://id.test/token", scope="read", extra_form={"audience": "api"}
            ),
            {"client_id": "i", "client_secret": "s"},
        ),
        (
            {"type": "oauth2_client_credentials", "access_token_url": "https://api.test/o/token"},
            OAuth2ClientCredentials(token_url="{base_url}/o/token"),
            {},
        ),
        (
            {"type": "oauth2", "grant_type": "refresh_token", "token_url": "https://id.test/t"},
            OAuth2RefreshToken(token_url="https://id.test/t"),
            {},
        ),
    ],
)
def test_every_rest_api_auth_maps_onto_a_declared_kind(auth, expected, settings):
    converted = declared(config(auth=auth))
    assert converted.connector.auth == expected
    assert dict(converted.settings) == settings


def test_secrets_read_from_dlt_are_settings_not_values():
    converted = declared(config(auth={"type": "bearer", "token": SettingRef("token")}))
    assert dict(converted.settings) == {}
    converted = declared(config(auth={"type": "bearer", "token": SettingRef("gh_token")}))
    assert dict(converted.references) == {"token": "gh_token"}
    assert any("gh_token" in note for note in converted.notes)


def test_resource_defaults_strings_columns_and_dispositions():
    converted = declared(
        {
            "client": {
                "base_url": "https://api.test",
                "paginator": "single_page",
                "headers": {"Accept": "application/json"},
            },
            "resource_defaults": {
                "primary_key": "id",
                "write_disposition": {"disposition": "merge", "strategy": "delete-insert"},
                "endpoint": {"data_selector": "$", "params": {"per_page": 100}},
            },
            "resources": [
                "pets",
                {
                    "name": "orders",
                    "primary_key": ["shop", "id"],
                    "write_disposition": "append",
                    "columns": {
                        "total": {"data_type": "double", "nullable": False},
                        "placed_at": {"data_type": "timestamp"},
                    },
                    "endpoint": {"path": "shop/orders", "params": {"status": "open"}},
                },
            ],
        }
    )
    pets, orders = converted.connector.resources
    assert (pets.path, pets.data_selector, pets.write_disposition) == ("/pets", None, "merge")
    assert dict(orders.params) == {"per_page": 100, "status": "open"}
    assert orders.primary_key == ("shop", "id") and orders.write_disposition == "append"
    assert dict(converted.connector.headers) == {"Accept": "application/json"}
    schema = converted.schemas["orders"]
    assert schema["properties"]["total"] == {"type": "number"}
    assert schema["properties"]["placed_at"] == {"type": ["string", "null"], "format": "date-time"}
    assert set(schema["required"]) == {"total", "shop", "id"}
    assert converted.schemas["pets"]["properties"] == {"id": {}}
    assert converted.schemas["pets"]["additionalProperties"] is True


def test_resolve_incremental_response_actions_and_post_bodies():
    converted = declared(
        {
            "client": {"base_url": "https://api.test"},
            "resources": [
                {
                    "name": "repos",
                    "endpoint": {
                        "path": "/repos",
                        "data_selector": "$",
                        "paginator": "header_link",
                    },
                },
                {
                    "name": "issues",
                    "include_from_parent": ["name"],
                    "endpoint": {
                        "path": "/repos/{repo}/issues",
                        "method": "POST",
                        "json": {"query": "state:{open}", "repo": "{repo}"},
                        "data_selector": "$",
                        "paginator": "single_page",
                        "params": {
                            "repo": {"type": "resolve", "resource": "repos", "field": "name"},
                            "since": {
                                "type": "incremental",
                                "cursor_path": "updated_at",
                                "initial_value": "2024-01-01T00:00:00Z",
                            },
                        },
                        "response_actions": [{"status_code": 404, "action": "ignore"}],
                    },
                },
            ],
        }
    )
    issues = converted.connector.resource("issues")
    assert issues.parent == ParentSpec(
        resource="repos", field="name", placeholder="repo", column="_repos_name"
    )
    assert issues.incremental == IncrementalSpec(
        cursor_field="updated_at", param="since", initial="2024-01-01T00:00:00Z"
    )
    assert issues.method == "POST"
    # literal braces stay literal; the parent's placeholder stays a placeholder
    assert dict(issues.json) == {"query": "state:{{open}}", "repo": "{repo}"}
    # the rule is the resource's that declares it, as rest_api scopes it
    assert issues.response_rules == (ResponseRule(action="ignore", status_code=404),)
    assert converted.connector.resource("repos").response_rules == ()
    assert converted.connector.response_rules == ()


def test_the_seeds_liberties_are_accepted_and_reported():
    cfg = config(
        {
            "type": "cursor",
            "cursor_value": "{{ response.get('@odata.nextLink', {}) }}",
            "stop_condition": "{{ not response.get('@odata.nextLink', {}) }}",
        },
        auth={
            "type": "oauth2",
            "client_id": "i",
            "client_secret": "s",
            "grant_type": "client_credentials",
            "scope": "s1",
            "token_url": "https://login.test/t",
        },
    )
    converted = declared(cfg)
    assert converted.connector.resources[0].pagination == NextLinkPagination("@odata.nextLink")
    assert converted.connector.auth == OAuth2ClientCredentials(
        token_url="https://login.test/t", scope="s1"
    )
    notes = " | ".join(converted.notes)
    assert 'understood client.auth.type "oauth2" as "oauth2_client_credentials"' in notes
    assert "next page's URL" in notes


def test_a_cursor_template_naming_a_token_is_a_cursor_path():
    p = pagination(
        {
            "type": "cursor",
            "cursor_value": "{{ response['meta']['after'] }}",
            "cursor_param": "after",
        }
    )
    assert p == CursorPagination(cursor_path=("meta", "after"), cursor_param="after")


@pytest.mark.parametrize(
    ("cfg", "message"),
    [
        (config("auto"), "paginator is not given: rest_api guesses"),
        (
            config({"type": "offset", "limit": 5, "maximum_offset": 100}),
            "paginator.maximum_offset is not supported by Headwater",
        ),
        (config({"type": "cursor", "has_more_path": "more"}), "has_more_path is not supported"),
        (
            config(auth={"type": "api_key", "api_key": "k", "location": "cookie"}),
            "location 'cookie' is not supported",
        ),
        (
            config(
                auth={
                    "type": "oauth2_client_credentials",
                    "access_token": "x",
                    "access_token_url": "https://x",
                }
            ),
            "auth.access_token is not supported",
        ),
        (config(data={"a": 1}), "endpoint.data is not supported"),
        ({**config(), "sources": []}, "config.sources is not a rest_api key"),
        (
            config({"type": "cursor", "cursor_value": "{{ response[ }}"}),
            "cannot be read",
        ),
        (
            config(
                {
                    "type": "cursor",
                    "cursor_value": "{{ response.get('a') }}",
                    "stop_condition": "{{ not response.get('b') }}",
                }
            ),
            "reads another field",
        ),
        (
            config({"type": "cursor", "cursor_value": "{{ len(response) }}"}),
            "is not a field of the response",
        ),
        (
            {
                "client": {"base_url": "https://x"},
                "resources": [
                    {"name": "a", "endpoint": {"path": "/a", "paginator": "single_page"}}
                ],
            },
            "data_selector is missing",
        ),
        (
            {
                **config(),
                "resource_defaults": {
                    "write_disposition": {"disposition": "merge", "strategy": "scd2"}
                },
            },
            "write_disposition.strategy 'scd2' is not supported; use delete-insert",
        ),
        (
            config(params={"since": "{incremental.start_value}"}),
            "endpoint.params.since '{incremental.start_value}': dlt's {incremental...} "
            "placeholders are not supported; declare incremental: {start_param: since, "
            "cursor_path: <the record's cursor field>, initial_value: <the first start>} on "
            "the endpoint instead",
        ),
        (
            config(path="/items/{incremental.start_value}"),
            "declare incremental: {start_param: <the query parameter>, cursor_path:",
        ),
    ],
)
def test_what_headwater_cannot_honour_is_one_error_naming_the_key(cfg, message):
    with pytest.raises(ConfigError) as info:
        declared(cfg)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_yaml_config_files_are_read_with_yaml_1_2_rules(tmp_path):
    """PyYAML's YAML 1.1: country NO was False, an unquoted start date a datetime
    (sent back as '2024-01-01 00:00:00+00:00'), 010 the octal 8."""
    (tmp_path / "c.yaml").write_text(
        "client: {base_url: https://a.test}\n"
        "resources:\n"
        "  - name: a\n"
        "    endpoint:\n"
        "      params: {country: NO, active: on, n: 010, x: 0x10, ok: true, none: null}\n"
        "      incremental: {cursor_path: t, initial_value: 2024-01-01T00:00:00Z}\n"
    )
    endpoint = load_config_file(tmp_path / "c.yaml")["resources"][0]["endpoint"]
    assert endpoint["params"] == {
        "country": "NO",
        "active": "on",
        "n": 10,
        "x": 16,
        "ok": True,
        "none": None,
    }
    assert endpoint["incremental"]["initial_value"] == "2024-01-01T00:00:00Z"


def test_config_files_json_with_comments_yaml_toml_and_python(tmp_path):
    (tmp_path / "c.json").write_text(
        '{"client": {"base_url": "https://a.test//x"}, // the API\n "resources": []}'
    )
    assert load_config_file(tmp_path / "c.json")["client"]["base_url"] == "https://a.test//x"
    (tmp_path / "c.yaml").write_text("client:\n  base_url: https://a.test\nresources: [a]\n")
    assert load_config_file(tmp_path / "c.yaml")["resources"] == ["a"]
    (tmp_path / "c.toml").write_text('resources = ["a"]\n[client]\nbase_url = "https://a"\n')
    assert load_config_file(tmp_path / "c.toml")["client"] == {"base_url": "https://a"}
    parsed = parse_python_config(
        'import dlt\nsource = rest_api_source({"client": {"auth": {"token": '
        'dlt.secrets["gh"]}}, // note\n "resources": ["a"], "n": -1, "ok": True})'
    )
    assert parsed == {
        "client": {"auth": {"token": SettingRef("gh")}},
        "resources": ["a"],
        "n": -1,
        "ok": True,
    }


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("c.json", '{"client": {"base_url": "https://a"}, "resources": ["a"]}'),
        ("c.toml", 'resources = ["a"]\n[client]\nbase_url = "https://a"\n'),
        ("c.py", 'rest_api_source({"client": {"base_url": "https://a"}, "resources": ["a"]})'),
    ],
)
def test_config_files_with_a_byte_order_mark_are_read(tmp_path, name, text):
    # Windows editors and PowerShell write UTF-8 with a BOM; Python runs such a file
    (tmp_path / name).write_bytes(b"\xef\xbb\xbf" + text.encode())
    assert load_config_file(tmp_path / name)["resources"] == ["a"]


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("c.json", "{", "is not valid JSON"),
        ("c.yaml", "a: [", "is not valid YAML"),
        ("c.toml", "a = ", "is not valid TOML"),
        ("c.py", "x = 1", "holds no config dict"),
        ("c.py", "c = {'a': os.environ['X']}", "is not a literal"),
        ("c.txt", "{}", "unknown config format"),
        ("c.json", "[]", "must hold one rest_api config"),
    ],
)
def test_bad_config_files_are_one_line_errors(tmp_path, name, text, message):
    (tmp_path / name).write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config_file(tmp_path / name)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_from_rest_api_refuses_an_unsupported_key_when_called():
    import headwater

    bad = {**config(), "client": {"base_url": "https://api.test", "session": object()}}
    with pytest.raises(ConfigError, match=r"^client\.session is not supported by Headwater"):
        headwater.from_rest_api(bad)


def test_incremental_end_param_and_lag_map_to_the_declaration():
    converted = declared(
        {
            "client": {"base_url": "https://api.test"},
            "resources": [
                {
                    "name": "events",
                    "endpoint": {
                        "path": "/events",
                        "data_selector": "data",
                        "paginator": "single_page",
                        "incremental": {
                            "start_param": "from",
                            "end_param": "to",
                            "cursor_path": "ts",
                            "lag": 3600,
                        },
                    },
                }
            ],
        }
    )
    assert converted.connector.resource("events").incremental == IncrementalSpec(
        cursor_field="ts", param="from", end_param="to", lookback="3600s"
    )


def test_a_name_with_a_double_underscore_is_refused():
    with pytest.raises(ConfigError, match=r"^connector name 'x__y' must be .* single _"):
        convert_rest_api(config(), "x__y")


@pytest.mark.parametrize(
    ("initial", "expected"),
    [
        ("2024-01-01T00:00:00Z", {"type": "string", "format": "date-time"}),
        # a date is how a start is written for date-time cursors too (GitHub's since)
        (
            "2024-01-01",
            {
                "anyOf": [
                    {"type": "string", "format": "date-time"},
                    {"type": "string", "format": "date"},
                ]
            },
        ),
        (1700000000, {"type": "integer"}),
        (None, {"type": "string"}),
    ],
)
def test_an_incremental_cursor_is_declared_in_the_schema(initial, expected):
    converted = declared(
        {
            "client": {"base_url": "https://api.test"},
            "resources": [
                {
                    "name": "parents",
                    "endpoint": {"path": "/p", "data_selector": "$", "paginator": "single_page"},
                },
                {
                    "name": "events",
                    "endpoint": {
                        "path": "/events",
                        "data_selector": "data",
                        "paginator": "single_page",
                        "incremental": {
                            "start_param": "since",
                            "cursor_path": "updated_at",
                            "initial_value": initial,
                        },
                    },
                },
                {
                    "name": "children",
                    "endpoint": {
                        "path": "/p/{resources.parents.id}/c",
                        "data_selector": "$",
                        "paginator": "single_page",
                        "params": {
                            "after": {
                                "type": "incremental",
                                "cursor_path": "seen",
                                "initial_value": initial,
                            }
                        },
                    },
                },
            ],
        }
    )
    for name, cursor in (("events", "updated_at"), ("children", "seen")):
        schema = converted.schemas[name]
        assert schema["properties"][cursor] == expected, name
        assert cursor in schema["required"], name


CANONICAL = """
import dlt
from dlt.sources.rest_api import RESTAPIConfig, rest_api_resources

HEADERS = {"Accept": "application/json"}


@dlt.source
def github_source(access_token: str = dlt.secrets.value):
    config: RESTAPIConfig = {
        "client": {
            "base_url": "https://api.github.com/repos/dlt-hub/dlt/",
            "auth": {"type": "bearer", "token": access_token},
        },
        "resources": ["issues"],
    }
    yield from rest_api_resources(config)
"""


def test_the_canonical_dlt_layout_a_config_inside_a_source_function():
    parsed = parse_python_config(CANONICAL)
    assert parsed["resources"] == ["issues"]
    assert parsed["client"]["auth"] == {"type": "bearer", "token": SettingRef("access_token")}
    parsed["resources"] = [
        {"name": "issues", "endpoint": {"data_selector": "$", "paginator": "header_link"}}
    ]
    converted = convert_rest_api(parsed, "gh")
    assert converted.connector.auth == BearerAuth()
    assert dict(converted.settings) == {}  # nothing literal: the token is a setting
    assert dict(converted.references) == {"token": "access_token"}


@pytest.mark.parametrize(
    "text",
    [
        'OTHER = {"a": 1}\nsource = rest_api_source(config={"resources": ["x"]})',
        'OTHER = {"a": 1}\nconfig = {"resources": ["x"]}\n',
        'OTHER = {"a": 1}\nc = {"resources": ["x"]}\nsource = rest_api_source(c, name="n")',
    ],
    ids=["keyword", "named-config", "call-with-a-name"],
)
def test_the_config_dict_is_the_one_passed_to_rest_api_or_named_config(text):
    assert parse_python_config(text) == {"resources": ["x"]}


def test_a_non_literal_that_is_no_parameter_is_one_line_naming_it():
    with pytest.raises(ConfigError, match=r"line 2: 'token' is not a literal") as info:
        parse_python_config('def f():\n    config = {"client": {"auth": {"token": token}}}')
    assert "\n" not in str(info.value)


def test_a_refused_expression_never_echoes_its_strings():
    """'"Bearer " + "sk_live_..."' is not a literal: the error printed the secret."""
    with pytest.raises(ConfigError) as info:
        parse_python_config(
            'config = {"client": {"headers": {"Authorization": "Bearer " + "CANARY-c18"}}}'
        )
    message = str(info.value)
    assert "CANARY" not in message and "'...' + '...'" in message, message


def test_a_parameter_of_the_source_function_is_a_setting_where_settings_are_read():
    parsed = parse_python_config(
        "import dlt\n"
        "def src(n=dlt.config.value, *, k=dlt.secrets.value):\n"
        '    config = {"client": {"base_url": "https://x.test", "headers": {"X-K": k}},\n'
        '        "resources": [{"name": "a", "endpoint": {"path": "/a", "data_selector": "d",\n'
        '        "paginator": "single_page", "params": {"page_size": n}}}]}\n'
    )
    converted = convert_rest_api(parsed, "t")
    assert dict(converted.connector.headers) == {"X-K": "{k}"}
    assert dict(converted.connector.resources[0].params) == {"page_size": "{n}"}
    assert converted.connector.settings["k"] == {"type": "string", "writeOnly": True}
    assert converted.connector.settings["n"] == {"type": "string"}  # dlt.config: no secret


@pytest.mark.parametrize(
    ("endpoint", "message"),
    [
        (
            {"paginator": {"type": "offset", "limit": SettingRef("n")}},
            'resources[0].endpoint.paginator.limit is dlt.secrets["n"], read when the source '
            "runs; Headwater declares this value: write it as a literal",
        ),
        (
            {"method": "POST", "json": {"q": SettingRef("n")}},
            'resources[0].endpoint.json.q is dlt.secrets["n"]',
        ),
    ],
)
def test_a_setting_where_headwater_declares_a_literal_is_one_line_naming_the_key(endpoint, message):
    with pytest.raises(ConfigError) as info:
        declared(config(**endpoint))
    assert str(info.value).startswith(message) and "\n" not in str(info.value)


@pytest.mark.parametrize("path", ["data[-1].id", "$.data[-1:].id", "$.data[-1].id"])
def test_a_cursor_path_with_an_index_reads_every_page_as_rest_api_does(path, headwater_env):
    """Stripe's idiom, cursor_path 'data[-1].id': read as the keys 'data[-1]' and 'id',
    it found no cursor and the run ended after page 1 without a word; '[-1:]' sent the
    list's text ("['cus_2']") as the cursor."""
    import json as jsonlib
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from urllib.parse import parse_qs, urlparse

    import headwater
    from headwater.testing import rows_of

    customers = [{"id": f"cus_{i}"} for i in range(1, 6)]
    asked: list[str | None] = []

    class Stripeish(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            after = parse_qs(urlparse(self.path).query).get("starting_after", [None])[0]
            asked.append(after)
            start = 0 if after is None else [c["id"] for c in customers].index(after) + 1
            body = jsonlib.dumps({"data": customers[start : start + 2]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Stripeish)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        cfg = config(
            paginator={"type": "cursor", "cursor_path": path, "cursor_param": "starting_after"}
        )
        cfg["client"]["base_url"] = f"http://127.0.0.1:{server.server_port}"
        loaded = rows_of(headwater.from_rest_api(cfg, name="stripeish"))
    finally:
        server.shutdown()
        server.server_close()
    assert sorted(r["id"] for r in loaded) == [c["id"] for c in customers]
    assert asked == [None, "cus_2", "cus_4", "cus_5"]  # the last page is empty


@pytest.mark.usefixtures("headwater_env")
def test_a_cursor_read_from_the_last_record_is_declared_and_served(api_simulator):
    """Stripe's data[-1].id on a field no column declares: the simulator serves the
    declared fields only, so without it a generated package's resource ended after its
    first page (and before that, the simulator refused the path altogether)."""
    import headwater
    from headwater.testing import rows_of

    cfg = config(
        paginator={"type": "cursor", "cursor_path": "data[-1].uuid", "cursor_param": "after"},
    )
    cfg["resources"][0]["primary_key"] = "id"
    converted = declared(cfg)
    schema = converted.schemas["items"]
    assert "uuid" in schema["properties"] and "uuid" in schema["required"]
    assert any("the last record's uuid" in note for note in converted.notes)
    sim = api_simulator(converted.connector, records={"items": 65}, schemas=converted.schemas)
    cfg["client"]["base_url"] = sim.base_url
    rows = rows_of(headwater.from_rest_api(cfg, name="t"))
    assert sorted(r["id"] for r in rows) == sorted(r["id"] for r in sim.data["items"])
    assert len(sim.requests_for("items")) == 4  # 30, 30, 5 and the empty page


@pytest.mark.usefixtures("headwater_env")
def test_a_parent_field_children_are_requested_by_is_declared_and_served(api_simulator):
    """GitHub's issues and their comments by 'number': the issues' columns declared only
    id, so the simulator never served 'number' and the generated connector failed its
    own tests ("a issues record has no 'number'")."""
    import attrs
    from headwater.convert.plugin import InMemoryConnector
    from headwater.load.assemble import build_source
    from headwater.plugin.manager import make_plugin_manager
    from headwater.testing import rows_of

    cfg = {
        "client": {"base_url": "https://api.test/"},
        "resources": [
            {
                "name": "issues",
                "endpoint": {
                    "path": "/issues",
                    "data_selector": "data",
                    "paginator": "single_page",
                },
                "primary_key": "id",
                "columns": {"id": {"data_type": "bigint"}},
            },
            {
                "name": "comments",
                "endpoint": {
                    "path": "/issues/{issue_number}/comments",
                    "data_selector": "data",
                    "paginator": "single_page",
                    "params": {
                        "issue_number": {"type": "resolve", "resource": "issues", "field": "number"}
                    },
                },
                "include_from_parent": ["number"],
            },
        ],
    }
    converted = declared(cfg)
    assert "number" in converted.schemas["issues"]["required"]
    sim = api_simulator(
        converted.connector, records={"issues": 3, "comments": 2}, schemas=converted.schemas
    )
    pm = make_plugin_manager(
        entry_points=False,
        plugins=[("t", InMemoryConnector(attrs.evolve(converted, settings={})))],
        strict=True,
    )
    rows = rows_of(build_source("t", {"base_url": sim.base_url}, pm=pm))
    assert len(sim.requests_for("comments")) == 3 and len(rows) >= 3


@pytest.mark.parametrize(("data_type", "column"), [("decimal", "DOUBLE"), ("wei", "BIGINT")])
def test_an_exact_number_column_hint_loads_and_says_how(data_type, column):
    # a JSON Schema cannot declare dlt's DECIMAL or WEI: the config still converts (it
    # ran before), its number typed, and the note says which column it makes
    config = {
        "client": {"base_url": "https://api.test"},
        "resources": [
            {
                "name": "users",
                "columns": {"score": {"data_type": data_type}},
                "endpoint": {"path": "/users", "data_selector": "$", "paginator": "single_page"},
            }
        ],
    }
    converted = convert_rest_api(config)
    [schema] = converted.schemas.values()
    assert "number" in str(schema["properties"]["score"]["type"]) or "integer" in str(
        schema["properties"]["score"]["type"]
    )
    [note] = [n for n in converted.notes if "columns.score" in n]
    assert f"data_type {data_type} is loaded as a {column} column" in note
