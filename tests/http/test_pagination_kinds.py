"""Every pagination kind of #16 against the simulator: through ``headwater.source()``
and the CLI, the requests each kind sends, its stop condition and the loop guards."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import duckdb
import headwater
import pytest
import request_examples
from headwater.errors import ConfigError, ResponseError
from headwater.spec import (
    HeaderCursorPagination,
    LastRecordPagination,
    LinkHeaderPagination,
    NextLinkPagination,
    PageNumberPagination,
)
from headwater.testing import HostileServer, Json
from helpers import Declares, cli, connector, extraction_error, records, rows_of, settings_env
from request_examples.entry_point import install

PAGING = request_examples.PAGING
N = 95  # records per top-level resource: never a whole number of pages


@pytest.fixture
def paging(headwater_plugins, api_simulator):
    headwater_plugins(request_examples)
    counts = {r.name: N for r in PAGING.resources if r.parent is None}
    sim = api_simulator(PAGING, records=counts)
    sim.page_size = 30  # next links and Link headers: 4 pages of 95 records
    return sim


def bodies(sim, name):
    return [json.loads(r.body) for r in sim.requests_for(name)]


def test_every_kind_loads_every_record_and_sends_what_it_declares(paging):
    sim = paging
    rows = rows_of(headwater.source("paging_kinds", **sim.settings))
    top = [r.name for r in PAGING.resources if r.parent is None]
    children = sum(len(v) for v in sim.data["tenant_user_roles"].values())
    assert len(rows) == N * len(top) + children

    # Link header: page 2, 3, 4 requested from the server's links, then no next link
    link = sim.requests_for("link_items")
    assert [r.query.get("page") for r in link[:4]] == [None, ["2"], ["3"], ["4"]]
    # header cursor: the cursor header's value sent back, no request after the last page
    header = sim.requests_for("header_items")
    assert len(header) == 3 and header[0].query["page_size"] == ["40"]
    assert "cursor" not in header[0].query and header[1].query["cursor"][0]
    # last record: starting_after is the previous page's last id; stops at has_more false
    last = sim.requests_for("last_record_items")
    served = [r["id"] for r in sim.data["last_record_items"]]
    assert [r.query.get("starting_after") for r in last] == [
        None,
        [served[29]],
        [served[59]],
        [served[89]],
    ]
    # page number with a total of records / pages: no empty request at the end
    assert [r.query["page"] for r in sim.requests_for("total_items")] == [["1"], ["2"], ["3"]]
    assert len(sim.requests_for("total_pages_items")) == 3
    # page number without a total: stops on the empty page
    assert len(sim.requests_for("empty_page_items")) == 3
    # next URL at a JSONPath
    assert [r.query.get("$skiptoken") is not None for r in sim.requests_for("next_url_items")] == [
        False,
        True,
        True,
        True,
    ]
    # cursor in a POST body, with the declared body and the setting filled in
    search = bodies(sim, "search")
    assert all(b["query"] == {"status": "active", "tenant": sim.settings["tenant"]} for b in search)
    assert [b["page"].get("after") is not None for b in search] == [False, True]
    assert all(r.method == "POST" for r in sim.requests_for("search"))
    # GraphQL: the cursor in variables.after, the page size in variables.first
    graphql = bodies(sim, "graphql_nodes")
    assert [b["variables"].get("after") is not None for b in graphql] == [False, True, True, True]
    assert all(b["variables"]["first"] == 25 and "items(first" in b["query"] for b in graphql)
    # offset in a POST body, stopping at the total
    offsets = [
        (b["paging"]["offset"], b["paging"]["limit"]) for b in bodies(sim, "offset_body_items")
    ]
    assert offsets == [(0, 40), (40, 40), (80, 40)]
    # path parameter, query parameter and header from settings; connector headers everywhere
    [users] = sim.requests_for("tenant_users")
    assert users.path == f"/v1/{sim.settings['tenant']}/users"
    assert users.query["region"] == ["eu"] and users.headers["x-tenant"] == sim.settings["tenant"]
    roles = sim.requests_for("tenant_user_roles")
    assert roles and all(r.path.startswith(f"/v1/{sim.settings['tenant']}/users/") for r in roles)
    api = [r for r in sim.requests if r.resource is not None]
    assert all(r.headers["x-api-token"] == sim.settings["api_token"] for r in api)
    assert all(r.headers["x-client"] == "headwater-tests" for r in api)
    assert all(r.status == 200 for r in api)


def test_cli_run_loads_every_kind_into_duckdb(paging, tmp_path):
    sim = paging
    env = {**settings_env("paging_kinds", sim), **install(tmp_path)}
    done = cli("run", "paging_kinds", "--progress", "off", env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert sim.settings["api_token"] not in done.stdout + done.stderr
    # the dataset by name: a lookup by table name could find dlt's merge staging
    # dataset (paging_kinds_data_staging), which holds only the last batch of a table
    schema = "paging_kinds_data"
    with duckdb.connect("headwater_paging_kinds.duckdb", read_only=True) as db:
        for resource in PAGING.resources:
            served = sim.data[resource.name]
            expected = len(served) if resource.parent is None else sum(map(len, served.values()))
            [(count,)] = db.sql(f'select count(*) from "{schema}"."{resource.name}"').fetchall()
            assert count == expected, resource.name


def test_max_pages_stops_a_link_header_resource(paging):
    error = extraction_error(
        headwater.source("paging_kinds", resources=["link_items"], max_pages=2, **paging.settings)
    )
    assert isinstance(error, ResponseError)
    assert "resource paging_kinds.link_items: stopped at max_pages=2" in str(error)


# --------------------------------------------------------------- one concern each


URL = "https://api.test/items"


def test_link_header_to_another_origin_is_refused(headwater_plugins, requests_mock):
    requests_mock.get(
        URL,
        json={"data": records(3)},
        headers={"Link": '<https://evil.test/items?page=2>; rel="next"'},
    )
    headwater_plugins(Declares(connector(pagination=LinkHeaderPagination())))
    error = extraction_error(headwater.source("testapi"))
    assert isinstance(error, ResponseError)
    assert "Link header's next page points to https://evil.test:443" in str(error)
    assert requests_mock.call_count == 1


def test_link_header_relative_link_and_several_rels(headwater_plugins, requests_mock):
    def cb(request, context):
        if "page=2" in request.url:
            context.headers["Link"] = '</items?page=1>; rel="prev first"'
            return {"data": records(2, 3)}
        context.headers["Link"] = '</items?page=2>; rel="next last", </items?page=1>; rel=first'
        return {"data": records(3)}

    requests_mock.get(URL, json=cb)
    headwater_plugins(Declares(connector(pagination=LinkHeaderPagination())))
    assert len(rows_of(headwater.source("testapi"))) == 5
    assert requests_mock.call_count == 2


def test_header_cursor_that_does_not_advance_is_stopped(headwater_plugins, requests_mock):
    pages = iter([records(3), records(3, 3), records(3, 6)])
    requests_mock.get(
        URL, json=lambda request, context: {"data": next(pages)}, headers={"X-Next": "same"}
    )
    conn = connector(pagination=HeaderCursorPagination(header="X-Next"))
    headwater_plugins(Declares(conn))
    error = extraction_error(headwater.source("testapi"))
    assert "the API sent the same next page twice" in str(error)
    assert requests_mock.call_count == 2


def test_last_record_without_its_cursor_field_is_a_clear_error(headwater_plugins, requests_mock):
    requests_mock.get(URL, json={"data": [{"id": "a"}, {"name": "no id"}], "has_more": True})
    conn = connector(pagination=LastRecordPagination(cursor_field="uid"), primary_key=None)
    headwater_plugins(Declares(conn))
    error = extraction_error(headwater.source("testapi"))
    assert isinstance(error, ResponseError)
    assert "the last record of the page has no 'uid'" in str(error)


def test_last_record_identical_page_is_stopped(headwater_plugins, requests_mock):
    requests_mock.get(URL, json={"data": records(3), "has_more": True})
    headwater_plugins(Declares(connector(pagination=LastRecordPagination())))
    error = extraction_error(headwater.source("testapi"))
    assert "answered the same page as the request before" in str(error)


def test_page_number_total_at_a_jsonpath(headwater_plugins, requests_mock):
    def cb(request, context):
        page = int(request.qs["page"][0])
        return {"data": records(10, 10 * (page - 1)), "meta": [{"count": 25}]}

    requests_mock.get(URL, json=cb)
    conn = connector(pagination=PageNumberPagination(total_path="$.meta[0].count"))
    headwater_plugins(Declares(conn))
    assert len(rows_of(headwater.source("testapi"))) == 30  # the API pads its last page
    assert requests_mock.call_count == 3


@pytest.mark.parametrize(
    "declared, field",
    [
        (dict(data_selector="$.data[?(@.x ==]"), "data_selector"),
        (dict(pagination=NextLinkPagination(next_path="$..[")), "pagination.next_path"),
        (dict(pagination=PageNumberPagination(total_path="$.meta.")), "pagination.total_path"),
    ],
)
def test_jsonpath_that_does_not_parse_is_one_line_at_assembly(headwater_plugins, declared, field):
    headwater_plugins(Declares(connector(**declared)))
    with pytest.raises(ConfigError) as err:
        headwater.source("testapi")
    text = str(err.value)
    assert "\n" not in text
    assert text.startswith(f"connector testapi, resource items: {field} ")
    assert "is not a JSONPath" in text


BROKEN = """
from headwater import hookimpl
from headwater.spec import Connector, PageNumberPagination, Resource

@hookimpl
def headwater_connectors():
    return [Connector(name="broken", package="headwater_directory", resources=[Resource(
        name="items", path="/items", schema="schemas/directory_users.json",
        data_selector="data", pagination=PageNumberPagination(total_path="$.meta[")
    )])]
"""


def installed(tmp_path, name: str, source: str):
    """A site folder where ``name`` is an installed distribution whose module ``name``
    (``source``) is its ``headwater`` entry point, as ``pip install`` would leave it."""
    site = tmp_path / "site"
    info = site / f"{name}-0.1.dist-info"
    info.mkdir(parents=True)
    (site / f"{name}.py").write_text(source)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[headwater]\n{name} = {name}\n")
    return site


def test_cli_bad_jsonpath_is_one_line_and_exit_2(tmp_path):
    site = installed(tmp_path, "broken", BROKEN)
    done = cli("run", "broken", env={"PYTHONPATH": str(site)})
    assert done.returncode == 2, done.stderr
    [line] = done.stderr.strip().splitlines()
    assert (
        "connector broken, resource items: pagination.total_path '$.meta[' is not a JSONPath"
        in line
    )
    assert not list(tmp_path.rglob("*.duckdb"))


# ------------------------------------------------- a last page flagged in the body

ZENDESK = """
from headwater import hookimpl
from headwater.spec import Connector, NextLinkPagination, Resource

TICKETS = Connector(
    name="zendeskish",
    package="headwater_directory",
    base_url="https://example.zendesk.com",
    resources=[
        Resource(
            name="tickets",
            path="/api/v2/incremental/tickets.json",
            schema="schemas/directory_users.json",
            data_selector="tickets",
            params={"start_time": 0},
            pagination=NextLinkPagination(next_path="next_page", end_path="end_of_stream"),
        )
    ],
)


@hookimpl
def headwater_connectors():
    return [TICKETS]
"""


class ZendeskExport:
    """Zendesk's time-based incremental export, as a behaviour of a real 127.0.0.1
    server: ``next_page`` on every page (the last page's leads to a page repeating it),
    and ``end_of_stream: true`` on the last page, one shorter than the page size."""

    per = 3

    def __init__(self, tickets: list[dict]) -> None:
        self.tickets = tickets

    def respond(self, handler) -> None:
        url = urlsplit(handler.path)
        start = int(parse_qs(url.query)["start_time"][0])
        chunk = [t for t in self.tickets if t["updated_at"] >= start][: self.per]
        end_time = chunk[-1]["updated_at"] + 1 if chunk else start
        host = f"http://127.0.0.1:{handler.server.server_port}"
        body = {
            "tickets": chunk,
            "count": len(chunk),
            "end_time": end_time,
            "next_page": f"{host}{url.path}?start_time={end_time}",
            "end_of_stream": len(chunk) < self.per,
        }
        Json(body).respond(handler)


@pytest.fixture
def zendesk_api():
    tickets = [{"id": f"t{i:03d}", "etag": f"e{i}", "updated_at": 1000 + i} for i in range(8)]
    with HostileServer() as api:
        api.serve("/api/v2/incremental/tickets.json", ZendeskExport(tickets))
        yield api, tickets


def test_zendesk_style_export_runs_into_duckdb_and_stops_at_end_of_stream(zendesk_api, tmp_path):
    api, tickets = zendesk_api
    site = installed(tmp_path, "zendeskish", ZENDESK)
    done = cli(
        "run",
        "zendeskish",
        "--base-url",
        api.base_url,
        "--progress",
        "off",
        env={"PYTHONPATH": str(site)},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    # the page flagged last is the last asked for
    assert [r.query["start_time"] for r in api.requests] == ["0", "1003", "1006"]
    with duckdb.connect("headwater_zendeskish.duckdb", read_only=True) as db:
        loaded = db.sql(
            'select id, updated_at from "zendeskish_data"."tickets" order by id'
        ).fetchall()
    assert loaded == [(t["id"], t["updated_at"]) for t in tickets]


def test_zendesk_style_export_against_the_simulator(headwater_plugins, api_simulator):
    declared: dict = {}
    exec(ZENDESK, declared)  # the connector the CLI test installs
    headwater_plugins(Declares(declared["TICKETS"]))
    sim = api_simulator("zendeskish", records={"tickets": 95})
    sim.page_size = 30
    rows = rows_of(headwater.source("zendeskish", **sim.settings))
    assert sorted(r["id"] for r in rows) == sorted(r["id"] for r in sim.data["tickets"])
    requests = sim.requests_for("tickets")
    assert len(requests) == 4  # 30 + 30 + 30 + 5: none after the page flagged last


def test_the_simulator_serves_an_end_flag_with_a_next_link_on_every_page(
    headwater_plugins, api_simulator
):
    import urllib.request

    conn = connector(
        data_selector="tickets",
        pagination=NextLinkPagination(next_path="next_page", end_path="end_of_stream"),
    )
    headwater_plugins(Declares(conn))
    sim = api_simulator(conn, records={"items": 7})
    sim.page_size = 3
    url, flags = f"{sim.base_url}/items", []
    for _ in range(3):
        with urllib.request.urlopen(url) as response:
            page = json.load(response)
        flags.append((len(page["tickets"]), page["end_of_stream"]))
        assert page["next_page"]  # always sent, as Zendesk does
        url = page["next_page"]
    assert flags == [(3, False), (3, False), (1, True)]
