"""Keeps secret values out of logs, error messages and files.

Every secret Headwater knows (settings marked secret, access tokens it obtained, the
base64 an HTTP basic credential is sent as) is registered here. :func:`redact`
replaces each one, and its URL-encoded forms, by ``***``. :func:`install` wraps the
logging record factory so that every log record, of every logger (Headwater's, dlt's,
requests', urllib3's) at every level, is redacted when it is created — before any
handler or file sees it.

The registry is process-wide by necessity: logging is process-wide.
"""

from __future__ import annotations

import base64
import logging
import re
import threading
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, quote_plus

__all__ = [
    "MASK",
    "MIN_LENGTH",
    "SHORT",
    "forget",
    "install",
    "is_secret_name",
    "redact",
    "register",
    "register_basic",
    "register_parameter",
    "registered",
    "scrub",
]

MASK = "***"
#: Values shorter than this are not masked at all: masking "1" or "ab" wherever it
#: stands alone would still garble numbers, paths and words ("HTTP ***.***"), and no
#: real secret is that short. Registering one logs a warning (without the value).
MIN_LENGTH = 4
#: Values shorter than this (and at least :data:`MIN_LENGTH`) are masked only where they
#: stand alone (not inside a longer word or number): masking "abcd" inside every word
#: would garble the logs, but such a secret is still masked as a URL parameter value
#: or a quoted string.
SHORT = 8

log = logging.getLogger("headwater.redact")

_lock = threading.Lock()
_secrets: set[str] = set()
#: query parameters whose value is a secret whatever its length (an API key's name)
_parameters: set[str] = set()
_pattern: re.Pattern[str] | None = None
_installed = False
#: lengths of too-short values already warned about (the values are not kept)
_warned: set[int] = set()


def register(values: Iterable[Any]) -> None:
    """Add secret values to redact (and their URL-encoded forms)."""
    added = False
    with _lock:
        for value in values:
            if value is None:
                continue
            text = str(value)
            if not text:
                continue
            if len(text) < MIN_LENGTH:
                if len(text) not in _warned:
                    _warned.add(len(text))
                    log.warning(
                        "a secret value of %d character(s) is too short to be masked in "
                        "logs and messages (at least %d are masked); a real secret is "
                        "longer: check the setting",
                        len(text),
                        MIN_LENGTH,
                    )
                continue
            for form in {text, quote(text, safe=""), quote_plus(text), quote(text)}:
                if form not in _secrets:
                    _secrets.add(form)
                    added = True
        if added:
            _compile()


def register_basic(username: str, password: str) -> None:
    """Add an HTTP basic credential as a secret in the form a request carries it: the
    base64 of ``username:password`` (as requests' ``HTTPBasicAuth`` encodes it, and in
    UTF-8) and ``Basic <base64>``, with their URL-encoded forms — a server that echoes
    the ``Authorization`` header into a redirect's URL has urllib3 log it. Nothing is
    added without a password (the user name alone is no secret)."""
    if not password:
        return
    forms: list[str] = []
    for encoding in ("latin1", "utf-8"):
        try:
            pair = f"{username}:{password}".encode(encoding)
        except UnicodeEncodeError:
            continue
        encoded = base64.b64encode(pair).decode("ascii")
        forms += [encoded, f"Basic {encoded}"]
    register(forms)


def register_parameter(name: str) -> None:
    """Mask the value of query parameter ``name`` in every URL, whatever its length
    (a secret too short to mask as a value, ``?api_key=ab``, is still masked there)."""
    with _lock:
        if name and name not in _parameters:
            _parameters.add(name)
            _compile()


def _compile() -> None:
    """Rebuild the pattern (with ``_lock`` held)."""
    global _pattern
    # Longest first, so a secret containing another is masked whole.
    ordered = [_alternative(s) for s in sorted(_secrets, key=len, reverse=True)]
    for name in sorted(_parameters):
        for form in {name, quote(name, safe=""), quote_plus(name)}:
            # a fixed-width look-behind per name: the value after "?name=" or "&name="
            ordered.append(rf"(?<=[?&]{re.escape(form)}=)[^&#\s'\"<>]+")
    _pattern = re.compile("|".join(ordered)) if ordered else None


def _alternative(secret: str) -> str:
    escaped = re.escape(secret)
    if len(secret) >= SHORT:
        return escaped
    return rf"(?<![A-Za-z0-9_]){escaped}(?![A-Za-z0-9_])"


def forget() -> None:
    """Forget every registered secret (test isolation: one test's token is not the next
    test's secret). Logging stays redacted for secrets registered afterwards."""
    global _pattern
    with _lock:
        _secrets.clear()
        _parameters.clear()
        _warned.clear()
        _pattern = None


def registered() -> frozenset[str]:
    """The registered secret values (for tests)."""
    with _lock:
        return frozenset(_secrets)


def redact(text: str) -> str:
    """``text`` with every registered secret replaced by ``***``."""
    pattern = _pattern
    if pattern is None or not text:
        return text
    return pattern.sub(MASK, text)


def scrub(exc: BaseException) -> None:
    """Redact the text of ``exc`` and of every exception chained to it (``__cause__``,
    ``__context__``), in place: dlt keeps each one's text in the pipeline's trace
    file. An exception whose text its arguments do not make (redacting them does not
    take the secret out) is replaced in the chain by a plain one with the redacted
    text."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        for link in ("__cause__", "__context__"):
            chained = getattr(current, link)
            if chained is not None and not _scrubbed(chained):
                replacement = Exception(f"{type(chained).__name__}: {redact(str(chained))}")
                setattr(current, link, replacement)
        if current is exc and not _scrubbed(exc):
            exc.args = (redact(str(exc)),)
        current = current.__cause__ or current.__context__


def _scrubbed(exc: BaseException) -> bool:
    """Redact ``exc``'s arguments; whether its text is then free of secrets."""
    try:
        text = str(exc)
    except Exception:  # an exception that cannot say itself keeps no secret either
        return True
    if redact(text) == text:
        return True
    exc.args = tuple(redact(a) if isinstance(a, str) else a for a in exc.args)
    try:
        text = str(exc)
    except Exception:
        return False
    return redact(text) == text


def install() -> None:
    """Redact every log record from now on (idempotent)."""
    global _installed
    with _lock:
        if _installed:
            return
        previous = logging.getLogRecordFactory()

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            if _pattern is not None:
                try:
                    message = record.getMessage()
                except Exception:  # a broken format string: leave it to logging to report
                    return record
                record.msg, record.args = redact(message), None
                if record.exc_info and record.exc_info[1] is not None and not record.exc_text:
                    record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
                    record.exc_info = None
            return record

        logging.setLogRecordFactory(factory)
        _installed = True


#: dlt setting names (environment variables or TOML keys) that hold destination secrets
_SECRET_NAME = re.compile(r"credentials|password|secret|token|private_key|api_key", re.I)


def is_secret_name(name: str) -> bool:
    """Whether a dlt setting called ``name`` (its last part) holds a secret."""
    return _SECRET_NAME.search(name.rsplit("__", 1)[-1].rsplit(".", 1)[-1]) is not None
