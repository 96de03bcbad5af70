"""One HTTP/1.1 exchange on a connection that is already open: the request's bytes out,
the response's status line, headers and body in, read within the run's limits.

A page loop sends the same GET to one host thousands of times. For each, urllib3 and
http.client build the request a header at a time, parse the response's headers with
``email.feedparser`` and wrap the body in three layers of readers: two thirds of the
instructions of a page from a local API. This reads the same bytes with a few
``bytes`` operations, and parses them as http.client and urllib3 do (the status line,
header folding and repeats, ``Content-Length`` and chunked framing, keep-alive, the
content decoders of urllib3 itself); ``tests/http/test_wire.py`` sends each of a list
of answers, well-formed and not, through both and compares what the caller sees.

Connecting (DNS, TLS, proxies, connect timeouts) stays urllib3's: the transport adapter
(:mod:`headwater.http.session`) uses this only on a connection urllib3 opened and
kept alive, and maps what is raised here to requests' errors as urllib3 and requests
would.
"""

from __future__ import annotations

import functools
import http.client
import re
import socket
from collections.abc import Sequence
from typing import Any

__all__ = ["Exchange", "request_head"]

#: http.client's limits: one line of the head, and the number of header lines.
MAX_LINE = 65536
MAX_HEADERS = 100
_RECV = 65536
# A body of a declared length up to this is read whole, in one piece.
_WHOLE = 16 * _RECV

# http.client's checks of what it sends (``putrequest`` / ``putheader``)
_LEGAL_NAME = re.compile(rb"[^:\s][^:\r\n]*").fullmatch
_ILLEGAL_VALUE = re.compile(rb"\n(?![ \t])|\r(?![ \t\n])").search
_BAD_TARGET = re.compile("[\x00-\x20\x7f]").search
# email.feedparser's header line (compat32, as http.client parses headers)
_HEADER_LINE = re.compile(r"[\041-\071\073-\176]*:").match
_LINE_END = re.compile(r"\r\n|\r|\n")
# urllib3's unfolding of an obsolete folded value
_FOLD = re.compile(r"(?:(?<![ \t])[ \t]+)?\r\n[ \t]+")


@functools.lru_cache(maxsize=64)
def _header_block(host: str | None, headers: tuple[tuple[Any, Any], ...]) -> bytes | None:
    """The header lines after the request line, as urllib3 sends a GET without a
    body, or ``None`` where http.client would refuse a name or value."""
    from urllib3.connection import _get_default_user_agent

    names = {(k.decode("ascii") if isinstance(k, bytes) else k).lower() for k, _ in headers}
    lines: list[bytes] = []
    if "host" not in names and host is not None:
        lines.append(b"Host: " + host.encode("ascii"))
    if "accept-encoding" not in names:
        lines.append(b"Accept-Encoding: identity")
    if "user-agent" not in names:
        lines.append(b"User-Agent: " + _get_default_user_agent().encode("latin-1"))
    for name, value in headers:
        try:
            raw_name = name.encode("ascii") if isinstance(name, str) else bytes(name)
            if isinstance(value, str):
                raw_value = value.encode("latin-1")
            elif isinstance(value, bytes):
                raw_value = value
            elif isinstance(value, int):
                raw_value = str(value).encode("ascii")
            else:
                return None
        except UnicodeEncodeError:
            return None
        if not _LEGAL_NAME(raw_name) or _ILLEGAL_VALUE(raw_value):
            return None
        lines.append(raw_name + b": " + raw_value)
    lines.append(b"\r\n")
    return b"\r\n".join(lines)


def host_header(host: str, port: int | None, default_port: int) -> str:
    """``Host`` as http.client writes it for a connection to ``host``:``port``."""
    try:
        host.encode("ascii")
    except UnicodeEncodeError:
        host = host.encode("idna").decode("ascii")
    if ":" in host:
        host = f"[{host}]"
    return host if port is None or port == default_port else f"{host}:{port}"


def request_head(
    method: str, target: str, host: str | None, headers: Sequence[tuple[Any, Any]]
) -> bytes | None:
    """The bytes of a request without a body, as urllib3 and http.client send it, or
    ``None`` when they would refuse it (a control character in the target, a header
    that is not one): then let them send it, and say why."""
    if not target.isascii() or _BAD_TARGET(target) or not method.isalpha():
        return None
    try:
        block = _header_block(host, tuple(headers))
    except TypeError:  # a value that is not one (a list): http.client says what
        return None
    if block is None:
        return None
    return f"{method} {target} HTTP/1.1\r\n".encode("ascii") + block


class Exchange:
    """Reads one response from ``sock`` (its request already sent).

    :meth:`read_head` raises what http.client raises for a broken head
    (``RemoteDisconnected``, ``BadStatusLine``, ``LineTooLong``, ...), ``OSError`` and
    ``socket.timeout``; :meth:`read_body` raises ``http.client.IncompleteRead`` for a
    body cut short or a chunk size that is not one, ``OSError``, and
    :class:`TooLarge` past ``limit`` decoded (or raw) bytes.
    """

    __slots__ = (
        "buf",
        "chunked",
        "headers",
        "length",
        "pairs",
        "pos",
        "raw_bytes",
        "reason",
        "sock",
        "spellings",
        "status",
        "version",
        "will_close",
    )

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = b""
        self.pos = 0
        self.status = 0
        self.reason = ""
        self.version = 11
        self.pairs: list[tuple[str, str]] = []
        self.headers: dict[str, str] = {}
        self.spellings: dict[str, str] = {}
        self.will_close = False
        self.chunked = False
        self.length: int | None = None
        self.raw_bytes = 0

    # ------------------------------------------------------------------ reading

    def _readline(self) -> bytes:
        """One line, its end included, of at most ``MAX_LINE + 1`` bytes
        (``readline(MAX_LINE + 1)``); short at the end of the stream.

        A line that arrives in many pieces is joined once (a server trickling a long
        line a byte at a time costs each byte one copy, not one per piece after it)."""
        start = self.pos
        end = self.buf.find(b"\n", start, start + MAX_LINE + 1)
        if end >= 0:
            self.pos = end + 1
            return self.buf[start : end + 1]
        pieces = [self.buf[start:]]
        size = len(pieces[0])
        self.buf, self.pos = b"", 0
        while size <= MAX_LINE:
            data = self.sock.recv(_RECV)
            if not data:
                break
            end = data.find(b"\n")
            if end >= 0 and size + end < MAX_LINE + 1:
                pieces.append(data[: end + 1])
                self.buf = data[end + 1 :]
                return b"".join(pieces)
            pieces.append(data)
            size += len(data)
        whole = b"".join(pieces)
        self.buf = whole[MAX_LINE + 1 :]
        return whole[: MAX_LINE + 1]

    def _read(self, n: int) -> bytes:
        """``n`` bytes, or :class:`http.client.IncompleteRead` with what came."""
        have = len(self.buf) - self.pos
        if have >= n:
            data = self.buf[self.pos : self.pos + n]
            self.pos += n
            return data
        parts = [self.buf[self.pos :]]
        self.buf, self.pos = b"", 0
        while have < n:
            data = self.sock.recv(min(n - have, 1 << 20))
            if not data:
                raise http.client.IncompleteRead(b"".join(parts), n - have)
            parts.append(data)
            have += len(data)
        return b"".join(parts)

    def read_head(self, method: str) -> None:
        """The status line and headers (a ``100 Continue`` skipped), and the framing."""
        while True:
            version, status, reason = self._status_line()
            if status != 100:
                break
            for _ in self._header_lines():
                pass
        self.status, self.reason = status, reason.strip()
        if version in ("HTTP/1.0", "HTTP/0.9"):
            self.version = 10
        elif version.startswith("HTTP/1."):
            self.version = 11
        else:
            raise http.client.UnknownProtocol(version)
        self._parse_headers(b"".join(self._header_lines()).decode("iso-8859-1"))
        headers = self.headers
        self.chunked = self._first("transfer-encoding").lower() == "chunked"
        if status in (204, 304) or status < 200 or method == "HEAD":
            self.length = 0
        elif self.chunked:
            self.length = None
        else:
            self.length = _content_length(headers.get("content-length"))
        self.will_close = self._closes()
        if (not self.chunked and self.length is None) or status < 200:
            # an informational answer (103) comes before the real one, which would
            # be left on the connection for the next request: never reuse it
            self.will_close = True

    def _status_line(self) -> tuple[str, int, str]:
        # http.client.HTTPResponse._read_status
        line = str(self._readline(), "iso-8859-1")
        if len(line) > MAX_LINE:
            raise http.client.LineTooLong("status line")
        if not line:
            raise http.client.RemoteDisconnected("Remote end closed connection without response")
        try:
            version, status, reason = line.split(None, 2)
        except ValueError:
            try:
                version, status = line.split(None, 1)
                reason = ""
            except ValueError:
                version = ""
        if not version.startswith("HTTP/"):
            raise http.client.BadStatusLine(line)
        try:
            code = int(status)
        except ValueError:
            raise http.client.BadStatusLine(line) from None
        if code < 100 or code > 999:
            raise http.client.BadStatusLine(line)
        return version, code, reason

    def _header_lines(self) -> list[bytes]:
        # http.client._read_headers
        lines: list[bytes] = []
        while True:
            line = self._readline()
            if len(line) > MAX_LINE:
                raise http.client.LineTooLong("header line")
            if line in (b"\r\n", b"\n", b""):
                return lines
            lines.append(line)
            if len(lines) > MAX_HEADERS:
                raise http.client.HTTPException(f"got more than {MAX_HEADERS} headers")

    def _parse_headers(self, text: str) -> None:
        """Header lines as ``email.feedparser`` (compat32) reads them, folded values
        joined as urllib3 joins them; repeats joined with ``", "`` under the first
        spelling of the name, as urllib3's and requests' header dicts read them."""
        pairs: list[tuple[str, str]] = []
        name = value = None
        for line in _LINE_END.split(text):
            if not line:
                continue
            if line[0] in " \t":
                if name is not None:  # a continuation of the value before
                    value = f"{value}\r\n{line}"
                continue
            if not _HEADER_LINE(line):
                break  # feedparser: the headers end here, the rest is a body
            if name is not None:
                pairs.append((name, value))  # type: ignore[arg-type]
            name, _, value = line.partition(":")
            value = value.lstrip(" \t")
        if name is not None:
            pairs.append((name, value))  # type: ignore[arg-type]
        merged: dict[str, list[str]] = {}
        for index, (name, value) in enumerate(pairs):
            if "\r\n" in value:
                value = _FOLD.sub(" ", value)
                pairs[index] = (name, value)
            key = name.lower()
            seen = merged.get(key)
            if seen is None:
                merged[key] = [name, value]
            else:
                seen[1] = f"{seen[1]}, {value}"
        self.pairs = pairs
        self.headers = {key: value for key, (_, value) in merged.items()}
        self.spellings = {key: name for key, (name, _) in merged.items()}

    def _first(self, key: str) -> str:
        """The first value of header ``key`` (``Message.get``)."""
        for name, value in self.pairs:
            if name.lower() == key:
                return value
        return ""

    def _closes(self) -> bool:
        # http.client.HTTPResponse._check_close
        conn = self._first("connection")
        if self.version == 11:
            return bool(conn) and "close" in conn.lower()
        if self.headers.get("keep-alive"):
            return False
        if conn and "keep-alive" in conn.lower():
            return False
        pconn = self._first("proxy-connection")
        return not (pconn and "keep-alive" in pconn.lower())

    def read_body(self, limit: int | None, decoder: Any) -> bytes | bytearray:
        """The body, decoded by ``decoder`` (urllib3's, or ``None``), at most ``limit``
        bytes decoded or raw; whether the connection can be kept is then
        :attr:`reusable`. A decoder's error is raised as :class:`DecodeFailed`."""
        first = b""
        body: bytearray | None = None  # one buffer grown in place past one piece
        total = 0
        for raw in self._raw_pieces(limit):
            pieces = [raw] if decoder is None else self._decoded(decoder, raw)
            for piece in pieces:
                total += len(piece)
                if limit is not None and total > limit:
                    raise TooLarge
                if not piece:
                    continue
                if body is not None:
                    body += piece
                elif first:
                    body = bytearray(first)
                    body += piece
                else:
                    first = piece
        if decoder is not None:
            try:
                piece = decoder.decompress(b"") + decoder.flush()
            except Exception as exc:
                raise DecodeFailed from exc
            total += len(piece)
            if limit is not None and total > limit:
                raise TooLarge
            if piece:
                if body is None:
                    body = bytearray(first)
                body += piece
        return body if body is not None else first

    @staticmethod
    def _decoded(decoder: Any, raw: bytes) -> Any:
        """``raw`` through ``decoder``, at most ``_RECV`` bytes out at a time (a gzip
        bomb never sits in memory whole)."""
        try:
            yield decoder.decompress(raw, max_length=_RECV)
            while decoder.has_unconsumed_tail:
                yield decoder.decompress(b"", max_length=_RECV)
        except Exception as exc:
            raise DecodeFailed from exc

    def _raw_pieces(self, limit: int | None) -> Any:
        """The body's bytes as they come off the wire (chunked framing removed)."""
        if self.chunked:
            yield from self._chunks(limit)
            return
        length = self.length
        if length is not None:
            if limit is not None and length > limit:
                raise TooLarge  # the raw bytes alone are past the limit
            self.raw_bytes = length
            if length <= _WHOLE:
                if length:
                    yield self._read(length)
                return
            while length:
                piece = self._read_some(length)
                if not piece:
                    raise http.client.IncompleteRead(b"", length)
                length -= len(piece)
                yield piece
            return
        # no framing: to the end of the stream
        while True:
            piece = self._read_some(_RECV)
            if not piece:
                return
            self.raw_bytes += len(piece)
            if limit is not None and self.raw_bytes > limit:
                raise TooLarge
            yield piece

    def _read_some(self, most: int) -> bytes:
        """Up to ``most`` bytes: what is buffered, or one read."""
        if self.pos < len(self.buf):
            piece = self.buf[self.pos : self.pos + most]
            self.pos += len(piece)
            return piece
        return self.sock.recv(min(most, _RECV))

    def _chunks(self, limit: int | None) -> Any:
        """The chunks' data; a chunk cut short or a size that is not one is
        ``IncompleteRead`` of nothing, as http.client reports both."""
        while True:
            line = self._readline()
            if len(line) > MAX_LINE:
                raise http.client.LineTooLong("chunk size")
            try:
                size = int(line.split(b";", 1)[0], 16)
            except ValueError:
                raise http.client.IncompleteRead(b"") from None
            if size < 0:
                raise http.client.IncompleteRead(b"")
            if size == 0:
                # trailers, to the blank line (or the end of the stream)
                while True:
                    trailer = self._readline()
                    if len(trailer) > MAX_LINE:
                        raise http.client.LineTooLong("trailer line")
                    if trailer in (b"\r\n", b"\n", b""):
                        return
            self.raw_bytes += size
            if limit is not None and self.raw_bytes > limit:
                raise TooLarge
            try:
                data = self._read(size)
                self._read(2)  # the chunk's CRLF
            except http.client.IncompleteRead:
                raise http.client.IncompleteRead(b"") from None
            yield data

    @property
    def reusable(self) -> bool:
        """Whether the connection can carry the next request: kept alive, and nothing
        after this response's end."""
        return not self.will_close and self.pos >= len(self.buf)


def _content_length(value: str | None) -> int | None:
    """The body's length from ``Content-Length`` (its repeats joined), as urllib3
    reads it: ``None`` for garbage or a negative length, :class:`ConflictingLength`
    for two different lengths."""
    if value is None:
        return None
    try:
        lengths = {int(part) for part in value.split(",")}
    except ValueError:
        return None
    if len(lengths) > 1:
        raise ConflictingLength(value)
    length = lengths.pop()
    return length if length >= 0 else None


class TooLarge(Exception):
    """The body went past the response size limit."""


class DecodeFailed(Exception):
    """The content decoder refused the body (the decoder's error is the cause)."""


class ConflictingLength(http.client.HTTPException):
    """``Content-Length`` with two different values (urllib3's ``InvalidHeader``)."""

    def __init__(self, value: str) -> None:
        super().__init__(f"Content-Length contained multiple unmatching values ({value})")
