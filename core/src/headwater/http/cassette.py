"""Recorded HTTP traffic: scrubbed as it is captured, written as vcrpy cassettes, served
back offline.

Why not vcrpy's own interception: vcrpy patches urllib3's connection classes and
serves its own response object, whose ``read1`` does not take ``decode_content`` —
Headwater's bounded body reader (:mod:`headwater.http.session`) needs it, so a run
under ``vcr.use_cassette`` fails on its first page. Recording and replay therefore
happen at Headwater's transport adapter (every session Headwater builds sends through
it, the lean GET path of the page loop included), and the cassettes are written and
read with vcrpy's own serializer: any vcrpy user can load them.

:class:`Scrubber` replaces every secret by a stable placeholder *before* anything is
kept: the same secret always becomes the same placeholder, so a replayed request
still matches its recording. :func:`recording` captures, :func:`replaying` serves.
"""

from __future__ import annotations

import contextlib
import difflib
import email.message
import io
import json
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, quote_plus, unquote, urlencode, urlsplit, urlunsplit

import requests
import requests.adapters

from headwater import redact
from headwater.errors import ConfigError, HeadwaterError, ResponseError

__all__ = [
    "NotRecorded",
    "Player",
    "Scrubber",
    "Tape",
    "is_credential_name",
    "read_cassettes",
    "recording",
    "render_cassette",
    "replaying",
    "write_cassette",
]

#: headers whose whole value is a credential, whatever it looks like
_CREDENTIAL_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "cookie", "set-cookie", "www-authenticate"}
)
#: parts of a name that make it a credential wherever it is (request or response)
_STRONG = (
    "token",
    "secret",
    "password",
    "passwd",
    "apikey",
    "api_key",
    "private_key",
    "assertion",
    "credential",
    "authorization",
    "cookie",
    "jwt",
)
#: whole words of a name that make it a credential in a request (in a record they are
#: too often data: an issue's ``key``, a meeting's ``code``)
_WEAK = frozenset({"key", "signature", "sig", "session", "sessionid", "sid", "auth", "code"})
#: words of pagination tokens and cursors, which are not credentials and must replay
_PAGING = ("page", "next", "continuation", "skip", "sync", "delta", "resume", "cursor")
#: endings of names that describe a credential without being one (``token_type``,
#: ``token_url``, ``refresh_token_expires_in``)
_ABOUT = ("_type", "_url", "_uri", "_endpoint", "_expires_in", "_expires_at", "_ttl", "_count")
#: headers a recorded body no longer matches (it is kept decoded)
_BODY_HEADERS = frozenset({"content-encoding", "transfer-encoding", "content-length"})

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
#: a masked number is this plus its number (one per distinct value): it stays a number,
#: distinct values stay distinct, and it reads as a mask
MASKED_NUMBER_BASE = 900_000_000
_TEMPLATE_PART = re.compile(r"(\{[^{}]*\})")
_LINK_TARGET = re.compile(r"<([^<>]*)>")


def _normal(name: str) -> str:
    return _CAMEL.sub("_", str(name)).lower().replace("-", "_").strip("$_")


def is_credential_name(name: str, *, request: bool = True) -> bool:
    """Whether a header, parameter or body field called ``name`` holds a credential.

    ``request``: also the words that are credentials in a request but often data in a
    response record (``key``, ``session``, ``signature``...). Pagination tokens
    (``nextPageToken``, ``$skiptoken``) are not credentials: they must replay."""
    normal = _normal(name)
    if any(word in normal for word in _PAGING) or normal.endswith(_ABOUT):
        return False
    if any(word in normal for word in _STRONG):
        return True
    return request and bool(_WEAK.intersection(normal.split("_")))


class Scrubber:
    """Replaces secrets by stable placeholders in everything about to be recorded.

    ``secrets`` maps a placeholder's label to a secret value (the secret settings:
    ``{"client_secret": "..."}``); values :mod:`headwater.redact` knows (tokens obtained
    at run time) and values found under credential names are added as they are met.
    ``mask`` names personal-data fields of records whose values are replaced too, one
    mask per distinct value whatever its length or type (a number by a number). A
    masked value is replaced in text only when it is long enough not to be a part of
    unrelated text (:data:`headwater.redact.MIN_LENGTH`); a value of any length is
    replaced where ``child_paths`` put one in a URL path: ``(template, placeholder,
    field)``, the path template of a child resource (below the base URL's path), the
    placeholder its parent's record field fills and that field
    (``("/v1/users/{uid}/items", "uid", "id")``): there only that field's masks apply.
    Thread-safe: pages of several resources are captured at once.
    """

    def __init__(
        self,
        secrets: Mapping[str, Any] = (),
        mask: Iterable[str] = (),
        child_paths: Iterable[tuple[str, str, str]] = (),
    ) -> None:
        self._lock = threading.RLock()
        self._values: dict[str, str] = {}
        self._placeholders: set[str] = set()
        self._counts: dict[str, int] = {}
        self._pattern: re.Pattern[str] | None = None
        self.mask = frozenset(_normal(m) for m in mask)
        #: masked values: ``(kind, text)`` -> the mask (``kind``: "number" or "text")
        self._masks: dict[tuple[str, str], Any] = {}
        #: (masked field, a value as a URL carries it) -> its mask as one would
        self._masked_texts: dict[tuple[str, str], str] = {}
        self._numbers = 0
        self._child_paths = [(_child_path_pattern(t, p), _normal(f)) for t, p, f in child_paths]
        for label, value in dict(secrets).items():
            self.add(value, label=label, numbered=False)

    def masks(self, name: str) -> bool:
        """Whether the values of record field ``name`` are masked."""
        return _normal(name) in self.mask

    # ------------------------------------------------------------ the value map

    def placeholder(self, value: Any, label: str) -> str:
        """The placeholder of ``value`` (a new one, ``redacted-<label>-<n>``, the first
        time it is met)."""
        text = str(value)
        with self._lock:
            if text in self._placeholders:  # scrubbed already (a known secret's value)
                return text
            known = self._values.get(text)
            return known if known is not None else self.add(text, label=label)

    def add(
        self, value: Any, *, label: str, numbered: bool = True, prefix: str = "redacted"
    ) -> str:
        """Keep ``value`` as a secret; returns its placeholder."""
        text = "" if value is None else str(value)
        with self._lock:
            if text in self._values:
                return self._values[text]
            safe = re.sub(r"[^A-Za-z0-9_]+", "_", label).strip("_") or "secret"
            if numbered:
                self._counts[safe] = self._counts.get(safe, 0) + 1
                placeholder = f"{prefix}-{safe}-{self._counts[safe]}"
            else:
                placeholder = f"{prefix}-{safe}"
            self._placeholders.add(placeholder)
            if len(text) >= redact.MIN_LENGTH:
                for form in {text, quote(text, safe=""), quote_plus(text), quote(text)}:
                    self._values.setdefault(form, placeholder)
                self._pattern = None
            return placeholder

    def learn(self) -> None:
        """Take in the secrets :mod:`headwater.redact` knows now (tokens obtained since)."""
        for value in redact.registered():
            if value not in self._values:
                self.add(value, label="secret")

    @property
    def secrets(self) -> frozenset[str]:
        """Every secret value known (for the final check of what is written)."""
        with self._lock:
            return frozenset(v for v, p in self._values.items() if not p.startswith("masked-"))

    def text(self, text: str) -> str:
        """``text`` with every known secret replaced by its placeholder."""
        if not text:
            return text
        with self._lock:
            if not self._values:
                return text
            if self._pattern is None:
                ordered = sorted(self._values, key=len, reverse=True)
                self._pattern = re.compile("|".join(re.escape(v) for v in ordered))
            pattern, values = self._pattern, self._values
        return pattern.sub(lambda m: values[m.group(0)], text)

    # ------------------------------------------------------------ structures

    def url(self, url: str, *, masked_paths: bool = True) -> str:
        """A URL with credential-named parameters and known secrets replaced, and
        (``masked_paths``) a masked value where a child resource's path has its
        parent's field: scrub a URL once with it, or a masked number that equals
        another value would be masked again."""
        parts = urlsplit(self.text(url))
        if masked_paths:
            parts = parts._replace(path=self._masked_path(parts.path))
        if not parts.query:
            return urlunsplit(parts)
        return urlunsplit(parts._replace(query=self.form(parts.query)))

    def _masked_path(self, path: str) -> str:
        """``path`` with the parent's value of the child path it is masked, when it is
        a masked value (of any length: the whole placeholder's part, never a part of
        other text)."""
        if not self._child_paths or not self._masked_texts:
            return path
        for pattern, field in self._child_paths:
            match = pattern.fullmatch(path)
            if match is None:
                continue
            with self._lock:  # the masks of the field that fills the path, only
                masked = self._masked_texts.get((field, unquote(match.group("value"))))
            if masked is not None:
                start, end = match.span("value")
                return path[:start] + quote(masked, safe="") + path[end:]
        return path

    def _masked_link(self, text: str) -> str:
        """A URL in a response (a next link, a ``Link`` header's targets) with a masked
        value in a child path masked: the replay follows it as recorded."""
        if not self._child_paths or not self._masked_texts:
            return text
        if text.startswith(("http://", "https://", "/")):
            parts = urlsplit(text)
            return urlunsplit(parts._replace(path=self._masked_path(parts.path)))
        if "<" in text:  # a Link header: <url>; rel="next", ...
            return _LINK_TARGET.sub(lambda m: f"<{self._masked_link(m.group(1))}>", text)
        return text

    def form(self, body: str) -> str:
        """A form (or query string) with credential-named fields replaced."""
        pairs = parse_qsl(body, keep_blank_values=True)
        out = [
            (k, self.placeholder(v, k) if v and is_credential_name(k) else self.text(v))
            for k, v in pairs
        ]
        return urlencode(out)

    def json_value(self, value: Any, *, request: bool, name: str | None = None) -> Any:
        """A decoded JSON value with credential-named fields (and masked personal
        fields) replaced, and known secrets replaced in every string."""
        if name is not None and self.masks(name):
            return self._masked(value, name)
        if isinstance(value, dict):
            return {k: self.json_value(v, request=request, name=k) for k, v in value.items()}
        if isinstance(value, list):
            return [self.json_value(v, request=request, name=name) for v in value]
        credential = name is not None and is_credential_name(name, request=request)
        if credential and value not in (None, ""):
            return self.placeholder(value, name)
        if isinstance(value, str):
            return self._masked_link(self.text(value))
        return value

    def _masked(self, value: Any, name: str) -> Any:
        """``value`` of the masked field ``name`` masked: every value in it, when it is
        an object or a list; true, false and null are kept (they have no value to
        mask one-to-one)."""
        if isinstance(value, dict):
            return {k: self._masked(v, name) for k, v in value.items()}
        if isinstance(value, list):
            return [self._masked(v, name) for v in value]
        if value is None or isinstance(value, bool):
            return value
        kind = "number" if isinstance(value, (int, float)) else "text"
        text = str(value)
        with self._lock:
            known = self._masks.get((kind, text))
            if known is None:
                known = self._new_mask(value, kind, text, _normal(name) or "field")
            self._masked_texts.setdefault((_normal(name), text), str(known))
            return known

    def _new_mask(self, value: Any, kind: str, text: str, label: str) -> Any:
        # called with the lock held
        mask: Any
        if kind == "number":
            self._numbers += 1
            number = MASKED_NUMBER_BASE + self._numbers
            mask = float(number) if isinstance(value, float) else number
        elif text in self._placeholders:  # a placeholder already (scrubbed twice)
            mask = text
        elif text in self._values and len(text) >= redact.MIN_LENGTH:
            mask = self._values[text]  # a secret's, or masked in another field
        else:
            safe = re.sub(r"[^A-Za-z0-9_]+", "_", label).strip("_") or "field"
            self._counts[safe] = self._counts.get(safe, 0) + 1
            mask = f"masked-{safe}-{self._counts[safe]}"
            if "@" in text:  # keep it an email address for formats and checks
                mask = f"{mask}@example.invalid"
            self._placeholders.add(mask)
            if len(text) >= redact.MIN_LENGTH:  # long enough to replace in any text
                for form in {text, quote(text, safe=""), quote_plus(text), quote(text)}:
                    self._values.setdefault(form, mask)
                self._pattern = None
        self._masks[(kind, text)] = mask
        return mask

    def body(self, body: bytes | str | None, content_type: str, *, request: bool) -> bytes:
        """A request or response body scrubbed by its content type."""
        if body is None:
            return b""
        raw = body.encode() if isinstance(body, str) else bytes(body)
        if not raw:
            return raw
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            return raw  # binary: nothing readable to scrub (secrets are text)
        stripped = text.lstrip()
        if "json" in content_type or stripped[:1] in ("{", "["):
            try:
                decoded = json.loads(text)
            except ValueError:
                pass
            else:
                scrubbed = self.json_value(decoded, request=request)
                return json.dumps(scrubbed, ensure_ascii=False, separators=(",", ":")).encode()
        if "x-www-form-urlencoded" in content_type or (
            request and "=" in text and not stripped.startswith("<")
        ):
            return self.form(text).encode()
        return self.text(text).encode()

    def headers(self, headers: Mapping[str, Any], *, request: bool) -> dict[str, Any]:
        """Headers with credentials replaced; a scheme word (``Bearer``, ``Basic``) is
        kept in front of its placeholder. Known secrets are replaced in the names too (a
        server may echo one as a header name). As vcrpy keeps them: ``{name: value}``
        for a request, ``{name: [value]}`` for a response."""
        out: dict[str, Any] = {}
        for raw_name, value in headers.items():
            name = self.text(str(raw_name))
            lower = name.lower()
            if lower in _BODY_HEADERS:  # the body is kept decoded, and scrubbed
                continue
            text = str(value)
            if lower in _CREDENTIAL_HEADERS or is_credential_name(name):
                scheme, _, credential = text.partition(" ")
                if credential and scheme.isalpha() and lower.endswith("authorization"):
                    text = f"{scheme} {self.placeholder(credential, lower)}"
                elif lower in ("cookie", "set-cookie"):
                    text = self._cookie(text, lower)
                else:
                    text = self.placeholder(text, lower)
            else:
                text = self.text(text)
                if lower == "link":
                    text = self._masked_link(text)
            out[name] = text if request else [text]
        return out

    def _cookie(self, text: str, label: str) -> str:
        # name=value; attributes... : every cookie value is a credential (a session)
        parts = []
        for index, part in enumerate(text.split(";")):
            key, eq, value = part.partition("=")
            attribute = label == "set-cookie" and index > 0
            parts.append(
                f"{key}={self.placeholder(value, 'cookie')}" if eq and not attribute else part
            )
        return ";".join(parts)


def _child_path_pattern(template: str, placeholder: str) -> re.Pattern[str]:
    """The URL paths of a child path template, the parent's value as group ``value``
    (the other placeholders, settings, are any text of one segment)."""
    out = []
    for part in _TEMPLATE_PART.split(template):
        if part == "{" + placeholder + "}" and "(?P<value>" not in "".join(out):
            out.append("(?P<value>[^/]+)")
        elif part.startswith("{") and part.endswith("}"):
            out.append("[^/]+")
        else:
            out.append(re.escape(part))
    return re.compile("".join(out) + "/?")


# -------------------------------------------------------------------- cassettes


def _vcr_request(method: str, uri: str, body: bytes, headers: dict[str, list[str]]) -> Any:
    from vcr.request import Request

    return Request(method, uri, body or None, headers)


class Tape:
    """Interactions captured during a run, each scrubbed as it was captured.

    ``classify`` names the cassette an interaction belongs to (its resource, or
    ``_auth`` for the token endpoint) from the request's method and URL.
    """

    def __init__(self, scrubber: Scrubber, classify: Callable[[str, str], str]) -> None:
        self.scrubber = scrubber
        self.classify = classify
        self._lock = threading.Lock()
        self.interactions: list[tuple[str, Any, dict[str, Any]]] = []

    def capture(self, request: requests.PreparedRequest, response: requests.Response) -> None:
        """Keep one request and its response, scrubbed now (nothing raw is kept)."""
        scrub = self.scrubber
        scrub.learn()
        method = request.method or "GET"
        kind = str(request.headers.get("Content-Type", ""))
        req = _vcr_request(
            method,
            scrub.url(request.url or ""),
            scrub.body(request.body, kind, request=True),
            scrub.headers(dict(request.headers), request=True),
        )
        content = response.content if response._content_consumed else b""  # type: ignore[attr-defined]
        answer = {
            # the reason phrase is the server's text: it may echo a credential back
            "status": {
                "code": response.status_code,
                "message": scrub.text(str(response.reason or "")),
            },
            "headers": scrub.headers(dict(response.headers), request=False),
            "body": {
                "string": scrub.body(
                    content, str(response.headers.get("Content-Type", "")), request=False
                )
            },
        }
        if "location" in {k.lower() for k in answer["headers"]}:
            for key, values in answer["headers"].items():
                if key.lower() == "location":
                    answer["headers"][key] = [scrub.url(v) for v in values]
        name = self.classify(method, request.url or "")
        with self._lock:
            self.interactions.append((name, req, answer))

    def cassettes(self) -> dict[str, list[tuple[Any, dict[str, Any]]]]:
        """The interactions by cassette name, in the order they happened."""
        out: dict[str, list[tuple[Any, dict[str, Any]]]] = {}
        with self._lock:
            for name, req, answer in self.interactions:
                out.setdefault(name, []).append((req, answer))
        return out


def render_cassette(
    name: str, interactions: Sequence[tuple[Any, dict[str, Any]]], scrubber: Scrubber
) -> str:
    """The text of the vcrpy cassette ``name`` holding ``interactions``, after a last
    scrub with every secret known by now. Raises :class:`~headwater.errors.HeadwaterError`
    rather than return a text that still holds a known secret."""
    from vcr.serialize import serialize
    from vcr.serializers import yamlserializer

    scrubber.learn()
    text_of = scrubber.text
    requests_, responses = [], []
    for req, answer in interactions:
        body = req.body.decode("utf-8", "replace") if isinstance(req.body, bytes) else req.body
        requests_.append(
            _vcr_request(
                req.method,
                scrubber.url(req.uri, masked_paths=False),
                text_of(body or "").encode(),
                {text_of(str(k)): text_of(str(v)) for k, v in req.headers.items()},
            )
        )
        answer = json.loads(json.dumps(answer, default=lambda b: b.decode("utf-8", "replace")))
        answer["body"]["string"] = text_of(answer["body"]["string"] or "")
        answer["headers"] = {
            text_of(str(k)): [text_of(v) for v in vs] for k, vs in answer["headers"].items()
        }
        status = answer.get("status") or {}
        status["message"] = text_of(str(status.get("message") or ""))
        responses.append(answer)
    text = serialize({"requests": requests_, "responses": responses}, yamlserializer)
    if any(len(s) >= redact.MIN_LENGTH and s in text for s in scrubber.secrets):
        raise HeadwaterError(
            f"refusing to write the cassette {name}: a secret survived scrubbing; nothing "
            "was written (a Headwater bug: please report it, without the secret)"
        )
    return text


def write_cassette(
    path: Path, interactions: Sequence[tuple[Any, dict[str, Any]]], scrubber: Scrubber
) -> None:
    """Write ``interactions`` as a vcrpy cassette at ``path`` (:func:`render_cassette`);
    refuses (raises) rather than write a known secret."""
    path.write_text(render_cassette(path.name, interactions, scrubber), encoding="utf-8")


def read_cassettes(directory: Path) -> list[tuple[str, Any, dict[str, Any]]]:
    """Every interaction of the cassettes in ``directory``: ``(cassette, request,
    response)``, in each cassette's order. A cassette that cannot be read (cut short,
    edited into invalid YAML) is a :class:`~headwater.errors.ConfigError` naming it."""
    from vcr.serialize import deserialize
    from vcr.serializers import yamlserializer

    out: list[tuple[str, Any, dict[str, Any]]] = []
    for path in sorted(directory.glob("*.yaml")):
        try:
            loaded = deserialize(path.read_text(encoding="utf-8"), yamlserializer)
            pairs = list(zip(loaded[0], loaded[1], strict=True))
        except Exception as exc:  # YAML, vcrpy's own checks, bytes that are not text
            raise ConfigError(
                f"the cassette {path} cannot be read ({type(exc).__name__}); "
                "record again with headwater record"
            ) from None
        for number, (_, answer) in enumerate(pairs, 1):
            if (problem := _answer_problem(answer)) is not None:
                raise ConfigError(
                    f"the cassette {path} cannot be read (interaction {number}: {problem}); "
                    "record again with headwater record"
                )
        out.extend((path.stem, req, answer) for req, answer in pairs)
    return out


def _answer_problem(answer: Any) -> str | None:
    """What is wrong with a recorded response as :func:`_response` reads it (a
    cassette edited by hand), or ``None``."""
    if not isinstance(answer, Mapping):
        return "the response is not a mapping"
    status = answer.get("status")
    if not isinstance(status, Mapping) or "code" not in status:
        return "the response has no status code"
    code = status["code"]
    if isinstance(code, bool) or not isinstance(code, (int, str)) or not str(code).isdigit():
        return f"status code {code!r} is not a number"
    body = answer.get("body")
    if not isinstance(body, Mapping) or not isinstance(body.get("string"), (str, bytes)):
        return "the response has no body string"
    headers = answer.get("headers", {})
    if not isinstance(headers, Mapping):
        return "the response headers are not a mapping"
    return None


# -------------------------------------------------------------------- matching


def _normal_pairs(query: str) -> tuple[tuple[str, str], ...]:
    return tuple(
        sorted((k, "*" if is_credential_name(k) else v) for k, v in parse_qsl(query, True))
    )


def _normal_body(body: Any) -> str:
    if body is None:
        return ""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body)
    if not text:
        return ""
    try:
        decoded = json.loads(text)
    except ValueError:
        if "=" in text and not text.lstrip().startswith("<"):
            return repr(_normal_pairs(text))
        return text

    def blank(value: Any, name: str | None = None) -> Any:
        if isinstance(value, dict):
            return {k: blank(v, k) for k, v in value.items()}
        if isinstance(value, list):
            return [blank(v, name) for v in value]
        return "*" if name is not None and is_credential_name(name) else value

    return json.dumps(blank(decoded), sort_keys=True)


def _key(method: str, url: str, body: Any) -> tuple[str, str, str, tuple, str]:
    parts = urlsplit(url)
    return (
        method.upper(),
        f"{parts.scheme}://{parts.netloc}".lower(),
        parts.path or "/",
        _normal_pairs(parts.query),
        _normal_body(body),
    )


class NotRecorded(ResponseError):
    """A replayed run sent a request the recording does not have."""


class Player:
    """Serves recorded responses to the requests that match them.

    Requests match on method, origin, path, query and body; the values of
    credential-named parameters and fields are not compared (a signature or a
    timestamped assertion differs each run). Identical requests get the recorded
    responses in order (a 503 then its retry's 200), the last one again after that.
    """

    def __init__(
        self,
        interactions: Sequence[tuple[str, Any, dict[str, Any]]],
        directory: str,
        positions: Iterable[str] = (),
        unkept_ends: Iterable[str] = (),
    ) -> None:
        self.directory = directory
        #: query parameters that carry an incremental position: a request the recording
        #: lacks only in those comes from the pipeline's state, not a short recording
        self.positions = frozenset(positions)
        #: end parameters whose recorded value a replay cannot repeat: the recording
        #: does not keep the end of the recorded run (made by an earlier Headwater)
        self.unkept_ends = frozenset(unkept_ends)
        self._lock = threading.Lock()
        self._served: dict[tuple, int] = {}
        self._recorded: dict[tuple, list[dict[str, Any]]] = {}
        self._requests: list[tuple[tuple, str]] = []
        for _name, req, answer in interactions:
            key = _key(req.method, req.uri, req.body)
            if key not in self._recorded:
                self._requests.append((key, req.uri))
            self._recorded.setdefault(key, []).append(answer)

    def response(self, request: requests.PreparedRequest) -> requests.Response:
        """The recorded response to ``request``; :class:`NotRecorded` if there is none."""
        key = _key(request.method or "GET", request.url or "", request.body)
        with self._lock:
            answers = self._recorded.get(key)
            if answers is None:
                raise NotRecorded(self._missing(request, key))
            index = self._served.get(key, 0)
            self._served[key] = index + 1
        return _response(request, answers[min(index, len(answers) - 1)])

    def _missing(self, request: requests.PreparedRequest, key: tuple) -> str:
        method = key[0]
        asked = _show(request.url or "")
        closest = self._closest(key)
        fix = "record again with `headwater record` (more --pages if the API has more pages)"
        if closest is None:
            hint = "the recording has no request at all"
        else:
            other, uri = closest
            hint = f"closest recorded: {other[0]} {_show(uri)}{_difference(key, other)}"
            differing = _differing(key, other) if key[:3] == other[:3] else set()
            if differing & self.unkept_ends:
                fix = (
                    "the recording does not keep the end of the recorded run (it was made "
                    "by an earlier Headwater): record again with `headwater record`"
                )
            elif differing & self.positions:
                fix = (
                    "it starts at another incremental position than the recording (the "
                    "pipeline's, after an earlier load, or a start_date or --start given): "
                    "replay with --full-refresh or another --pipeline-name, and without them"
                )
        return redact.redact(
            f"replay: {method} {asked} is not in the recording {self.directory} ({hint}); " + fix
        )

    def _closest(self, key: tuple) -> tuple[tuple, str] | None:
        best: tuple[float, tuple, str] | None = None
        for other, uri in self._requests:
            score = difflib.SequenceMatcher(None, repr(key[:3]), repr(other[:3])).ratio() * 10
            score += difflib.SequenceMatcher(None, repr(key[3:]), repr(other[3:])).ratio()
            if best is None or score > best[0]:
                best = (score, other, uri)
        return None if best is None else (best[1], best[2])


def _show(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(("", "", parts.path, parts.query, "")) or "/"


def _differing(asked: tuple, recorded: tuple) -> set[str]:
    """The query parameters whose values differ between two keys (or that one lacks)."""
    mine, theirs = dict(asked[3]), dict(recorded[3])
    return {name for name in set(mine) | set(theirs) if mine.get(name) != theirs.get(name)}


def _difference(asked: tuple, recorded: tuple) -> str:
    """What differs, in words: ``(offset: 300, recorded 200)``."""
    if asked[:3] != recorded[:3]:
        return ""
    mine, theirs = dict(asked[3]), dict(recorded[3])
    changes = []
    for name in sorted(set(mine) | set(theirs)):
        if name not in theirs:
            changes.append(f"{name}={mine[name]} not recorded")
        elif name not in mine:
            changes.append(f"{name} missing, recorded {theirs[name]}")
        elif mine[name] != theirs[name]:
            changes.append(f"{name}: {mine[name]}, recorded {theirs[name]}")
    if asked[4] != recorded[4]:
        changes.append("the body differs")
    return f" ({'; '.join(changes)})" if changes else ""


def _response(request: requests.PreparedRequest, answer: Mapping[str, Any]) -> requests.Response:
    from urllib3 import HTTPResponse

    body = answer["body"]["string"] or b""
    if isinstance(body, str):
        body = body.encode("utf-8")
    headers = requests.structures.CaseInsensitiveDict()
    message = email.message.Message()
    for name, values in answer.get("headers", {}).items():
        for value in values if isinstance(values, list) else [values]:
            headers[name] = value
            message[name] = value
    headers["Content-Length"] = str(len(body))
    status = int(answer["status"]["code"])
    response = requests.Response()
    response.status_code = status
    response.reason = answer["status"].get("message", "")
    response.headers = headers
    response.url = request.url or ""
    response.request = request
    response.encoding = requests.utils.get_encoding_from_headers(headers)
    response._content = body  # type: ignore[attr-defined]
    response._content_consumed = True  # type: ignore[attr-defined]
    raw = HTTPResponse(
        body=io.BytesIO(body), headers=dict(headers), status=status, preload_content=False
    )
    raw._original_response = type("Original", (), {"msg": message})()  # for the cookie jar
    response.raw = raw
    return response


# -------------------------------------------------------------------- the transport


def _adapter_classes() -> tuple[type, type]:
    from headwater.http.session import _PoolCachingAdapter

    return _PoolCachingAdapter, requests.adapters.HTTPAdapter


@contextlib.contextmanager
def recording(tape: Tape) -> Iterator[Tape]:
    """Capture every response Headwater's sessions receive into ``tape`` meanwhile.

    The capture sits in Headwater's transport adapter, after the body was read
    (bounded), so the page loop's lean GET path, the token endpoint and every redirect
    hop are recorded alike. Process-wide while active, as vcrpy's patching is."""
    adapter_cls, _ = _adapter_classes()
    original = adapter_cls.send

    def send(self: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
        response = original(self, request, *args, **kwargs)
        tape.capture(request, response)
        return response

    adapter_cls.send = send  # type: ignore[method-assign]
    try:
        yield tape
    finally:
        adapter_cls.send = original  # type: ignore[method-assign]


@contextlib.contextmanager
def replaying(player: Player) -> Iterator[Player]:
    """Serve every request of every ``requests`` transport adapter from ``player``
    meanwhile: nothing reaches the network (a request the recording lacks raises
    :class:`NotRecorded`)."""
    classes = _adapter_classes()
    originals = [cls.__dict__["send"] for cls in classes]

    def send(self: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
        return player.response(request)

    for cls in classes:
        cls.send = send  # type: ignore[method-assign]
    try:
        yield player
    finally:
        for cls, original in zip(classes, originals, strict=True):
            cls.send = original  # type: ignore[method-assign]
