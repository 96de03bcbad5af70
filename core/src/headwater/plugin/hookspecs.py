"""Hook specifications: the contract between Headwater and its plugins.

A plugin is a module (or object) with functions marked ``@headwater.hookimpl`` whose
names match the hooks below; it is registered through the ``headwater`` entry-point
group. An implementation may accept any subset of a hook's arguments, by name.

Hooks are called while a source is assembled — once per connector or per resource —
never per record or per page. "firstresult" hooks stop at the first implementation
returning something other than ``None``: return ``None`` for connectors you do not
handle. Headwater's builtin implementations are registered ``trylast``, so any
installed plugin can override them, or wrap them with ``@hookimpl(wrapper=True)``.

Hooks change only by gaining arguments; existing implementations keep working.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from headwater.markers import hookspec

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from dlt.sources.helpers.rest_client.paginators import BasePaginator
    from requests.auth import AuthBase

    from headwater.http.token_store import TokenStore
    from headwater.settings import Settings
    from headwater.spec import Connector, Resource, ResponseRule, RetryPolicy


@hookspec
def headwater_connectors() -> Sequence[Connector]:
    """Declare connectors.

    :return: the :class:`~headwater.spec.Connector` objects this plugin provides
        (possibly none). Every plugin's results are collected; two plugins declaring
        the same connector name is an error naming both.

    Called once per process, when the connector registry is first needed.

    Added in 0.1.
    """


@hookspec
def headwater_resources(connector: Connector, settings: Settings) -> Sequence[Resource]:
    """Add resources to one run of ``connector``, from its settings.

    :param connector: the connector being assembled.
    :param settings: its resolved settings (e.g. a user's ``extra_resources``).
    :return: :class:`~headwater.spec.Resource` objects to load next to the declared
        ones (possibly none). Results of every plugin are collected; a name that
        clashes with a declared resource or one another plugin adds, or a parent no
        one declares, is an error naming the plugin and the resource (exit code 2).

    Called once per source, before any other per-resource hook; the other hooks then
    see a connector that includes these resources. ``headwater.source()`` builds the
    source before secrets are read: it calls this hook with the settings known then
    (secrets left out) and reports a wrong answer at once; an implementation that
    fails on those settings is called again, and its failure reported, when the
    source is extracted with the resolved settings.

    Added in 0.1.
    """


@hookspec(firstresult=True)
def headwater_auth(connector: Connector, settings: Settings) -> AuthBase | None:
    """Build the authenticator used by every request of one run of ``connector``.

    :param connector: the connector being assembled.
    :param settings: its resolved, validated settings (secrets included).
    :return: a ``requests`` ``AuthBase`` shared by all resources and threads of the
        run (so it must be thread-safe), or ``None`` to let the next implementation
        decide. The builtin implementation builds it from ``connector.auth``;
        returning ``None`` from every implementation means no authentication.

    Stops at the first non-``None`` result. Called once per source.

    Added in 0.1.
    """


@hookspec(firstresult=True)
def headwater_token_store(connector: Connector, settings: Settings) -> TokenStore | None:
    """Where the rotated refresh tokens of ``connector`` are kept between runs.

    :param connector: the connector being assembled (its auth is an
        :class:`~headwater.spec.OAuth2RefreshToken`).
    :param settings: its resolved, validated settings (secrets included).
    :return: a :class:`~headwater.http.token_store.TokenStore` — ``load(connector,
        key)``, ``save(connector, key, token)`` and, for a store several processes
        share, ``lock(connector)`` (a context manager held around each refresh) — or
        ``None`` to let the next implementation decide. The builtin implementation
        returns a :class:`~headwater.http.token_store.FileTokenStore` (owner-only files
        under ``HEADWATER_TOKEN_DIR`` or the user data directory); a plugin returns a
        vault or secrets-manager store instead.

    Stops at the first non-``None`` result. Called once per source, by the builtin
    ``headwater_auth``, for connectors with refresh-token auth only.

    Added in 0.1.
    """


@hookspec(firstresult=True)
def headwater_paginator(
    connector: Connector, resource: Resource, settings: Settings
) -> BasePaginator | None:
    """Build the paginator of ``resource``.

    :param connector: the connector being assembled.
    :param resource: the resource whose paginator is wanted.
    :param settings: the connector's resolved settings.
    :return: a *new* dlt ``BasePaginator`` (paginators hold state: never return a
        shared instance), or ``None`` to let the next implementation decide. The
        builtin implementation builds one from ``resource.pagination``.

    Stops at the first non-``None`` result. Called once per resource per source; child
    resources copy the result for each parent record.

    Added in 0.1.
    """


@hookspec(firstresult=True)
def headwater_record_schema(connector: Connector, resource: Resource) -> Mapping[str, Any] | None:
    """The JSON Schema of one record of ``resource``.

    :param connector: the connector being assembled.
    :param resource: the resource whose schema is wanted.
    :return: a JSON Schema object with ``properties`` (and ``required``), or ``None``
        to let the next implementation decide. The builtin implementation loads the
        file named by ``resource.schema`` from ``connector.package``. Its types and
        nullability become the table's column hints; fields it does not name are kept
        as the API sends them.

    Stops at the first non-``None`` result. Called once per resource per source and by
    ``headwater describe``.

    Added in 0.1.
    """


@hookspec(firstresult=True)
def headwater_retry_policy(connector: Connector, resource: Resource) -> RetryPolicy | None:
    """The retry policy of requests for ``resource``.

    :param connector: the connector being assembled.
    :param resource: the resource the policy applies to.
    :return: a :class:`~headwater.spec.RetryPolicy`, or ``None`` to let the next
        implementation decide. The builtin implementation returns ``connector.retry``.
        Resources with equal policies share one HTTP session.

    Stops at the first non-``None`` result. Called once per resource per source.

    Added in 0.1.
    """


@hookspec
def headwater_response_rules(connector: Connector, resource: Resource) -> Sequence[ResponseRule]:
    """Rules for responses of ``resource`` that are not plain success.

    :param connector: the connector being assembled.
    :param resource: the resource the rules apply to.
    :return: :class:`~headwater.spec.ResponseRule` objects (possibly none). The rules
        of every plugin are collected — plugins first, the builtin (the resource's
        declared ``response_rules``, then the connector's) last — and the first rule
        that matches a response decides what happens to it.

    Called once per resource per source.

    Added in 0.1.
    """
