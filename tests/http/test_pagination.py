"""Each paginator through headwater.source(), with its stop conditions (requests-mock)."""

from __future__ import annotations

import headwater
import pytest
from headwater.errors import ResponseError
from headwater.spec import (
    CursorPagination,
    NextLinkPagination,
    OffsetPagination,
    PageNumberPagination,
    SinglePage,
)
from helpers import Declares, connector, records, rows_of

URL = "https://api.test/items"


def load(headwater_plugins, conn, **settings):
    headwater_plugins(Declares(conn))
    return rows_of(headwater.source(conn.name, **settings))


def offset_api(requests_mock, rows, *, total=None, page_cap=None):
    def cb(request, context):
        off, lim = int(request.qs["offset"][0]), int(request.qs["limit"][0])
        lim = min(lim, page_cap or lim)
        body = {"data": rows[off : off + lim]}
        if total is not None:
            body["meta"] = {"total": total}
        return body

    requests_mock.get(URL, json=cb)


def test_offset_stops_on_short_page_without_total(headwater_plugins, requests_mock):
    offset_api(requests_mock, records(250))
    got = load(headwater_plugins, connector(pagination=OffsetPagination(limit=100)))
    assert [r["id"] for r in got] == [r["id"] for r in records(250)]
    assert [q.qs["offset"] for q in requests_mock.request_history] == [["0"], ["100"], ["200"]]


def test_offset_stops_on_empty_page(headwater_plugins, requests_mock):
    offset_api(requests_mock, records(200))
    got = load(headwater_plugins, connector(pagination=OffsetPagination(limit=100)))
    assert len(got) == 200
    assert len(requests_mock.request_history) == 3  # the third page is empty


def test_offset_stops_at_total(headwater_plugins, requests_mock):
    offset_api(requests_mock, records(200), total=200)
    got = load(
        headwater_plugins,
        connector(pagination=OffsetPagination(limit=100, total_path=("meta", "total"))),
    )
    assert len(got) == 200
    assert len(requests_mock.request_history) == 2  # no empty third request


def test_offset_tolerates_missing_total(headwater_plugins, requests_mock):
    offset_api(requests_mock, records(150))  # declares a total path the API never sends
    got = load(
        headwater_plugins, connector(pagination=OffsetPagination(limit=100, total_path="total"))
    )
    assert len(got) == 150


def jira_api(requests_mock, rows, *, cap=50, total=None):
    """Jira Cloud's search: startAt/maxResults, at most ``cap`` issues a page whatever
    maxResults asks, and the total of the whole result."""

    def cb(request, context):
        start, asked = int(request.qs["startat"][0]), int(request.qs["maxresults"][0])
        page = rows[start : start + min(asked, cap)]
        reported = len(rows) if total is None else total
        return {"startAt": start, "maxResults": len(page), "total": reported, "issues": page}

    requests_mock.get(URL, json=cb)


JIRA = OffsetPagination(
    offset_param="startAt", limit_param="maxResults", limit=100, total_path="total"
)


def test_offset_short_pages_go_on_while_the_total_says_more_remain(
    headwater_plugins, requests_mock
):
    """The API serves 50 of the 100 asked for and reports 237: every record is read,
    each page starting where the one before ended."""
    jira_api(requests_mock, records(237))
    got = load(headwater_plugins, connector(data_selector="issues", pagination=JIRA))
    assert [r["id"] for r in got] == [r["id"] for r in records(237)]
    starts = [q.qs["startat"] for q in requests_mock.request_history]
    assert starts == [["0"], ["50"], ["100"], ["150"], ["200"]]  # none past the total


def test_offset_total_never_reached_stops_on_the_empty_page(headwater_plugins, requests_mock):
    jira_api(requests_mock, records(120), total=500)  # the API over-reports its total
    got = load(headwater_plugins, connector(data_selector="issues", pagination=JIRA))
    assert len(got) == 120
    starts = [q.qs["startat"] for q in requests_mock.request_history]
    assert starts == [["0"], ["50"], ["100"], ["120"]]


def test_offset_parallel_pages_read_every_record_of_a_capped_api(headwater_plugins, requests_mock):
    jira_api(requests_mock, records(237))
    got = load(
        headwater_plugins,
        connector(data_selector="issues", pagination=JIRA),
        parallel_pages=4,
    )
    assert [r["id"] for r in got] == [r["id"] for r in records(237)]


def page_number_api(requests_mock, rows, *, cap=50, pages=None):
    """per_page capped at ``cap``; meta reports the record count and the page count."""

    def cb(request, context):
        number, asked = int(request.qs["page"][0]), int(request.qs["per_page"][0])
        size = min(asked, cap)
        data = rows[(number - 1) * size : number * size]
        count = -(-len(rows) // size) if pages is None else pages
        return {"data": data, "meta": {"total": len(rows), "total_pages": count}}

    requests_mock.get(URL, json=cb)


@pytest.mark.parametrize(
    "declared",
    [dict(total_pages_path="meta.total_pages"), dict(total_path="meta.total")],
    ids=["total_pages", "total"],
)
def test_page_number_short_pages_go_on_while_the_total_says_more_remain(
    headwater_plugins, requests_mock, declared
):
    page_number_api(requests_mock, records(237))
    conn = connector(pagination=PageNumberPagination(page_size=100, **declared))
    got = load(headwater_plugins, conn)
    assert [r["id"] for r in got] == [r["id"] for r in records(237)]
    assert [q.qs["page"] for q in requests_mock.request_history] == [[str(n)] for n in range(1, 6)]


def test_page_number_page_count_never_reached_stops_on_the_empty_page(
    headwater_plugins, requests_mock
):
    page_number_api(requests_mock, records(120), pages=9)
    conn = connector(
        pagination=PageNumberPagination(page_size=100, total_pages_path="meta.total_pages")
    )
    assert len(load(headwater_plugins, conn)) == 120
    assert requests_mock.call_count == 4  # pages 1-3, then the empty page 4


def test_page_number_short_page_without_a_total_is_the_last(headwater_plugins, requests_mock):
    page_number_api(requests_mock, records(237))
    got = load(headwater_plugins, connector(pagination=PageNumberPagination(page_size=100)))
    assert len(got) == 50  # no total declared: a short page is the end, as documented
    assert requests_mock.call_count == 1


def test_cursor_sent_back_until_missing(headwater_plugins, requests_mock):
    pages = {None: ("c1", records(30)), "c1": ("c2", records(30, 30)), "c2": ("", records(5, 60))}

    def cb(request, context):
        cursor = request.qs.get("next_page_token", [None])[0]
        nxt, rows = pages[cursor]
        return {"data": rows, "next_page_token": nxt, "page_size": 30, "total_records": 65}

    requests_mock.get(URL, json=cb)
    conn = connector(
        pagination=CursorPagination(
            cursor_path="next_page_token", cursor_param="next_page_token", page_size=30
        )
    )
    got = load(headwater_plugins, conn)
    assert len(got) == 65
    history = requests_mock.request_history
    assert [q.qs.get("next_page_token") for q in history] == [None, ["c1"], ["c2"]]
    assert all(q.qs["page_size"] == ["30"] for q in history)


def paged_hubspot_style(requests_mock, rows, size):
    """The cursor in paging.next.after, the paging object left out on the last page."""

    def cb(request, context):
        start = int(request.qs.get("after", ["0"])[0])
        body = {"results": rows[start : start + size]}
        if start + size < len(rows):
            body["paging"] = {"next": {"after": str(start + size)}}
        return body

    requests_mock.get(URL, json=cb)


@pytest.mark.parametrize(
    ("cursor_path", "warned"), [("paging.next.after", False), ("paging.next.cursor", True)]
)
def test_a_full_page_without_the_cursor_field_warns(
    headwater_plugins, requests_mock, caplog, cursor_path, warned
):
    """A misspelled cursor_path ends the resource after its first (full) page; the
    data would be cut short in silence."""
    paged_hubspot_style(requests_mock, records(17), 5)
    conn = connector(
        data_selector="results",
        pagination=CursorPagination(
            cursor_path=cursor_path, cursor_param="after", page_size=5, page_size_param="limit"
        ),
    )
    with caplog.at_level("WARNING", logger="headwater"):
        got = load(headwater_plugins, conn)
    lines = [r.getMessage() for r in caplog.records if "full page" in r.getMessage()]
    if not warned:
        assert len(got) == 17 and lines == []
        return
    assert len(got) == 5
    assert lines == [
        "resource testapi.items: a full page (5 records) came without 'paging.next.cursor', "
        "so reading stopped there; if the API has more pages, check the pagination's "
        "cursor_path"
    ]


def test_a_full_page_without_has_more_warns(headwater_plugins, requests_mock, caplog):
    from headwater.spec import LastRecordPagination

    rows = records(23)

    def cb(request, context):
        after = request.qs.get("starting_after", [None])[0]
        start = 0 if after is None else next(i for i, r in enumerate(rows) if r["id"] == after) + 1
        page = rows[start : start + 10]
        return {"data": page, "has_more": start + 10 < len(rows)}

    requests_mock.get(URL, json=cb)
    conn = connector(pagination=LastRecordPagination(page_size=10, has_more_path="hasMore"))
    with caplog.at_level("WARNING", logger="headwater"):
        got = load(headwater_plugins, conn)
    assert len(got) == 10
    assert [r.getMessage() for r in caplog.records if "full page" in r.getMessage()] == [
        "resource testapi.items: a full page (10 records) came without 'hasMore', so "
        "reading stopped there; if the API has more pages, check the pagination's "
        "has_more_path"
    ]


def test_next_link_followed_with_its_own_query(headwater_plugins, requests_mock):
    link = "https://api.test/items?$skiptoken=abc"

    def cb(request, context):
        if "$skiptoken" in request.url:
            return {"@odata.context": "x", "value": records(3, 3)}
        return {"@odata.context": "x", "value": records(3), "@odata.nextLink": link}

    requests_mock.get(URL, json=cb)
    conn = connector(
        data_selector="value",
        params={"$top": 3},
        pagination=NextLinkPagination(next_path="@odata.nextLink"),
    )
    got = load(headwater_plugins, conn)
    assert len(got) == 6
    urls = [q.url for q in requests_mock.request_history]
    assert urls == ["https://api.test/items?%24top=3", link]


ZD = "https://api.test/api/v2/incremental/tickets.json"


def zendesk_time_based(requests_mock, rows, per=3):
    """Zendesk's time-based incremental export: ``next_page`` is always sent, the last
    page says ``end_of_stream: true`` (a real API's next link would repeat from there)."""

    def cb(request, context):
        start = int(request.qs["start_time"][0])
        chunk = rows[start : start + per]
        end = start + len(chunk)
        return {
            "tickets": chunk,
            "count": len(chunk),
            "end_time": end,
            "next_page": f"{ZD}?start_time={end}",
            "end_of_stream": len(chunk) < per,
        }

    requests_mock.get(ZD, json=cb)


def zendesk_connector(**pagination):
    return connector(
        path="/api/v2/incremental/tickets.json",
        data_selector="tickets",
        params={"start_time": 0},
        pagination=NextLinkPagination(next_path="next_page", **pagination),
    )


def test_next_link_stops_after_the_page_flagged_last(headwater_plugins, requests_mock):
    rows = records(7)
    zendesk_time_based(requests_mock, rows)
    got = load(headwater_plugins, zendesk_connector(end_path="end_of_stream"))
    assert [r["id"] for r in got] == [r["id"] for r in rows]  # the flagged page is loaded
    starts = [q.qs["start_time"] for q in requests_mock.request_history]
    assert starts == [["0"], ["3"], ["6"]]  # nothing asked for after the end page


def test_next_link_without_end_path_loops_on_an_always_sent_link(headwater_plugins, requests_mock):
    # what end_path is for: the link after the last page leads to an empty page whose
    # link is itself
    zendesk_time_based(requests_mock, records(7))
    msg = error_of(headwater_plugins, zendesk_connector())
    assert "same next page twice" in msg


def test_next_link_end_flag_false_or_missing_goes_on(headwater_plugins, requests_mock):
    pages = {
        "0": {"data": records(2), "next": f"{URL}?p=1", "done": False},
        "1": {"data": records(2, 2), "next": f"{URL}?p=2"},  # no flag: go on
        "2": {"data": records(2, 4), "next": f"{URL}?p=3", "done": None},
        "3": {"data": records(1, 6), "next": f"{URL}?p=4", "done": True},
    }
    requests_mock.get(URL, json=lambda r, c: pages[r.qs.get("p", ["0"])[0]])
    got = load(
        headwater_plugins,
        connector(pagination=NextLinkPagination(next_path="next", end_path="done")),
    )
    assert len(got) == 7
    assert requests_mock.call_count == 4


@pytest.mark.parametrize("flag", ["true", 1, "yes"])
def test_an_end_flag_that_is_not_json_true_or_false_is_one_line(
    headwater_plugins, requests_mock, flag
):
    requests_mock.get(URL, json={"data": records(2), "next": f"{URL}?p=1", "isLast": flag})
    conn = connector(pagination=NextLinkPagination(next_path="next", end_path="isLast"))
    msg = error_of(headwater_plugins, conn)
    assert "\n" not in msg
    assert f"the end flag at 'isLast' is {flag!r}, not JSON true or false" in msg
    assert "end_path" in msg
    assert requests_mock.call_count == 1


def test_cursor_stops_after_the_page_flagged_last(headwater_plugins, requests_mock):
    # Zendesk's cursor-based incremental export: after_cursor is always sent
    rows = records(8)

    def cb(request, context):
        start = int(request.qs.get("cursor", ["0"])[0])
        chunk = rows[start : start + 3]
        end = start + len(chunk)
        return {
            "tickets": chunk,
            "after_cursor": str(end),
            "after_url": f"{URL}?cursor={end}",
            "before_cursor": str(start),
            "end_of_stream": end >= len(rows),
        }

    requests_mock.get(URL, json=cb)
    conn = connector(
        data_selector="tickets",
        pagination=CursorPagination(
            cursor_path="after_cursor", cursor_param="cursor", end_path="end_of_stream"
        ),
    )
    got = load(headwater_plugins, conn)
    assert [r["id"] for r in got] == [r["id"] for r in rows]
    assert [q.qs.get("cursor") for q in requests_mock.request_history] == [None, ["3"], ["6"]]


def test_page_number_stops_on_empty_page(headwater_plugins, requests_mock):
    def cb(request, context):
        page = int(request.qs["page"][0])
        return {"data": records(10, 10 * (page - 1)) if page <= 3 else []}

    requests_mock.get(URL, json=cb)
    got = load(headwater_plugins, connector(pagination=PageNumberPagination()))
    assert len(got) == 30
    assert [q.qs["page"] for q in requests_mock.request_history] == [["1"], ["2"], ["3"], ["4"]]


def test_single_page(headwater_plugins, requests_mock):
    requests_mock.get(URL, json={"data": records(7)})
    got = load(headwater_plugins, connector(pagination=SinglePage()))
    assert len(got) == 7
    assert requests_mock.call_count == 1


def test_a_body_that_is_one_object_is_one_record(headwater_plugins, requests_mock):
    # a detail endpoint (GET /items/7): dlt's rest_api reads it as one record
    requests_mock.get(URL, json={**records(1, start=7)[0], "name": "seven"})
    got = load(headwater_plugins, connector(pagination=SinglePage(), data_selector=None))
    assert [(r["id"], r["name"]) for r in got] == [("u00007", "seven")]


@pytest.mark.parametrize(
    "body, content_type, message",
    [
        ("<html><body>Login</body></html>", "text/html", "answered an HTML page instead of JSON"),
        ('{"data": [{"id": 1}', "application/json", "answered malformed JSON"),
        ('{"items": []}', "application/json", "field 'data' is missing in the response"),
        ('{"data": null}', "application/json", "field 'data' is null"),
        ('{"data": {"id": 1}}', "application/json", "a JSON object where a list of records"),
        ('{"data": [1, 2]}', "application/json", "a list holding a number, not records"),
        ("null", "application/json", "answered a JSON null, expected an object with field"),
    ],
)
def test_bad_bodies_are_one_line_errors(
    headwater_plugins, requests_mock, body, content_type, message
):
    requests_mock.get(URL, text=body, headers={"Content-Type": content_type})
    with pytest.raises(Exception) as err:
        load(headwater_plugins, connector(pagination=SinglePage()))
    from headwater.run.dlt_errors import explain

    known = explain(err.value)
    assert isinstance(known, ResponseError)
    assert message in str(known)
    assert "resource testapi.items" in str(known)
    assert "\n" not in str(known)


def error_of(headwater_plugins, conn, **settings) -> str:
    from headwater.run.dlt_errors import explain

    with pytest.raises(Exception) as err:
        load(headwater_plugins, conn, **settings)
    known = explain(err.value)
    assert isinstance(known, ResponseError), repr(err.value)
    return str(known)


def test_repeated_cursor_stops_instead_of_looping(headwater_plugins, requests_mock):
    calls = iter(range(100))
    # new records every time, but the cursor never advances
    requests_mock.get(URL, json=lambda r, c: {"data": records(5, 5 * next(calls)), "next": "tok"})
    conn = connector(pagination=CursorPagination(cursor_path="next", cursor_param="c"))
    msg = error_of(headwater_plugins, conn)
    assert "the API sent the same next page twice" in msg
    assert requests_mock.call_count == 2  # first page, second page; the third is refused


def test_next_link_to_itself_stops(headwater_plugins, requests_mock):
    requests_mock.get(URL, json={"data": records(2), "next": URL})
    msg = error_of(headwater_plugins, connector(pagination=NextLinkPagination(next_path="next")))
    assert "same next page twice" in msg


def test_api_ignoring_the_offset_stops(headwater_plugins, requests_mock):
    requests_mock.get(URL, json={"data": records(100)})  # the same full page for any offset
    msg = error_of(headwater_plugins, connector(pagination=OffsetPagination(limit=100)))
    assert "answered the same page as the request before" in msg
    assert requests_mock.call_count == 2


def test_max_pages_is_a_clear_stop(headwater_plugins, requests_mock):
    offset_api(requests_mock, records(1000))
    msg = error_of(
        headwater_plugins, connector(pagination=OffsetPagination(limit=100)), max_pages=3
    )
    assert "stopped at max_pages=3" in msg
    assert requests_mock.call_count == 3


def test_next_link_to_another_host_is_refused(headwater_plugins, requests_mock):
    requests_mock.get(URL, json={"data": records(2), "next": "https://evil.test/items?p=2"})
    msg = error_of(headwater_plugins, connector(pagination=NextLinkPagination(next_path="next")))
    assert msg.startswith("resource testapi.items: the next link points to https://evil.test")
    assert msg.endswith(
        "refusing to send the credentials there — set base_url to the address the API's "
        "own links use"
    )
    assert requests_mock.call_count == 1


def test_ignore_rule_on_a_later_page_is_an_error(headwater_plugins, requests_mock):
    from headwater.spec import ResponseRule

    requests_mock.get(
        URL, [{"json": {"data": records(100)}}, {"status_code": 404, "json": {"error": "x"}}]
    )
    conn = connector(
        pagination=OffsetPagination(limit=100),
        rules=[ResponseRule(action="ignore", status_code=404)],
    )
    msg = error_of(headwater_plugins, conn)
    assert "answered HTTP 404 on page 2" in msg and "the data would be incomplete" in msg
