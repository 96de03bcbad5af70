"""Assembly: a connector's hook results turned into one dlt source.

:func:`build_source` resolves and validates settings, calls each hook once per
resource, and returns a ``DltSource`` named after the connector. It sends no HTTP
request: every settings problem is raised before the first one. With ``lazy=True``
(:func:`headwater.source`) only the source's structure is built at once, from the
settings that are not secret; the settings are resolved and checked, and the hooks
that need them called, when the source is first extracted.

Tables and columns are named by dlt's naming convention (``snake_case`` unless the
``naming`` setting says ``api``): the records keep the API's field names, as a
``rest_api`` source's do, and dlt normalizes them — dict rows and Arrow tables alike —
with the same convention the declared columns were normalized with, so a declared
field and the API's spelling of it are one column. When dlt's schema names by another
convention (dlt's ``SCHEMA__NAMING`` config, a schema given to ``pipeline.run``, the
destination's naming), a resource declares its table again under it as it starts.
"""

from __future__ import annotations

import copy
import functools
import logging
import os
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import attrs
import pluggy
from dlt.common.schema import Schema
from dlt.sources.helpers.rest_client.paginators import BasePaginator
from requests.auth import AuthBase

from headwater import redact
from headwater.errors import (
    ConfigError,
    HeadwaterError,
    PluginError,
    ResponseError,
    SettingsError,
)
from headwater.http.authenticators import OAuth2RefreshTokenAuthenticator
from headwater.http.extract import Endpoint, iter_pages, iter_pages_parallel
from headwater.http.paginators import OffsetPaginator, compile_path
from headwater.http.prefetch import prefetched
from headwater.http.session import HttpLimits, retrying_session
from headwater.http.throttle import Throttle
from headwater.http.token_store import TokenStore
from headwater.load.arrow import (
    BATCH_ROWS,
    PART,
    ArrowBatcher,
    arrow_available,
    fast_path_columns,
)
from headwater.load.incremental import (
    STATE_KEY,
    ParentPositions,
    Plan,
    Prefix,
    RunBounds,
    SliceFilter,
    bounded_request,
    checkpointed_slices,
    default_end,
    inexact,
    reading_rules,
)
from headwater.load.unique import hinted
from headwater.load.validation import QuarantineRow, Validator, quarantine_table
from headwater.plugin.manager import (
    HookCall,
    Registry,
    call_hook,
    custom_implementation,
    get_registry,
)
from headwater.schema import columns_from_schema
from headwater.settings import (
    DEFAULT_MAX_WORKERS,
    NAMING_CONVENTIONS,
    STRUCTURE_SETTINGS,
    Settings,
    env_var,
    preview_settings,
    resolve_settings,
    settings_schema,
)
from headwater.spec import (
    TEMPLATE_TOKEN,
    Connector,
    IncrementalSpec,
    OffsetPagination,
    RateLimit,
    Resource,
    ResponseRule,
    RetryPolicy,
    quarantined_by,
    template_names,
    uneven_braces,
)
from headwater.suggest import closest

if TYPE_CHECKING:
    import requests
    from dlt.extract import DltResource, DltSource

__all__ = [
    "ConnectorHooks",
    "assemble",
    "build_endpoints",
    "build_source",
    "check_declaration",
    "naming_convention",
    "select_resources",
]

log = logging.getLogger("headwater.load.assemble")


def arrow_enabled() -> bool:
    """The default of the fast path: pyarrow installed and ``HEADWATER_ARROW`` not 0."""
    if os.environ.get("HEADWATER_ARROW", "").strip().lower() in ("0", "false", "no"):
        return False
    return arrow_available()


def naming_convention(settings: Settings) -> str:
    """The dlt naming convention of a source with ``settings`` (the ``naming`` setting)."""
    return NAMING_CONVENTIONS[settings.get("naming") or "snake_case"]


def select_resources(connector: Connector, names: Sequence[str] | None) -> list[Resource]:
    """The resources to load: ``names`` (plus the parents they need), or all of them."""
    if not names:
        return list(connector.resources)
    wanted: set[str] = set()
    for name in names:
        if name not in connector.resource_names:
            close = closest(name, connector.resource_names)
            hint = (
                f"did you mean {close}?"
                if close
                else "resources: " + ", ".join(connector.resource_names)
            )
            raise ConfigError(f"connector {connector.name} has no resource {name!r}; {hint}")
        wanted.add(name)
    # Children need their parent's records; the parent is extracted (and loaded) too.
    for name in list(wanted):
        parent = connector.resource(name).parent
        while parent is not None:
            wanted.add(parent.resource)
            parent = connector.resource(parent.resource).parent
    return [r for r in connector.resources if r.name in wanted]


class ConnectorHooks:
    """Typed calls of the hooks for one connector, with their results checked (what a
    run asks the plugins: ``retry_policy(resource)``, ``response_rules(resource)``, ...).

    A hook that raises, or answers with the wrong type, is a :class:`PluginError`
    naming the plugin at fault (:func:`call_hook` remembers who answered what)."""

    def __init__(self, pm: pluggy.PluginManager, connector: Connector) -> None:
        self.pm = pm
        self.hook = pm.hook
        self.connector = connector

    def _call(self, hook_name: str, **kwargs: Any) -> HookCall:
        return call_hook(self.pm, hook_name, connector=self.connector, **kwargs)

    def _bad(self, call: HookCall, hook_name: str, expected: str, value: Any) -> PluginError:
        problem = (
            f"{hook_name} for connector {self.connector.name} returned "
            f"{type(value).__name__}, expected {expected}"
        )
        plugin = call.plugin_of(value)
        if plugin is not None:
            return PluginError(f"plugin {plugin!r}: {problem}")
        caller = getattr(self.hook, hook_name)
        plugins = ", ".join(impl.plugin_name for impl in reversed(caller.get_hookimpls()))
        return PluginError(f"{problem} (implemented by: {plugins})")

    def extra_resources(self, settings: Settings) -> list[Resource]:
        """The resources plugins add to the connector (:meth:`resource_answers`,
        checked by :meth:`added_resources`)."""
        return self.added_resources(self.resource_answers(settings))

    def resource_answers(self, settings: Settings) -> list[tuple[str, Any]]:
        """``(plugin, answer)`` of each implementation of ``headwater_resources``; one
        that raises is a :class:`PluginError` naming it."""
        answers: list[tuple[str, Any]] = []
        for impl in self.hook.headwater_resources.get_hookimpls():
            wanted = {"connector": self.connector, "settings": settings}
            try:
                answer = impl.function(**{k: wanted[k] for k in impl.argnames})
            except HeadwaterError:
                raise
            except Exception as exc:
                raise PluginError(
                    f"plugin {impl.plugin_name!r} failed in headwater_resources for connector "
                    f"{self.connector.name}: {type(exc).__name__}: {exc}"
                ) from exc
            answers.append((impl.plugin_name, answer))
        return answers

    def added_resources(self, answers: list[tuple[str, Any]]) -> list[Resource]:
        """The resources in ``answers``, checked: each a ``Resource``, under a name
        neither the connector nor another added resource has, with a parent one of them
        has. A wrong one is a :class:`PluginError` naming the plugin and the fix."""
        name = self.connector.name
        declared = set(self.connector.resource_names)
        added: dict[str, str] = {}  # resource name -> the plugin adding it
        extras: list[tuple[str, Resource]] = []
        for plugin, answer in answers:
            for resource in answer or ():
                if not isinstance(resource, Resource):
                    raise PluginError(
                        f"plugin {plugin!r}: headwater_resources returned "
                        f"{type(resource).__name__}, not a Resource"
                    )
                adds = f"adds resource {resource.name!r} to connector {name}"
                if resource.name in declared:
                    raise PluginError(
                        f"plugin {plugin!r} {adds}, which already declares a resource of that "
                        "name; rename the resource the plugin's headwater_resources adds"
                    )
                other = added.get(resource.name)
                if other == plugin:
                    raise PluginError(
                        f"plugin {plugin!r} {adds} twice; rename one of them in its "
                        "headwater_resources"
                    )
                if other is not None:
                    raise PluginError(
                        f"plugins {other!r} and {plugin!r} both add resource "
                        f"{resource.name!r} to connector {name}; rename it in the "
                        "headwater_resources of one of them"
                    )
                added[resource.name] = plugin
                extras.append((plugin, resource))
        for plugin, resource in extras:
            owner = quarantined_by(resource.name)
            if owner is not None and owner in declared | added.keys():
                raise PluginError(
                    f"plugin {plugin!r} adds resource {resource.name!r} to connector {name}, "
                    f"the name of the table that keeps resource {owner!r}'s records breaking "
                    "its schema; rename the resource the plugin's headwater_resources adds"
                )
            parent = resource.parent
            if parent is not None and parent.resource not in declared | added.keys():
                raise PluginError(
                    f"plugin {plugin!r} adds resource {resource.name!r} to connector {name} "
                    f"with parent {parent.resource!r}, which neither the connector nor a "
                    "plugin declares; name a declared resource as its parent in its "
                    "headwater_resources"
                )
        return [resource for _, resource in extras]

    def _checked_auth(self, call: HookCall) -> AuthBase | None:
        value = call.value
        if value is not None and not callable(value):
            raise self._bad(call, "headwater_auth", "a requests AuthBase", value)
        return value

    def _checked_paginator(self, call: HookCall) -> BasePaginator:
        if not isinstance(call.value, BasePaginator):
            raise self._bad(call, "headwater_paginator", "a dlt BasePaginator", call.value)
        return call.value

    def custom_auth(self, settings: Settings) -> str | None:
        """The plugin whose own ``headwater_auth`` gives the authenticator (``None``: the
        builtin one, from the declared auth); its answer checked as :meth:`auth` checks
        it (see :func:`custom_implementation`)."""
        return custom_implementation(
            self.pm,
            "headwater_auth",
            check=self._checked_auth,
            connector=self.connector,
            settings=settings,
        )

    def custom_paginator(self, resource: Resource, settings: Settings) -> str | None:
        """The plugin whose own ``headwater_paginator`` gives ``resource``'s paginator
        (``None``: the builtin one, from the declared pagination); its answer checked as
        :meth:`paginator` checks it (see :func:`custom_implementation`)."""
        return custom_implementation(
            self.pm,
            "headwater_paginator",
            check=self._checked_paginator,
            connector=self.connector,
            resource=resource,
            settings=settings,
        )

    def auth(self, settings: Settings) -> AuthBase | None:
        value = self._checked_auth(self._call("headwater_auth", settings=settings))
        if isinstance(value, OAuth2RefreshTokenAuthenticator) and value.store is None:
            value.store = self.token_store(settings)
        return value

    def token_store(self, settings: Settings) -> TokenStore:
        call = self._call("headwater_token_store", settings=settings)
        value = call.value
        if not all(callable(getattr(value, m, None)) for m in ("load", "save")):
            raise self._bad(
                call, "headwater_token_store", "a token store with load() and save()", value
            )
        return value

    def paginator(self, resource: Resource, settings: Settings) -> BasePaginator:
        call = self._call("headwater_paginator", resource=resource, settings=settings)
        return self._checked_paginator(call)

    def record_schema(self, resource: Resource) -> Mapping[str, Any]:
        call = self._call("headwater_record_schema", resource=resource)
        if not isinstance(call.value, Mapping):
            raise self._bad(call, "headwater_record_schema", "a JSON Schema mapping", call.value)
        return call.value

    def retry_policy(self, resource: Resource) -> RetryPolicy:
        call = self._call("headwater_retry_policy", resource=resource)
        if not isinstance(call.value, RetryPolicy):
            raise self._bad(call, "headwater_retry_policy", "a RetryPolicy", call.value)
        return call.value

    def response_rules(self, resource: Resource) -> list[ResponseRule]:
        """Every plugin's rules, in the order they are tried. The collected answer is a
        list of each plugin's list of rules; a wrapper may return it so, or with rules of
        its own among those lists (``[ResponseRule(...), *rules]``)."""
        rules: list[ResponseRule] = []
        call = self._call("headwater_response_rules", resource=resource)
        if not _is_list(call.value):
            raise self._bad(call, "headwater_response_rules", "ResponseRule objects", call.value)
        for result in call.value:
            if isinstance(result, ResponseRule):  # e.g. a wrapper's own, among the lists
                rules.append(result)
                continue
            if result is not None and not _is_list(result):
                raise self._bad(call, "headwater_response_rules", "ResponseRule objects", result)
            for rule in result or ():
                if not isinstance(rule, ResponseRule):
                    raise self._bad(call, "headwater_response_rules", "ResponseRule objects", rule)
                rules.append(rule)
        return rules


def _is_list(value: Any) -> bool:
    """Whether ``value`` gives items to a ``for`` loop as a list does (not a str's
    characters, nor a mapping's keys)."""
    return isinstance(value, Iterable) and not isinstance(value, str | bytes | Mapping)


#: the response fields a pagination spec reads, by attribute name
_PAGING_PATHS = (
    "total_path",
    "cursor_path",
    "next_path",
    "total_pages_path",
    "has_more_path",
    "cursor_field",
    "end_path",
)


def check_declaration(connector: Connector, resource: Resource) -> None:
    """Raise :class:`ConfigError` (one line naming the connector, the resource and the
    field) when ``resource`` declares what cannot be run: a JSONPath that does not
    parse, a template naming a setting the connector does not declare, paging
    parameters in the body of a request that has none. Compiles every JSONPath (once:
    compiled paths are cached)."""
    where = f"connector {connector.name}, resource {resource.name}"
    paths = [("data_selector", resource.data_selector)]
    paths += [
        (f"pagination.{name}", getattr(resource.pagination, name, None)) for name in _PAGING_PATHS
    ]
    for name, path in paths:
        if path is None:
            continue
        try:
            compile_path(path)
        except ValueError as exc:
            raise ConfigError(
                f"{where}: {name} {exc}; write a JSONPath such as '$.data.items' or "
                "'$.results[*]', or a dotted path such as 'data.items'"
            ) from None
    if getattr(resource.pagination, "location", "query") == "body" and resource.method != "POST":
        raise ConfigError(
            f"{where}: pagination location 'body' puts the paging parameters in the JSON "
            f"body, but the resource's method is {resource.method}; declare method='POST' "
            "(and its json body), or location='query'"
        )
    known = set(settings_schema(connector)["properties"])
    parent = resource.parent.placeholder if resource.parent is not None else None
    templates = [
        ("path", resource.path),
        ("params", dict(resource.params)),
        ("headers", dict(resource.headers)),
        ("json", resource.json),
        ("Connector.headers", dict(connector.headers)),
    ]
    for name, template in templates:
        problem = uneven_braces(name, template)
        if problem:
            raise ConfigError(f"{where}: {problem}")
        for setting in template_names(template):
            if setting in known or (name == "path" and setting == parent):
                continue
            raise ConfigError(
                f"{where}: {name} names setting {{{setting}}}, which connector "
                f"{connector.name} does not declare; declare it in Connector.settings "
                f"(settings={{'{setting}': {{'type': 'string'}}}}), or write a literal brace "
                "as {{ or }}"
            )


class _Templates:
    """Fills a resource's templates (path, params, headers, JSON body) with settings:
    ``{name}`` is the setting ``name``, ``{{``/``}}`` are literal braces. A string that
    is one placeholder alone becomes the setting's value with its type (a number stays
    a number in a JSON body). Secret values are redacted wherever Headwater reports
    them (the settings registered them)."""

    def __init__(self, connector: Connector, resource: Resource, settings: Settings) -> None:
        self.connector = connector
        self.resource = resource
        self.settings = settings
        self.parent = resource.parent.placeholder if resource.parent is not None else None

    def _setting(self, field: str, name: str) -> Any:
        value = self.settings.get(name)
        if value is None:
            raise ConfigError(
                f"connector {self.connector.name}, resource {self.resource.name}: {field} "
                f"needs setting {name}, which is not set; set it (environment variable "
                f"{env_var(self.connector.name, name)}, or [sources.{self.connector.name}] "
                f"{name} in .dlt/config.toml)"
            )
        return value

    def text(self, field: str, template: str, *, quoted: bool = False) -> Any:
        whole = TEMPLATE_TOKEN.fullmatch(template)
        if whole is not None and whole.group(1) and not quoted:
            return self._setting(field, whole.group(1))

        def fill(match: re.Match[str]) -> str:
            name = match.group(1)
            if name is None:
                return match.group(0)[0]  # {{ -> {, }} -> }
            if quoted and name == self.parent:
                return match.group(0)  # the parent's value, filled per request
            value = str(self._setting(field, name))
            return quote(value, safe="") if quoted else value

        return TEMPLATE_TOKEN.sub(fill, template)

    def path(self, template: str) -> str:
        return self.text("path", template, quoted=True)

    def value(self, field: str, template: Any) -> Any:
        if isinstance(template, str):
            return self.text(field, template)
        if isinstance(template, Mapping):
            return {
                self.text(field, k) if isinstance(k, str) else k: self.value(field, v)
                for k, v in template.items()
            }
        if isinstance(template, (list, tuple)):
            return [self.value(field, v) for v in template]
        return template

    def mapping(self, field: str, template: Mapping[str, Any]) -> dict[str, Any]:
        return self.value(field, template) if template else {}


class _Endpoints:
    """Endpoints of one run: one authenticator for every resource (one token), one
    session per retry policy and resource rate limit, the run's rate limit shared."""

    def __init__(self, hooks: ConnectorHooks, settings: Settings) -> None:
        self.hooks = hooks
        self.settings = settings
        self.auth = hooks.auth(settings)
        self.limits = HttpLimits.from_settings(settings, hooks.connector.name)
        self.sessions: dict[tuple[RetryPolicy, RateLimit | None], requests.Session] = {}
        limit = settings.get("rate_limit")
        name = hooks.connector.name
        self.run_throttle = Throttle(RateLimit.parse(limit), name) if limit else None
        self.resource_throttles: dict[RateLimit, Throttle] = {}

    def _session(self, policy: RetryPolicy, resource: Resource) -> requests.Session:
        key = (policy, resource.rate_limit)
        if key not in self.sessions:
            throttles = [self.run_throttle] if self.run_throttle else []
            if resource.rate_limit is not None:
                label = f"{self.hooks.connector.name}.{resource.name}"
                throttles.append(
                    self.resource_throttles.setdefault(
                        resource.rate_limit, Throttle(resource.rate_limit, label)
                    )
                )
            self.sessions[key] = retrying_session(
                policy, url=self.settings["base_url"], throttles=throttles, limits=self.limits
            )
        return self.sessions[key]

    def endpoint(self, resource: Resource) -> Endpoint:
        """The endpoint of ``resource``, from its hooks, its templates filled in from
        the settings (once, here)."""
        connector = self.hooks.connector
        check_declaration(connector, resource)
        fill = _Templates(connector, resource, self.settings)
        headers = {
            **fill.mapping("Connector.headers", connector.headers),
            **fill.mapping("headers", resource.headers),
        }
        policy = self.hooks.retry_policy(resource)
        return Endpoint(
            connector=self.hooks.connector.name,
            resource=resource.name,
            base_url=self.settings["base_url"],
            path=fill.path(resource.path),
            method=resource.method,
            headers={k: str(v) for k, v in headers.items()},
            json=None if resource.json is None else fill.value("json", resource.json),
            session=self._session(policy, resource),
            auth=self.auth,
            paginator=self.hooks.paginator(resource, self.settings),
            data_selector=resource.data_selector,
            rules=self.hooks.response_rules(resource),
            retry=policy,
            params=fill.mapping("params", resource.params),
            max_pages=self.settings.get("max_pages"),
            timeout=self.limits.timeout(policy),
        )


def build_endpoints(
    name: str, settings: Mapping[str, Any] | None = None
) -> tuple[Connector, dict[str, Endpoint]]:
    """Connector ``name`` and the endpoint of each of its top-level resources, built
    by the same hooks as a source (``headwater check`` reads one page of each)."""
    pm, connector, resolved = _prepare(name, settings)
    connector = _with_extra_resources(pm, connector, resolved)
    endpoints = _Endpoints(ConnectorHooks(pm, connector), resolved)
    return connector, {
        r.name: endpoints.endpoint(r) for r in connector.resources if r.parent is None
    }


def _prepare(
    name: str, settings: Mapping[str, Any] | None, pm: pluggy.PluginManager | None = None
) -> tuple[pluggy.PluginManager, Connector, Settings]:
    """The plugin manager, the connector and its resolved settings, with the secrets
    registered for redaction before anything can log them."""
    # a given plugin manager declares the connector too (headwater.from_rest_api)
    registry = get_registry() if pm is None else Registry(pm)
    connector = registry.get(name)
    resolved = resolve_settings(connector, settings or {})
    redact.register(resolved.secret_values)
    redact.install()
    return pm or registry.pm, connector, resolved


def _with_extra_resources(
    pm: pluggy.PluginManager, connector: Connector, settings: Settings, *, preview: bool = False
) -> Connector:
    """``connector`` with the resources plugins add for this run (headwater_resources).

    ``preview``: ``settings`` are a preview (no secrets): a hook that fails on them
    adds nothing now (it runs again with the resolved settings when the source is
    extracted), but a wrong answer (a name clash, a wrong type) is raised at once."""
    hooks = ConnectorHooks(pm, connector)
    try:
        answers = hooks.resource_answers(settings)
    except HeadwaterError:
        if preview:
            return connector
        raise
    extras = hooks.added_resources(answers)
    if not extras:
        return connector
    try:
        return attrs.evolve(connector, resources=[*connector.resources, *extras])
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"extra resources of connector {connector.name}: {exc}") from None


def build_source(
    name: str,
    settings: Mapping[str, Any] | None = None,
    *,
    resources: Sequence[str] | None = None,
    pm: pluggy.PluginManager | None = None,
    arrow: bool | None = None,
    unique_keys: bool = False,
    lazy: bool = False,
    bounds: RunBounds | None = None,
) -> DltSource:
    """Build the dlt source of connector ``name`` (see :func:`headwater.source`;
    ``unique_keys``: see :func:`assemble`).

    ``lazy``: resolve the settings when the source is first extracted, not now (no
    secret is read here; a settings problem is raised by the extraction). Otherwise
    every settings problem is raised here. ``bounds``: the time range of incremental
    reads (a backfill, checkpoints; see :mod:`headwater.load.incremental`)."""
    if not lazy:
        try:
            pm, connector, resolved = _prepare(name, settings, pm)
        except SettingsError:
            # an unknown --resource is said first: the settings may be for nothing
            _check_declared_resources(name, resources, pm, settings)
            raise
        return assemble(
            connector,
            resolved,
            pm,
            resources=resources,
            arrow=arrow,
            unique_keys=unique_keys,
            bounds=bounds,
        )
    registry = get_registry() if pm is None else Registry(pm)
    connector = registry.get(name)
    explicit = dict(settings or {})

    def resolve() -> Settings:
        return _prepare(name, explicit, pm)[2]

    return assemble(
        connector,
        preview_settings(connector, explicit),
        pm or registry.pm,
        resources=resources,
        arrow=arrow,
        unique_keys=unique_keys,
        resolve=resolve,
        bounds=bounds,
    )


def _check_declared_resources(
    name: str,
    resources: Sequence[str] | None,
    pm: pluggy.PluginManager | None,
    settings: Mapping[str, Any] | None,
) -> None:
    """:func:`select_resources` for ``resources`` before the settings are resolved: the
    declared ones and those plugins add (``headwater_resources``) given the settings
    known so far; nothing is said when a plugin cannot tell without the rest."""
    if not resources:
        return
    registry = get_registry() if pm is None else Registry(pm)
    connector = registry.get(name)
    try:
        extras = ConnectorHooks(registry.pm, connector).extra_resources(
            preview_settings(connector, dict(settings or {}))
        )
    except Exception:  # a plugin that needs the settings it lacks: the settings speak
        return
    select_resources(attrs.evolve(connector, resources=[*connector.resources, *extras]), resources)


def _leaving(exc: Exception, resource: str) -> None:
    """``exc`` leaves resource ``resource``'s generator: a :class:`ResponseError` is
    told which resource failed, and every exception chained to it is redacted (dlt
    keeps the text of the chain in the pipeline's trace file)."""
    if isinstance(exc, ResponseError):
        exc.resource = exc.resource or resource
    redact.scrub(exc)


@attrs.frozen
class _Parts:
    """What one resource needs from the settings to be read."""

    endpoint: Endpoint
    validator: Validator | None
    #: pages fetched at once (top-level resources)
    parallel: int
    #: concurrent child requests (child resources), a cap for the whole resource
    slots: threading.BoundedSemaphore
    workers: int


class _Runtime:
    """The part of a source that needs its resolved settings: endpoints (auth,
    sessions), validators, concurrency. Built from ``settings`` at once, or, with
    ``resolve``, when the source is first extracted: then ``settings`` are the preview
    the source's structure was built from, and the resolved settings must agree with
    it on what shaped the source."""

    def __init__(
        self,
        pm: pluggy.PluginManager,
        declared: Connector,
        connector: Connector,
        settings: Settings,
        resolve: Callable[[], Settings] | None,
        *,
        naming: Any,
    ) -> None:
        self.pm = pm
        #: the source schema's naming convention (a structure setting: fixed at build)
        self.naming = naming
        self.declared = declared
        self.connector = connector
        self.structure = settings
        self.hooks = ConnectorHooks(pm, connector)
        self._resolve = resolve
        self._lock = threading.Lock()
        self._settings: Settings | None = None
        self._endpoints: _Endpoints | None = None
        self._parts: dict[str, _Parts] = {}
        if resolve is None:
            self._use(settings)

    def _use(self, settings: Settings) -> None:
        self._endpoints = _Endpoints(self.hooks, settings)
        self._settings = settings

    def _check(self, resolved: Settings) -> None:
        """Raise when the resolved settings would shape the source differently from
        the preview it was built from (a setting changed in between)."""
        name = self.connector.name
        for key in STRUCTURE_SETTINGS:
            before, now = self.structure.get(key), resolved.get(key)
            if before != now:
                raise ConfigError(
                    f"setting {key} of connector {name} is {now!r}, but was {before!r} when "
                    "headwater.source() built the source; build the source again after "
                    "changing it"
                )
        resources = _with_extra_resources(self.pm, self.declared, resolved).resource_names
        if list(resources) != list(self.connector.resource_names):
            raise ConfigError(
                f"the resources of connector {name} are {', '.join(resources)}, but were "
                f"{', '.join(self.connector.resource_names)} when headwater.source() built "
                "the source; build the source again after changing its settings"
            )

    @property
    def settings(self) -> Settings:
        """The resolved settings (once :meth:`parts` resolved them)."""
        return self._settings if self._settings is not None else self.structure

    def parts(self, resource: Resource) -> _Parts:
        """``resource``'s parts (resolving the settings first, once, when lazy)."""
        parts = self._parts.get(resource.name)
        if parts is not None:
            return parts
        with self._lock:
            if self._endpoints is None:
                assert self._resolve is not None
                resolved = self._resolve()  # SettingsError: the run stops here
                self._check(resolved)
                self._use(resolved)
            assert self._endpoints is not None and self._settings is not None
            parts = self._parts.get(resource.name)
            if parts is None:
                parts = self._parts[resource.name] = self._build(resource)
        return parts

    def _build(self, resource: Resource) -> _Parts:
        settings = self._settings
        assert settings is not None and self._endpoints is not None
        endpoint = self._endpoints.endpoint(resource)
        validation = settings.get("validation") or "quarantine"
        # also under "off": it makes records safe for dlt (headwater.load.validation)
        validator = Validator(
            f"{self.connector.name}.{resource.name}",
            resource.name,
            self.hooks.record_schema(resource),
            validation,
            schema_file=f"{self.connector.package}/{resource.schema}",
            naming=self.naming,
        )
        workers = int(settings.get("max_workers") or DEFAULT_MAX_WORKERS)
        return _Parts(
            endpoint=endpoint,
            validator=validator,
            parallel=_parallel_pages(settings, resource, endpoint)
            if resource.parent is None
            else 1,
            # dlt may evaluate a transformer for several batches of parents at once,
            # each with its own pool: the semaphore makes max_workers a cap for all
            slots=threading.BoundedSemaphore(workers),
            workers=workers,
        )


#: dlt's per-record steps (``add_map``, ``add_filter``, ``add_yield_map``): their
#: functions take one record, a dict, as they do on a ``rest_api`` resource.
def _per_record_step_types() -> tuple[type, ...]:
    from dlt.extract.items_transform import FilterItem, MapItem, YieldMapItem

    return (MapItem, FilterItem, YieldMapItem)


@functools.cache
def _shielded(cls: type) -> type:
    """``cls`` (a dlt step: map, filter, yield map, limit) letting a resource's
    quarantine items through untouched and uncounted: the user's functions take the
    API's records, and ``add_limit(n)`` counts pages, not the records set aside."""

    def __call__(self: Any, item: Any, meta: Any = None) -> Any:
        hints = getattr(meta, "hints", None)
        if isinstance(hints, Mapping) and hints.get("table_name") == self._headwater_quarantine:
            return item
        return cls.__call__(self, item, meta)

    return type(f"Quarantine{cls.__name__}", (cls,), {"__call__": __call__})


@functools.cache
def _shielded_fork() -> type:
    """dlt's ``ForkPipe`` (the step that hands a resource's items to the transformers
    fed by it) sending a resource's quarantine items on along the resource's own pipe
    only: a transformer takes the API's records, as a map or a filter does (what it
    made of a quarantine row went to the quarantine table and failed the load)."""
    from dlt.extract.pipe import ForkPipe

    def __call__(self: Any, item: Any, meta: Any = None) -> Iterator[Any]:
        hints = getattr(meta, "hints", None)
        if not (isinstance(hints, Mapping) and hints.get("table_name") == self._hw_table):
            yield from ForkPipe.__call__(self, item, meta)
            return
        own = [(pipe, step) for pipe, step in self._pipes if pipe is self._hw_own]
        yield from ForkPipe.__call__(_OwnFork(own, self.copy_on_fork), item, meta)

    return type("QuarantineForkPipe", (ForkPipe,), {"__call__": __call__})


@attrs.define
class _OwnFork:
    """What ``ForkPipe.__call__`` reads of itself: the pipes it sends to."""

    _pipes: list[Any]
    copy_on_fork: bool


def _shield_forks(table: str) -> bool:
    """Shield the transformers fed by the resource whose generator runs now from its
    quarantine items (:func:`_shielded_fork`); whether the quarantine items are loaded
    (not when only those transformers run, not the resource).

    dlt clones a resource's pipe and adds the forks to the clone before its generator
    first runs; while a generator runs, dlt's current pipe is that clone
    (``dlt.extract.state.get_current_pipe``). Outside dlt's extract (a generator
    iterated by hand) there is nothing to shield."""
    from dlt.extract.pipe import ForkPipe
    from dlt.extract.state import get_current_pipe

    try:
        pipe = get_current_pipe()
    except Exception:  # not run by dlt's pipe iterator
        return True
    kept = True
    for step in getattr(pipe, "steps", ()):
        if isinstance(step, ForkPipe):
            if type(step) is ForkPipe:  # not shielded yet (a child's next batch: it is)
                step.__class__ = _shielded_fork()
                step._hw_table, step._hw_own = table, pipe
            kept = any(forked is pipe for forked, _ in step._pipes)
    return kept


def _route_quarantine(resource: Any, name: str) -> None:
    """Send ``resource``'s quarantine rows to its quarantine table past the user's
    table-name function (dlt asks it for every row, the quarantine rows too: their
    ``{record, error, detected_at}`` went to the user's table and failed the load)."""
    function = resource._hints.get("table_name") if resource is not None else None
    if not callable(function) or getattr(function, "_headwater_routed", False):
        return
    table = quarantine_table(name)

    def routed(item: Any) -> Any:
        return table if isinstance(item, QuarantineRow) else function(item)

    routed._headwater_routed = True  # type: ignore[attr-defined]
    resource._hints["table_name"] = routed
    resource._table_name_hint_fun = routed  # where dlt's extractor reads it


def _shield_child(name: str) -> bool:
    """A child resource's generator, at each batch of parents: its transformers
    shielded (:func:`_shield_forks`) and its table-name function routed
    (:func:`_route_quarantine`); whether its quarantine rows are loaded."""
    source = _extracting()
    _route_quarantine(source.resources.get(name) if source is not None else None, name)
    return _shield_forks(quarantine_table(name))


def _extracting() -> Any:
    """The source dlt is extracting in this thread (``None`` outside an extract): a
    ``with_resources`` or ``clone`` copy of the one Headwater built, maybe."""
    from dlt.common.configuration.container import Container
    from dlt.extract.source import SourceInjectableContext

    try:
        return Container()[SourceInjectableContext].source
    except Exception:  # not inside dlt's extract (or another thread)
        return None


def _current_steps() -> list[Any]:
    """The steps of the pipe dlt runs the current generator in (``[]``: none)."""
    from dlt.extract.state import get_current_pipe

    try:
        return list(get_current_pipe().steps)
    except Exception:  # not run by dlt's pipe iterator
        return []


@functools.cache
def _passed_type() -> type:
    """The step :meth:`_Steps.track` adds (a class made on first use: dlt is imported
    then)."""
    from dlt.extract.items_transform import ItemTransform

    class Passed(ItemTransform[Any, dict]):  # type: ignore[type-arg]
        """Notes the cursor of the records that passed the user's per-record steps:
        placed after them and before dlt's ``Incremental`` (1) and ``add_limit`` (1.1),
        as dlt's incremental reads the records its filters kept.

        Records may pass after the resource's generator ended: an ``add_yield_map``
        returns a generator, which dlt's pipe iterator reads as a source of its own,
        round robin with the resource's generator, so the records it yields for the
        last page come after the read's end. :attr:`then` (set when the read ended)
        moves the position again over them."""

        placement_affinity = 0.95

        def __init__(self, passed: SliceFilter, quarantine: str) -> None:
            self.passed = passed
            self._quarantine = quarantine
            self._custom_metrics = {}
            #: called after each item once the read has ended
            self.then: Callable[[], None] | None = None

        def __call__(self, item: Any, meta: Any = None) -> Any:
            hints = getattr(meta, "hints", None)
            if isinstance(hints, Mapping) and hints.get("table_name") == self._quarantine:
                return item
            records = item if isinstance(item, list) else [item]
            self.passed.page([r for r in records if isinstance(r, Mapping)])
            self.passed.unreadable.clear()  # a map's value: it moves no position
            if self.then is not None:
                self.then()
            return item

    return Passed


class _Steps:
    """Tells a resource's generator which steps the user added to it: per-record steps
    (dict records, not Arrow tables) and ``add_limit`` (one item a page).

    The generator cannot see the pipe it runs in; it looks its resource up in the
    source dlt is extracting (``with_resources`` and ``clone`` make a new source, to
    which the user may add steps), else in the source it was built into."""

    def __init__(self, naming: Any = None) -> None:
        self.source: DltSource | None = None
        #: the naming convention the source declared its tables with
        self.naming = naming
        #: each resource's table declaration (see :attr:`_Table.declaration`) and the
        #: API's names of its declared columns
        self.declarations: dict[str, tuple[Callable[[Schema], None], list[str]]] = {}
        #: the schema each child resource last placed its tables in (:meth:`child_batch`)
        self._placed: dict[str, Any] = {}

    def _resource(self, name: str) -> Any:
        for source in (_extracting(), self.source):
            resource = source.resources.get(name) if source is not None else None
            if resource is not None:
                return resource
        return None

    def write_disposition(self, name: str) -> str | None:
        """The write disposition resource ``name`` is extracted with: the declared one,
        or the one the user gave (``pipeline.run(..., write_disposition="append")``,
        ``apply_hints``); ``None``: not known here."""
        resource = self._resource(name)
        value = resource._hints.get("write_disposition") if resource is not None else None
        if isinstance(value, Mapping):
            value = value.get("disposition")
        return value if isinstance(value, str) else None

    def _steps(self, name: str) -> list[Any]:
        resource = self._resource(name)
        return [] if resource is None else list(resource._pipe.steps)

    def per_record(self, name: str) -> bool:
        """Whether the resource needs dict records: per-record steps, a table name that
        is a function of each record (dlt cannot apply one to an Arrow table), or dlt's
        ``scd2`` merge, which hashes each dict row into ``_dlt_id`` to tell versions
        apart (Arrow rows carry random ids: every run would retire every row)."""
        kinds = _per_record_step_types()
        if any(isinstance(step, kinds) for step in self._steps(name)):
            return True
        resource = self._resource(name)
        if resource is None:
            return False
        disposition = resource._hints.get("write_disposition")
        if isinstance(disposition, Mapping) and disposition.get("strategy") == "scd2":
            return True
        return self.routed(name) or self._retyped(name, resource)

    def _retyped(self, name: str, resource: Any) -> bool:
        """Whether the user's column hints give a declared column another data type
        (``apply_hints(columns={"timestamp": {"data_type": "text"}})``): the Arrow
        tables are typed as declared (a date-time parsed), so dlt gets the API's
        values as dicts and types them as the hint says, as on a ``rest_api``
        resource (the text the API sent; a variant column for values of another
        type)."""
        import dlt

        hinted = resource._hints.get("columns")
        try:  # the schema extracted into: its naming named the declared columns
            built = dlt.current.source_schema()
        except Exception:  # not inside dlt's extract
            built = self.source.schema if self.source is not None else None
        if not isinstance(hinted, Mapping) or not hinted or built is None:
            return False
        declared = built.tables.get(built.naming.normalize_table_identifier(name), {})
        declared = declared.get("columns", {})
        normalize = built.naming.normalize_identifier
        for column, hint in hinted.items():
            data_type = hint.get("data_type") if isinstance(hint, Mapping) else None
            if data_type is None:
                continue
            found = declared.get(normalize(str(column)))
            if found is not None and found.get("data_type") not in (None, data_type):
                return True
        return False

    def shield_quarantine(self, name: str) -> None:
        """Let the resource's quarantine items pass the user's steps (maps, filters,
        ``add_limit``) untouched (:func:`_shielded`)."""
        from dlt.extract.items_transform import LimitItem

        kinds = (*_per_record_step_types(), LimitItem)
        table = quarantine_table(name)
        for step in self._steps(name):
            cls = type(step)
            if cls in kinds:
                step.__class__ = _shielded(cls)
                step._headwater_quarantine = table

    def unset_emptied_key(self, name: str) -> None:
        """``apply_hints(primary_key=[])`` takes the key away, as on any dlt resource:
        the declared key's columns in the schema dlt extracts into lose their flag (dlt
        leaves a flag the schema has when the hint is empty)."""
        resource = self._resource(name)
        if resource is None or "primary_key" not in resource._hints:
            return
        if resource._hints.get("primary_key") not in ("", [], ()):
            return
        import dlt

        try:
            schema = dlt.current.source_schema()
        except Exception:  # not inside dlt's extract
            return
        table = schema.tables.get(getattr(resource, "table_name", None) or name)
        for column in (table or {}).get("columns", {}).values():
            column.pop("primary_key", None)

    def routed(self, name: str) -> bool:
        """Whether the user sends the resource's records to tables named by a function
        of each record (``apply_hints(table_name=lambda record: ...)``)."""
        resource = self._resource(name)
        return resource is not None and callable(resource._hints.get("table_name"))

    def route_quarantine(self, name: str) -> None:
        """:func:`_route_quarantine` for the resource ``name`` as dlt extracts it."""
        _route_quarantine(self._resource(name), name)

    def renamed(self, name: str) -> str | None:
        """The table the user sent this resource to (``apply_hints(table_name=...)``),
        when it is not the resource's own; ``None`` otherwise (or a function of items)."""
        resource = self._resource(name)
        table = getattr(resource, "table_name", None) if resource is not None else None
        return table if isinstance(table, str) and table != name else None

    def conform_naming(self, name: str) -> Any:
        """The naming convention of the schema dlt extracts resource ``name`` into
        (``None`` outside dlt's extract), the resource's table declared under it.

        dlt names the records' fields by the naming its schema actually uses, which
        may not be the one the source declared its tables with: dlt's ``SCHEMA__NAMING``
        config, a schema given to ``pipeline.run``, the destination's naming convention
        or a pipeline's stored schema decide it, and dlt renames what the source
        declared from the declared names (``last_login_time`` stays so under ``direct``,
        while the API's ``lastLoginTime`` is ``lastLoginTime``). The table is declared
        again, its columns named from the API's fields as the records' are (the ones
        named the other way renamed, while no load filled them)."""
        import dlt
        from dlt.common.schema.utils import has_table_seen_data

        try:
            schema = dlt.current.source_schema()
        except Exception:  # not inside dlt's extract
            return None
        naming = schema.naming
        found = self.declarations.get(name)
        if found is None or self.naming is None or _same_naming(naming, self.naming):
            return naming
        declare, fields = found
        was = self.naming
        table = naming.normalize_table_identifier(name)
        stale = naming.normalize_table_identifier(was.normalize_table_identifier(name))
        old = schema.tables.get(stale)
        if old is not None and not has_table_seen_data(old):
            if stale != table:
                schema.drop_tables([stale])
            else:  # each column renamed in its place: the declared order stays
                renamed = {}
                for field in fields:
                    column = naming.normalize_identifier(field)
                    renamed[naming.normalize_identifier(was.normalize_identifier(field))] = column
                old["columns"] = {
                    renamed.get(key, key): {**column, "name": renamed.get(key, key)}
                    for key, column in old["columns"].items()
                }
        declare(schema)
        return naming

    def place_tables(self, name: str, validator: Validator | None) -> None:
        """What resource ``name``'s generator does when it starts: its table declared
        under the naming dlt uses (:meth:`conform_naming`), which its validator judges
        names by, and in the schema dlt extracts into (:meth:`bring_declared_tables`);
        the declared columns moved to the table the user sent its records to
        (``apply_hints(table_name=...)``: :func:`_move_declared_table`); the declared
        tables of resources left out dropped, and an emptied key unset."""
        naming = self.conform_naming(name)
        if naming is not None and validator is not None:
            validator.naming = naming  # reserved and nested names, Arrow renames
        self.bring_declared_tables(name)
        renamed = self.renamed(name)
        if renamed is not None:
            _move_declared_table(name, renamed)
        elif self.routed(name):
            _move_declared_table(name, None)
            self.route_quarantine(name)
        else:
            _writing_declared_table(name)
        self.drop_unselected_tables()
        self.unset_emptied_key(name)
        self.relax_not_null(name, renamed)

    def relax_not_null(self, name: str, table: str | None = None) -> None:
        """With ``add_map`` or ``add_yield_map`` on the resource (which reshape records
        after Headwater checked them: a field renamed or dropped), the declared columns
        of its table (``table``, else its own) other than the primary key are nullable
        in the schema dlt extracts into, so what the map returns loads, as on a
        ``rest_api`` resource, whose columns dlt takes from what the map returned. A
        declared NOT NULL column failed every load (dlt's NOT NULL constraint)."""
        from dlt.extract.items_transform import MapItem, YieldMapItem

        if not any(isinstance(step, (MapItem, YieldMapItem)) for step in self._steps(name)):
            return
        import dlt

        try:
            schema = dlt.current.source_schema()
        except Exception:  # not inside dlt's extract
            return
        found = schema.tables.get(schema.naming.normalize_table_identifier(table or name))
        for column in (found or {}).get("columns", {}).values():
            keep = column.get("primary_key") or str(column.get("name", "")).startswith("_dlt_")
            if not keep and column.get("nullable") is False:
                column["nullable"] = True

    def child_batch(self, name: str, validator: Validator | None) -> None:
        """:meth:`place_tables` for a child resource, whose generator runs at each
        batch of parents: once for each schema it extracts into."""
        import dlt

        try:
            schema = dlt.current.source_schema()
        except Exception:  # not inside dlt's extract
            schema = None
        if schema is not None and self._placed.get(name) is schema:
            return
        self.place_tables(name, validator)
        if schema is not None:
            self._placed[name] = schema

    def bring_declared_tables(self, name: str) -> None:
        """A resource extracted outside the source Headwater built
        (``pipeline.run(source.resources[name])``, a user's own ``@dlt.source``) goes
        into a schema dlt made: the declared tables (the resource's and its nested
        ones) come along, so its columns get the declared types there too (dict
        records would otherwise be typed by dlt from the values, an id sent as 1 and
        "2" loading as bigint)."""
        import dlt
        from dlt.common.schema.utils import get_nested_tables

        built = self.source.schema if self.source is not None else None
        try:
            schema = dlt.current.source_schema()
        except Exception:  # not inside dlt's extract
            return
        if built is None or schema is built or name in schema.tables:
            return
        found = self.declarations.get(name)
        if found is not None:  # named as that schema names things
            found[0](schema)
            return
        if name not in built.tables:
            return
        for table in get_nested_tables(built.tables, name):
            if table["name"] not in schema.tables:
                schema.update_table(copy.deepcopy(table))

    def drop_unselected_tables(self) -> None:
        """Take the declared tables of the resources the extract leaves out
        (``with_resources``) out of its schema, unless a run loaded them: dlt would list
        them there, never created (``pipeline.dataset()[name]`` failed on them), where
        ``rest_api`` has only the tables it loads."""
        import dlt
        from dlt.common.schema.utils import has_table_seen_data

        source = _extracting()
        if source is None:
            return
        try:
            schema = dlt.current.source_schema()
        except Exception:  # not inside dlt's extract (a resource iterated on its own)
            return
        selected = set(source.resources.selected)
        left_out = [
            name
            for name in source.resources
            if name not in selected
            and name in schema.tables
            and not has_table_seen_data(schema.tables[name])
        ]
        if left_out:
            schema.drop_tables(left_out)

    def dlt_range(self, name: str) -> tuple[Any, Any] | None:
        """``(initial_value, end_value)`` of a ``dlt.sources.incremental`` with an
        ``end_value`` on the resource (``apply_hints(incremental=...)``, or an external
        scheduler's range): a backfill of dlt's, which moves no position."""
        from dlt.extract.incremental import Incremental, IncrementalResourceWrapper

        for step in _current_steps() or self._steps(name):
            found = step._incremental if isinstance(step, IncrementalResourceWrapper) else step
            if isinstance(found, Incremental) and found.end_value is not None:
                return found.initial_value, found.end_value
        return None

    def track(self, name: str, spec: IncrementalSpec, key: tuple[str, ...] | None) -> Any:
        """With per-record steps on the resource, a step of Headwater's own placed
        after them (:func:`_passed_type`) reads the cursor of each record that passed
        them into its :class:`SliceFilter` (``passed``); returns the step (``None``: no
        such steps, or not run by dlt's pipe)."""
        if not any(isinstance(step, _per_record_step_types()) for step in self._steps(name)):
            return None
        from dlt.extract.state import get_current_pipe

        try:
            pipe = get_current_pipe()
        except Exception:  # not run by dlt's pipe iterator
            return None
        step = _passed_type()(SliceFilter(spec, None, None, False, key=key), quarantine_table(name))
        pipe.append_step(step)
        return step

    def limited(self, name: str) -> bool:
        """Whether ``add_limit`` counts this resource's items: then an item is one page,
        as on a ``rest_api`` resource, and no page is read ahead of the limit."""
        from dlt.extract.items_transform import LimitItem

        return any(
            isinstance(step, LimitItem)
            and getattr(step, "max_items", -1) not in (None, -1)
            and not getattr(step, "count_rows", False)
            for step in self._steps(name)
        )


# Long for a reason: the source-wide choices, then one loop declaring each resource
# (its table: _Table.declare; its reader: _TopLevelPages) in dependency order.
def assemble(
    connector: Connector,
    settings: Settings,
    pm: pluggy.PluginManager,
    *,
    resources: Sequence[str] | None = None,
    arrow: bool | None = None,
    unique_keys: bool = False,
    resolve: Callable[[], Settings] | None = None,
    bounds: RunBounds | None = None,
) -> DltSource:
    """Turn ``connector`` with resolved ``settings`` into a dlt source via the hooks.

    ``arrow``: build typed Arrow tables for resources whose schema allows it (default:
    when pyarrow is installed and ``HEADWATER_ARROW`` is not ``0``). A resource to
    which the user added dlt's per-record steps (``add_map``, ``add_filter``,
    ``add_yield_map``) yields dict records instead, as a ``rest_api`` resource does.
    ``unique_keys``: top-level merge resources with a one-column string or integer
    primary key tell dlt when a run served each key once, and the merge skips
    deduplicating (see :mod:`headwater.load.unique`). Only for destinations that compare
    keys exactly.
    ``resolve``: ``settings`` are only a preview (no secrets; see
    :func:`~headwater.settings.preview_settings`) that shapes the source; ``resolve``
    returns the real settings when the source is first extracted.
    ``bounds``: see :func:`build_source`.
    """
    import dlt
    from dlt.extract import DltSource

    declared = connector
    # with a preview, a hook that fails fails again, with the settings', at extraction
    connector = _with_extra_resources(pm, connector, settings, preview=resolve is not None)
    hooks = ConnectorHooks(pm, connector)
    selected = select_resources(connector, resources)
    use_arrow = arrow_enabled() if arrow is None else arrow
    # dlt adds _dlt_id/_dlt_load_id to dict rows but not to Arrow tables; the Arrow
    # tables carry both (made with the table: _own_row_ids, _current_load_id), so a table
    # has the same columns whichever path loaded it (a batch that does not fit Arrow, an
    # earlier run with arrow=False). Explicit dlt config wins.
    row_ids = _own_row_ids() if use_arrow else None
    full_refresh = settings.get("sync_mode") == "full_refresh"
    # The records keep the API's field names; dlt normalizes them (and the declared
    # columns here) by one convention: snake_case unless the naming setting says api.
    dlt_schema = Schema(connector.name, normalizers={"names": naming_convention(settings)})
    runtime = _Runtime(pm, declared, connector, settings, resolve, naming=dlt_schema.naming)
    steps = _Steps(dlt_schema.naming)
    built: dict[str, DltResource] = {}
    for resource in selected:
        check_declaration(connector, resource)  # one line naming the field, before anything
        record_schema = hooks.record_schema(resource)
        if resolve is None:
            runtime.parts(resource)  # every hook's problem now, before any request
        table = _Table.declare(
            dlt_schema, resource, record_schema, full_refresh, use_arrow=use_arrow, row_ids=row_ids
        )
        columns, incremental, disposition = table.columns, table.incremental, table.disposition
        fast, hints = table.fast, table.hints
        steps.declarations[resource.name] = (table.declaration, list(columns))
        if resource.parent is None:
            not_null = [n for n, hint in columns.items() if not hint["nullable"]]
            unique_key = _unique_key(resource, columns) if unique_keys else None
            pages = _TopLevelPages(
                runtime,
                resource,
                incremental,
                fast,
                not_null=not_null,
                row_ids=row_ids,
                merge=disposition == "merge",
                unique_key=unique_key,
                steps=steps,
                bounds=bounds,
            )
            built[resource.name] = dlt.resource(pages.function(), **hints)
        else:
            parent = built[resource.parent.resource]
            built[resource.name] = dlt.transformer(
                _children_of(runtime, resource, incremental, bounds, steps),
                data_from=parent,
                **hints,
            )
    source = DltSource(dlt_schema, connector.name, list(built.values()))
    steps.source = source
    return source


@attrs.frozen(eq=False)
class _Table:
    """A resource's table as the source declares it: columns, write disposition,
    the incremental spec in force, the Arrow columns of the fast path, dlt hints."""

    columns: dict[str, dict[str, Any]]
    incremental: IncrementalSpec | None
    disposition: str
    fast: dict[str, str] | None
    hints: dict[str, Any]
    #: declares the table in a schema, named by that schema's naming convention
    declaration: Callable[[Schema], None]

    @classmethod
    def declare(
        cls,
        dlt_schema: Schema,
        resource: Resource,
        record_schema: Any,
        full_refresh: bool,
        *,
        use_arrow: bool,
        row_ids: str | None,
    ) -> _Table:
        """Declare ``resource``'s table in ``dlt_schema`` and return it."""
        columns = columns_from_schema(record_schema, resource.primary_key_columns)
        if resource.parent is not None and resource.parent.column is not None:
            parent_column = resource.parent.column
            columns.setdefault(parent_column, {"name": parent_column, "nullable": False})
        incremental = resource.incremental if not full_refresh else None
        # full_refresh reads everything, so the table is replaced, not merged
        disposition = (
            "replace"
            if full_refresh and resource.incremental is not None
            else resource.write_disposition
        )
        fast = fast_path_columns(record_schema) if use_arrow and resource.parent is None else None
        declaration = functools.partial(
            _declare_table,
            table=resource.name,
            disposition=disposition,
            columns=columns,
            row_ids=bool(fast and row_ids),
        )
        declaration(dlt_schema)
        hints: dict[str, Any] = {
            "name": resource.name,
            "table_name": resource.name,
            "write_disposition": disposition,
            "primary_key": list(resource.primary_key_columns) or None,
        }
        return cls(columns, incremental, disposition, fast, hints, declaration)


def _same_naming(one: Any, other: Any) -> bool:
    """Whether two naming conventions name everything alike (dlt's own test: the
    same convention, and the same identifier length)."""
    return type(one) is type(other) and one.max_length == other.max_length


def _declare_table(
    schema: Schema,
    table: str,
    disposition: str,
    columns: dict[str, dict[str, Any]],
    *,
    row_ids: bool = False,
) -> None:
    """Declare a table's columns in the source's dlt schema.

    The column hints live in the schema, not in the resource's hints: a resource's
    table variants (the quarantine table) start from a copy of the resource's hints
    and would inherit its columns, NOT NULL and key included. ``row_ids``: the Arrow
    tables carry dlt's row id column; it is declared as dlt's normalizer declares it,
    after the load id column dlt adds (the order of dlt's dict rows, so a table's
    columns come in one order whichever path loaded it)."""
    import dlt
    from dlt.common.schema.utils import dlt_id_column, dlt_load_id_column, new_table

    normalize = schema.naming.normalize_identifier
    declared = [{**hint, "name": normalize(name)} for name, hint in columns.items()]
    if row_ids:
        # added by Headwater (_current_load_id) unless configured; by dlt when on
        add_load_id = dlt.config.get("normalize.parquet_normalizer.add_dlt_load_id")
        if add_load_id is None or str(add_load_id).strip().lower() in ("true", "1", "yes"):
            declared.append(dlt_load_id_column())
        declared.append(dlt_id_column())
    schema.update_table(
        new_table(normalize(table), write_disposition=disposition, columns=declared)
    )


#: the declared tables Headwater resources extract into, for the load package being
#: extracted (its load id): two sources of one connector in one ``pipeline.run`` share
#: the package, not their schema objects
_WRITTEN: dict[str, set[str]] = {}


def _written_tables() -> set[str]:
    """The declared tables extracted into in the load package being extracted."""
    import dlt
    from dlt.common.storages.exceptions import CurrentLoadPackageStateNotAvailable

    try:
        load_id = dlt.current.load_package_state()["load_id"]
    except (CurrentLoadPackageStateNotAvailable, KeyError):
        return set()
    written = _WRITTEN.get(load_id)
    if written is None:
        while len(_WRITTEN) >= 16:  # earlier packages' (other threads may extract theirs)
            _WRITTEN.pop(next(iter(_WRITTEN)), None)
        written = _WRITTEN.setdefault(load_id, set())
    return written


def _writing_declared_table(table: str) -> None:
    """A resource extracts into its declared table ``table``: another resource moved
    elsewhere (:func:`_move_declared_table`) must leave it in the schema."""
    _written_tables().add(table)


def _move_declared_table(declared: str, table: str | None) -> None:
    """The user sent resource ``declared``'s records to ``table`` (or, ``None``, to
    tables a function of each record names): the columns declared for it go to
    ``table``, and the declared table, if no run loaded it and no resource extracts
    into it (another source of the same connector in one ``pipeline.run``), leaves the
    schema (it would be listed there, empty, never created)."""
    import dlt
    from dlt.common.schema.utils import has_table_seen_data, new_table

    try:
        schema = dlt.current.source_schema()
    except Exception:  # not extracting in a pipeline (a resource iterated on its own)
        return
    old = schema.naming.normalize_table_identifier(declared)
    new = schema.naming.normalize_table_identifier(table) if table is not None else None
    found = schema.tables.get(old)
    if found is None or old == new:
        return
    if new is not None and new not in schema.tables:
        columns = [dict(column) for column in found.get("columns", {}).values()]
        schema.update_table(
            new_table(new, write_disposition=found.get("write_disposition"), columns=columns)
        )
    if not has_table_seen_data(found) and declared not in _written_tables():
        schema.drop_tables([old])


@attrs.frozen(eq=False)
class _TopLevelPages:
    """How a top-level resource reads its pages; :meth:`function` is its generator
    function.

    With ``arrow_columns`` pages are batched into typed Arrow tables (the fast path,
    see :mod:`headwater.load.arrow`), unless the user added per-record steps to the resource
    (``steps``): their functions take dicts, so the pages go out as lists of dicts. A
    ``merge`` resource's items come with dlt's "deduplicated" hint: off, or with
    ``unique_key`` (field, declared type) on when every value of that field was
    distinct (see :mod:`headwater.load.unique`). With an incremental spec the pages come
    from :func:`_incremental_read`: the time range (or slices) the pipeline state says
    to read next (see :mod:`headwater.load.incremental`), the position advancing in that
    state as slices complete.
    """

    runtime: _Runtime
    resource: Resource
    incremental: IncrementalSpec | None
    arrow_columns: dict[str, str] | None
    not_null: Sequence[str] = ()
    row_ids: str | None = None
    merge: bool = False
    unique_key: tuple[str, str] | None = None
    steps: _Steps | None = None
    bounds: RunBounds | None = None

    def function(self) -> Callable[..., Iterator[Any]]:
        """The resource's generator function (named after the resource, as dlt wants)."""
        runtime, resource, incremental = self.runtime, self.resource, self.incremental
        arrow_columns, not_null, row_ids = self.arrow_columns, self.not_null, self.row_ids
        merge, unique_key, steps = self.merge, self.unique_key, self.steps

        def read(
            parts: _Parts,
            params: dict[str, Any] | None = None,
            given: Any = None,
            read_ahead: bool = False,
        ) -> Iterator[Any]:
            endpoint, validator = parts.endpoint, parts.validator
            if steps is not None:
                steps.place_tables(resource.name, validator)
            else:
                _writing_declared_table(resource.name)
            # checked once per run: a step added after the source was built counts
            per_record = steps is not None and steps.per_record(resource.name)
            limited = steps is not None and steps.limited(resource.name)
            # the table the records go to (apply_hints(table_name=...)): its columns
            # are those earlier runs made
            renamed = steps.renamed(resource.name) if steps is not None else None
            if steps is not None and validator is not None:
                steps.shield_quarantine(resource.name)
            if given is not None:
                pages = prefetched(given) if read_ahead and not limited else given
            elif parts.parallel > 1:
                assert isinstance(resource.pagination, OffsetPagination)
                pages = iter_pages_parallel(
                    endpoint, resource.pagination, parts.parallel, params=params
                )
            elif limited:
                pages = iter_pages(endpoint, params=params)  # no page past the limit
            else:
                pages = prefetched(iter_pages(endpoint, params=params))
            try:
                items: Iterator[Any]
                if arrow_columns is None or per_record:
                    items = validator.pages(pages) if validator is not None else pages
                else:
                    load_id = _current_load_id() if row_ids is not None else None
                    batcher = ArrowBatcher(
                        arrow_columns,
                        1 if limited else BATCH_ROWS,  # add_limit counts pages
                        not_null=not_null,
                        validator=validator,
                        row_ids=row_ids,
                        load_id=load_id,
                        existing=_existing_columns(renamed or resource.name),
                        drop_nul=_rows_drop_nul(),
                    )
                    items = batcher.batches(pages)
                if merge:
                    # a step may rewrite or duplicate keys: only dlt can vouch for them then
                    key, data_type = (None if per_record else unique_key) or (None, "text")
                    items = hinted(
                        items,
                        key,
                        data_type,
                        ignore_table=quarantine_table(resource.name),
                        table=resource.name,
                    )
                yield from items
                if validator is not None:
                    validator.finish()  # fails the resource when every record broke the schema
            finally:
                # An error downstream (validation, Arrow) or an early close must stop the
                # read-ahead thread and the page pools now, not when garbage is collected.
                pages.close()

        def tagged(items: Callable[[_Parts], Iterator[Any]], kept: bool) -> Iterator[Any]:
            try:
                # the settings are resolved here when the source was built lazily
                parts = runtime.parts(resource)
                if parts.validator is not None:
                    parts.validator.kept = kept  # see _shield_forks
                yield from items(parts)
            except Exception as exc:
                _leaving(exc, resource.name)
                raise

        quarantine = quarantine_table(resource.name)
        if incremental is None:

            def pages() -> Iterator[Any]:
                kept = _shield_forks(quarantine)
                yield from tagged(read, kept)

        else:
            bounds = self.bounds or RunBounds()

            def pages() -> Iterator[Any]:  # type: ignore[misc]
                kept = _shield_forks(quarantine)
                yield from tagged(
                    lambda parts: _incremental_read(runtime, resource, parts, bounds, read, steps),
                    kept,
                )

        pages.__name__ = resource.name
        pages.__qualname__ = resource.name
        return pages


def _incremental_read(
    runtime: _Runtime,
    resource: Resource,
    parts: _Parts,
    bounds: RunBounds,
    read: Callable[..., Iterator[Any]],
    steps: _Steps | None = None,
) -> Iterator[Any]:
    """An incremental resource's items: its planned slices (see
    :mod:`headwater.load.incremental`), ``parallel_windows`` at once, each slice's
    records filtered by :class:`SliceFilter`; the position advances in the resource's
    dlt state as slices complete in order.

    The user's dlt steps (``steps``): a ``dlt.sources.incremental`` with an
    ``end_value`` makes the read a backfill of its range, which moves no position;
    with per-record steps an unbounded position is the latest cursor of the records
    that passed them (:meth:`_Steps.track`); a read ``add_limit`` closes moves the
    position to what it yielded (:meth:`Plan.stopped`)."""
    import dlt

    spec = resource.incremental
    assert spec is not None
    settings = runtime.settings
    workers = int(settings.get("parallel_windows") or 1)
    state = dlt.current.resource_state()
    if steps is not None and not bounds.backfill:
        ranged = steps.dlt_range(resource.name)
        if ranged is not None:
            bounds = _dlt_backfill(*ranged)
            state = {}  # dlt's backfill: Headwater's state is left as it was
    plan = Plan.make(spec, settings, bounds, state)
    endpoint = parts.endpoint
    # a plain "since" API: slices asked a second early and filtered (reading_rules)
    drop, since = reading_rules(plan, bounds)
    # an append resource read from its latest cursor is answered the records at that
    # cursor again: those loaded last time are known by their identities
    disposition = (steps.write_disposition(resource.name) if steps is not None else None) or (
        resource.write_disposition
    )
    key = resource.primary_key_columns if disposition == "append" else None
    boundary = plan.boundary if key is not None else None
    lookback = plan.lookback if key is not None else None
    filters = [
        SliceFilter(spec, lower, upper, drop, key=key, boundary=boundary, lookback=lookback)
        for lower, upper in plan.slices
    ]

    def slice_pages(index: int) -> Iterator[list[dict[str, Any]]]:
        lower, upper = plan.slices[index]
        asked = lower - timedelta(seconds=1) if since and lower is not None else lower
        params, body = bounded_request(
            spec, endpoint.params, endpoint.json, asked, upper, plan.found
        )
        if not drop and inexact(spec, asked, upper, plan.found):
            # asked the range around [lower, upper): what is outside it is dropped
            filters[index].lower, filters[index].upper = lower, upper
        bound = attrs.evolve(endpoint, params=params, json=body)
        return filters[index].pages(iter_pages(bound))

    prefix = Prefix(len(plan.slices))
    validator = parts.validator
    # the records that passed the user's per-record steps (None: no such steps)
    tracker = steps.track(resource.name, spec, key) if steps is not None else None
    passed: SliceFilter | None = tracker.passed if tracker is not None else None
    # add_limit counting pages: no page is read ahead, every page filtered was yielded
    limited = steps is not None and steps.limited(resource.name)

    def completed(index: int) -> None:
        before = prefix.done
        after = prefix.complete(index)
        for done in range(before, after):
            sliced = filters[done]
            if passed is not None and not plan.bounded:
                continue  # the position follows what passed the steps: after the read
            plan.advance(
                plan.slices[done], sliced.latest, sliced.found, sliced.at_latest, sliced.recent
            )

    merged = checkpointed_slices(
        plan,
        slice_pages,
        workers,
        completed,
        # records to load (an API that ignores the end sends later ones, dropped here)
        lambda index: filters[index].kept > 0 or bool(filters[index].unreadable),
        checkpoint=bounds.checkpoint,
    )
    try:
        yield from read(parts, None, merged, read_ahead=workers <= 1)
    except GeneratorExit:  # add_limit closed the read
        if prefix.done < len(plan.slices) and workers <= 1:
            current = filters[prefix.done]
            # counting pages, every page filtered was yielded whole (a page cut into
            # several tables was not: the position stays)
            whole = limited and current.largest <= 2 * PART
            read_to = passed if passed is not None else current if whole else None
            if read_to is not None:
                plan.stopped(read_to.latest, current.found, read_to.at_latest)
        raise

    def settle() -> None:
        assert passed is not None
        plan.advance(plan.slices[0], passed.latest, filters[0].found, passed.at_latest)

    if passed is not None and not plan.bounded:
        settle()
    if validator is not None:
        for sliced in filters:
            yield from validator.quarantined(sliced.unreadable, sliced.error)
    if filters and (
        warning := filters[0].no_cursor_warning(resource.name, *filters[1:], bounded=plan.bounded)
    ):
        log.warning("%s", warning)
    plan.finish()
    if plan.more:
        bounds.pending.add(resource.name)
    if tracker is not None and not plan.bounded:
        # records a yield map's generator still holds pass after this: each moves the
        # position as it passes (the state is committed when dlt's extract ends)
        tracker.then = lambda: (settle(), plan.finish())


def _dlt_backfill(initial: Any, end: Any) -> RunBounds:
    """The bounds of a read under a ``dlt.sources.incremental`` with ``end_value``:
    a backfill of ``[initial_value, end_value)`` (dlt's filter keeps that range);
    values that are not instants (a number cursor): read as a normal run would (the
    caller keeps the position out of it either way)."""
    from headwater.timebounds import parse_instant

    try:
        start = parse_instant(initial, "initial_value") if initial is not None else None
        upper = parse_instant(end, "end_value")
    except ValueError:
        start, upper = None, None
    if start is None or upper is None or start >= upper:
        return RunBounds(end=upper, backfill=False)
    return RunBounds(start=start, end=upper, backfill=True)


def _incremental_children(
    runtime: _Runtime,
    resource: Resource,
    spec: IncrementalSpec,
    bounds: RunBounds,
    steps: _Steps | None = None,
) -> Callable[[Any], Iterator[Any]]:
    """A child transformer whose requests carry each parent's own time range.

    The range of a parent is ``[its position - lookback, end)`` (first time: the
    ``start_date`` setting or ``initial``; a backfill: ``[start, end)`` for every
    parent, positions untouched). After the parent's pages are read its position
    moves to the end (an API with an end parameter) or to the latest cursor read."""
    parent = resource.parent
    assert parent is not None
    placeholder = "{" + parent.placeholder + "}"
    warned = False  # the no-cursor warning: once a run, not once a batch of parents
    warned_ids = False  # the boundary identities' cap: once a run too

    def fetch_one(
        endpoint: Endpoint,
        value: Any,
        lower: Any,
        upper: Any,
        key: tuple[str, ...] | None = None,
        boundary: Mapping[datetime, frozenset[str]] | None = None,
    ) -> tuple[Any, Any]:
        if value is None:
            raise ResponseError(
                f"resource {endpoint.connector}.{resource.name}: a {parent.resource} record "
                f"has no {parent.field!r}, needed in {resource.path}"
            )
        params, body = bounded_request(spec, endpoint.params, endpoint.json, lower, upper)
        bound = attrs.evolve(
            endpoint, path=endpoint.path.replace(placeholder, quote(str(value), safe=""))
        )
        bound = attrs.evolve(bound, params=params, json=body)
        drop = spec.client_filter or (bounds.backfill and spec.end_param is None)
        drop = drop or inexact(spec, lower, upper, None)  # asked the range around it
        sliced = SliceFilter(spec, lower, upper, drop, key=key, boundary=boundary)
        rows: list[dict] = []
        pages = iter_pages(
            bound,
            paginator=copy.deepcopy(endpoint.paginator),
            label=f"{endpoint.connector}.{resource.name} ({parent.placeholder}={value})",
        )
        for page in sliced.pages(pages):
            if parent.column is not None:
                for row in page:
                    row[parent.column] = value
            rows.extend(page)
        return rows, sliced

    def children(parents: Any, meta: Any = None) -> Iterator[Any]:
        import dlt

        hints = getattr(meta, "hints", None) or {}
        table = getattr(meta, "table_name", None) or hints.get("table_name")
        if table == quarantine_table(parent.resource):
            return
        kept = _shield_child(resource.name)
        try:
            parts = runtime.parts(resource)
            if parts.validator is not None:
                parts.validator.kept = kept
            if steps is not None:
                steps.child_batch(resource.name, parts.validator)
            settings = runtime.settings
            root = dlt.current.resource_state().setdefault(STATE_KEY, {})
            positions = ParentPositions(root)
            keys = _parent_keys(parent, parents)
            ranges = _parent_ranges(spec, settings, bounds, positions, keys)
            validator = parts.validator
            # an append child read from each parent's latest cursor is answered the
            # records at it again: those loaded last time are known by their identities
            key = _child_boundary_key(resource, spec, bounds, steps)
            known = [positions.boundary(v) if key is not None else None for v, _, _ in ranges]

            def fetch(item: tuple[Any, Any]) -> tuple[Any, list[dict], Any, Any]:
                (value, lower, upper), boundary = item
                with parts.slots:
                    rows, sliced = fetch_one(parts.endpoint, value, lower, upper, key, boundary)
                return value, rows, sliced, upper

            workers = min(parts.workers, max(len(ranges), 1))
            pool = ThreadPoolExecutor(max_workers=workers) if workers > 1 else None
            work = list(zip(ranges, known, strict=True))
            results = pool.map(fetch, work) if pool is not None else map(fetch, work)
            read: list[SliceFilter] = []
            try:
                for value, rows, sliced, upper in results:
                    read.append(sliced)
                    page = [rows] if rows else []
                    yield from validator.pages(page) if validator is not None else page
                    if validator is not None and sliced.unreadable:
                        yield from validator.quarantined(sliced.unreadable, sliced.error)
                    if bounds.backfill:
                        continue
                    reached = upper if spec.end_param is not None else sliced.latest
                    if reached is not None:
                        positions.set(value, reached, sliced.at_latest)
            finally:
                if pool is not None:
                    pool.shutdown(wait=True, cancel_futures=True)
            forgotten = positions.trim()
            nonlocal warned, warned_ids
            if forgotten and not warned_ids:
                warned_ids = True
                log.warning(
                    "resource %s: too many records share its parents' latest cursors; "
                    "the state forgets %d of them, so an append resource may load those "
                    "again on its next run: merge on a primary key, or use a finer cursor",
                    resource.name,
                    forgotten,
                )
            if read and not warned:
                # the parents of this batch: their records say whether the field is there
                bounded = spec.end_param is not None  # positions move to each range's end
                if warning := read[0].no_cursor_warning(resource.name, *read[1:], bounded=bounded):
                    warned = True
                    log.warning("%s", warning)
        except Exception as exc:
            _leaving(exc, resource.name)
            raise

    children.__name__ = resource.name
    children.__qualname__ = resource.name
    return children


def _child_boundary_key(
    resource: Resource, spec: IncrementalSpec, bounds: RunBounds, steps: _Steps | None
) -> tuple[str, ...] | None:
    """The fields identifying a child's records at its parents' positions (``()``: the
    whole record), when it appends and each parent's position is its latest cursor;
    ``None`` otherwise. The parent's column is left out: the records get it after."""
    if spec.end_param is not None or bounds.backfill:
        return None
    disposition = (steps.write_disposition(resource.name) if steps is not None else None) or (
        resource.write_disposition
    )
    if disposition != "append":
        return None
    column = resource.parent.column if resource.parent is not None else None
    return tuple(name for name in resource.primary_key_columns if name != column)


def _parent_keys(parent: Any, parents: Any) -> list[Any]:
    """The parent key of each parent record (dicts, or an Arrow table's column)."""
    if hasattr(parents, "column_names"):
        if parent.field not in parents.column_names:
            return [None] * parents.num_rows
        return parents.column(parent.field).to_pylist()
    items = parents if isinstance(parents, list) else [parents]
    return [item.get(parent.field) for item in items]


def _parent_ranges(
    spec: IncrementalSpec,
    settings: Mapping[str, Any],
    bounds: RunBounds,
    positions: ParentPositions,
    values: Sequence[Any],
) -> list[tuple[Any, Any, Any]]:
    """``(parent value, lower, upper)`` of each parent's request."""

    from headwater.timebounds import parse_duration

    end = bounds.end or default_end()
    if bounds.backfill:
        return [(value, bounds.start, end) for value in values]
    initial = settings.get("start_date") or spec.initial
    first = None if initial is None else spec.parse_initial(initial)
    lookback = parse_duration(spec.lookback, "lookback") if spec.lookback else None
    out = []
    for value in values:
        own = positions.get(value) if value is not None else None
        lower = first if own is None else (own - lookback if lookback else own)
        out.append((value, lower, end if spec.end_param is not None else None))
    return out


#: Key types whose values reach the destination as the API sent them. dlt parses the
#: text of a date-time key (two spellings of one instant become one value) and may
#: round a double: keys of those types are left to dlt's deduplication.
_EXACT_KEY_TYPES = ("text", "bigint")


def _unique_key(
    resource: Resource, columns: Mapping[str, Mapping[str, Any]]
) -> tuple[str, str] | None:
    """The field whose values decide whether the merge must deduplicate, and its
    declared type (see :mod:`headwater.load.unique`); ``None`` for a compound key or a key
    of a type dlt converts."""
    keys = resource.primary_key_columns
    if len(keys) != 1:
        return None
    declared = columns.get(keys[0], {}).get("data_type")
    return (keys[0], declared) if declared in _EXACT_KEY_TYPES else None


def _own_row_ids() -> str | None:
    """The row id column the Arrow tables carry (``None``: as configured, dlt decides).

    dlt adds ``_dlt_id`` to Arrow tables in its normalize step only when its
    ``normalize.parquet_normalizer.add_dlt_id`` is on, and then by rewriting every file
    (reading, adding the column, writing Parquet again: 10% of a run). Generated with
    the table instead, the file is imported as it is. Headwater does that unless that
    setting is configured (environment or TOML): then dlt adds them, or not, as told.

    Nothing is written to the environment: a setting left there would reach every
    child process, which would take it for the user's."""
    import dlt
    from dlt.common.schema.typing import C_DLT_ID

    if dlt.config.get("normalize.parquet_normalizer.add_dlt_id") is not None:
        return None  # the user's setting
    return C_DLT_ID


def _existing_columns(table: str) -> Callable[[], Mapping[str, Any] | None]:
    """A function giving the columns ``table`` has in the schema dlt is extracting into
    (earlier runs' and batches'), ``None`` outside dlt's extract: the fast path checks
    the types Arrow infers for undeclared fields against them. Called in the extract
    thread, once a batch."""
    import dlt

    def columns() -> Mapping[str, Any] | None:
        try:
            schema = dlt.current.source_schema()
        except Exception:  # not inside dlt's extract
            return None
        found = schema.tables.get(schema.naming.normalize_table_identifier(table))
        return found.get("columns") if found is not None else None

    return columns


def _rows_drop_nul() -> bool:
    """Whether dlt's row path drops NUL characters (``\x00``) from text for the
    destination being extracted for: its records go in ``insert_values`` files, whose
    SQL escaping drops them (PostgreSQL and Redshift cannot store them in text, DuckDB
    cannot parse them in a literal; MSSQL's escaping keeps them). The Arrow tables do
    the same: a csv file with a NUL failed PostgreSQL's load and every later run, and a
    value would load otherwise whichever path its batch took. Called in the extract
    thread, where dlt has put the destination's capabilities (``False`` outside a
    pipeline's extract)."""
    from dlt.common.configuration.container import Container
    from dlt.common.destination.capabilities import DestinationCapabilitiesContext

    container = Container()
    if DestinationCapabilitiesContext not in container:
        return False
    caps = container[DestinationCapabilitiesContext]
    if caps.preferred_loader_file_format != "insert_values" or caps.escape_literal is None:
        return False
    return "\x00" not in caps.escape_literal("\x00")


def _current_load_id() -> tuple[str, str] | None:
    """``(column, value)`` of the load id the Arrow tables carry: the load package
    being extracted (``None``: dlt decides, as configured, or no package is being
    extracted).

    dlt adds ``_dlt_load_id`` to Arrow tables only when its
    ``normalize.parquet_normalizer.add_dlt_load_id`` is on; Headwater used to switch it
    on in the environment, where every child process took it for the user's. Called
    in the extract thread, where dlt's load package context is."""
    import dlt
    from dlt.common.schema.typing import C_DLT_LOAD_ID
    from dlt.common.storages.exceptions import CurrentLoadPackageStateNotAvailable

    if dlt.config.get("normalize.parquet_normalizer.add_dlt_load_id") is not None:
        return None  # the user's setting
    try:
        return C_DLT_LOAD_ID, dlt.current.load_package_state()["load_id"]
    except CurrentLoadPackageStateNotAvailable:
        return None


def _parallel_pages(settings: Settings, resource: Resource, endpoint: Endpoint) -> int:
    """How many pages of ``resource`` to fetch at once (1: one after another).

    Only for offset pagination with a total, read by Headwater's own paginator (a
    plugin's paginator may paginate differently)."""
    setting = settings.get("parallel_pages") or 1
    workers = setting.get(resource.name, 1) if isinstance(setting, dict) else int(setting)
    eligible = (
        isinstance(resource.pagination, OffsetPagination)
        and resource.pagination.total_path is not None
        and resource.pagination.location == "query"
        and type(endpoint.paginator) is OffsetPaginator
    )
    return workers if eligible else 1


def _children_of(
    runtime: _Runtime,
    resource: Resource,
    incremental: IncrementalSpec | None = None,
    bounds: RunBounds | None = None,
    steps: _Steps | None = None,
) -> Callable[[Any], Iterator[Any]]:
    """The transformer of a child resource: one request per parent record, run
    concurrently (``max_workers`` at a time for the whole resource); each record gets
    its parent's key. With ``incremental``, each parent has its own position
    (:class:`~headwater.load.incremental.ParentPositions`): the request for a parent
    starts where that parent's last one ended."""
    parent = resource.parent
    assert parent is not None
    placeholder = "{" + parent.placeholder + "}"
    if incremental is not None:
        return _incremental_children(runtime, resource, incremental, bounds or RunBounds(), steps)

    def fetch_one(endpoint: Endpoint, value: Any) -> list[dict]:
        if value is None:
            raise ResponseError(
                f"resource {endpoint.connector}.{resource.name}: a {parent.resource} record "
                f"has no {parent.field!r}, needed in {resource.path}"
            )
        path = endpoint.path.replace(placeholder, quote(str(value), safe=""))
        rows: list[dict] = []
        for page in iter_pages(
            endpoint,
            path=path,
            paginator=copy.deepcopy(endpoint.paginator),
            label=f"{endpoint.connector}.{resource.name} ({parent.placeholder}={value})",
        ):
            if parent.column is not None:
                for row in page:
                    row[parent.column] = value
            rows.extend(page)
        return rows

    def keys(parents: Any) -> list[Any]:
        """The parent key of each parent record: from dicts, or from an Arrow table's
        column (the parent may take the fast path)."""
        if hasattr(parents, "column_names"):
            if parent.field not in parents.column_names:
                return [None] * parents.num_rows
            return parents.column(parent.field).to_pylist()
        items = parents if isinstance(parents, list) else [parents]
        return [item.get(parent.field) for item in items]

    def fetched(parts: _Parts, parents: Any) -> Iterator[list[dict]]:
        def fetch(value: Any) -> list[dict]:
            with parts.slots:
                return fetch_one(parts.endpoint, value)

        values = keys(parents)
        if len(values) <= 1 or parts.workers <= 1:
            yield from map(fetch, values)
            return
        with ThreadPoolExecutor(max_workers=min(parts.workers, len(values))) as pool:
            yield from pool.map(fetch, values)

    def children(parents: Any, meta: Any = None) -> Iterator[Any]:
        hints = getattr(meta, "hints", None) or {}
        table = getattr(meta, "table_name", None) or hints.get("table_name")
        if table == quarantine_table(parent.resource):
            return  # the parent's quarantined records are not parents
        kept = _shield_child(resource.name)
        try:
            parts = runtime.parts(resource)
            if parts.validator is not None:
                parts.validator.kept = kept
            if steps is not None:
                steps.child_batch(resource.name, parts.validator)
            pages = fetched(parts, parents)
            validator = parts.validator
            yield from validator.pages(pages) if validator is not None else pages
        except Exception as exc:
            _leaving(exc, resource.name)
            raise

    children.__name__ = resource.name
    children.__qualname__ = resource.name
    return children
