"""A hostile HTTP server on 127.0.0.1, for testing what a client does when a server
misbehaves on purpose.

:class:`HostileServer` answers each path with the behaviours it is given, in turn (the
last one repeats), and records every request it saw, raw bytes included, so a test can
assert that a canary secret never reached it::

    from headwater.testing import HostileServer, Json, Redirect

    with HostileServer() as api, HostileServer() as elsewhere:
        api.serve("/items", Redirect(elsewhere.url("/items"), status=307))
        elsewhere.serve("/items", Json({"data": []}, status=401))
        ...  # run the connector against api.base_url
        assert not elsewhere.saw(b"canary-secret")

Behaviours: :class:`Json` (any status and headers, e.g. ``Retry-After``),
:class:`Redirect`, :class:`Bomb` (a gzip or deflate bomb), :class:`EndlessChunks` (a
chunked body that never ends), :class:`Trickle` (a body sent a byte at a time),
:class:`SlowHeaders` (headers that never end), :class:`EmptyGzipBlocks` (a gzip body
inflating to nothing, forever) and :class:`Token` (an OAuth2 token endpoint). Every
loop is bounded (bytes and seconds) and ends when the client hangs up or the server
stops; the server stops itself when its ``with`` block ends. Only the standard library is used.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import json
import threading
import time
import zlib
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler
from typing import Any, Protocol
from urllib.parse import parse_qsl, quote, quote_plus, urlsplit

import attrs

from headwater.testing.server import LoopbackServer

__all__ = [
    "Bomb",
    "EmptyGzipBlocks",
    "EndlessChunks",
    "HostileServer",
    "Json",
    "ReceivedRequest",
    "Redirect",
    "SlowHeaders",
    "Token",
    "Trickle",
]


@attrs.frozen
class ReceivedRequest:
    """One request the server saw: ``raw`` holds its request line, headers and body."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    raw: bytes
    time: float

    def carries(self, needle: str | bytes) -> bool:
        """Whether ``needle`` (a canary secret) is anywhere in this request: line,
        headers or body, as is, percent-encoded (a query parameter) or inside an
        ``Authorization: Basic`` header."""
        text = needle.decode() if isinstance(needle, bytes) else needle
        forms = {text.encode(), quote(text, safe="").encode(), quote_plus(text).encode()}
        if any(form in self.raw for form in forms):
            return True
        for line in self.raw.splitlines():
            if line.lower().startswith(b"authorization: basic "):
                with contextlib.suppress(ValueError):
                    if text.encode() in base64.b64decode(line[21:].strip()):
                        return True
        return False


class Behaviour(Protocol):
    """What the server does with one request (``respond`` writes the whole answer)."""

    def respond(self, handler: _Handler) -> None: ...


@attrs.frozen
class Json:
    """A JSON answer: ``body`` (any JSON value), ``status`` and extra ``headers``
    (``Json({}, status=429, headers={"Retry-After": "٣"})``); ``gzip``: compressed,
    with ``Content-Encoding: gzip``."""

    body: Any = attrs.field(factory=lambda: {"data": []})
    status: int = 200
    headers: Mapping[str, str] = attrs.field(factory=dict)
    gzip: bool = False

    def respond(self, handler: _Handler) -> None:
        payload = json.dumps(self.body).encode()
        handler.send_response(self.status)
        if self.gzip:
            payload = zlib.compress(payload, wbits=31)
            handler.send_header("Content-Encoding", "gzip")
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(payload)))
        for key, value in self.headers.items():
            handler.send_header(key, value)
        handler.end_headers()
        handler.write(payload)


@attrs.frozen
class Redirect:
    """A redirect (``status`` 301, 302, 303, 307 or 308) to ``location``; with
    ``keep_query`` the request's query string is appended, as most servers do."""

    location: str
    status: int = 302
    keep_query: bool = False

    def respond(self, handler: _Handler) -> None:
        location = self.location
        query = urlsplit(handler.path).query
        if self.keep_query and query:
            location += ("&" if "?" in location else "?") + query
        handler.send_response(self.status)
        handler.send_header("Location", location)
        handler.send_header("Content-Length", "0")
        handler.end_headers()


@functools.cache
def _bomb_body(encoding: str, size: int) -> bytes:
    block = 1024 * 1024
    if encoding == "gzip":
        # gzip members may follow one another: one compressed MiB of zeros, repeated.
        member = zlib.compressobj(9, zlib.DEFLATED, 31)
        one = member.compress(bytes(block)) + member.flush()
        whole, rest = divmod(size, block)
        tail = zlib.compressobj(9, zlib.DEFLATED, 31)
        last = tail.compress(bytes(rest)) + tail.flush() if rest else b""
        return one * whole + last
    stream = zlib.compressobj(9, zlib.DEFLATED, 15)  # "deflate" is zlib-wrapped
    zeros = bytes(block)
    parts = [stream.compress(zeros) for _ in range(size // block)]
    parts.append(stream.compress(bytes(size % block)))
    parts.append(stream.flush())
    return b"".join(parts)


@attrs.frozen
class Bomb:
    """A small compressed body that inflates to ``size`` bytes (zeros), sent with
    ``Content-Encoding: gzip`` or ``deflate`` and a JSON content type."""

    size: int = 1024**3
    encoding: str = attrs.field(default="gzip", validator=attrs.validators.in_(("gzip", "deflate")))

    def prepare(self) -> None:
        """Compress the body now (called by :meth:`HostileServer.serve`), not while a
        client waits for it."""
        _bomb_body(self.encoding, self.size)

    def respond(self, handler: _Handler) -> None:
        payload = _bomb_body(self.encoding, self.size)
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Encoding", self.encoding)
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        handler.write(payload)


@attrs.frozen
class EndlessChunks:
    """A chunked JSON body that never ends — until the client hangs up, the server
    stops, or ``max_bytes`` / ``max_seconds`` are reached (the bounds of the loop)."""

    chunk: bytes = b"[" + b" " * (64 * 1024 - 1)
    max_bytes: int = 8 * 1024**3
    max_seconds: float = 60.0

    def respond(self, handler: _Handler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()
        frame = f"{len(self.chunk):x}\r\n".encode() + self.chunk + b"\r\n"
        sent, until = 0, time.monotonic() + self.max_seconds
        while sent < self.max_bytes and time.monotonic() < until and handler.serving:
            if not handler.write(frame):
                return
            sent += len(self.chunk)
        handler.write(b"0\r\n\r\n")


@attrs.frozen
class Trickle:
    """``body`` (default: an empty page padded to ``length`` bytes) sent one byte every
    ``interval`` seconds, with its full ``Content-Length`` announced up front."""

    body: bytes | None = None
    length: int = 4096
    interval: float = 0.02

    def respond(self, handler: _Handler) -> None:
        body = self.body if self.body is not None else b'{"data": []}'.ljust(self.length)
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        for i in range(len(body)):
            if not handler.serving or not handler.write(body[i : i + 1]):
                return
            time.sleep(self.interval)


@attrs.frozen
class SlowHeaders:
    """A status line, then one header line every ``interval`` seconds, never ending
    the headers (for ``max_seconds`` at most): each read gets a byte in time, so only a
    deadline on the whole response stops it."""

    interval: float = 0.1
    max_seconds: float = 10.0

    def respond(self, handler: _Handler) -> None:
        if not handler.write(b"HTTP/1.1 200 OK\r\n"):
            return
        until = time.monotonic() + self.max_seconds
        while handler.serving and time.monotonic() < until:
            if not handler.write(b"X-Slow: yes\r\n"):
                return
            time.sleep(self.interval)
        handler.close_connection = True


@attrs.frozen
class EmptyGzipBlocks:
    """A gzip body made of empty stored deflate blocks, sent as fast as the client
    reads, for ``max_seconds`` at most: it inflates to nothing, so a client that reads
    until it gets a decompressed byte never returns."""

    max_seconds: float = 10.0

    def respond(self, handler: _Handler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Encoding", "gzip")
        handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()
        stream = zlib.compressobj(9, zlib.DEFLATED, 31)
        head = stream.compress(b"") + stream.flush(zlib.Z_SYNC_FLUSH)
        block = b"\x00\x00\x00\xff\xff" * 2000  # empty stored blocks
        if not handler.write(b"%x\r\n%s\r\n" % (len(head), head)):
            return
        until = time.monotonic() + self.max_seconds
        frame = b"%x\r\n%s\r\n" % (len(block), block)
        while handler.serving and time.monotonic() < until:
            if not handler.write(frame):
                return
        handler.close_connection = True


@attrs.frozen
class Token:
    """An OAuth2 token endpoint answering every request with ``access_token``."""

    access_token: str = "hostile-token"
    expires_in: int = 3600

    def respond(self, handler: _Handler) -> None:
        Json({"access_token": self.access_token, "expires_in": self.expires_in}).respond(handler)


class _Server(LoopbackServer):
    def __init__(self, owner: HostileServer) -> None:
        self.owner = owner
        self.stopping = threading.Event()
        super().__init__(("127.0.0.1", 0), _Handler)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are written apart
    timeout = 30  # an idle keep-alive connection is closed after this
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    @property
    def serving(self) -> bool:
        """Whether the server is still running (long answers stop when it is not)."""
        return not self.server.stopping.is_set()

    def write(self, data: bytes) -> bool:
        """Send ``data``; ``False`` when the client has hung up."""
        try:
            self.wfile.write(data)
            self.wfile.flush()
        except OSError:
            self.close_connection = True
            return False
        return True

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(min(length, 16 * 1024 * 1024)) if length else b""
        parts = urlsplit(self.path)
        head = self.requestline.encode("latin-1") + b"\r\n" + bytes(self.headers)
        received = ReceivedRequest(
            method=self.command,
            path=parts.path,
            query=dict(parse_qsl(parts.query, keep_blank_values=True)),
            headers=dict(self.headers.items()),
            body=body,
            raw=head + body,
            time=time.monotonic(),
        )
        behaviour = self.server.owner._record_and_pick(received)
        if behaviour is None:
            Json({"error": f"nothing served at {parts.path}"}, status=404).respond(self)
        else:
            behaviour.respond(self)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _handle


class HostileServer:
    """An HTTP server on 127.0.0.1 that answers each path with the behaviours given to
    :meth:`serve` (in turn; the last one repeats) and records every request
    (:attr:`requests`). Use it as a context manager, or :meth:`start` / :meth:`stop`."""

    def __init__(self) -> None:
        self._routes: dict[str, list[Behaviour]] = {}
        self._served: dict[str, int] = {}
        self._lock = threading.Lock()
        self._received = threading.Condition(self._lock)
        self._requests: list[ReceivedRequest] = []
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def serve(self, path: str, *behaviours: Behaviour) -> HostileServer:
        """Answer requests to ``path`` (query ignored) with ``behaviours``, in turn."""
        if not behaviours:
            raise ValueError("serve() needs at least one behaviour")
        for behaviour in behaviours:
            prepare = getattr(behaviour, "prepare", None)
            if prepare is not None:
                prepare()
        with self._lock:
            self._routes[path] = list(behaviours)
            self._served[path] = 0
        return self

    def _record_and_pick(self, request: ReceivedRequest) -> Behaviour | None:
        with self._lock:
            self._requests.append(request)
            self._received.notify_all()
            route = self._routes.get(request.path)
            if not route:
                return None
            n = self._served[request.path]
            self._served[request.path] = n + 1
            return route[min(n, len(route) - 1)]

    @property
    def requests(self) -> list[ReceivedRequest]:
        """Every request received so far, in order."""
        with self._lock:
            return list(self._requests)

    def wait_for_requests(self, count: int, timeout: float = 10.0) -> list[ReceivedRequest]:
        """Every request received, once there are at least ``count`` (or ``timeout``
        seconds have passed): a client that gave up on an answer may have sent its
        request before the server's thread got to read it."""
        with self._received:
            self._received.wait_for(lambda: len(self._requests) >= count, timeout)
            return list(self._requests)

    def saw(self, needle: str | bytes) -> bool:
        """Whether ``needle`` appeared in any request received (see
        :meth:`ReceivedRequest.carries`)."""
        return any(r.carries(needle) for r in self.requests)

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>`` (the server must be started)."""
        if self._server is None:
            raise RuntimeError("the hostile server is not started")
        return f"http://127.0.0.1:{self._server.server_port}"

    def url(self, path: str = "/") -> str:
        """The absolute URL of ``path`` on this server."""
        return self.base_url + path

    def start(self) -> HostileServer:
        """Start serving in a daemon thread."""
        if self._server is None:
            self._server = _Server(self)
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name="headwater-hostile-server",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, end every long answer and close every connection."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is None:
            return
        server.stopping.set()
        server.shutdown()
        server.server_close()
        server.close_connections()
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> HostileServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
