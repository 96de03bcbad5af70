"""A real HTTP server on 127.0.0.1 that plays the API a :class:`Connector` declares.

The connector's specs drive everything: the auth spec decides how requests are
authenticated (an OAuth2 token endpoint, an API key in a header or the query, a
static bearer token, HTTP basic), each resource's path, pagination spec, data selector,
parent and incremental spec decide what is served where, and each resource's JSON
Schema decides what the records look like (see :mod:`headwater.testing.records`).

Faults (errors, dropped connections, broken bodies, slowness) are injected on demand,
every request is logged, and in-flight requests are counted, so connectors can be
tested for retries, token refresh, concurrency and throughput against real HTTP::

    from headwater.testing import Fault, Simulator

    with Simulator(connector, records={"directory_users": 1234}) as sim:
        source = headwater.source("directory", **sim.settings)
        ...
        assert len(sim.data["directory_users"]) == 1234

Only the standard library, attrs and jsonschema (through :mod:`headwater.schema`) are
used; :mod:`orjson` is used for speed when it is installed.
"""

from __future__ import annotations

import json
import math
import re
import secrets
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

from headwater.spec import (
    TEMPLATE_TOKEN,
    Connector,
    CursorPagination,
    LastRecordPagination,
    NextLinkPagination,
    OffsetPagination,
    PageNumberPagination,
    Resource,
    template_names,
)
from headwater.testing.custom import CustomAuth, PageFunction, SimRequest, compose_page
from headwater.testing.faults import HTML_ERROR, Fault, FaultKind, FaultSlot
from headwater.testing.paging import (
    LAZY_RECORDS,
    LazySlice,
    Pager,
    Slice,
    State,
    cursor_key,
    cursor_keys,
    cursor_record_field,
    paging_params,
    response_keys,
)
from headwater.testing.paging import MAX_PAGE_SIZE as MAX_PAGE_SIZE
from headwater.testing.records import (
    BASE_TIME,
    TIME_STEP,
    format_timestamp,
    generate_records,
)
from headwater.testing.server import (
    ClientError,
    Handler,
    RequestRecord,
    Response,
    SimulatorServer,
    error_response,
)
from headwater.testing.timefilter import bounds_of, select_range
from headwater.testing.tokens import ARRIVED, TokenEndpoint
from headwater.testing.tokens import DEFAULT_TOKEN_PATH as DEFAULT_TOKEN_PATH
from headwater.timebounds import format_bound

__all__ = [
    "DEFAULT_CHILD_RECORDS",
    "DEFAULT_RECORDS",
    "Fault",
    "FaultKind",
    "RequestRecord",
    "Simulator",
]

#: Records of a top-level resource when ``records`` does not say.
DEFAULT_RECORDS = 250
#: Records per parent of a child resource when ``records`` does not say.
DEFAULT_CHILD_RECORDS = 3

_PAGE_CACHE_LIMIT = 256  # pages are cheap to build from encoded records; bound the memory


# ------------------------------------------------------------------ served state


# ---------------------------------------------------------------------- the server


# ---------------------------------------------------------------------- simulator


def _setting_value(name: str, declared: Mapping[str, Any], seed: int) -> Any:
    """A value of the setting ``name`` (declared ``declared``, no default) that its own
    declaration accepts: a random ``name-xxxxxxxx`` for a plain string, else one made
    from the declaration as record fields are (an integer, an enum member, a date...)."""
    from jsonschema import Draft202012Validator

    prop = {k: v for k, v in declared.items() if k not in ("aliases", "default")}
    plain = f"{name}-{secrets.token_hex(4)}"
    schema = {"type": "object", "properties": {name: prop}, "required": [name]}
    made = generate_records(schema, 1, seed, extra_field=False, key_fields=())[0].get(name)
    accepts = Draft202012Validator(prop).is_valid
    # a format is not checked by the validator, but is what the API expects
    candidates = [made, plain] if "format" in prop else [plain, made]
    step = prop.get("multipleOf")
    if isinstance(step, (int, float)) and not isinstance(step, bool) and step > 0:
        low = prop.get("minimum", prop.get("exclusiveMinimum", 0))
        start = max(1, math.ceil(low / step)) if isinstance(low, (int, float)) else 1
        multiple = step * start
        candidates.insert(0, int(multiple) if float(multiple).is_integer() else multiple)
    for candidate in candidates:
        if candidate is not None and accepts(candidate):
            return candidate
    return plain  # a declaration nothing satisfies: the run names the problem


class Simulator:
    """A local HTTP server that serves ``connector``'s API with generated records.

    ``records`` sets how many records each resource has (default
    :data:`DEFAULT_RECORDS` for a top-level resource; for a child resource the number
    *per parent*, default :data:`DEFAULT_CHILD_RECORDS`, and every tenth parent has
    none). ``seed`` makes the data reproducible. ``token_ttl`` is how long an access
    token (OAuth2, JWT grant) or a login session stays valid (seconds, fractions
    allowed, and ``expires_in`` announces it: whole seconds from 1 s up), counted to
    the arrival of a request (before ``latency``); a token is always accepted on the
    first request that carries it.
    ``faults`` are injected as described in :class:`Fault`; ``latency`` seconds are
    waited before answering every API request (not token requests). ``page_size`` is
    the page size of next-link pagination; ``max_page_size`` the largest page the API
    serves whatever the request asks for (default :data:`MAX_PAGE_SIZE`; Jira Cloud, for
    one, answers at most 50 issues to ``maxResults=100``). ``credentials`` fixes some of the
    credentials (``client_id``, ``client_secret``, ``scope``, ``api_key``, ``token``,
    ``username``, ``password``, ``refresh_token``, ``issuer``, the settings a session
    login body or a header template names); the others are random. For the JWT kinds
    the simulator makes its own key pair: ``private_key`` (in :attr:`credentials` and
    :attr:`settings`) signs, and the simulator verifies with the public half.
    Records follow each resource's JSON Schema as a run gets it, through
    ``headwater_record_schema`` (the connector's file, unless a plugin's hook gives it);
    ``schemas`` replaces the JSON Schema of some resources (name -> schema).
    ``extra_field`` adds an undeclared field to every record. ``rate_limit`` (e.g.
    ``"5/second"``) makes the API answer 429 with ``Retry-After`` beyond that many
    requests in any moving window.
    Generated date-times start at 2024-01-01; when every record of an incremental
    resource would be at or before its declared ``initial`` value, their cursors are
    moved after it, so that a first run is served every record.
    The response fields a pagination reads are served at key paths and at JSONPaths
    naming keys only (``$.meta.next``); a cursor may also be a field of the page's
    last record (Stripe's ``$.data[-1].id``): the next page starts after the record it
    names, and that field is unique and never null. Any other JSONPath is a
    :class:`ValueError`.

    For a connector whose own hooks replace a declared kind, ``auth`` (a
    :class:`~headwater.testing.CustomAuth`) says what credentials the API accepts
    instead of the declared auth, and ``pages`` (resource name -> a
    :data:`~headwater.testing.custom.PageFunction`) cuts a resource's pages as the
    connector's own paginator expects (see :mod:`headwater.testing.custom`).

    Use it as a context manager or call :meth:`start` and :meth:`stop`.
    """

    def __init__(
        self,
        connector: Connector,
        records: Mapping[str, int] | None = None,
        *,
        seed: int = 0,
        token_ttl: float = 3600.0,
        faults: Iterable[Fault] = (),
        latency: float = 0.0,
        port: int = 0,
        page_size: int = 100,
        max_page_size: int = MAX_PAGE_SIZE,
        credentials: Mapping[str, str] | None = None,
        schemas: Mapping[str, Mapping[str, Any]] | None = None,
        extra_field: bool = True,
        rate_limit: str | None = None,
        auth: CustomAuth | None = None,
        pages: Mapping[str, PageFunction] | None = None,
    ) -> None:
        if token_ttl <= 0:
            raise ValueError(f"token_ttl must be > 0, got {token_ttl!r}")
        if latency < 0:
            raise ValueError(f"latency must be >= 0, got {latency!r}")
        if page_size < 1:
            raise ValueError(f"page_size must be >= 1, got {page_size!r}")
        if max_page_size < 1:
            raise ValueError(f"max_page_size must be >= 1, got {max_page_size!r}")
        self.connector = connector
        self.seed = seed
        self.latency = float(latency)
        #: the limit the simulated API enforces on API requests (e.g. ``"5/second"``):
        #: beyond it, 429 with ``Retry-After``
        self.rate_limit = rate_limit
        self._window = None
        if rate_limit is not None:
            from limits import parse, storage, strategies

            self._limit_item = parse(rate_limit)
            self._window = strategies.MovingWindowRateLimiter(storage.MemoryStorage())
        self._pager = Pager(page_size, max_page_size)
        self.extra_field = extra_field
        self._port = port
        self._lock = threading.Lock()
        self._faults: list[FaultSlot] = [FaultSlot(f) for f in faults]
        self._requests: list[RequestRecord] = []
        self._in_flight = 0
        self._peak = 0
        self._lifecycle = threading.Lock()
        self._server: SimulatorServer | None = None
        self._thread: threading.Thread | None = None
        self._base_url: str | None = None

        from headwater.load.assemble import check_declaration

        for resource in connector.resources:
            # what a run would refuse, in the same one line (a JSONPath that does not
            # parse, a template naming a setting that is not declared)
            check_declaration(connector, resource)
            self._check_layout(resource)
        unknown = set(records or {}) - set(connector.resource_names)
        if unknown:
            raise ValueError(
                f"records names resources {sorted(unknown)} that connector "
                f"{connector.name!r} does not declare ({', '.join(connector.resource_names)})"
            )
        self._counts: dict[str, int] = {}
        for resource in connector.resources:
            default = DEFAULT_CHILD_RECORDS if resource.parent else DEFAULT_RECORDS
            count = (records or {}).get(resource.name, default)
            if isinstance(count, bool) or not isinstance(count, int) or count < 0:
                raise ValueError(
                    f"records[{resource.name!r}] must be an integer >= 0, got {count!r}"
                )
            self._counts[resource.name] = count

        self._schemas = {r.name: self._schema(r, schemas or {}) for r in connector.resources}
        # Author-supplied behaviour for the connector's own hooks (headwater.testing.custom)
        self._custom_auth = auth
        self._custom_pages = dict(pages or {})
        unknown = set(self._custom_pages) - set(connector.resource_names)
        if unknown:
            raise ValueError(
                f"pages names resources {sorted(unknown)} that connector "
                f"{connector.name!r} does not declare ({', '.join(connector.resource_names)})"
            )
        self._auth = TokenEndpoint(connector.auth, credentials or {}, float(token_ttl), self._lock)
        self._credentials = self._auth.credentials
        self._token_path = self._auth.path
        if auth is not None:  # the connector's own hook replaces the declared auth
            self._auth = TokenEndpoint(None, {}, float(token_ttl), self._lock)
            self._token_path = None
            given = credentials or {}
            self._credentials = {k: given.get(k, v) for k, v in auth.settings.items()}
        self._values = self._template_values(credentials or {})
        self._routes = self._make_routes()

        # generation state: next index and mutation count per resource
        self._next_index: dict[str, int] = {}
        self._variants: dict[str, int] = {r.name: 0 for r in connector.resources}
        self._states: dict[str, State] = {}
        for resource in self._ordered_resources():
            self._states[resource.name] = self._initial_state(resource)

    # ------------------------------------------------------------ construction

    def _schema(
        self, resource: Resource, overrides: Mapping[str, Mapping[str, Any]]
    ) -> Mapping[str, Any]:
        if resource.name in overrides:
            return overrides[resource.name]
        # as a run gets it: through headwater_record_schema, which a connector's own hook
        # (or another plugin's wrapper) may answer instead of the declared file
        from headwater.load.assemble import ConnectorHooks
        from headwater.plugin.manager import get_plugin_manager

        return ConnectorHooks(get_plugin_manager(), self.connector).record_schema(resource)

    def _template_values(self, given: Mapping[str, str]) -> dict[str, Any]:
        """The value of each setting the connector's templates name (path, params,
        headers, JSON bodies): ``given`` (the ``credentials`` option), else the setting's
        declared default, else a random value. The simulator serves the resources at
        these values and checks that requests carry them."""
        names: list[str] = list(template_names(dict(self.connector.headers)))
        for resource in self.connector.resources:
            parent = resource.parent.placeholder if resource.parent else None
            found = template_names(
                [resource.path, dict(resource.params), dict(resource.headers), resource.json]
            )
            names.extend(n for n in found if n != parent)
        values: dict[str, Any] = {}
        for name in names:
            if name in values or name == "base_url":
                continue
            declared = self.connector.settings.get(name) or {}
            if name in given:
                values[name] = given[name]
            elif name in self._credentials:
                values[name] = self._credentials[name]
            elif declared.get("default") is not None:
                values[name] = declared["default"]
            else:
                values[name] = _setting_value(name, declared, self.seed)
        return values

    def _fill(self, template: Any, parent: str | None = None) -> Any:
        """``template`` filled with :meth:`_template_values` as the client fills it."""
        if isinstance(template, str):
            whole = TEMPLATE_TOKEN.fullmatch(template)
            if whole is not None and whole.group(1) in self._values:
                return self._values[whole.group(1)]

            def fill(match: re.Match[str]) -> str:
                name = match.group(1)
                if name is None:
                    return match.group(0)[0]
                if name == parent or name not in self._values:
                    return match.group(0)
                return str(self._values[name])

            return TEMPLATE_TOKEN.sub(fill, template)
        if isinstance(template, Mapping):
            return {self._fill(k): self._fill(v) for k, v in template.items()}
        if isinstance(template, (list, tuple)):
            return [self._fill(v) for v in template]
        return template

    def _check_layout(self, resource: Resource) -> None:
        """Refuse specs whose response fields cannot all be served."""
        extras = self._extra_paths(resource)
        if resource.data_selector is None:
            if extras:
                raise ValueError(
                    f"resource {resource.name!r}: the body is the list of records "
                    f"(data_selector=None), so it cannot also carry "
                    f"{', '.join('.'.join(p) for p in extras)} for its pagination"
                )
            return
        selector = response_keys(resource.data_selector)
        for path in extras:
            n = min(len(path), len(selector))
            if path[:n] == selector[:n]:
                raise ValueError(
                    f"resource {resource.name!r}: response field {'.'.join(path)!r} "
                    f"collides with data_selector {'.'.join(selector)!r}"
                )

    @staticmethod
    def _extra_paths(resource: Resource) -> list[tuple[str, ...]]:
        spec = resource.pagination
        if isinstance(spec, OffsetPagination) and spec.total_path is not None:
            return [response_keys(spec.total_path)]
        end = [response_keys(spec.end_path)] if getattr(spec, "end_path", None) else []
        if isinstance(spec, CursorPagination):
            # a cursor read from the last record (Stripe's data[-1].id) is in the records
            return end + ([] if cursor_record_field(resource) else [cursor_keys(resource)])
        if isinstance(spec, NextLinkPagination):
            return [response_keys(spec.next_path), *end]
        if isinstance(spec, PageNumberPagination):
            paths = (spec.total_pages_path, spec.total_path)
            return [response_keys(p) for p in paths if p is not None]
        if isinstance(spec, LastRecordPagination) and spec.has_more_path is not None:
            return [response_keys(spec.has_more_path)]
        return []

    def _make_routes(self) -> list[tuple[re.Pattern[str], Resource]]:
        routes = []
        for resource in self.connector.resources:
            pattern = ""
            for part in re.split(r"(\{[^{}]+\})", resource.path):
                if part.startswith("{") and part.endswith("}"):
                    name = part[1:-1]
                    is_parent = resource.parent is not None and name == resource.parent.placeholder
                    if is_parent:
                        pattern += "(?P<parent>[^/]+)"
                    elif name in self._values:
                        # a setting: served at its value only, so a wrong one is a 404
                        pattern += re.escape(quote(str(self._values[name]), safe=""))
                    else:
                        pattern += "[^/]+"
                else:
                    pattern += re.escape(part)
            routes.append((re.compile(pattern + "/?"), resource))
        return routes

    def _ordered_resources(self) -> list[Resource]:
        """Resources with every parent before its children."""
        done: list[Resource] = []
        names: set[str] = set()
        pending = list(self.connector.resources)
        while pending:
            progress = False
            for resource in list(pending):
                if resource.parent is None or resource.parent.resource in names:
                    done.append(resource)
                    names.add(resource.name)
                    pending.remove(resource)
                    progress = True
            if not progress:
                cycle = ", ".join(r.name for r in pending)
                raise ValueError(f"resources {cycle} have cyclic parents")
        return done

    def _key_fields(self, resource: Resource) -> tuple[str, ...]:
        keys = resource.primary_key_columns
        keys = keys if "id" in keys else (*keys, "id")
        # a cursor naming the record to start after names one record, as the API's would
        cursor = cursor_record_field(resource)
        if cursor is not None and cursor not in keys:
            keys = (*keys, cursor)
        # a field children are requested by (a repository's name) is unique, as the
        # API's own would be: a child request names one parent
        for child in self.connector.resources:
            parent = child.parent
            if parent and parent.resource == resource.name and parent.field not in keys:
                keys = (*keys, parent.field)
        return keys

    def _non_null(self, resource: Resource) -> tuple[str, ...]:
        out: list[str] = []
        if resource.incremental is not None:
            out.append(resource.incremental.cursor_field)
        for child in self.connector.resources:
            if child.parent is not None and child.parent.resource == resource.name:
                out.append(child.parent.field)
        return tuple(out)

    def _generate(
        self, resource: Resource, count: int, variant: int = 0, start: int | None = None
    ) -> tuple[list[dict[str, Any]], list[int]]:
        """``count`` records (new indexes unless ``start`` is given) and their indexes."""
        if start is None:
            start = self._next_index.get(resource.name, 0)
            self._next_index[resource.name] = start + count
        records = generate_records(
            self._schemas[resource.name],
            count,
            self.seed,
            start,
            key_fields=self._key_fields(resource),
            non_null=self._non_null(resource),
            extra_field=self.extra_field,
            variant=variant,
        )
        return records, list(range(start, start + count))

    def _children_for(
        self, resource: Resource, parents: Sequence[Any], offset: int
    ) -> dict[Any, tuple[list[dict[str, Any]], list[int]]]:
        """Child records for parent values ``parents``; ``offset`` is the position of the
        first of them among all parents (every tenth parent has no children)."""
        per_parent = self._counts[resource.name]
        out: dict[Any, tuple[list[dict[str, Any]], list[int]]] = {}
        for i, value in enumerate(parents):
            if value is None or value in out:
                continue
            out[value] = self._generate(resource, 0 if (offset + i) % 10 == 9 else per_parent)
        return out

    def _initial_state(self, resource: Resource) -> State:
        if resource.parent is None:
            count = self._counts[resource.name]
            if count > LAZY_RECORDS and self._servable_lazily(resource):
                self._next_index[resource.name] = count
                return State(
                    {None: LazySlice(lambda s, n: self._generate(resource, n, start=s)[0], count)},
                    False,
                )
            records, indexes = self._generate(resource, count)
            self._after_initial(resource, records)
            return State({None: Slice(records, indexes)}, False)
        parent_state = self._states[resource.parent.resource]
        field = resource.parent.field
        parents = [r.get(field) for sl in parent_state.slices.values() for r in sl.records]
        generated = self._children_for(resource, parents, 0)
        for records, _ in generated.values():
            self._after_initial(resource, records)
        return State({k: Slice(*v) for k, v in generated.items()}, True)

    def _after_initial(self, resource: Resource, records: list[dict[str, Any]]) -> None:
        """Move the incremental cursors of ``records`` past the declared initial value
        when every one is at or before it: a first run would be served nothing (the
        generated date-times start at 2024-01-01; a converted config's may start later)."""
        spec = resource.incremental
        if spec is None or not records:
            return
        initial = cursor_key(spec.initial)
        if initial is None:
            return
        keys = [cursor_key(r.get(spec.cursor_field)) for r in records]
        if any(k is None or k > initial for k in keys):
            return
        self._bump_cursor(resource, records, initial)

    def _servable_lazily(self, resource: Resource) -> bool:
        """Whether ``resource``'s records can be made a page at a time: paged by offset,
        with no time filter and no child resources reading its records."""
        return (
            isinstance(resource.pagination, OffsetPagination)
            and resource.incremental is None
            and not any(
                r.parent is not None and r.parent.resource == resource.name
                for r in self.connector.resources
            )
        )

    # ------------------------------------------------------------ lifecycle

    def start(self) -> Simulator:
        """Start serving (in daemon threads); returns the simulator."""
        with self._lifecycle:
            if self._server is None:
                self._start()
        return self

    def _start(self) -> None:
        server = SimulatorServer(("127.0.0.1", self._port), self)
        self._server = server
        self._base_url = f"http://127.0.0.1:{server.server_port}"
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"headwater-simulator-{self.connector.name}",
            daemon=True,
        )
        self._clear_caches()  # cached next links name the previous port
        self._thread.start()

    def warm(self) -> None:
        """Build now what the first requests for each top-level resource would build
        (the index a ``starting_after`` cursor looks records up in): a benchmark then
        times the client, not the simulator's one-off set-up. Optional; safe to repeat."""
        for resource in self.connector.resources:
            if resource.parent is None:
                state = self._states[resource.name]
                self._pager.warm(resource, state.slices[None].encoded)

    def stop(self) -> None:
        """Stop serving and close every open connection. Safe to call twice."""
        with self._lifecycle:
            server, thread = self._server, self._thread
            self._server = None
            self._thread = None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        server.close_connections()
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()

    def __repr__(self) -> str:
        where = self._base_url if self._server is not None else "stopped"
        return f"<Simulator {self.connector.name} {where}>"

    # ------------------------------------------------------------ public view

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>`` (available once started)."""
        if self._base_url is None:
            raise RuntimeError(
                "the simulator is not started: use it as a context manager or call start()"
            )
        return self._base_url

    @property
    def token_url(self) -> str | None:
        """The absolute URL of the token endpoint (``None`` without OAuth2)."""
        return None if self._token_path is None else self.base_url + self._token_path

    @property
    def credentials(self) -> dict[str, str]:
        """The credentials the simulator accepts (a copy)."""
        return dict(self._credentials)

    @property
    def settings(self) -> dict[str, Any]:
        """Headwater settings pointing at this simulator: ``base_url`` plus the
        credentials of the connector's auth kind (and ``token_url`` for OAuth2), and the
        settings its templates name, each of its declared type (an ``integer`` setting
        is an ``int``), as the connector's settings validation accepts them."""
        out: dict[str, Any] = {"base_url": self.base_url}
        out.update(self._credentials)
        out.update({k: v for k, v in self._values.items() if k not in out})
        if self._token_path is not None and self._auth.has_token_url:
            out["token_url"] = self.base_url + self._token_path
        return out

    @property
    def data(self) -> dict[str, Any]:
        """The records served, by resource: a list for a top-level resource, a dict
        parent value -> list for a child. Read-only: change them with :meth:`grow` and
        :meth:`mutate`."""
        return {name: state.data for name, state in self._states.items()}

    @property
    def requests(self) -> list[RequestRecord]:
        """Every request received so far, in the order they were answered (a copy)."""
        with self._lock:
            return list(self._requests)

    def requests_for(self, resource: str | None) -> list[RequestRecord]:
        """The logged requests of one resource (``"token"``: the token endpoint)."""
        return [r for r in self.requests if r.resource == resource]

    @property
    def peak_concurrency(self) -> int:
        """The most API requests (token requests excluded) in flight at once."""
        return self._peak

    @property
    def refresh_token(self) -> str | None:
        """The refresh token the token endpoint accepts now (OAuth2 refresh-token auth):
        each refresh rotates it, and the one before is refused from then on."""
        return self._auth.refresh_token

    @property
    def issued_secrets(self) -> list[str]:
        """Every access token, session token and rotated refresh token issued so far
        (a copy): secrets a canary check looks for too."""
        with self._lock:
            return list(self._auth.issued_values)

    @property
    def refresh_tokens_refused(self) -> int:
        """How many refresh requests carried a stale or wrong refresh token."""
        return self._auth.refresh_refused

    @property
    def tokens_issued(self) -> int:
        """How many OAuth2 tokens were issued."""
        return self._auth.issued

    @property
    def page_size(self) -> int:
        """The page size of next-link pagination."""
        return self._pager.page_size

    @page_size.setter
    def page_size(self, value: int) -> None:
        self._pager.page_size = value

    @property
    def token_ttl(self) -> float:
        """How long an OAuth2 token stays valid (seconds)."""
        return self._auth.ttl

    @token_ttl.setter
    def token_ttl(self, value: float) -> None:
        self._auth.ttl = value

    # ------------------------------------------------------------ controls

    def revoke_tokens(self) -> None:
        """Invalidate every token issued so far: requests using them get 401."""
        self._auth.revoke()

    def add_fault(self, fault: Fault) -> None:
        """Append ``fault`` to the active faults."""
        with self._lock:
            self._faults.append(FaultSlot(fault))

    def clear_faults(self) -> None:
        """Remove every fault."""
        with self._lock:
            self._faults.clear()

    def reset_log(self) -> None:
        """Forget the logged requests and reset ``peak_concurrency`` and
        ``tokens_issued`` (issued tokens stay valid)."""
        with self._lock:
            self._requests.clear()
            self._peak = self._in_flight
            self._auth.reset_count()

    def grow(self, resource: str, count: int) -> None:
        """Add ``count`` new records to ``resource`` (per parent for a child resource).

        New records get new keys, and their incremental cursor (when the resource
        declares one) is later than every existing one. New parent records get their
        own child records.
        """
        spec = self._resource(resource)
        if count < 0:
            raise ValueError(f"count must be >= 0, got {count}")
        with self._lock:
            state = self._made(resource)
            latest = self._latest(spec)
            slices = {}
            for key, sl in state.slices.items():
                new, indexes = self._generate(spec, count)
                latest = self._bump_cursor(spec, new, latest)
                slices[key] = Slice(sl.records + new, sl.indexes + indexes)
            self._states[resource] = State(slices, spec.parent is not None)
            if spec.parent is None:
                self._grow_children(spec, len(state.data), slices[None].records[len(state.data) :])
            self._clear_caches()

    def arrive_late(self, resource: str, count: int, cursor: Any) -> list[dict[str, Any]]:
        """Add ``count`` new records to top-level ``resource`` whose incremental cursor is
        ``cursor`` (a datetime, or the value as the records write it): records that reach
        the API after later ones were served, which a run finds only with a lookback.
        Returns the new records."""
        spec = self._resource(resource)
        if spec.incremental is None or spec.parent is not None:
            raise ValueError(f"resource {resource!r} is not a top-level incremental resource")
        field = spec.incremental.cursor_field
        if hasattr(cursor, "timestamp"):
            fmt = spec.incremental.record_format or "iso8601"
            cursor = format_bound(cursor, fmt)
        with self._lock:
            state = self._states[resource]
            new, indexes = self._generate(spec, count)
            for record in new:
                record[field] = cursor
            sl = state.slices[None]
            self._states[resource] = State(
                {None: Slice(sl.records + new, sl.indexes + indexes)}, False
            )
            self._clear_caches()
        return new

    def mutate(self, resource: str, count: int) -> None:
        """Change every non-key field of the first ``count`` records of ``resource``
        (per parent for a child resource), keeping their keys. Their incremental cursor
        (when the resource declares one) becomes later than every existing one."""
        spec = self._resource(resource)
        if count < 0:
            raise ValueError(f"count must be >= 0, got {count}")
        keep = set(self._key_fields(spec)) | set(self._non_null(spec))
        if spec.incremental is not None:
            keep.discard(spec.incremental.cursor_field)
        with self._lock:
            self._variants[resource] += 1
            variant = self._variants[resource]
            state = self._made(resource)
            latest = self._latest(spec)
            slices = {}
            for key, sl in state.slices.items():
                records = list(sl.records)
                changed = []
                for i in range(min(count, len(records))):
                    old = records[i]
                    fresh = self._generate(spec, 1, variant, start=sl.indexes[i])[0][0]
                    for name in keep:
                        if name in old:
                            fresh[name] = old[name]
                    for name, value in old.items():
                        fresh.setdefault(name, value)
                    records[i] = fresh
                    changed.append(fresh)
                latest = self._bump_cursor(spec, changed, latest)
                slices[key] = Slice(records, sl.indexes)
            self._states[resource] = State(slices, spec.parent is not None)
            self._clear_caches()

    def _made(self, resource: str) -> State:
        """``resource``'s state with every record made: a lazily served resource
        (:class:`LazySlice`) is generated whole before it is changed."""
        state = self._states[resource]
        lazy = state.slices.get(None)
        if isinstance(lazy, LazySlice):
            count = len(lazy.records)
            state = State({None: Slice(lazy.records[0:count], list(lazy.indexes))}, False)
            self._states[resource] = state
        return state

    def _resource(self, name: str) -> Resource:
        try:
            return self.connector.resource(name)
        except KeyError:
            raise KeyError(
                f"connector {self.connector.name!r} has no resource {name!r} "
                f"({', '.join(self.connector.resource_names)})"
            ) from None

    def _clear_caches(self) -> None:
        for state in self._states.values():
            state.pages.clear()

    def _latest(self, spec: Resource) -> float | None:
        if spec.incremental is None:
            return None
        field = spec.incremental.cursor_field
        keys = [
            k
            for sl in self._states[spec.name].slices.values()
            for k in (cursor_key(r.get(field)) for r in sl.records)
            if k is not None
        ]
        return max(keys, default=None)

    @staticmethod
    def _bump_cursor(
        spec: Resource, records: list[dict[str, Any]], latest: float | None
    ) -> float | None:
        """Make the incremental cursor of ``records`` increase past ``latest`` (numbers
        by 1, date-times by :data:`~headwater.testing.records.TIME_STEP` seconds);
        returns the new latest cursor."""
        if spec.incremental is None:
            return latest
        field = spec.incremental.cursor_field
        if spec.incremental.end_param is not None:
            return _bump_to_now(spec.incremental, records, latest)
        for record in records:
            if field not in record:
                continue
            value = record[field]
            key = cursor_key(value)
            if key is None or (latest is not None and key <= latest):
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    key = math.floor(latest or 0) + 1
                    record[field] = key
                else:
                    key = float(math.floor(latest if latest is not None else BASE_TIME) + TIME_STEP)
                    record[field] = format_timestamp(key)
            latest = key
        return latest

    def _grow_children(
        self, parent: Resource, offset: int, new_parents: list[dict[str, Any]]
    ) -> None:
        """Give new parent records their children (and those theirs)."""
        for child in self.connector.resources:
            if child.parent is None or child.parent.resource != parent.name:
                continue
            state = self._states[child.name]
            values = [r.get(child.parent.field) for r in new_parents]
            generated = self._children_for(child, values, offset)
            latest = self._latest(child)
            slices = dict(state.slices)
            new_children: list[dict[str, Any]] = []
            for key, (records, indexes) in generated.items():
                latest = self._bump_cursor(child, records, latest)
                slices[key] = Slice(records, indexes)
                new_children.extend(records)
            self._states[child.name] = State(slices, True)
            existing = sum(len(sl.records) for sl in state.slices.values())
            self._grow_children(child, existing, new_children)

    # ------------------------------------------------------------ request handling

    def _take_fault(self, resource: str | None, is_token: bool) -> Fault | None:
        with self._lock:
            for slot in self._faults:
                fault = slot.fault
                if fault.resource is None:
                    if is_token:
                        continue
                elif fault.resource != resource:
                    continue
                if fault.count is not None and slot.used >= fault.count:
                    continue
                if fault.every is not None:
                    slot.seen += 1
                    if slot.seen <= fault.after or (slot.seen - fault.after) % fault.every:
                        continue
                    slot.used += 1
                    return fault
                if slot.seen < fault.after:
                    slot.seen += 1
                    continue
                slot.used += 1
                return fault
        return None

    def _handle(self, handler: Handler) -> None:
        arrived = time.time()
        started = time.monotonic()
        method = handler.command
        split = urlsplit(handler.path)
        path = split.path
        query = parse_qs(split.query, keep_blank_values=True)
        headers = {k.lower(): v for k, v in handler.headers.items()}
        try:
            length = int(headers.get("content-length") or 0)
        except ValueError:
            length = -1
        if length < 0:
            handler.close_connection = True
            handler.send(error_response(400, "bad_request", "invalid Content-Length"))
            return
        body = handler.rfile.read(length) if length else b""

        is_token = self._auth.is_token_path(path)
        resource: Resource | None = None
        parent_value: str | None = None
        if not is_token:
            for pattern, candidate in self._routes:
                match = pattern.fullmatch(path)
                if match:
                    resource = candidate
                    if candidate.parent is not None:
                        parent_value = unquote(match.group("parent"))
                    break
        name = "token" if is_token else (resource.name if resource else None)

        if not is_token:
            with self._lock:
                self._in_flight += 1
                if self._in_flight > self._peak:
                    self._peak = self._in_flight
        try:
            response = self._respond(
                method, path, split, query, headers, body, resource, parent_value, name, is_token
            )
        except Exception as exc:  # a simulator bug: answer 500 rather than hang up
            response = error_response(500, "simulator_error", f"{type(exc).__name__}: {exc}")
        finally:
            if not is_token:
                with self._lock:
                    self._in_flight -= 1
        # Counted and logged before the answer is sent: whoever got the answer sees it.
        self._log(method, path, query, headers, response, arrived, started, name, body)
        if response is None:  # dropped
            handler.close_connection = True
        else:
            handler.send(response)

    def _log(
        self,
        method: str,
        path: str,
        query: dict[str, list[str]],
        headers: dict[str, str],
        response: Response | None,
        arrived: float,
        started: float,
        name: str | None,
        body: bytes = b"",
    ) -> None:
        record = RequestRecord(
            method=method,
            path=path,
            query=query,
            headers=headers,
            status=0 if response is None else response.status,
            time=arrived,
            resource=name,
            duration=time.monotonic() - started,
            body=body,
        )
        with self._lock:
            self._requests.append(record)

    def _respond(
        self,
        method: str,
        path: str,
        split: Any,
        query: dict[str, list[str]],
        headers: dict[str, str],
        body: bytes,
        resource: Resource | None,
        parent_value: str | None,
        name: str | None,
        is_token: bool,
    ) -> Response | None:
        """The answer to one request, faults applied (``None``: drop the connection)."""
        ARRIVED.set(time.monotonic())  # tokens' ages are taken on arrival
        if not is_token and self._window is not None:
            with self._lock:
                allowed = self._window.hit(self._limit_item, "api")
                reset = self._window.get_window_stats(self._limit_item, "api").reset_time
            if not allowed:
                wait = max(1, math.ceil(reset - time.time()))
                return error_response(
                    429,
                    "rate_limited",
                    f"more than {self.rate_limit} requests",
                    {"Retry-After": str(wait)},
                )
        fault = self._take_fault(name, is_token)
        if fault is not None and fault.delay:
            time.sleep(fault.delay)
        if not is_token and self.latency:
            time.sleep(self.latency)
        if fault is not None and fault.kind == "drop":
            return None
        if fault is not None and fault.kind == "status":
            extra = {"Retry-After": fault.retry_after} if fault.retry_after is not None else {}
            if fault.body is not None:  # a chosen body: for rules matching body text
                chosen, content_type = fault.response_body()
                return Response(fault.status, chosen, content_type, extra)
            return error_response(
                fault.status,
                "simulated_fault",
                f"simulated HTTP {fault.status} from the headwater simulator",
                extra,
            )
        if fault is not None and fault.kind == "html_200":
            return Response(200, HTML_ERROR, "text/html; charset=utf-8")
        if is_token:
            response = self._auth.answer(method, headers, body, split.query)
        elif resource is None:
            response = error_response(404, "not_found", f"no route for {path}")
        elif self._custom_auth is not None or resource.name in self._custom_pages:
            request = SimRequest(method, path, query, headers, body, resource.name)
            response = self._custom(request, resource, parent_value, split)
        else:
            response = self._api(method, resource, parent_value, split, query, headers, body)
        if fault is not None and fault.kind == "malformed_json":
            truncated = response.body[: max(1, len(response.body) // 2)]
            if response.status != 200 or truncated == response.body:
                truncated = b'{"data": [{"id": "r-0000'
            response = Response(200, truncated, "application/json")
        return response

    def _custom(
        self, request: SimRequest, resource: Resource, parent_value: str | None, split: Any
    ) -> Response:
        """An API request answered with author-supplied behaviour: a custom auth's check,
        then a custom page function or the declared pagination."""
        auth = self._custom_auth
        if auth is not None and not auth.check(request, dict(self._credentials)):
            return error_response(401, "unauthorized", "the custom auth check refused it")
        function = self._custom_pages.get(resource.name)
        if function is None:
            return self._api(
                request.method, resource, parent_value, split, dict(request.query), request.headers
            )
        state = self._states[resource.name]
        if resource.parent is not None:
            sl = state.by_key.get(parent_value or "")
            if sl is None:
                return error_response(404, "not_found", f"no parent {parent_value!r}")
        else:
            sl = state.slices[None]
        try:
            items = self._select(resource, state, sl, parent_value, dict(request.query))
        except ClientError as exc:
            return error_response(400, "bad_request", exc.message)
        body, headers = compose_page(resource, function([json.loads(i) for i in items], request))
        return Response(200, body, "application/json", headers)

    def _api(
        self,
        method: str,
        resource: Resource,
        parent_value: str | None,
        split: Any,
        query: dict[str, list[str]],
        headers: Mapping[str, str],
        body: bytes = b"",
    ) -> Response:
        denied = self._auth.unauthorized(headers, query)
        if denied is not None:
            return denied
        if method != resource.method:
            return error_response(
                405,
                "method_not_allowed",
                f"{method} is not allowed here",
                {"Allow": resource.method},
            )
        try:
            query = self._check_request(resource, query, headers, body)
        except ClientError as exc:
            return error_response(400, "bad_request", exc.message)
        state = self._states[resource.name]
        if resource.parent is not None:
            sl = state.by_key.get(parent_value or "")
            if sl is None:
                return error_response(
                    404,
                    "not_found",
                    f"no {resource.parent.resource} with {resource.parent.field} {parent_value!r}",
                )
        else:
            sl = state.slices[None]

        cache_key = (parent_value, split.query, body)
        cached = state.pages.get(cache_key)
        if cached is not None:
            status, page, content_type, extra = cached
            return Response(status, page, content_type, extra)
        try:
            items = self._select(resource, state, sl, parent_value, query)
            page, extra = self._pager.respond(resource, items, split.path, query, self.base_url)
        except ClientError as exc:
            return error_response(400, "bad_request", exc.message)
        if len(state.pages) >= _PAGE_CACHE_LIMIT:
            state.pages.clear()
        state.pages[cache_key] = (200, page, "application/json", extra)
        return Response(200, page, headers=extra)

    def _check_request(
        self,
        resource: Resource,
        query: dict[str, list[str]],
        headers: Mapping[str, str],
        body: bytes,
    ) -> dict[str, list[str]]:
        """Check that a request carries what the connector declares (its headers, query
        parameters and JSON body, settings filled in) and return its query with the
        paging fields of a POST body added (``location="body"``). A missing or different
        value is a :class:`ClientError` naming it."""
        spec = resource.pagination
        paging = set(paging_params(spec))
        incremental = resource.incremental
        if incremental is not None:
            paging.add(incremental.param)
            if incremental.end_param is not None:
                paging.add(incremental.end_param)
        expected = {
            **self._fill(dict(self.connector.headers)),
            **self._fill(dict(resource.headers)),
        }
        for name, value in expected.items():
            got = headers.get(name.lower())
            if got != str(value):
                raise ClientError(f"header {name!r} must be {value!r}, got {got!r}")
        for name, value in self._fill(dict(resource.params)).items():
            if name in paging:
                continue
            wanted = [str(v) for v in value] if isinstance(value, list) else [str(value)]
            got = query.get(name)
            if got != wanted:
                raise ClientError(f"query parameter {name!r} must be {wanted!r}, got {got!r}")
        in_body = getattr(spec, "location", "query") == "body" or (
            incremental is not None and incremental.location == "body"
        )
        if resource.json is None and not in_body:
            return query
        try:
            document = json.loads(body or b"null")
        except ValueError:
            raise ClientError("the request body is not JSON") from None
        if not isinstance(document, dict):
            raise ClientError("the request body must be a JSON object")
        _check_body(self._fill(dict(resource.json or {})), document, paging, "")
        if not in_body:
            return query
        merged = dict(query)
        for name in paging:
            value: Any = document
            for key in name.split("."):
                value = value.get(key) if isinstance(value, dict) else None
            if value is not None:
                merged[name] = [str(value).lower() if isinstance(value, bool) else str(value)]
        return merged

    def _select(
        self,
        resource: Resource,
        state: State,
        sl: Slice,
        parent_value: str | None,
        query: Mapping[str, list[str]],
    ) -> list[bytes]:
        spec = resource.incremental
        if spec is None:
            return sl.encoded
        lower, upper = bounds_of(spec, query)
        if lower is None and upper is None:
            return sl.encoded
        key = (parent_value, f"{lower}/{upper}")
        cached = state.filtered.get(key)
        if cached is not None:
            return cached
        if spec.end_param is None and spec.record_format is None and lower is not None:
            items = sl.since(spec.cursor_field, lower)  # type: ignore[arg-type]
        else:
            items = select_range(spec, sl.records, sl.encoded, lower, upper)
        if len(state.filtered) >= _PAGE_CACHE_LIMIT:
            state.filtered.clear()
        state.filtered[key] = items
        return items


def _bump_to_now(spec: Any, records: list[dict[str, Any]], latest: float | None) -> float | None:
    """New or changed records of an API with an end parameter: their cursor is now (a
    millisecond apart each), so the next run, whose range ends when it starts, reads
    them, and the last run, which ended before, did not."""
    from datetime import datetime, timezone

    field = spec.cursor_field
    fmt = spec.record_format or "iso8601"
    for record in records:
        if field not in record:
            continue
        key = max(time.time(), (latest or 0) + 0.001)
        record[field] = format_bound(datetime.fromtimestamp(key, timezone.utc), fmt)
        latest = key
    return latest


def _check_body(expected: Any, got: Any, paging: set[str], where: str) -> None:
    """Raise :class:`ClientError` unless ``got`` holds every field of ``expected``
    (fields named by ``paging``, which paginators set, are not compared)."""
    if isinstance(expected, dict):
        if not isinstance(got, dict):
            raise ClientError(f"body field {where or '(root)'!r} must be an object")
        for key, value in expected.items():
            name = f"{where}.{key}" if where else str(key)
            if name in paging:
                continue
            if key not in got:
                raise ClientError(f"body field {name!r} is missing")
            _check_body(value, got[key], paging, name)
    elif expected != got:
        raise ClientError(f"body field {where!r} must be {expected!r}, got {got!r}")
