"""Declared requests (#16): method, headers, params, path parameters and JSON bodies
from settings, sent through the session's retries, limits and redirect policy."""

from __future__ import annotations

import json
import logging

import attrs
import headwater
import pytest
import request_examples
import requests
from headwater import hookimpl
from headwater.errors import ConfigError, RedirectRefused, ResponseError, ResponseTooLarge
from headwater.http.extract import _request
from headwater.load.assemble import build_endpoints
from headwater.spec import BearerAuth, CursorPagination, Resource
from headwater.testing import Fault, HostileServer, Json, Redirect
from helpers import Declares, connector, extraction_error, records, rows_of

PAGING = request_examples.PAGING
SECRET = "canary-Template-77c1e0"


class QuickRetries:
    """The connectors' retry policies with no wait between attempts."""

    @hookimpl(wrapper=True)
    def headwater_retry_policy(self, connector, resource):
        policy = yield
        return attrs.evolve(policy, backoff_factor=0, max_delay=0, respect_retry_after=False)


@pytest.fixture
def paging(headwater_plugins, api_simulator):
    headwater_plugins(request_examples, QuickRetries())
    return api_simulator(PAGING, records={r.name: 60 for r in PAGING.resources if not r.parent})


def test_post_is_retried_with_its_body(paging):
    sim = paging
    sim.add_fault(Fault("status", status=503, resource="search", count=2))
    rows = rows_of(headwater.source("paging_kinds", resources=["search"], **sim.settings))
    assert sorted(r["id"] for r in rows) == sorted(r["id"] for r in sim.data["search"])
    sent = sim.requests_for("search")
    assert [r.status for r in sent] == [503, 503, 200, 200]
    assert {r.method for r in sent} == {"POST"}
    assert sent[0].body == sent[1].body == sent[2].body  # the retries re-send the body
    assert json.loads(sent[3].body)["page"]["after"]


def test_post_response_over_the_size_limit_is_refused(paging):
    error = extraction_error(
        headwater.source(
            "paging_kinds", resources=["search"], max_response_bytes=500, **paging.settings
        )
    )
    assert isinstance(error, ResponseTooLarge)
    assert "resource paging_kinds.search: POST" in str(error)
    assert "max_response_bytes" in str(error)


@pytest.mark.parametrize("status", [302, 307, 308])
def test_post_redirect_to_another_origin_is_refused(headwater_plugins, status):
    search = Resource(
        name="items",
        path="/items",
        schema="schemas/directory_users.json",
        method="POST",
        json={"q": "x"},
        data_selector="data",
        pagination=CursorPagination(cursor_param="after", location="body"),
    )
    conn = attrs.evolve(connector(auth=BearerAuth()), resources=[search])
    with HostileServer() as api, HostileServer() as elsewhere:
        api.serve("/items", Redirect(elsewhere.url("/items"), status=status))
        elsewhere.serve("/items", Json({"data": records(2)}))
        headwater_plugins(Declares(conn))
        error = extraction_error(headwater.source("testapi", base_url=api.base_url, token=SECRET))
        assert isinstance(error, RedirectRefused)
        assert "resource testapi.items: POST" in str(error) and SECRET not in str(error)
        assert [r.method for r in api.requests] == ["POST"]
        assert json.loads(api.requests[0].body) == {"q": "x"}
        assert elsewhere.requests == []


def test_get_with_declared_headers_stays_on_the_lean_path(paging):
    _, endpoints = build_endpoints("paging_kinds", paging.settings)
    endpoint = endpoints["tenant_users"]
    assert endpoint.headers["X-Tenant"] == paging.settings["tenant"]
    request = _request(endpoint, None, None)
    prepared = endpoint.session.headwater_lean.prepare(request)
    assert prepared is not None  # not the session's slower machinery
    assert prepared.headers["X-Tenant"] == paging.settings["tenant"]
    assert prepared.headers["X-Api-Token"] == paging.settings["api_token"]
    assert "User-Agent" in prepared.headers  # the session's headers are kept too
    assert prepared.url.endswith(f"/v1/{paging.settings['tenant']}/users?region=eu&fields=all")
    # a POST is not the lean path's: the session sends it
    assert (
        endpoint.session.headwater_lean.prepare(_request(endpoints["search"], None, None)) is None
    )


def test_simulator_refuses_what_the_connector_does_not_send(paging):
    sim = paging
    url = f"{sim.base_url}/v1/{sim.settings['tenant']}/users"
    headers = {"X-Api-Token": sim.settings["api_token"], "X-Client": "headwater-tests"}
    ok = requests.get(
        url,
        params={"region": "eu", "fields": "all"},
        headers={**headers, "X-Tenant": sim.settings["tenant"]},
    )
    assert ok.status_code == 200
    missing = requests.get(url, params={"region": "eu", "fields": "all"}, headers=headers)
    assert missing.status_code == 400 and "X-Tenant" in missing.json()["message"]
    wrong = requests.get(f"{sim.base_url}/v1/other/users", headers=headers)
    assert wrong.status_code == 404
    body = requests.post(f"{sim.base_url}/search", json={"page": {"size": 5}}, headers=headers)
    assert body.status_code == 400 and "query" in body.json()["message"]


def refusal(headwater_plugins, conn) -> str:
    """The one-line ConfigError that assembling ``conn`` stops with."""
    headwater_plugins(Declares(conn))
    with pytest.raises(ConfigError) as err:
        headwater.source("testapi")
    text = str(err.value)
    assert "\n" not in text
    return text


def test_template_naming_an_undeclared_setting_is_one_line(headwater_plugins):
    text = refusal(headwater_plugins, connector(params={"tenant": "{tenant}"}))
    assert text.startswith("connector testapi, resource items: params names setting {tenant}")
    assert "declare it in Connector.settings" in text


def test_template_setting_left_unset_is_one_line(headwater_plugins):
    conn = attrs.evolve(
        connector(path="/v1/{tenant}/items"), settings={"tenant": {"type": "string"}}
    )
    headwater_plugins(Declares(conn))
    error = extraction_error(headwater.source("testapi"))
    assert isinstance(error, ConfigError)
    assert "resource items: path needs setting tenant, which is not set" in str(error)
    assert "SOURCES__TESTAPI__TENANT" in str(error)


def test_body_paging_on_a_get_is_one_line(headwater_plugins):
    conn = connector(pagination=CursorPagination(location="body"))
    headwater_plugins(Declares(conn))
    with pytest.raises(ConfigError, match="pagination location 'body' .* method is GET"):
        headwater.source("testapi")


def test_secret_template_values_are_redacted(headwater_plugins, requests_mock, caplog):
    requests_mock.get("https://api.test/v1/acme/items", status_code=400, json={})
    conn = attrs.evolve(
        connector(path="/v1/{tenant}/items", params={"key": "{api_token}"}),
        settings={"api_token": {"type": "string", "writeOnly": True}, "tenant": {"type": "string"}},
    )
    headwater_plugins(Declares(conn))
    caplog.set_level(logging.DEBUG)
    error = extraction_error(headwater.source("testapi", api_token=SECRET, tenant="acme"))
    assert isinstance(error, ResponseError) and "HTTP 400" in str(error)
    # the URL in the message carries the query: the secret's value is masked there
    assert "/v1/acme/items?key=***" in str(error)
    assert SECRET not in str(error) and SECRET not in caplog.text
    assert requests_mock.last_request.qs["key"] == [SECRET.lower()]


def test_json_body_placeholder_alone_keeps_the_setting_type(headwater_plugins, requests_mock):
    requests_mock.post("https://api.test/items", json={"data": records(2)})
    conn = attrs.evolve(
        connector(method="POST", json={"size": "{size}", "label": "n={size} {{x}}"}),
        settings={"size": {"type": "integer", "default": 7}},
    )
    headwater_plugins(Declares(conn))
    assert len(rows_of(headwater.source("testapi"))) == 2
    assert requests_mock.last_request.json() == {"size": 7, "label": "n=7 {x}"}


GRAPHQL = (
    "query($first:Int,$after:String){items(first:$first,after:$after)"
    "{nodes{id name} pageInfo{hasNextPage endCursor}}}"
)


def doubled(text: str) -> str:
    return text.replace("{", "{{").replace("}", "}}")


def test_a_template_doubling_some_braces_but_not_others_is_one_line(headwater_plugins):
    """'}}}' would be sent as '}}' while the single '{' went as written: the query sent
    would not be the one declared. Refused, naming the field and the fix."""
    conn = connector(method="POST", json={"query": GRAPHQL, "variables": {"first": 50}})
    text = refusal(headwater_plugins, conn)
    assert text.startswith("connector testapi, resource items: json.query doubles some")
    assert "endCursor}}}" in text
    assert "double every literal brace" in text


@pytest.mark.parametrize(
    "declared",
    [dict(headers={"X-Filter": '{"a":{"b":1}}'}), dict(params={"q": "}}{"})],
    ids=["headers", "params"],
)
def test_every_template_field_is_checked_for_uneven_braces(headwater_plugins, declared):
    headwater_plugins(Declares(connector(**declared)))
    field = next(iter(declared))
    with pytest.raises(ConfigError, match=f"resource items: {field}.* doubles some literal"):
        headwater.source("testapi")


def test_a_query_with_every_literal_brace_doubled_is_sent_as_written(
    headwater_plugins, requests_mock
):
    requests_mock.post("https://api.test/items", json={"data": records(2)})
    query = doubled(GRAPHQL).replace("first:$first", "first:{first}")  # and a setting
    conn = attrs.evolve(
        connector(method="POST", json={"query": query}),
        settings={"first": {"type": "integer", "default": 50}},
    )
    headwater_plugins(Declares(conn))
    assert len(rows_of(headwater.source("testapi"))) == 2
    sent = requests_mock.last_request.json()
    assert sent == {"query": GRAPHQL.replace("first:$first", "first:50")}
