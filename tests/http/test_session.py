"""The retrying HTTP session on its own (headwater.http.session): how it reads
``Retry-After`` and which failures it does not retry. Real servers on 127.0.0.1
(:class:`headwater.testing.HostileServer`); the whole path through
``headwater.source()`` is in test_hostile_http.py and test_reliability.py.
"""

from __future__ import annotations

import math

import pytest
from headwater.errors import RedirectRefused, ResponseTooLarge
from headwater.http.session import HttpLimits, parse_retry_after, retrying_session
from headwater.spec import RetryPolicy
from headwater.testing import Bomb, HostileServer, Redirect

HOSTILE_RETRY_AFTER = [
    "٣",  # Arabic-Indic three: str.isdigit() and float() accept it
    "३",
    "３",  # noqa: RUF001 - a fullwidth digit, on purpose
    "NaN",
    "nan",
    "inf",
    "-Infinity",
    "-5",
    "0",
    "",
    "   ",
    "1e9",
    "0x10",
    "12abc",
    "9" * 5000,
    "Fri, 31 Dec 99999 23:59:59 GMT",
    "Sat, 01 Jan 10000 00:00:00 GMT",
    "Mon, 01 Jan 0001 00:00:00 GMT",
    "Wed, 32 Foo 2024 99:99:99 GMT",
    "\x00\x01",
    "Fri, 31 Dec 9999 23:59:59 GMT",
    "99999999999999999999",
]


@pytest.mark.parametrize("value", HOSTILE_RETRY_AFTER)
def test_retry_after_parser_never_raises_nor_waits_unbounded(value):
    seconds = parse_retry_after(value)
    assert seconds is None or seconds > 0
    if seconds is not None and not math.isinf(seconds):
        assert math.isfinite(seconds)


def test_retry_after_parser_reads_what_servers_mean():
    assert parse_retry_after("3") == 3
    assert parse_retry_after(" 120 ") == 120
    assert parse_retry_after("٣") is None
    assert parse_retry_after("NaN") is None
    assert parse_retry_after("-5") is None
    assert parse_retry_after("9" * 5000) == math.inf
    assert parse_retry_after("Fri, 31 Dec 9999 23:59:59 GMT") > 1e9
    assert parse_retry_after("Fri, 31 Dec 99999 23:59:59 GMT") is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412480 - 10) == 10
    # leading zeros do not make a delay long
    assert parse_retry_after("0" * 16 + "1") == 1
    assert parse_retry_after("0" * 300 + "5") == 5
    assert parse_retry_after("0" * 300) is None
    assert parse_retry_after("2.5") == 2.5


def test_session_refusals_are_not_retried():
    """A refused redirect and an oversized body are not transient: one request each."""
    with HostileServer() as api, HostileServer() as elsewhere:
        api.serve("/r", Redirect(elsewhere.url("/")))
        api.serve("/big", Bomb(size=8 * 1024**2))
        session = retrying_session(
            RetryPolicy(max_retries=3, backoff_factor=0.01),
            limits=HttpLimits(max_response_bytes=1024),
        )
        with pytest.raises(RedirectRefused):
            session.get(api.url("/r"))
        with pytest.raises(ResponseTooLarge):
            session.get(api.url("/big"))
        assert [r.path for r in api.requests] == ["/r", "/big"]
        assert elsewhere.requests == []


_URLS = [
    "http://127.0.0.1:8080/v1/users?page=2&per_page=100",
    "https://API.example.com/v1/users?after=a@b.c:99#frag",
    "http://a:1\\@b:2/?x=1",
    "http://a/?next=http://evil.example:81/\\@x",
    "http://user?:pw@host:81/p?q",
    "http://host/p#frag?not-a-query",
    "http://[::1]:8000/p?x=[",
    "http://[::1/p?x",
    "http://host:99999/p?x",
    "http://ho\uff20st/p?x",
    "http://host/p?x=\uff20",
    "http://ho\tst/p?x=\n1",
    "HTTPS://Host.Example/",
    "//host/p?x",
    "not a url?x",
    "",
]


@pytest.mark.parametrize("url", _URLS)
def test_origin_and_unambiguous_read_the_same_with_or_without_the_query(url):
    """Both are worked out once per URL up to its query (a page loop's URLs differ in
    the query only): the same answers as parsing the whole URL."""
    from headwater.http import session

    whole_origin = session._origin.__wrapped__(url)
    whole_unambiguous = session._unambiguous.__wrapped__(url)
    assert session.origin(url) == whole_origin
    assert session.unambiguous(url) == whole_unambiguous
    assert session.origin(url) == whole_origin  # cached, and still the same
