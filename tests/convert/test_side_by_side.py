"""The same rest_api configs through dlt's ``rest_api_source`` and through
``headwater.from_rest_api``, against one simulated API each: the same tables, columns
(and their types) and rows. One config per pagination and auth kind whose runtime
Headwater has; the simulator serves the API the converted declaration describes."""

from __future__ import annotations

import copy
from datetime import timedelta
from typing import Any

import headwater
import pytest
from dlt.sources.rest_api import rest_api_source
from headwater.convert.rest_api import convert_rest_api
from headwater.spec import HeaderCursorPagination, LinkHeaderPagination
from headwater.testing import rows_of
from headwater.timebounds import parse_instant

pytestmark = pytest.mark.usefixtures("headwater_env")

PLACEHOLDER = "https://api.test"
#: The API's records: every JSON type, a date-time, a nested object and a list, so
#: that dlt's nested tables are compared too.
RECORD = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "name": {"type": "string"},
        "email": {"type": ["string", "null"], "format": "email"},
        "score": {"type": "number"},
        "visits": {"type": "integer"},
        "active": {"type": "boolean"},
        "created_at": {"type": "string", "format": "date-time"},
        "address": {"type": "object", "properties": {"city": {"type": "string"}}},
        "tags": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["id", "name"],
}
CREDENTIALS = {
    "token": "canary-token-4fd1",
    "api_key": "canary-key-77a0",
    "username": "ada",
    "password": "canary-pass-9e3c",
    "client_id": "client-1",
    "client_secret": "canary-secret-c0de",
}


def substitute(value: Any, base_url: str) -> Any:
    """``value`` with the placeholder address replaced by the simulator's."""
    if isinstance(value, str):
        return value.replace(PLACEHOLDER, base_url)
    if isinstance(value, dict):
        return {k: substitute(v, base_url) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v, base_url) for v in value]
    return value


def side_by_side(config, api_simulator, load_into, records):
    """Serve the API ``config`` describes; load it with dlt and with Headwater."""
    converted = convert_rest_api(config, "sbs")
    schemas = {name: RECORD for name in converted.schemas}
    sim = api_simulator(
        converted.connector, records=records, schemas=schemas, credentials=CREDENTIALS
    )
    real = substitute(copy.deepcopy(config), sim.base_url)
    theirs = load_into(rest_api_source(copy.deepcopy(real), name="sbs"), "dlt_rest_api")
    requests_by_dlt = len(sim.requests)
    ours = load_into(headwater.from_rest_api(real, name="sbs"), "headwater")
    return theirs, ours, sim, requests_by_dlt


def assert_same(theirs, ours):
    assert sorted(ours) == sorted(theirs)
    for table in theirs:
        assert ours[table]["columns"] == theirs[table]["columns"], table
        assert ours[table]["rows"] == theirs[table]["rows"], table
    assert sum(len(t["rows"]) for t in theirs.values()) > 0


def client(auth: dict[str, Any]) -> dict[str, Any]:
    return {"base_url": PLACEHOLDER, "auth": auth}


def unauthenticated(resource: dict[str, Any]) -> dict[str, Any]:
    """A config of one ``resource`` on an API without auth."""
    return {"client": {"base_url": PLACEHOLDER}, "resources": [resource]}


def test_offset_pagination_with_bearer_token(api_simulator, load_into):
    config = {
        "client": client({"type": "bearer", "token": CREDENTIALS["token"]}),
        "resource_defaults": {"primary_key": "id", "write_disposition": "merge"},
        "resources": [
            {
                "name": "users",
                "endpoint": {
                    "path": "/v1/users",
                    "data_selector": "data",
                    "paginator": {"type": "offset", "limit": 40},
                },
            }
        ],
    }
    theirs, ours, sim, before = side_by_side(config, api_simulator, load_into, {"users": 97})
    assert_same(theirs, ours)
    assert len(ours["users"]["rows"]) == 97
    # three pages each (40, 40, 17): Headwater stops on the short page
    assert [r.query.get("offset") for r in sim.requests[before:]] == [["0"], ["40"], ["80"]]


def test_cursor_pagination_with_api_key_header(api_simulator, load_into):
    config = {
        "client": client(
            {"type": "api_key", "name": "X-Api-Key", "api_key": CREDENTIALS["api_key"]}
        ),
        "resources": [
            {
                "name": "events",
                "primary_key": "id",
                "endpoint": {
                    "path": "/events",
                    "data_selector": "items",
                    "paginator": {
                        "type": "cursor",
                        "cursor_path": "meta.next",
                        "cursor_param": "after",
                    },
                },
            }
        ],
    }
    theirs, ours, sim, before = side_by_side(config, api_simulator, load_into, {"events": 75})
    assert_same(theirs, ours)
    assert len(ours["events"]["rows"]) == 75
    assert {r.headers.get("x-api-key") for r in sim.requests[before:]} == {CREDENTIALS["api_key"]}


@pytest.mark.parametrize(
    ("selector", "cursor_path", "field"),
    [
        ("data", "data[-1].id", "id"),
        ("data", "$.data[-1:].id", "id"),
        ("items", "$.items[-1].name", "name"),
        ("$", "[-1].id", "id"),
    ],
)
def test_cursor_read_from_the_last_record_as_stripe_pages(
    selector, cursor_path, field, api_simulator, load_into
):
    """Stripe's paging: the cursor is a field of the page's last record, sent back as
    starting_after. The simulator refused the path ('naming keys only'), so the package
    `headwater new` made of such a config failed its own tests."""
    config = {
        "client": client({"type": "bearer", "token": CREDENTIALS["token"]}),
        "resources": [
            {
                "name": "charges",
                "primary_key": "id",
                "endpoint": {
                    "path": "/v1/charges",
                    "data_selector": selector,
                    "paginator": {
                        "type": "cursor",
                        "cursor_path": cursor_path,
                        "cursor_param": "starting_after",
                    },
                },
            }
        ],
    }
    theirs, ours, sim, before = side_by_side(config, api_simulator, load_into, {"charges": 75})
    assert_same(theirs, ours)
    assert len(ours["charges"]["rows"]) == 75
    # each page starts after the previous page's last record; the empty page ends it
    served = [r[field] for r in sim.data["charges"]]
    sent = [r.query.get("starting_after") for r in sim.requests[before:]]
    assert sent == [None, [served[29]], [served[59]], [served[74]]]


def test_json_link_pagination_with_http_basic(api_simulator, load_into):
    auth = {"type": "http_basic", "username": "ada", "password": CREDENTIALS["password"]}
    config = {
        "client": client(auth),
        "resources": [
            {
                "name": "orders",
                "write_disposition": "replace",
                "endpoint": {
                    "path": "/orders",
                    "data_selector": "value",
                    "paginator": {"type": "json_link", "next_url_path": "next_page"},
                },
            }
        ],
    }
    theirs, ours, _, _ = side_by_side(config, api_simulator, load_into, {"orders": 230})
    assert_same(theirs, ours)
    assert len(ours["orders"]["rows"]) == 230


def test_page_number_pagination_with_api_key_in_query(api_simulator, load_into):
    auth = {
        "type": "api_key",
        "name": "key",
        "location": "query",
        "api_key": CREDENTIALS["api_key"],
    }
    config = {
        "client": client(auth),
        "resources": [
            {
                "name": "tickets",
                "primary_key": "id",
                "write_disposition": "merge",
                "endpoint": {
                    "path": "/tickets",
                    "data_selector": "results",
                    "paginator": {
                        "type": "page_number",
                        "base_page": 1,
                        "total_path": "total_pages",
                    },
                },
            }
        ],
    }
    theirs, ours, _, _ = side_by_side(config, api_simulator, load_into, {"tickets": 120})
    assert_same(theirs, ours)
    assert len(ours["tickets"]["rows"]) == 120


@pytest.mark.parametrize("include", [True, False], ids=["include_from_parent", "plain"])
def test_single_page_with_oauth2_client_credentials_and_a_resolved_child(
    include, api_simulator, load_into
):
    auth = {
        "type": "oauth2_client_credentials",
        "access_token_url": PLACEHOLDER + "/oauth2/token",
        "client_id": CREDENTIALS["client_id"],
        "client_secret": CREDENTIALS["client_secret"],
    }
    config = {
        "client": client(auth),
        "resource_defaults": {"primary_key": "id", "write_disposition": "merge"},
        "resources": [
            {
                "name": "teams",
                "endpoint": {"path": "/teams", "data_selector": "data", "paginator": "single_page"},
            },
            {
                "name": "members",
                **({"include_from_parent": ["id"]} if include else {}),
                "endpoint": {
                    "path": "/teams/{team}/members",
                    "data_selector": "data",
                    "paginator": "single_page",
                    "params": {"team": {"type": "resolve", "resource": "teams", "field": "id"}},
                },
            },
        ],
    }
    theirs, ours, sim, _ = side_by_side(config, api_simulator, load_into, {"teams": 12})
    assert_same(theirs, ours)
    assert len(ours["teams"]["rows"]) == 12
    # the parent's field is a column with include_from_parent only, as rest_api has it
    assert ("_teams_id" in ours["members"]["columns"]) is include
    assert sim.tokens_issued >= 2  # one token for dlt's run, one for Headwater's


def runtime_has(kind: type) -> bool:
    """Whether the runtime of a declared pagination kind is on this branch: the builtin
    paginator hook builds it and the simulator serves it (#16 lands them)."""
    import inspect

    from headwater.plugin.builtin import pagination
    from headwater.testing import paging

    name = kind.__name__
    return name in inspect.getsource(pagination) and name in inspect.getsource(paging)


@pytest.mark.skipif(
    not runtime_has(LinkHeaderPagination), reason="the Link-header paginator's runtime (#16)"
)
def test_header_link_pagination(api_simulator, load_into):
    config = {
        "client": client({"type": "bearer", "token": CREDENTIALS["token"]}),
        "resources": [
            {
                "name": "repos",
                "primary_key": "id",
                "endpoint": {"path": "/repos", "data_selector": "$", "paginator": "header_link"},
            }
        ],
    }
    theirs, ours, _, _ = side_by_side(config, api_simulator, load_into, {"repos": 130})
    assert_same(theirs, ours)
    assert len(ours["repos"]["rows"]) == 130


@pytest.mark.skipif(
    not runtime_has(HeaderCursorPagination), reason="the header-cursor paginator's runtime (#16)"
)
def test_header_cursor_pagination(api_simulator, load_into):
    paginator = {"type": "header_cursor", "cursor_key": "X-Next-Cursor", "cursor_param": "cursor"}
    config = {
        "client": client({"type": "bearer", "token": CREDENTIALS["token"]}),
        "resources": [
            {
                "name": "logs",
                "endpoint": {"path": "/logs", "data_selector": "data", "paginator": paginator},
            }
        ],
    }
    theirs, ours, _, _ = side_by_side(config, api_simulator, load_into, {"logs": 130})
    assert_same(theirs, ours)
    assert len(ours["logs"]["rows"]) == 130


@pytest.mark.parametrize("initial", ["2024-01-01T00:00:00Z", "2024-01-01"])
def test_an_incremental_resource_without_columns_is_served_records(api_simulator, initial):
    config = {
        "client": {"base_url": PLACEHOLDER},
        "resources": [
            {
                "name": "events",
                "primary_key": "id",
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
            }
        ],
    }
    converted = convert_rest_api(config, "sbs")
    sim = api_simulator(converted.connector, records={"events": 7}, schemas=converted.schemas)
    rows = rows_of(headwater.from_rest_api(substitute(config, sim.base_url), name="sbs"))
    assert len(rows) == len(sim.data["events"]) > 0
    assert all(row["updated_at"] for row in rows)
    # served as date-times (a date start is how either is written), filtered from it
    assert all("T" in str(record["updated_at"]) for record in sim.data["events"])
    # from a second before the start: a plain since API answers strictly after its bound
    asked = parse_instant(sim.requests[-1].query["since"][0])
    assert asked == parse_instant(initial) - timedelta(seconds=1)


@pytest.mark.parametrize("value_format", ["date-time", "date"])
def test_a_date_initial_value_accepts_date_time_and_date_cursors(
    api_simulator, load_into, value_format
):
    # dlt's GitHub pattern: the first start written as a date, the records' cursor a
    # date-time (or a date): every record loads, none is quarantined
    config = unauthenticated(
        {
            "name": "issues",
            "primary_key": "id",
            "write_disposition": "merge",
            "endpoint": {
                "path": "/issues",
                "data_selector": "data",
                "paginator": "single_page",
                "incremental": {
                    "start_param": "since",
                    "cursor_path": "created_at",
                    "initial_value": "2024-01-01",
                },
            },
        }
    )
    converted = convert_rest_api(config, "sbs")
    record = copy.deepcopy(RECORD)
    record["properties"]["created_at"]["format"] = value_format
    sim = api_simulator(converted.connector, records={"issues": 30}, schemas={"issues": record})
    real = substitute(config, sim.base_url)
    theirs = load_into(rest_api_source(copy.deepcopy(real), name="sbs"), "dlt_rest_api")
    ours = load_into(headwater.from_rest_api(real, name="sbs"), "headwater")
    assert "issues_quarantine" not in ours
    assert len(ours["issues"]["rows"]) == len(theirs["issues"]["rows"]) == 30
    if value_format == "date-time":
        assert_same(theirs, ours)  # a timestamp column, as dlt infers it


def test_json_column_hints_keep_objects_and_lists_in_one_column(api_simulator, load_into):
    config = unauthenticated(
        {
            "name": "users",
            "primary_key": "id",
            "columns": {"address": {"data_type": "json"}, "tags": {"data_type": "json"}},
            "endpoint": {"path": "/users", "data_selector": "data", "paginator": "single_page"},
        }
    )
    theirs, ours, _, _ = side_by_side(config, api_simulator, load_into, {"users": 20})
    assert_same(theirs, ours)
    assert ours["users"]["columns"]["address"] == ours["users"]["columns"]["tags"] == "JSON"
    assert sorted(ours) == ["users"]  # no users__tags table, no address__city column


def test_a_detail_endpoint_answering_one_object_is_one_record(requests_mock, load_into):
    # dlt's Pokémon pattern: a list, then one request per name answering one object
    names = ["bulbasaur", "ivysaur", "venusaur"]
    requests_mock.get(
        f"{PLACEHOLDER}/pokemon", json={"results": [{"name": n} for n in names], "next": None}
    )
    for number, name in enumerate(names, 1):
        detail = {"id": number, "name": name, "weight": 10 * number, "types": ["grass"]}
        requests_mock.get(f"{PLACEHOLDER}/pokemon/{name}", json=detail)
    listing = {"data_selector": "results", "paginator": {"type": "json_link"}}
    detail = {
        "path": "pokemon/{name}",
        "params": {"name": {"type": "resolve", "resource": "pokemon_list", "field": "name"}},
        "data_selector": "$",
        "paginator": "single_page",
    }
    config = unauthenticated(
        {"name": "pokemon_list", "primary_key": "name", "endpoint": {"path": "pokemon", **listing}}
    )
    child = {"name": "pokemon", "primary_key": "id", "include_from_parent": ["name"]}
    config["resources"].append({**child, "endpoint": detail})
    theirs = load_into(rest_api_source(copy.deepcopy(config), name="sbs"), "dlt_rest_api")
    ours = load_into(headwater.from_rest_api(config, name="sbs"), "headwater")
    assert_same(theirs, ours)
    assert len(ours["pokemon"]["rows"]) == 3


@pytest.mark.parametrize(("field", "placeholder"), [("number", "resources"), ("id", "resolve")])
def test_a_parent_field_children_are_requested_by_keeps_the_type_dlt_infers(
    api_simulator, load_into, field, placeholder
):
    # the parent has no primary key and no columns: the field its children are
    # requested by was declared "integer or string", a text column; dlt infers BIGINT
    child: dict[str, Any] = {"data_selector": "data", "paginator": "single_page"}
    if placeholder == "resources":
        child["path"] = "/posts/{resources.posts." + field + "}/comments"
    else:
        child["path"] = "/posts/{post}/comments"
        child["params"] = {"post": {"type": "resolve", "resource": "posts", "field": field}}
    config = unauthenticated(
        {"name": "posts", "endpoint": {"path": "/posts", "data_selector": "data"}}
    )
    config["resources"][0]["endpoint"]["paginator"] = "single_page"
    config["resources"].append(
        {"name": "comments", "include_from_parent": [field], "endpoint": child}
    )
    converted = convert_rest_api(config, "sbs")
    record = copy.deepcopy(RECORD)
    record["properties"][field] = {"type": "integer", "minimum": 1}
    record["required"].append(field)
    schemas = {"posts": record, "comments": RECORD}
    sim = api_simulator(converted.connector, records={"posts": 12}, schemas=schemas)
    real = substitute(config, sim.base_url)
    theirs = load_into(rest_api_source(copy.deepcopy(real), name="sbs"), "dlt_rest_api")
    ours = load_into(headwater.from_rest_api(real, name="sbs"), "headwater")
    assert_same(theirs, ours)
    assert ours["posts"]["columns"][field] == "BIGINT"
    assert ours["comments"]["columns"][f"_posts_{field}"] == "BIGINT"


def things_api(requests_mock) -> None:
    """Two things, the second one's detail and info missing (404 "Not found"), and
    notes whose 200 body contains "Not found" too."""
    requests_mock.get(f"{PLACEHOLDER}/things", json={"data": [{"id": 1}, {"id": 2}]})
    for number in (1, 2):
        for suffix in ("", "/details"):
            url = f"{PLACEHOLDER}/things/{number}{suffix}"
            if number == 1:
                requests_mock.get(url, json={"id": number, "size": 10 * number})
            else:
                requests_mock.get(url, status_code=404, text='{"error": "Not found"}')
    notes = [{"id": 1, "text": "Not found in stock"}, {"id": 2, "text": "back soon"}]
    requests_mock.get(f"{PLACEHOLDER}/notes", json={"data": notes})


def things_config(rules_on: str, rule: dict[str, Any], *children: str) -> dict[str, Any]:
    single = {"data_selector": "data", "paginator": "single_page"}
    config = unauthenticated({"name": "things", "endpoint": {"path": "/things", **single}})
    resolve = {"tid": {"type": "resolve", "resource": "things", "field": "id"}}
    for child in children:
        endpoint = {
            "path": "/things/{tid}" + ("/details" if child == "details" else ""),
            "params": resolve,
            "data_selector": "$",
            "paginator": "single_page",
        }
        if child == rules_on:
            endpoint["response_actions"] = [rule]
        config["resources"].append({"name": child, "endpoint": endpoint})
    config["resources"].append({"name": "notes", "endpoint": {"path": "/notes", **single}})
    return config


def test_response_actions_apply_to_the_resource_that_declares_them(requests_mock, load_into):
    # a content rule of one child: another resource's 200 whose body contains the same
    # text is loaded, as rest_api loads it (it was ignored: notes loaded nothing)
    things_api(requests_mock)
    rule = {"content": "Not found", "action": "ignore"}
    config = things_config("thing_info", rule, "thing_info")
    theirs = load_into(rest_api_source(copy.deepcopy(config), name="sbs"), "dlt_rest_api")
    ours = load_into(headwater.from_rest_api(config, name="sbs"), "headwater")
    assert_same(theirs, ours)
    assert len(ours["notes"]["rows"]) == 2
    assert len(ours["thing_info"]["rows"]) == 1


def test_a_resource_without_response_actions_fails_on_an_error_another_ignores(
    requests_mock, duckdb_pipeline, load_into
):
    # a 404 ignored for details only: thing_info's 404 fails the run, as in rest_api
    from dlt.pipeline.exceptions import PipelineStepFailed

    things_api(requests_mock)
    rule = {"status_code": 404, "action": "ignore"}
    config = things_config("details", rule, "details", "thing_info")
    pipeline = duckdb_pipeline("dlt_rest_api", dataset_name="api_data")
    with pytest.raises(PipelineStepFailed, match="404"):
        pipeline.run(rest_api_source(copy.deepcopy(config), name="sbs"))
    pipeline = duckdb_pipeline("headwater", dataset_name="api_data")
    with pytest.raises(PipelineStepFailed, match="404"):
        pipeline.run(headwater.from_rest_api(copy.deepcopy(config), name="sbs"))
    # with the rule on thing_info too, both runs load the same tables
    config["resources"][2]["endpoint"]["response_actions"] = [rule]
    theirs = load_into(rest_api_source(copy.deepcopy(config), name="sbs"), "dlt_rest_api_2")
    ours = load_into(headwater.from_rest_api(config, name="sbs"), "headwater_2")
    assert_same(theirs, ours)


def test_dlt_paginator_instances_load_as_their_mapping_form(api_simulator, load_into):
    # dlt's docs write a paginator as an instance; Headwater reads its attributes
    from dlt.sources.helpers.rest_client.paginators import (
        JSONResponseCursorPaginator,
        OffsetPaginator,
    )

    cursor = JSONResponseCursorPaginator(cursor_path="meta.next", cursor_param="after")
    config = {
        "client": {"base_url": PLACEHOLDER, "paginator": OffsetPaginator(limit=40)},
        "resources": [
            {"name": "users", "endpoint": {"path": "/users", "data_selector": "data"}},
            {
                "name": "events",
                "endpoint": {"path": "/events", "data_selector": "items", "paginator": cursor},
            },
        ],
    }
    theirs, ours, _, _ = side_by_side(config, api_simulator, load_into, {"users": 97, "events": 75})
    assert_same(theirs, ours)
    assert len(ours["users"]["rows"]) == 97 and len(ours["events"]["rows"]) == 75
