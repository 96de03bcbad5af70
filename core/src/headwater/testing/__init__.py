"""What connector authors test with.

:class:`Simulator` serves a connector's declared API on 127.0.0.1 from the same specs
the connector is built from (auth, pagination, data selectors, parents, incremental
cursors, record schemas), with faults on demand (:class:`Fault`) and a log of every
request (:class:`RequestRecord`). A connector whose own hooks replace a declared auth or
pagination kind tells the simulator what its API expects instead (:class:`CustomAuth`,
:class:`Page`; see :mod:`headwater.testing.custom`). :func:`generate_records` makes the
deterministic records it serves. :class:`HostileServer` (:mod:`headwater.testing.hostile`)
misbehaves on purpose: cross-origin redirects, compression bombs, endless and trickling
bodies, hostile ``Retry-After`` values. The pytest fixtures live in
:mod:`headwater.testing.pytest_plugin`.

Importing this package is light: the standard library, attrs and the Headwater specs
(no dlt).

May import: ``headwater.run`` and everything below it (the conformance suite runs a
connector as ``headwater run`` does). Not ``cli`` or ``scaffold``.
"""

from __future__ import annotations

from headwater.testing.custom import CustomAuth, Page, SimRequest
from headwater.testing.hostile import (
    Bomb,
    EndlessChunks,
    HostileServer,
    Json,
    ReceivedRequest,
    Redirect,
    Token,
    Trickle,
)
from headwater.testing.records import generate_records
from headwater.testing.rows import rows_of
from headwater.testing.simulator import Fault, RequestRecord, Simulator

__all__ = [
    "Bomb",
    "CustomAuth",
    "EndlessChunks",
    "Fault",
    "HostileServer",
    "Json",
    "Page",
    "ReceivedRequest",
    "Redirect",
    "RequestRecord",
    "SimRequest",
    "Simulator",
    "Token",
    "Trickle",
    "generate_records",
    "rows_of",
]
