"""headwater.http.wire against urllib3: the same answers, well-formed and not, read
both ways on a kept-alive connection give the caller the same response or the same
error, and the server sees the same request.

Each case primes a connection with one plain answer (urllib3 connects and reads it),
then sends the request under test on it (the wire reads the answer when it is on,
urllib3 when it is off), then one more plain request (the connection's state after
the answer: kept, or replaced). The server is a real one on 127.0.0.1.
"""

from __future__ import annotations

import functools
import gzip
import http.client
import re
import time
import zlib

import pytest
import requests
import urllib3
from headwater.http import wire
from headwater.http.session import HttpLimits, _PoolCachingAdapter, retrying_session
from headwater.spec import RetryPolicy
from headwater.testing import HostileServer, Json
from headwater.testing.hostile import Bomb, EmptyGzipBlocks, EndlessChunks, SlowHeaders, Trickle

pytestmark = pytest.mark.xdist_group("wire")


class Raw:
    """An answer of exactly ``data``; the connection is closed after it when ``close``,
    and nothing is sent for ``wait`` seconds first (a read timeout)."""

    def __init__(self, data: bytes, close: bool = False, wait: float = 0.0) -> None:
        self.data, self.close, self.wait = data, close, wait

    def respond(self, handler) -> None:
        if self.wait:
            time.sleep(self.wait)
        handler.write(self.data)
        if self.close:
            handler.close_connection = True


def _answer(head: str, body: bytes = b"", **kwargs) -> Raw:
    return Raw(head.replace("\n", "\r\n").encode("latin-1") + b"\r\n" + body, **kwargs)


def _gz(data: bytes) -> bytes:
    return gzip.compress(data)


def _chunked(*parts: bytes) -> bytes:
    return b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts) + b"0\r\n\r\n"


BODY = b'{"data": [1, 2, 3]}'
RAW_DEFLATE = zlib.compressobj(9, zlib.DEFLATED, -15)
RAW_DEFLATED = RAW_DEFLATE.compress(BODY) + RAW_DEFLATE.flush()

ANSWERS = {
    "length": _answer(
        f"HTTP/1.1 200 OK\nContent-Type: application/json\nContent-Length: {len(BODY)}\n", BODY
    ),
    "chunked": _answer(
        "HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n", _chunked(BODY[:5], BODY[5:])
    ),
    "chunk extension and trailer": _answer(
        "HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n",
        b"5;name=value\r\nhello\r\n0\r\nX-Trailer: yes\r\n\r\n",
    ),
    "chunk size in capitals": _answer(
        "HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n", b"A\r\n0123456789\r\n0\r\n\r\n"
    ),
    "chunked, any case": _answer("HTTP/1.1 200 OK\nTransfer-Encoding: Chunked\n", _chunked(BODY)),
    "chunked and a length": _answer(
        "HTTP/1.1 200 OK\nTransfer-Encoding: chunked\nContent-Length: 3\n", _chunked(BODY)
    ),
    "gzip": _answer(
        f"HTTP/1.1 200 OK\nContent-Encoding: gzip\nContent-Length: {len(_gz(BODY))}\n", _gz(BODY)
    ),
    "x-gzip, chunked": _answer(
        "HTTP/1.1 200 OK\nContent-Encoding: x-gzip\nTransfer-Encoding: chunked\n",
        _chunked(_gz(BODY)[:7], _gz(BODY)[7:]),
    ),
    "two gzip members": _answer(
        f"HTTP/1.1 200 OK\nContent-Encoding: GZIP\nContent-Length: {2 * len(_gz(BODY))}\n",
        _gz(BODY) * 2,
    ),
    "deflate": _answer(
        f"HTTP/1.1 200 OK\nContent-Encoding: deflate\nContent-Length: {len(zlib.compress(BODY))}\n",
        zlib.compress(BODY),
    ),
    "raw deflate": _answer(
        f"HTTP/1.1 200 OK\nContent-Encoding: deflate\nContent-Length: {len(RAW_DEFLATED)}\n",
        RAW_DEFLATED,
    ),
    "gzip twice": _answer(
        f"HTTP/1.1 200 OK\nContent-Encoding: gzip, gzip\nContent-Length: {len(_gz(_gz(BODY)))}\n",
        _gz(_gz(BODY)),
    ),
    "an encoding not known": _answer(
        f"HTTP/1.1 200 OK\nContent-Encoding: br\nContent-Length: {len(BODY)}\n", BODY
    ),
    "identity": _answer(
        f"HTTP/1.1 200 OK\nContent-Encoding: identity\nContent-Length: {len(BODY)}\n", BODY
    ),
    "gzip that is not": _answer(
        f"HTTP/1.1 200 OK\nContent-Encoding: gzip\nContent-Length: {len(BODY)}\n", BODY
    ),
    "HTTP/1.0": _answer(f"HTTP/1.0 200 OK\nContent-Length: {len(BODY)}\n", BODY, close=True),
    "HTTP/1.0 kept alive": _answer(
        f"HTTP/1.0 200 OK\nConnection: keep-alive\nContent-Length: {len(BODY)}\n", BODY
    ),
    "HTTP/1.0 to the end": _answer("HTTP/1.0 200 OK\n", BODY, close=True),
    "Connection: close": _answer(
        f"HTTP/1.1 200 OK\nConnection: close\nContent-Length: {len(BODY)}\n", BODY, close=True
    ),
    "no length": _answer("HTTP/1.1 200 OK\nContent-Type: application/json\n", BODY, close=True),
    "no content": _answer("HTTP/1.1 204 No Content\n"),
    "not modified": _answer("HTTP/1.1 304 Not Modified\nETag: x\n"),
    "continue first": Raw(
        b"HTTP/1.1 100 Continue\r\nX-Info: 1\r\n\r\n"
        + f"HTTP/1.1 200 OK\r\nContent-Length: {len(BODY)}\r\n\r\n".encode()
        + BODY
    ),
    "repeated headers": _answer(
        f"HTTP/1.1 200 OK\nX-Many: 1\nx-many: 2\nX-MANY: 3\nContent-Length: {len(BODY)}\n", BODY
    ),
    "cookies": _answer(
        "HTTP/1.1 200 OK\nSet-Cookie: a=1; Path=/\nSet-Cookie: b=2; Path=/\n"
        f"Content-Length: {len(BODY)}\n",
        BODY,
    ),
    "a folded value": _answer(
        f"HTTP/1.1 200 OK\nX-Folded: one\n   two\n\tthree\nContent-Length: {len(BODY)}\n", BODY
    ),
    "spaces around values": _answer(
        f"HTTP/1.1 200 OK\nX-Spaces:   padded   \nX-Empty:\nContent-Length: {len(BODY)}\n", BODY
    ),
    "a line that is not a header": _answer(
        f"HTTP/1.1 200 OK\nX-Before: 1\nnot a header\nContent-Length: {len(BODY)}\n",
        BODY,
        close=True,
    ),
    "bare line feeds": Raw(f"HTTP/1.1 200 OK\nContent-Length: {len(BODY)}\n\n".encode() + BODY),
    "no reason": _answer(f"HTTP/1.1 200\nContent-Length: {len(BODY)}\n", BODY),
    "a status of its own": _answer(
        f"HTTP/1.1 599 Odd Reason Here\nContent-Length: {len(BODY)}\n", BODY
    ),
    "charset": _answer(
        "HTTP/1.1 200 OK\nContent-Type: text/plain; charset=ISO-8859-1\n"
        f"Content-Length: {len(BODY)}\n",
        BODY,
    ),
    "latin-1 in a value": Raw(b"HTTP/1.1 200 OK\r\nX-Name: caf\xe9\r\nContent-Length: 2\r\n\r\n{}"),
    "a length twice": _answer(f"HTTP/1.1 200 OK\nContent-Length: {len(BODY)}, {len(BODY)}\n", BODY),
    "two lengths": _answer(
        "HTTP/1.1 200 OK\nContent-Length: 2\nContent-Length: 3\n", b"{}", close=True
    ),
    "a length that is not one": _answer(
        "HTTP/1.1 200 OK\nContent-Length: many\n", BODY, close=True
    ),
    "a negative length": _answer("HTTP/1.1 200 OK\nContent-Length: -5\n", BODY, close=True),
    "an error status": _answer(
        "HTTP/1.1 503 Service Unavailable\nRetry-After: 1\nContent-Length: 2\n", b"{}"
    ),
    "a redirect not followed": _answer(
        "HTTP/1.1 302 Found\nLocation: http://elsewhere.invalid/\nContent-Length: 0\n"
    ),
    "early hints first": Raw(
        b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n"
        + f"HTTP/1.1 200 OK\r\nContent-Length: {len(BODY)}\r\n\r\n".encode()
        + BODY
    ),
    # broken answers
    "nothing": Raw(b"", close=True),
    "a status line that is not one": Raw(b"ICY 200 OK\r\n\r\n", close=True),
    "a status out of range": Raw(b"HTTP/1.1 99 Low\r\n\r\n", close=True),
    "a status that is not a number": Raw(b"HTTP/1.1 OK fine\r\n\r\n", close=True),
    "another protocol": Raw(b"HTTP/2 200 OK\r\n\r\n", close=True),
    "headers cut short": Raw(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n", close=True),
    "a body cut short": _answer("HTTP/1.1 200 OK\nContent-Length: 100\n", BODY, close=True),
    "a chunk cut short": _answer(
        "HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n", b"64\r\nabc", close=True
    ),
    "chunks that never end": _answer(
        "HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n", b"3\r\nabc\r\n", close=True
    ),
    "a chunk size that is not one": _answer(
        "HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n", b"zz\r\nabc\r\n0\r\n\r\n", close=True
    ),
    "too many headers": _answer(
        "HTTP/1.1 200 OK\n" + "X-H: 1\n" * 101 + "Content-Length: 0\n", close=True
    ),
    "a header line too long": _answer(
        f"HTTP/1.1 200 OK\nX-Long: {'a' * 70000}\nContent-Length: 0\n", close=True
    ),
    "a status line too long": Raw(b"HTTP/1.1 200 " + b"a" * 70000 + b"\r\n\r\n", close=True),
    "too large, declared": _answer("HTTP/1.1 200 OK\nContent-Length: 5000\n", b"x" * 5000),
    "too large, chunked": _answer(
        "HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n", _chunked(b"x" * 3000, b"y" * 3000)
    ),
    "too large, to the end": _answer("HTTP/1.1 200 OK\n", b"x" * 6000, close=True),
    "too large, inflated": _answer(
        f"HTTP/1.1 200 OK\nContent-Encoding: gzip\nContent-Length: {len(_gz(bytes(9000)))}\n",
        _gz(bytes(9000)),
    ),
    "no answer in time": _answer(
        "HTTP/1.1 200 OK\nContent-Length: 2\n", b"{}", wait=0.6, close=True
    ),
    "a gzip bomb": Bomb(size=64 * 1024**2),
    "a deflate bomb": Bomb(size=64 * 1024**2, encoding="deflate"),
    "endless chunks": EndlessChunks(max_seconds=5),
    "a trickle": Trickle(length=200, interval=0.02),
    "slow headers": SlowHeaders(interval=0.05, max_seconds=5),
    "empty gzip blocks": EmptyGzipBlocks(max_seconds=5),
}

#: where the wire does better than urllib3, on purpose: (urllib3's error, the wire's)
BETTER = {
    # urllib3 does not count the compressed bytes of a chunked body (its ``tell()``),
    # so only the deadline stops a body that inflates to nothing; the wire stops at
    # the size limit, as a body whose compressed bytes alone exceed it should.
    "empty gzip blocks": ("ResponseDeadlineExceeded", "ResponseTooLarge"),
}

_ADDRESS = re.compile(r" at 0x[0-9a-f]+")


def _outcome(call):
    try:
        response = call()
    except Exception as exc:  # the error is the outcome compared
        return ("error", type(exc).__name__, _ADDRESS.sub("", str(exc)))
    return (
        "response",
        response.status_code,
        response.reason,
        [(k, v) for k, v in response.headers.items() if k != "Date"],
        bytes(response.content),
        response.encoding,
        sorted(response.cookies.items()),
        response.url,
    )


def _exchange(server: HostileServer, use_wire: bool, monkeypatch) -> tuple:
    monkeypatch.setattr(_PoolCachingAdapter, "wire", use_wire)
    session = retrying_session(
        RetryPolicy(max_retries=0, timeout=0.4),
        limits=HttpLimits(max_response_bytes=4096, response_deadline=1.0),
    )
    read = []
    original = wire.Exchange.read_head
    monkeypatch.setattr(
        wire.Exchange, "read_head", lambda self, method: (read.append(1), original(self, method))[1]
    )
    try:
        first = _outcome(lambda: session.get(server.url("/prime")))
        answer = _outcome(lambda: session.get(server.url("/answer"), params={"page": 2}))
        after = _outcome(lambda: session.get(server.url("/after")))
    finally:
        session.close()
        monkeypatch.setattr(wire.Exchange, "read_head", original)
    return first, answer, after, len(read)


@pytest.mark.parametrize("name", list(ANSWERS))
def test_the_wire_reads_what_urllib3_reads(name, monkeypatch):
    outcomes, seen = [], []
    with HostileServer() as server:
        server.serve("/prime", Json({"n": 1}))
        server.serve("/answer", ANSWERS[name])
        server.serve("/after", Json({"n": 3}))
        for use_wire in (False, True):
            before = len(server.requests)
            *outcome, reads = _exchange(server, use_wire, monkeypatch)
            outcomes.append(outcome)
            seen.append([(r.method, r.path, r.query, r.headers) for r in server.requests[before:]])
            if use_wire:
                assert reads >= 1, "the wire did not read the answer"
            else:
                assert reads == 0
    urllib3_way, wire_way = outcomes
    if name in BETTER:
        assert (urllib3_way[1][1], wire_way[1][1]) == BETTER[name]
    else:
        assert wire_way[1] == urllib3_way[1]
    assert wire_way[2] == urllib3_way[2]  # the connection after the answer works alike
    assert seen[0] == seen[1]


def test_the_request_is_the_one_urllib3_sends(monkeypatch):
    raw = []
    with HostileServer() as server:
        server.serve("/prime", Json())
        server.serve("/answer", Json())
        for use_wire in (False, True):
            monkeypatch.setattr(_PoolCachingAdapter, "wire", use_wire)
            session = retrying_session(RetryPolicy(max_retries=0))
            session.headers["X-Bytes"] = b"raw"
            session.get(server.url("/prime"))
            session.get(
                server.url("/answer"), params={"q": "a b", "ü": "é"}, headers={"X-Num": "7"}
            )
            raw.append(server.requests[-1].raw)
    assert raw[0] == raw[1]
    assert b"X-Num: 7" in raw[1] and b"GET /answer?q=a+b&%C3%BC=%C3%A9 HTTP/1.1" in raw[1]


@pytest.mark.parametrize(
    "headers",
    [{"X-Bad": "a\r\nInjected: 1"}, {"X-Bad\n": "1"}, {"X-Bad": "ü€"}],
    ids=["a line break in a value", "a line break in a name", "not latin-1"],
)
def test_a_header_http_client_refuses_is_refused_as_it_refuses_it(headers, monkeypatch):
    outcomes = []
    for use_wire in (False, True):
        with HostileServer() as server:
            server.serve("/prime", Json())
            server.serve("/answer", Json())
            monkeypatch.setattr(_PoolCachingAdapter, "wire", use_wire)
            session = retrying_session(RetryPolicy(max_retries=0))
            session.get(server.url("/prime"))
            prepared = requests.Request("GET", server.url("/answer")).prepare()
            prepared.headers.update(headers)  # unchecked, as requests would not let them by
            outcomes.append(_outcome(functools.partial(session.send, prepared)))
            assert len(server.requests) == 1  # nothing was sent
    assert outcomes[0] == outcomes[1]
    assert outcomes[0][0] == "error"


def test_the_wire_keeps_one_connection_for_a_page_loop(monkeypatch):
    monkeypatch.setattr(_PoolCachingAdapter, "wire", True)
    with HostileServer() as server:
        server.serve("/page", Json({"data": [1]}))
        session = retrying_session(RetryPolicy(max_retries=0))
        for n in range(20):
            assert session.get(server.url("/page"), params={"n": n}).json() == {"data": [1]}
        assert len(server.requests) == 20
        pools = list(session.get_adapter(server.url("/"))._pools.values())
    assert len(pools) == 1 and pools[0].num_connections == 1


def test_head_of_a_request_is_refused_for_control_characters():
    assert wire.request_head("GET", "/a b", "h", []) is None
    assert wire.request_head("GET", "/ü", "h", []) is None
    assert wire.request_head("GET", "/a", "h", [("X", "1")]) == (
        b"GET /a HTTP/1.1\r\nHost: h\r\nAccept-Encoding: identity\r\nUser-Agent: "
        + f"python-urllib3/{urllib3.__version__}".encode()
        + b"\r\nX: 1\r\n\r\n"
    )


def _self_signed(tmp_path):
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return str(cert_file), str(key_file)


def test_the_wire_reads_pages_over_tls(tmp_path, monkeypatch):
    import ssl
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    cert_file, key_file = _self_signed(tmp_path)
    connections = []

    class Pages(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self):
            connections.append(self.client_address)
            super().setup()

        def log_message(self, *args):
            pass

        def do_GET(self):
            body = b'{"path": "%s"}' % self.path.encode()
            compressed = gzip.compress(body)
            self.send_response(200)
            self.send_header("Content-Encoding", "gzip")
            self.send_header("Content-Length", str(len(compressed)))
            self.end_headers()
            self.wfile.write(compressed)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Pages)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    read = []
    original = wire.Exchange.read_head
    monkeypatch.setattr(
        wire.Exchange, "read_head", lambda self, method: (read.append(1), original(self, method))[1]
    )
    try:
        session = retrying_session(RetryPolicy(max_retries=0))
        session.verify = cert_file
        url = f"https://127.0.0.1:{server.server_port}/v1/items"
        for n in range(5):
            assert session.get(url, params={"n": n}).json() == {"path": f"/v1/items?n={n}"}
        unverified = retrying_session(RetryPolicy(max_retries=0))
        with pytest.raises(requests.exceptions.SSLError):
            unverified.get(url)  # not the wire: a connection is made, and refused
    finally:
        server.shutdown()
        server.server_close()
    assert len(read) == 4  # the first page connected through urllib3
    assert len(connections) == 1  # five pages on one connection (the refused one never got one)


class Trickling:
    """A socket whose every read returns ``step`` bytes of ``data``."""

    def __init__(self, data: bytes, step: int = 1) -> None:
        self.data, self.step, self.reads = data, step, 0

    def recv(self, size: int) -> bytes:
        self.reads += 1
        piece, self.data = self.data[: min(size, self.step)], self.data[min(size, self.step) :]
        return piece


@pytest.mark.parametrize("step", [1, 7, 65536])
@pytest.mark.parametrize(
    "length", [100, 65536 - len("X-Long: \r\n"), 65536 - len("X-Long: \n") + 1]
)
def test_a_long_header_line_in_pieces_is_read_or_refused_at_http_clients_limit(step, length):
    line = b"X-Long: " + b"a" * length + b"\r\n"
    answer = b"HTTP/1.1 200 OK\r\n" + line + b"Content-Length: 2\r\n\r\n{}"
    exchange = wire.Exchange(Trickling(answer, step))
    if len(line) > wire.MAX_LINE:
        with pytest.raises(http.client.LineTooLong):
            exchange.read_head("GET")
        return
    exchange.read_head("GET")
    assert exchange.headers["x-long"] == "a" * length
    assert exchange.read_body(None, None) == b"{}"
    assert exchange.reusable


def test_the_wire_can_be_turned_off(monkeypatch):
    monkeypatch.setenv("HEADWATER_WIRE", "0")
    read = []
    original = wire.Exchange.read_head
    monkeypatch.setattr(
        wire.Exchange, "read_head", lambda self, method: (read.append(1), original(self, method))[1]
    )
    with HostileServer() as server:
        server.serve("/page", Json({"data": [1]}))
        session = retrying_session(RetryPolicy(max_retries=0))
        for n in range(3):
            assert session.get(server.url("/page"), params={"n": n}).json() == {"data": [1]}
    assert read == []
