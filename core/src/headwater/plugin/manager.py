"""The plugin manager and the connector registry.

:func:`get_plugin_manager` builds the pluggy manager once, lazily (never at import
time): hook specs, the block list from ``HEADWATER_DISABLE_PLUGINS``, the ``headwater``
entry points one by one, the builtin plugins, then a check for misnamed hooks.

A plugin that fails to import, misnames a hook or has a hook with the wrong
arguments is skipped with a warning naming it, and so is one whose
``headwater_connectors`` fails or answers wrongly (when the registry first reads them);
in strict mode (``HEADWATER_STRICT_PLUGINS=1``, or ``strict=True``) it is an error
instead.
"""

from __future__ import annotations

import copy
import os
import threading
import warnings
from collections.abc import Callable, Collection, Iterable, Sequence
from importlib import metadata
from typing import Any, NoReturn

import pluggy

from headwater.errors import ConnectorNotFound, HeadwaterError, PluginError
from headwater.markers import PROJECT
from headwater.plugin import hookspecs
from headwater.plugin.builtin import builtin_plugins
from headwater.spec import Connector
from headwater.suggest import closest

__all__ = [
    "HookCall",
    "PluginWarning",
    "Registry",
    "call_hook",
    "custom_implementation",
    "get_plugin_manager",
    "get_registry",
    "make_plugin_manager",
    "reset",
]

DISABLE_ENV = "HEADWATER_DISABLE_PLUGINS"
STRICT_ENV = "HEADWATER_STRICT_PLUGINS"


class PluginWarning(UserWarning):
    """A plugin was skipped because it is broken."""


class HeadwaterPluginManager(pluggy.PluginManager):
    """A pluggy manager that remembers which distribution installed each plugin."""

    def __init__(self) -> None:
        super().__init__(PROJECT)
        #: plugin name -> (distribution name, version) for entry-point plugins
        self.distributions: dict[str, tuple[str, str]] = {}
        #: entry-point plugins that failed to import: name -> (distribution, why)
        self.skipped: dict[str, tuple[str, str]] = {}
        #: whether a broken plugin is an error rather than skipped with a warning
        self.strict: bool | None = None
        #: entry-point plugins installed but blocked: name -> distribution
        self.disabled: dict[str, str] = {}
        #: what blocked them: ``HEADWATER_DISABLE_PLUGINS``, or "" when given in code
        self.disabled_by = ""


def _strict_from_env() -> bool:
    return os.environ.get(STRICT_ENV, "").strip().lower() in ("1", "true", "yes")


def _disabled_from_env() -> set[str]:
    return {n.strip() for n in os.environ.get(DISABLE_ENV, "").split(",") if n.strip()}


def _problem(message: str, strict: bool) -> None:
    if strict:
        raise PluginError(message)
    warnings.warn(message, PluginWarning, stacklevel=3)


def _unknown_hooks(pm: pluggy.PluginManager, plugin: object) -> list[str]:
    """Names of hooks ``plugin`` implements that no spec declares (misspellings)."""
    return [
        caller.name
        for caller in pm.get_hookcallers(plugin) or ()
        if caller.spec is None
        and not any(impl.optionalhook for impl in caller.get_hookimpls() if impl.plugin is plugin)
    ]


def register_plugin(
    pm: pluggy.PluginManager, plugin: object, name: str, *, strict: bool, source: str = ""
) -> bool:
    """Register ``plugin`` as ``name``, rejecting (or in strict mode raising on) a
    plugin with misnamed hooks or hooks whose arguments the specs do not have."""
    where = f" ({source})" if source else ""
    try:
        pm.register(plugin, name=name)
    except pluggy.PluginValidationError as exc:
        _problem(f"plugin {name!r}{where} was skipped: {exc}", strict)
        return False
    except ValueError as exc:  # already registered, or the name is blocked
        _problem(f"plugin {name!r}{where} was skipped: {exc}", strict)
        return False
    unknown = _unknown_hooks(pm, plugin)
    if unknown:
        pm.unregister(plugin)
        known = [
            n
            for n in dir(pm.hook)
            if n.startswith(PROJECT + "_") and getattr(pm.hook, n).spec is not None
        ]
        hints = []
        for hook in unknown:
            close = closest(hook, known)
            hints.append(f"{hook} (did you mean {close}?)" if close else hook)
        _problem(
            f"plugin {name!r}{where} was skipped: it implements unknown hook(s) {', '.join(hints)}",
            strict,
        )
        return False
    wrapped = _wrapped_collectors(pm, plugin)
    if wrapped:
        pm.unregister(plugin)
        _problem(
            f"plugin {name!r}{where} was skipped: {' and '.join(wrapped)} cannot be a wrapper "
            "(Headwater collects what each plugin returns); implement it without wrapper=True "
            "to add to it, or wrap a per-concern hook such as headwater_paginator",
            strict,
        )
        return False
    return True


#: Hooks whose results Headwater gathers plugin by plugin (to know who declared what):
#: a wrapper around them would never run, so it is refused.
_COLLECTORS = ("headwater_connectors", "headwater_resources")


def _wrapped_collectors(pm: pluggy.PluginManager, plugin: object) -> list[str]:
    return [
        caller.name
        for caller in pm.get_hookcallers(plugin) or ()
        if caller.name in _COLLECTORS
        and any(
            impl.plugin is plugin and (impl.wrapper or impl.hookwrapper)
            for impl in caller.get_hookimpls()
        )
    ]


def make_plugin_manager(
    *,
    entry_points: bool = True,
    plugins: Iterable[tuple[str, object]] = (),
    strict: bool | None = None,
    disabled: Iterable[str] | None = None,
) -> pluggy.PluginManager:
    """A new plugin manager.

    Args:
        entry_points: load the installed ``headwater`` entry points.
        plugins: extra ``(name, plugin)`` pairs to register (tests, embedding).
        strict: raise :class:`PluginError` instead of warning about broken plugins
            (default: ``HEADWATER_STRICT_PLUGINS``).
        disabled: plugin names to block (default: ``HEADWATER_DISABLE_PLUGINS``).
    """
    strict = _strict_from_env() if strict is None else strict
    pm = HeadwaterPluginManager()
    pm.add_hookspecs(hookspecs)
    for name in _disabled_from_env() if disabled is None else disabled:
        pm.set_blocked(name)
    pm.disabled_by = DISABLE_ENV if disabled is None else ""
    if entry_points:
        _load_entry_points(pm, strict)
    for name, plugin in plugins:
        register_plugin(pm, plugin, name, strict=strict)
    for name, module in builtin_plugins():
        pm.register(module, name=name)
    pm.check_pending()
    pm.strict = strict  # the registry skips (or in strict mode refuses) in the same way
    return pm


def _load_entry_points(pm: HeadwaterPluginManager, strict: bool) -> None:
    for ep in sorted(metadata.entry_points(group=PROJECT), key=lambda e: e.name):
        dist = ep.dist.name if ep.dist is not None else "?"
        if pm.is_blocked(ep.name):  # installed all the same: a missing connector says so
            pm.disabled.setdefault(ep.name, dist)
            continue
        if pm.has_plugin(ep.name):
            continue
        try:
            plugin = ep.load()
        except Exception as exc:  # a broken plugin must not break the host
            why = f"importing {ep.value} failed with {type(exc).__name__}: {exc}"
            pm.skipped[ep.name] = (dist, why.splitlines()[0] if why.strip() else why)
            _problem(f"plugin {ep.name!r} ({dist}) was skipped: {why}", strict)
            continue
        if register_plugin(pm, plugin, ep.name, strict=strict, source=dist) and ep.dist:
            pm.distributions[ep.name] = (ep.dist.metadata["Name"], ep.dist.version)


class Registry:
    """The connectors declared by a plugin manager's plugins, checked once."""

    def __init__(self, pm: pluggy.PluginManager) -> None:
        self.pm = pm
        self._connectors: dict[str, Connector] | None = None
        self._owners: dict[str, str] = {}
        #: plugins skipped because headwater_connectors failed: name -> (distribution, why)
        self._skipped: dict[str, tuple[str, str]] = {}

    def plugin_distribution(self, plugin_name: str) -> tuple[str, str] | None:
        """``(distribution, version)`` of an entry-point plugin, if installed as one."""
        return getattr(self.pm, "distributions", {}).get(plugin_name)

    def _load(self) -> dict[str, Connector]:
        connectors: dict[str, Connector] = {}
        strict = getattr(self.pm, "strict", None)
        strict = _strict_from_env() if strict is None else strict
        for impl in self.pm.hook.headwater_connectors.get_hookimpls():
            declared = self._declared(impl, strict)
            for connector in declared:
                if connector.name in connectors:
                    raise PluginError(
                        f"connector {connector.name!r} is declared by two plugins: "
                        f"{self._owners[connector.name]!r} and {impl.plugin_name!r}; "
                        "uninstall or disable one (HEADWATER_DISABLE_PLUGINS)"
                    )
                connectors[connector.name] = connector
                self._owners[connector.name] = impl.plugin_name
        return connectors

    def _declared(self, impl: Any, strict: bool) -> list[Connector]:
        """The connectors one plugin declares; a plugin whose headwater_connectors fails
        or answers wrongly is skipped with a warning naming it (strict: an error), as
        a plugin that fails to import is: one broken plugin does not stop the others."""
        name = impl.plugin_name
        dist = self.plugin_distribution(name)
        where = f" ({dist[0]})" if dist else ""
        try:
            declared = impl.function()
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            why, failed = f"headwater_connectors failed: {error}", exc
        else:
            failed = None
            if declared is None:
                return []
            if isinstance(declared, Connector) or not isinstance(declared, Sequence):
                why = (
                    "headwater_connectors must return a list of Connector, got "
                    f"{type(declared).__name__}"
                )
            else:
                wrong = [c for c in declared if not isinstance(c, Connector)]
                if not wrong:
                    return list(declared)
                why = f"headwater_connectors returned {type(wrong[0]).__name__}, not a Connector"
        if strict:
            message = (
                f"plugin {name!r}{where} failed in headwater_connectors: {error}"
                if failed is not None
                else f"plugin {name!r}{where}: {why}"
            )
            raise PluginError(message) from failed
        _problem(f"plugin {name!r}{where} was skipped: {why}", strict)
        self._skipped[name] = ((dist[0] if dist else ""), why)
        self.pm.unregister(impl.plugin)  # none of its hooks: it is skipped
        return []

    def _all(self) -> dict[str, Connector]:
        if self._connectors is None:
            self._connectors = self._load()
        return self._connectors

    def connectors(self) -> list[Connector]:
        """Every declared connector, sorted by name."""
        return [self._all()[n] for n in sorted(self._all())]

    def owner(self, name: str) -> str:
        """The name of the plugin that declares connector ``name``."""
        self._all()
        return self._owners[name]

    def get(self, name: str) -> Connector:
        """The connector called ``name``, or :class:`ConnectorNotFound` with a hint."""
        connectors = self._all()
        if name in connectors:
            return connectors[name]
        broken = getattr(self.pm, "skipped", {}).get(name) or self._skipped.get(name)
        if broken is not None:
            # its distribution is installed: pip install would not help
            dist, why = broken
            where = f" ({dist})" if dist else ""
            raise ConnectorNotFound(
                f"connector {name!r}{where} could not be loaded: {why}; fix the plugin "
                "and run again"
            )
        disabled = getattr(self.pm, "disabled", {})
        by = getattr(self.pm, "disabled_by", "")
        provider = next(
            (p for p, dist in disabled.items() if p == name or _same_distribution(dist, name)),
            None,
        )
        if provider is not None:  # installed, only blocked: pip install would not help
            # by its name a connector of the plugin's family (analytics_*): it may not be
            # one the plugin declares (a typo), which is said so, not asserted
            provides = "is provided by" if provider == name else "would be provided by"
            raise ConnectorNotFound(
                f"connector {name!r} {provides} plugin {provider!r} "
                f"({disabled[provider]}), "
                + (
                    f"which {by} disables; remove it from {by}"
                    if by
                    else "which is disabled; enable it"
                )
                + f", or register a plugin that declares {name!r} in its place"
                + ("" if provider == name else "; or check the connector's name")
            )
        installed = ", ".join(sorted(connectors)) or "none"
        close = closest(name, connectors)
        hint = f"did you mean {close}?" if close else f"try `pip install {_distribution_of(name)}`"
        if disabled and not close:  # one of them may declare it under another name
            plugins = ", ".join(f"{p!r} ({dist})" for p, dist in sorted(disabled.items()))
            which = "the plugins that may" if len(disabled) > 1 else "the plugin that may"
            hint += (
                f", or remove from {by} {which} declare it: {plugins}"
                if by
                else f", or enable {which} declare it: {plugins}"
            )
        if self._skipped:  # they declare connectors no one can name: any may be this one
            skipped = ", ".join(f"{n!r} ({why})" for n, (_, why) in self._skipped.items())
            hint = (
                f"{hint.rstrip('?')}, or fix the plugins that were skipped and may declare "
                f"it: {skipped}"
            )
        raise ConnectorNotFound(
            f"connector {name!r} is not installed (installed: {installed}); {hint}"
        )


#: Headwater's own distributions that hold several connectors, by name prefix
_FAMILIES = {"analytics_": "headwater-analytics"}


def _same_distribution(dist: str, name: str) -> bool:
    """Whether distribution ``dist`` is the one that would provide connector ``name``."""
    return dist.lower().replace("_", "-").replace(".", "-") == _distribution_of(name)


def _distribution_of(name: str) -> str:
    """The distribution that would provide connector ``name``: ``headwater-<name>``, as
    ``headwater new`` names it, or the family of Headwater's own that holds it."""
    return next(
        (dist for prefix, dist in _FAMILIES.items() if name.startswith(prefix)),
        f"headwater-{name.replace('_', '-')}",
    )


_lock = threading.Lock()
_registry: Registry | None = None


def get_registry() -> Registry:
    """The process's registry over :func:`get_plugin_manager`, built on first use."""
    global _registry
    with _lock:
        if _registry is None:
            _registry = Registry(make_plugin_manager())
        return _registry


def get_plugin_manager() -> pluggy.PluginManager:
    """The process's plugin manager, built once on first use."""
    return get_registry().pm


def use(pm: pluggy.PluginManager | None) -> None:
    """Make ``pm`` the process's plugin manager (``None``: rebuild on next use).

    For tests and embedding; :mod:`headwater.testing` uses it to isolate a test from
    whatever plugins happen to be installed.
    """
    global _registry
    with _lock:
        _registry = Registry(pm) if pm is not None else None


def reset() -> None:
    """Forget the process's plugin manager; the next use rebuilds it."""
    use(None)


def describe_plugins(pm: pluggy.PluginManager) -> list[dict[str, Any]]:
    """Each registered plugin: name, distribution, version and the hooks it implements."""
    distributions = getattr(pm, "distributions", {})
    rows = []
    for name, plugin in pm.list_name_plugin():
        if plugin is None:  # blocked
            continue
        dist, version = distributions.get(
            name, ("headwater" if name.startswith("builtin.") else "-", "")
        )
        rows.append(
            {
                "name": name,
                "distribution": dist,
                "version": version,
                "hooks": sorted(c.name for c in pm.get_hookcallers(plugin) or ()),
            }
        )
    return rows


def custom_implementation(
    pm: pluggy.PluginManager,
    hook: str,
    *,
    check: Callable[[HookCall], object] | None = None,
    **kwargs: Any,
) -> str | None:
    """The plugin whose own implementation of firstresult ``hook`` gives its answer for
    ``kwargs`` instead of the builtin one, or ``None`` when the builtin one does.

    The hook is called as a run calls it (:func:`call_hook`: wrappers included), and the
    answer is the plugin's whose implementation gave it: a plain one that returned it, or
    a wrapper that returned something other than what it received (a wrapper handing an
    answer on unchanged gives none). A plugin whose implementation raises answers too
    (``describe`` and the conformance suite call it with placeholder settings, no
    secrets; a hook that fails on those handles the connector, or would have returned
    ``None`` first). ``check`` is given the completed call, to raise for a wrong answer
    as a run does (a :class:`PluginError` naming the plugin). Nothing is sent: hooks
    build objects, requests happen later.
    """
    call = HookCall()
    try:
        _execute(pm, hook, call, kwargs)
    except Exception as exc:  # it tried to use the placeholder settings: it handles them
        plugin = call._raised_by(exc)
        if plugin is None:  # pluggy's own complaint (a wrapper that did not yield, ...)
            raise
        return None if plugin.startswith("builtin.") else plugin
    if check is not None:
        check(call)
    plugin = call.plugin_of(call.value) if call.value is not None else None
    return None if plugin is None or plugin.startswith("builtin.") else plugin


class HookCall:
    """One call of a hook, with the plugin each part of its answer came from."""

    def __init__(self) -> None:
        self.value: Any = None
        #: (value, plugin) for each answer an implementation gave, innermost first
        self._answers: list[tuple[Any, str]] = []
        self._raised: list[tuple[BaseException, str]] = []

    def plugin_of(self, value: Any) -> str | None:
        """The plugin whose implementation gave ``value`` (or, for an item of a
        collected hook's answer, the answer holding it — a list, or the str or mapping
        a plugin wrongly gave instead): the innermost that returned it, since a wrapper
        hands on what it does not change. An answer that is ``value`` itself is preferred
        to one that merely holds it."""
        for answer, plugin in self._answers:
            if answer is value:
                return plugin
        for answer, plugin in self._answers:
            if isinstance(answer, Collection) and _holds(answer, value):
                return plugin
        return None

    def _raised_by(self, exc: BaseException) -> str | None:
        return next((plugin for e, plugin in self._raised if e is exc), None)

    def _raising(self, exc: BaseException, plugin: str) -> None:
        if self._raised_by(exc) is None:  # the innermost implementation it came out of
            self._raised.append((exc, plugin))

    def _traced(self, impl: Any) -> Any:
        traced = copy.copy(impl)
        function, plugin = impl.function, impl.plugin_name
        if impl.hookwrapper:  # old style: it sees a result object, not the value
            traced.function = self._old_style(function, plugin)
        elif impl.wrapper:
            traced.function = self._new_style(function, plugin)
        else:

            def plain(*args: Any, **kwargs: Any) -> Any:
                try:
                    answer = function(*args, **kwargs)
                except Exception as exc:
                    self._raising(exc, plugin)
                    raise
                if answer is not None:
                    self._answers.append((answer, plugin))
                return answer

            traced.function = plain
        return traced

    def _setup(self, function: Any, plugin: str, args: Any, kwargs: Any) -> Any:
        """Start a wrapper's generator up to its ``yield`` (pluggy's complaint if it
        does not yield, the plugin named if it raises)."""
        teardown = function(*args, **kwargs)
        try:
            next(teardown)
        except StopIteration:
            _wrap_failed(teardown, "did not yield")
        except Exception as exc:
            self._raising(exc, plugin)
            raise
        return teardown

    def _new_style(self, function: Any, plugin: str) -> Any:
        """A ``wrapper=True`` implementation, driven step by step so that what it
        returns is compared with what it received: only an answer it changed is its."""

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            teardown = self._setup(function, plugin, args, kwargs)
            try:
                try:
                    received = yield
                except BaseException as inner:
                    try:
                        teardown.throw(inner)
                    except StopIteration as stop:  # it recovered: the answer is its
                        self._answers.append((stop.value, plugin))
                        return stop.value
                    except BaseException as exc:
                        if exc is not inner:
                            self._raising(exc, plugin)
                        raise
                    _wrap_failed(teardown, "has second yield")
                snapshot = list(received) if isinstance(received, list) else None
                try:
                    teardown.send(received)
                except StopIteration as stop:
                    answer = stop.value
                except Exception as exc:
                    self._raising(exc, plugin)
                    raise
                else:
                    _wrap_failed(teardown, "has second yield")
                if answer is not received or (
                    snapshot is not None and not _same_items(snapshot, received)
                ):
                    self._answers.append((answer, plugin))  # it changed the answer
                return answer
            finally:
                teardown.close()

        return wrapper

    def _old_style(self, function: Any, plugin: str) -> Any:
        """A ``hookwrapper=True`` implementation: the result object is compared before
        and after its code after ``yield``; a forced or changed result is its answer, an
        exception it raises or forces is its failure."""

        def hookwrapper(*args: Any, **kwargs: Any) -> Any:
            teardown = self._setup(function, plugin, args, kwargs)
            outcome = yield
            failed = outcome.exception
            before = None if failed is not None else outcome.get_result()
            snapshot = list(before) if isinstance(before, list) else None
            try:
                teardown.send(outcome)
            except StopIteration:
                pass
            except Exception as exc:  # an error, as its failure: not pluggy's warning
                self._raising(exc, plugin)
                outcome.force_exception(exc)
                return
            else:
                _wrap_failed(teardown, "has second yield")
            finally:
                teardown.close()
            if outcome.exception is not None:
                if outcome.exception is not failed:
                    self._raising(outcome.exception, plugin)
                return
            after = outcome.get_result()
            if (
                failed is not None
                or after is not before
                or (snapshot is not None and not _same_items(snapshot, after))
            ):
                self._answers.append((after, plugin))

        return hookwrapper


def _same_items(before: list[Any], after: list[Any]) -> bool:
    return len(before) == len(after) and all(a is b for a, b in zip(before, after, strict=True))


def _wrap_failed(generator: Any, problem: str) -> NoReturn:
    """pluggy's own complaint about a wrapper that does not yield exactly once."""
    code = generator.gi_code
    raise RuntimeError(
        f"wrap_controller at {code.co_name!r} {code.co_filename}:{code.co_firstlineno} {problem}"
    )


def _holds(values: Collection[Any], value: Any) -> bool:
    """Whether ``value`` is an item of ``values`` as a ``for`` loop over it gives them
    (a str's characters, a mapping's keys), or of a list or tuple among them."""
    return any(v is value or (isinstance(v, list | tuple) and _holds(v, value)) for v in values)


def call_hook(pm: pluggy.PluginManager, hook: str, **kwargs: Any) -> HookCall:
    """Call ``hook`` as pluggy does (wrappers included), remembering which plugin gave
    what, so that an error can name the plugin at fault: a wrapper (new or old style)
    is the origin of an answer only when it differs from the one it received.

    An exception an implementation raises becomes a :class:`PluginError` naming the
    plugin and the hook (a :class:`HeadwaterError` is raised as it is: it names its
    problem). Hooks are called while a source is assembled, never per record: the
    tracing costs nothing that matters.
    """
    call = HookCall()
    try:
        _execute(pm, hook, call, kwargs)
    except HeadwaterError:
        raise
    except Exception as exc:
        plugin = call._raised_by(exc)
        if plugin is None:  # pluggy's own complaint (a wrapper that did not yield, ...)
            raise
        connector = kwargs.get("connector")
        where = f" for connector {connector.name}" if connector is not None else ""
        raise PluginError(
            f"plugin {plugin!r} failed in {hook}{where}: {type(exc).__name__}: {exc}"
        ) from exc
    return call


def _execute(pm: pluggy.PluginManager, hook: str, call: HookCall, kwargs: dict[str, Any]) -> None:
    """Call ``hook`` as pluggy does, each implementation traced into ``call``."""
    caller = getattr(pm.hook, hook)
    execute = getattr(caller, "_hookexec", None)  # pluggy's call loop (1.x)
    if execute is None:  # a pluggy without it: the plain call, errors as they come
        call.value = caller(**kwargs)
        return
    impls = [call._traced(impl) for impl in caller.get_hookimpls()]
    firstresult = bool(caller.spec and caller.spec.opts.get("firstresult"))
    call.value = execute(caller.name, impls, kwargs, firstresult)
