"""The page loop's lean GET (headwater.http.session): each shortcut it takes around
requests and tenacity gives what requests and tenacity give — the same URL, the same
retries and waits, the same response — checked against them side by side. The whole
path through ``headwater.source()`` is in test_reliability.py and test_hostile_http.py.
"""

from __future__ import annotations

import pytest
import requests
from headwater.http.session import _retried, retrying_session
from headwater.spec import RetryPolicy
from headwater.testing import HostileServer, Json

URLS = [
    "http://127.0.0.1:8080/v1/users",
    "http://127.0.0.1:8080",
    "https://api.example.com/v1/users/",
    "https://api.example.com/v1/users?region=eu",
    "https://api.example.com/v1/users?",
    "https://api.example.com/v1/a b/ü?x=ü y",
    "https://api.example.com/v1/%7Euser/%2F/%zz",
    "https://API.Example.COM:443/Path;params",
    "https://bücher.example/v1/items",
    "https://user:p%40ss@api.example.com/v1",
    "https://api.example.com/v1/users#fragment",
    "https://api.example.com/v1/users?q=1#fragment",
]

PARAMS = [
    {},
    {"offset": 0, "limit": 100},
    {"cursor": "eyJpZCI6MTB9==", "limit": 50},
    {"q": "a b&c=d/e?f#g%h+i", "empty": ""},
    {"name": "ünïcødé", "emoji": "🦆"},
    {"ids": [1, 2, 3], "tags": ["a", None, "b c"]},
    {"skip": None, "n": 2.5, "neg": -1},
    {"unreserved": "AZaz09-._~", "reserved": "!*'();:@&=+$,/?#[]"},
    {"ü": "key not ascii"},
]


def _session():
    return retrying_session(RetryPolicy(max_retries=0))


@pytest.mark.parametrize("url", URLS)
@pytest.mark.parametrize("params", PARAMS, ids=range(len(PARAMS)))
def test_lean_url_is_the_one_requests_prepares(url, params):
    session = _session()
    request = requests.Request("GET", url, params=params)
    lean = session.headwater_lean.prepare(request)
    assert lean is not None
    assert lean.url == session.prepare_request(request).url


def test_lean_url_of_later_pages_follows_the_changed_parameters():
    session = _session()
    request = requests.Request("GET", "http://127.0.0.1:1/v1/users?region=eu")
    urls = []
    for offset in (0, 100, 200):
        request.params = {"offset": offset, "limit": 100}
        urls.append(session.headwater_lean.prepare(request).url)
    assert urls == [
        f"http://127.0.0.1:1/v1/users?region=eu&offset={n}&limit=100" for n in (0, 100, 200)
    ]


def _answer(status_code: int) -> requests.Response:
    response = requests.Response()
    response.status_code = status_code
    return response


def _scripted(outcomes):
    """A send that answers (or raises) ``outcomes`` in turn, counting its calls."""
    calls = []

    def send(*args, **kwargs):
        calls.append((args, kwargs))
        outcome = outcomes[len(calls) - 1]
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    return send, calls


SCENARIOS = {
    "ok at once": [_answer(200)],
    "client error at once": [_answer(404)],
    "503 then ok": [_answer(503), _answer(200)],
    "429 three times then ok": [_answer(429), _answer(429), _answer(429), _answer(200)],
    "503 every time": [_answer(503)] * 4,
    "dropped connection then ok": [requests.ConnectionError("reset"), _answer(200)],
    "timeouts every time": [requests.ReadTimeout("slow")] * 4,
    "not retried error": [ValueError("broken")],
    "dropped, then 503, then not retried": [
        requests.ConnectionError("reset"),
        _answer(503),
        KeyError("x"),
    ],
}


def _run(send):
    try:
        return ("returned", send("prepared", timeout=1).status_code)
    except Exception as exc:
        return ("raised", type(exc).__name__, str(exc))


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_first_attempt_shortcut_retries_exactly_as_tenacity(name):
    """Same calls, waits and outcome as tenacity wrapping the whole call."""
    from dlt.sources.helpers.requests.retry import DEFAULT_RETRY_EXCEPTIONS, retry_if_status
    from tenacity import (
        Retrying,
        retry_any,
        retry_if_exception_type,
        stop_after_attempt,
        wait_exponential,
    )

    codes = (429, 500, 502, 503, 504)
    seen = {}
    for how in ("tenacity", "shortcut"):
        waits: list[float] = []
        retrying = Retrying(
            wait=wait_exponential(multiplier=1, max=8),
            retry=retry_any(
                retry_if_status(codes), retry_if_exception_type(DEFAULT_RETRY_EXCEPTIONS)
            ),
            stop=stop_after_attempt(4),
            reraise=True,
            retry_error_callback=lambda state: state.outcome.result(),
            sleep=waits.append,
        )
        send, calls = _scripted(SCENARIOS[name])
        wrapped = retrying.wraps(send) if how == "tenacity" else _retried(retrying, send, codes)
        outcome = _run(wrapped)
        seen[how] = (outcome, waits, calls)
    assert seen["shortcut"] == seen["tenacity"]
    outcome, waits, calls = seen["shortcut"]
    assert len(calls) == min(len(SCENARIOS[name]), 4)
    assert len(waits) == len(calls) - 1  # a wait before every retry


def test_lean_response_is_requests_own_without_cookies_and_keeps_set_cookies():
    """With no Set-Cookie the response is built without the cookie jar's parsing and
    carries what requests' own would; with one, cookies reach the response and the
    session's jar as before."""
    with HostileServer() as api:
        api.serve("/plain", Json({"data": [1]}, headers={"X-Request-Id": "r1"}))
        api.serve("/cookie", Json({"data": [2]}, headers={"Set-Cookie": "sid=abc; Path=/"}))
        session = _session()
        lean = session.headwater_lean
        plain = lean.send(lean.prepare(requests.Request("GET", api.url("/plain"))), timeout=5)
        reference = requests.get(api.url("/plain"), timeout=5)
        assert plain.status_code == reference.status_code == 200
        assert plain.reason == reference.reason
        assert plain.json() == reference.json() == {"data": [1]}
        assert plain.headers["x-request-id"] == plain.headers["X-Request-ID"] == "r1"
        assert dict(plain.headers) == {
            k: v for k, v in reference.headers.items() if k.lower() != "date"
        } | {"Date": plain.headers["Date"]}
        assert plain.encoding == reference.encoding
        assert plain.url == reference.url and plain.request.url == reference.url
        assert plain.connection is not None and len(plain.cookies) == 0
        cookie = lean.send(lean.prepare(requests.Request("GET", api.url("/cookie"))), timeout=5)
        assert cookie.cookies.get("sid") == "abc"
        assert session.cookies.get("sid") == "abc"


class CutShort:
    """A body that ends, connection closed, before its declared Content-Length."""

    def __init__(self, length: int) -> None:
        self.length = length

    def respond(self, handler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(self.length))
        handler.end_headers()
        handler.write(b'{"data": [1, 2')
        handler.close_connection = True


@pytest.mark.parametrize("declared", [5_000, 4 * 1024**2])
def test_a_body_cut_short_is_retried_never_returned_in_part(declared):
    """Whether the body is read in one call (a small declared length) or chunk by
    chunk, a body that ends early is a dropped connection: retried, never a page."""
    page = {"data": list(range(3 if declared < 1024**2 else 500_000))}
    with HostileServer() as api:
        api.serve("/items", CutShort(declared), Json(page))
        session = retrying_session(RetryPolicy(max_retries=2, backoff_factor=0))
        lean = session.headwater_lean
        response = lean.send(lean.prepare(requests.Request("GET", api.url("/items"))), timeout=5)
        assert response.json() == page
        assert len(api.requests) == 2
        broken = retrying_session(RetryPolicy(max_retries=0))
        api.serve("/items", CutShort(declared))
        with pytest.raises(requests.exceptions.ChunkedEncodingError):
            broken.headwater_lean.send(
                broken.headwater_lean.prepare(requests.Request("GET", api.url("/items"))),
                timeout=5,
            )
