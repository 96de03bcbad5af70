"""Faults the simulator injects on demand: which requests, how many, and what goes
wrong (an error status, a dropped connection, a broken body, a delay)."""

from __future__ import annotations

import json
from typing import Any, Literal

import attrs

__all__ = ["FAULT_KINDS", "HTML_ERROR", "Fault", "FaultKind", "FaultSlot"]

FaultKind = Literal["status", "drop", "malformed_json", "html_200", "latency"]
FAULT_KINDS = ("status", "drop", "malformed_json", "html_200", "latency")
HTML_ERROR = (
    b"<!DOCTYPE html>\n<html><head><title>503 Service Unavailable</title></head>"
    b"<body><h1>Service Unavailable</h1><p>The upstream server is temporarily unable to "
    b"service your request. Please try again later.</p></body></html>\n"
)


def _retry_after(value: Any) -> str | None:
    return None if value is None else str(value)


def _count(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise ValueError(f"Fault.count must be a positive integer or None, got {value!r}")


@attrs.frozen
class Fault:
    """A failure the simulator injects into matching requests.

    ``kind``:

    * ``"status"``: answer ``status`` with a JSON error body, or with ``body`` when it
      is given (and a ``Retry-After`` header when ``retry_after`` is set, e.g. ``"1"``
      or an HTTP-date);
    * ``"drop"``: close the connection without answering;
    * ``"malformed_json"``: 200 with a truncated JSON body (``application/json``);
    * ``"html_200"``: 200 with an HTML error page (``text/html``);
    * ``"latency"``: wait ``delay`` seconds, then answer normally.

    ``resource`` picks the requests: ``None`` any API request (not the token endpoint),
    a resource name that resource's requests, ``"token"`` the token endpoint. The first
    ``after`` matching requests pass untouched, then the next ``count`` are faulted
    (``count=None``: all of them). With ``every=N`` only every Nth matching request
    after those is faulted (a steady rate, for soak runs), up to ``count`` times.
    ``delay`` is waited before any kind acts.
    Faults are tried in order and one request consumes at most one fault.

    ``body`` is the body of a ``"status"`` fault, so that a response rule matching body
    text (``ResponseRule(contains=...)``) can be tested: a dict or list is sent as JSON,
    a string or bytes as given. ``content_type`` defaults to ``application/json`` for a
    dict, a list or text that parses as JSON, else ``text/plain; charset=utf-8``.
    """

    kind: FaultKind = attrs.field(validator=attrs.validators.in_(FAULT_KINDS))
    resource: str | None = attrs.field(default=None)
    count: int | None = attrs.field(default=1, validator=_count)
    after: int = attrs.field(
        default=0, validator=[attrs.validators.instance_of(int), attrs.validators.ge(0)]
    )
    status: int = attrs.field(
        default=503,
        validator=[attrs.validators.instance_of(int), attrs.validators.in_(range(100, 600))],
    )
    retry_after: str | None = attrs.field(default=None, converter=_retry_after)
    delay: float = attrs.field(
        default=0.0, validator=[attrs.validators.instance_of((int, float)), attrs.validators.ge(0)]
    )
    every: int | None = attrs.field(default=None, validator=attrs.validators.optional(_count))
    body: str | bytes | dict | list | None = attrs.field(
        default=None, validator=attrs.validators.instance_of((str, bytes, dict, list, type(None)))
    )
    content_type: str | None = attrs.field(default=None)

    def __attrs_post_init__(self) -> None:
        if self.body is not None and self.kind != "status":
            raise ValueError(f'Fault.body goes with kind "status", not {self.kind!r}')

    def response_body(self) -> tuple[bytes, str]:
        """The bytes and content type of :attr:`body` (a ``"status"`` fault's body)."""
        if isinstance(self.body, (dict, list)):
            return json.dumps(self.body).encode(), self.content_type or "application/json"
        raw = self.body.encode() if isinstance(self.body, str) else bytes(self.body or b"")
        if self.content_type is not None:
            return raw, self.content_type
        try:
            json.loads(raw)
        except ValueError:
            return raw, "text/plain; charset=utf-8"
        return raw, "application/json"


class FaultSlot:
    """One fault and how many matching requests it has seen and faulted."""

    __slots__ = ("fault", "seen", "used")

    def __init__(self, fault: Fault) -> None:
        self.fault = fault
        self.seen = 0
        self.used = 0
