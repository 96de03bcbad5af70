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
