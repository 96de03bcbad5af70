"""Connectors declared as data.

A connector is a frozen :class:`Connector` holding its :class:`Resource` s, one auth
spec, a pagination spec per resource, a :class:`RetryPolicy`, :class:`ResponseRule` s
and the JSON Schema file of each resource's records. The same declaration drives
``headwater describe``, settings validation, the builtin hook implementations and the
API simulator in :mod:`headwater.testing`.

Every class validates itself on construction; errors name the class and the field.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, ClassVar, Literal

import attrs
from attrs import field, frozen
from attrs import validators as v

__all__ = [
    "DEFAULT_MAX_RESPONSE_BYTES",
    "DEFAULT_RESPONSE_DEADLINE",
    "DEFAULT_RETRY",
    "MAX_RETRY_AFTER",
    "ApiKeyAuth",
    "AuthSpec",
    "BasicAuth",
    "BearerAuth",
    "Connector",
    "CursorPagination",
    "IncrementalSpec",
    "NextLinkPagination",
    "OAuth2ClientCredentials",
    "OffsetPagination",
    "PageNumberPagination",
    "PaginationSpec",
    "ParentSpec",
    "RateLimit",
    "Resource",
    "ResponseRule",
    "RetryPolicy",
    "SinglePage",
    "field_path",
]

# Defaults written once: the settings schema (headwater.settings) documents them and
# the HTTP layer (headwater.http.session) applies them.
#: Default of the ``max_retry_after`` setting: longest ``Retry-After`` honoured (seconds).
MAX_RETRY_AFTER = 300.0
#: Default of the ``max_response_bytes`` setting: 256 MiB per response, decompressed.
DEFAULT_MAX_RESPONSE_BYTES = 256 * 1024 * 1024
#: Default of the ``response_deadline`` setting (seconds; the read timeout if longer).
DEFAULT_RESPONSE_DEADLINE = 300.0

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")

#: A field in a JSON response: a top-level key taken literally (so ``"@odata.nextLink"``
#: is one key, dots and all), or a tuple of keys for a nested field.
FieldPath = str | tuple


def field_path(value: FieldPath | list[str]) -> tuple[str, ...]:
    """Normalise a :data:`FieldPath` to a tuple of keys."""
    if isinstance(value, str):
        return (value,)
    return tuple(value)


def _name(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if not isinstance(value, str) or not _NAME.match(value):
        raise ValueError(
            f"{type(instance).__name__}.{attribute.name} must be a lower-case identifier "
            f"(letters, digits, underscores; starting with a letter), got {value!r}"
        )


def _positive(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(
            f"{type(instance).__name__}.{attribute.name} must be a positive integer, got {value!r}"
        )


def _non_negative_number(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ValueError(
            f"{type(instance).__name__}.{attribute.name} must be a number >= 0, got {value!r}"
        )


def _non_empty_str(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if not isinstance(value, str) or not value:
        raise ValueError(
            f"{type(instance).__name__}.{attribute.name} must be a non-empty string, got {value!r}"
        )


def _optional_non_empty_str(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if value is not None:
        _non_empty_str(instance, attribute, value)


def _field_path(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if value is None:
        return
    ok = (isinstance(value, str) and value) or (
        isinstance(value, tuple) and value and all(isinstance(k, str) and k for k in value)
    )
    if not ok:
        raise ValueError(
            f"{type(instance).__name__}.{attribute.name} must be a response field name or a "
            f"tuple of field names, got {value!r}"
        )


def _to_field_path(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def _frozen_mapping(value: Any) -> Mapping[str, Any]:
    # Specs are hashable values: store mappings as sorted tuples behind a read-only view.
    return _FrozenDict(value or {})


class _FrozenDict(dict):
    """A hashable, read-only dict so that specs holding mappings stay frozen and hashable."""

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(tuple(sorted((k, repr(v)) for k, v in self.items())))

    def _readonly(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError("spec mappings are read-only")

    __setitem__ = __delitem__ = clear = pop = popitem = setdefault = update = _readonly  # type: ignore[assignment]

    def __deepcopy__(self, memo: dict) -> _FrozenDict:
        return self

    def __reduce__(self) -> Any:
        return (_FrozenDict, (dict(self),))


# --------------------------------------------------------------------------- auth


@frozen
class OAuth2ClientCredentials:
    """OAuth2 client-credentials grant.

    ``token_url`` is the default of the ``token_url`` setting; ``{base_url}`` in it is
    replaced by the resolved ``base_url`` (so ``"{base_url}/oauth2/token"`` derives the
    token endpoint from the API host). ``None`` means the user must set it.
    ``scope`` is the default of the ``scope`` setting (``None``: no scope is sent).
    ``extra_form`` adds fields to the token request body. ``token_url_aliases`` are
    other setting names accepted for ``token_url`` (a seed may call it differently).
    """

    token_url: str | None = field(
        default="{base_url}/oauth2/token", validator=_optional_non_empty_str
    )
    scope: str | None = field(default=None, validator=_optional_non_empty_str)
    extra_form: Mapping[str, str] = field(factory=dict, converter=_frozen_mapping)
    token_url_aliases: tuple[str, ...] = field(default=(), converter=tuple)

    kind: ClassVar[str] = "oauth2_client_credentials"
    #: settings this auth kind reads, and which of them are secret
    settings: ClassVar[tuple[str, ...]] = ("client_id", "client_secret", "token_url", "scope")
    secrets: ClassVar[tuple[str, ...]] = ("client_id", "client_secret")


@frozen
class ApiKeyAuth:
    """A static API key sent in a header or in the query string under ``name``."""

    name: str = field(default="api_key", validator=_non_empty_str)
    location: Literal["header", "query"] = field(
        default="header", validator=v.in_(("header", "query"))
    )
    kind: ClassVar[str] = "api_key"
    settings: ClassVar[tuple[str, ...]] = ("api_key",)
    secrets: ClassVar[tuple[str, ...]] = ("api_key",)


@frozen
class BearerAuth:
    """A static bearer token sent as ``Authorization: Bearer <token>``."""

    kind: ClassVar[str] = "bearer"
    settings: ClassVar[tuple[str, ...]] = ("token",)
    secrets: ClassVar[tuple[str, ...]] = ("token",)


@frozen
class BasicAuth:
    """HTTP basic authentication with ``username`` and ``password`` settings."""

    kind: ClassVar[str] = "basic"
    settings: ClassVar[tuple[str, ...]] = ("username", "password")
    secrets: ClassVar[tuple[str, ...]] = ("password",)


AuthSpec = OAuth2ClientCredentials | ApiKeyAuth | BearerAuth | BasicAuth
_AUTH_TYPES = (OAuth2ClientCredentials, ApiKeyAuth, BearerAuth, BasicAuth)

# --------------------------------------------------------------------- pagination


@frozen
class OffsetPagination:
    """``offset``/``limit`` query parameters.

    Stops when ``total_path`` (if the API reports a total) says every record was read,
    or on a page shorter than ``limit`` (an empty page included).
    """

    limit: int = field(default=100, validator=_positive)
    offset_param: str = field(default="offset", validator=_non_empty_str)
    limit_param: str = field(default="limit", validator=_non_empty_str)
    total_path: FieldPath | None = field(
        default=None, converter=_to_field_path, validator=_field_path
    )
    kind: ClassVar[str] = "offset"


@frozen
class CursorPagination:
    """A cursor token read from ``cursor_path`` of each response and sent back as
    ``cursor_param``; ends when the token is missing, null or empty.
    ``page_size`` (if set) is sent as ``page_size_param`` on every request."""

    cursor_path: FieldPath = field(
        default="next_cursor", converter=_to_field_path, validator=_field_path
    )
    cursor_param: str = field(default="cursor", validator=_non_empty_str)
    page_size: int | None = field(default=None, validator=v.optional(_positive))
    page_size_param: str = field(default="page_size", validator=_non_empty_str)
    kind: ClassVar[str] = "cursor"


@frozen
class NextLinkPagination:
    """The next page's absolute URL (with its own query) read from ``next_path``
    (e.g. ``"@odata.nextLink"``); ends when the field is absent, null or empty."""

    next_path: FieldPath = field(default="next", converter=_to_field_path, validator=_field_path)
    kind: ClassVar[str] = "next_link"


@frozen
class PageNumberPagination:
    """A page number sent as ``page_param`` starting at ``start``; stops at
    ``total_pages_path`` when the API reports it, or on an empty or short page."""

    page_param: str = field(default="page", validator=_non_empty_str)
    start: int = field(default=1, validator=v.instance_of(int))
    page_size: int | None = field(default=None, validator=v.optional(_positive))
    page_size_param: str = field(default="per_page", validator=_non_empty_str)
    total_pages_path: FieldPath | None = field(
        default=None, converter=_to_field_path, validator=_field_path
    )
    kind: ClassVar[str] = "page_number"


@frozen
class SinglePage:
    """The endpoint answers with everything in one response."""

    kind: ClassVar[str] = "single_page"


PaginationSpec = (
    OffsetPagination | CursorPagination | NextLinkPagination | PageNumberPagination | SinglePage
)
_PAGINATION_TYPES = (
    OffsetPagination,
    CursorPagination,
    NextLinkPagination,
    PageNumberPagination,
    SinglePage,
)

# ------------------------------------------------------------------ error handling


@frozen
class RetryPolicy:
    """How transient failures are retried.

    ``max_retries`` counts retries after the first attempt (so 3 means up to 4
    requests). The delay grows as ``backoff_factor * 2**n`` seconds up to ``max_delay``;
    a ``Retry-After`` header is honoured when ``respect_retry_after`` is set. Dropped
    connections are retried like the listed status codes, and so is an attempt that
    gets no answer within ``timeout`` seconds.
    """

    status_codes: tuple[int, ...] = field(default=(429, 500, 502, 503, 504), converter=tuple)
    max_retries: int = field(default=3, validator=v.and_(v.instance_of(int), v.ge(0)))
    backoff_factor: float = field(default=2.0, validator=_non_negative_number)
    max_delay: float = field(default=60.0, validator=_non_negative_number)
    respect_retry_after: bool = field(default=True, validator=v.instance_of(bool))
    timeout: float = field(default=60.0, validator=_non_negative_number)

    @status_codes.validator
    def _check_codes(self, attribute: attrs.Attribute, value: tuple) -> None:
        for code in value:
            if isinstance(code, bool) or not isinstance(code, int) or not 100 <= code <= 599:
                raise ValueError(
                    f"RetryPolicy.status_codes must hold HTTP status codes, got {code!r}"
                )


#: The retry policy of a connector that declares none, and of the seeds' APIs: 429 and
#: 5xx retried 3 times (up to 4 requests), backoff 2 s doubling, ``Retry-After`` honoured.
DEFAULT_RETRY = RetryPolicy()


@frozen
class RateLimit:
    """At most ``requests`` requests per ``per`` (``"second"``, ``"minute"``, ``"hour"``),
    counted over a moving window, whatever the number of concurrent requests."""

    requests: int = field(validator=_positive)
    per: Literal["second", "minute", "hour"] = field(
        default="second", validator=v.in_(("second", "minute", "hour"))
    )

    def __str__(self) -> str:
        return f"{self.requests}/{self.per}"

    @classmethod
    def parse(cls, text: str) -> RateLimit:
        """``"10/second"``, ``"600/minute"`` -> :class:`RateLimit`."""
        amount, _, per = str(text).strip().partition("/")
        try:
            return cls(requests=int(amount), per=per.strip().rstrip("s") or "second")  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise ValueError(
                f"{text!r} is not a rate limit; write it as <requests>/<second|minute|hour>, "
                "e.g. 10/second"
            ) from None


@frozen
class ResponseRule:
    """What to do with a response matching ``status_code`` and/or ``contains``
    (a substring of the body): ``ignore`` it (the resource, or that parent's child
    request, yields nothing more), ``retry`` it, or ``fail`` the run."""

    action: Literal["ignore", "retry", "fail"] = field(validator=v.in_(("ignore", "retry", "fail")))
    status_code: int | None = field(default=None, validator=v.optional(v.instance_of(int)))
    contains: str | None = field(default=None, validator=_optional_non_empty_str)

    def __attrs_post_init__(self) -> None:
        if self.status_code is None and self.contains is None:
            raise ValueError("ResponseRule needs status_code, contains, or both")

    def matches(self, status_code: int, body: str) -> bool:
        """Whether a response with this status and body text matches the rule."""
        if self.status_code is not None and status_code != self.status_code:
            return False
        return self.contains is None or self.contains in body


# ----------------------------------------------------------------------- resources


@frozen
class ParentSpec:
    """Makes a resource a child: one request per record of ``resource``.

    ``placeholder`` in the child's path is replaced by the parent record's ``field``;
    the value is also stored in each child record as ``column`` so the tables join.
    """

    # ``attrs.field`` spelled out: the ``field`` attribute shadows the name in the body.
    resource: str = attrs.field(validator=_name)
    field: str = attrs.field(default="id", validator=_non_empty_str)
    placeholder: str = attrs.field(default="parent_id", validator=_non_empty_str)
    column: str = attrs.field(default="parent_id", validator=_non_empty_str)


@frozen
class IncrementalSpec:
    """Incremental loading on ``cursor_field``: the highest value loaded so far is
    sent as query parameter ``param`` on the next run (``initial`` on the first)."""

    cursor_field: str = field(validator=_non_empty_str)
    param: str = field(validator=_non_empty_str)
    initial: str | None = field(default=None)


@frozen
class Resource:
    """One endpoint, loaded into one table named ``name``.

    ``schema`` is the path of the JSON Schema file of one record, relative to the
    connector's package (e.g. ``"schemas/users.json"``). ``data_selector`` is the
    response field holding the list of records (``None``: the body is the list).
    """

    name: str = field(validator=_name)
    path: str = field(validator=_non_empty_str)
    schema: str = field(validator=_non_empty_str)
    data_selector: FieldPath | None = field(default=None, converter=_to_field_path)
    pagination: PaginationSpec = field(factory=SinglePage)
    primary_key: str | tuple[str, ...] | None = field(default="id")
    write_disposition: Literal["merge", "append", "replace"] = field(
        default="merge", validator=v.in_(("merge", "append", "replace"))
    )
    params: Mapping[str, Any] = field(factory=dict, converter=_frozen_mapping)
    parent: ParentSpec | None = field(default=None, validator=v.optional(v.instance_of(ParentSpec)))
    incremental: IncrementalSpec | None = field(
        default=None, validator=v.optional(v.instance_of(IncrementalSpec))
    )
    #: a limit for this resource's requests, on top of the connector's
    rate_limit: RateLimit | None = field(
        default=None, validator=v.optional(v.instance_of(RateLimit))
    )
    description: str = field(default="")

    @pagination.validator
    def _check_pagination(self, attribute: attrs.Attribute, value: Any) -> None:
        if not isinstance(value, _PAGINATION_TYPES):
            raise TypeError(
                f"Resource.pagination of {self.name!r} must be one of "
                f"{', '.join(t.__name__ for t in _PAGINATION_TYPES)}, got {type(value).__name__}"
            )

    @data_selector.validator
    def _check_selector(self, attribute: attrs.Attribute, value: Any) -> None:
        _field_path(self, attribute, value)
        body_fields = {
            "cursor": "cursor_path",
            "next_link": "next_path",
            "offset": "total_path",
            "page_number": "total_pages_path",
        }
        needs = body_fields.get(getattr(self.pagination, "kind", ""))
        if value is None and needs and getattr(self.pagination, needs) is not None:
            raise ValueError(
                f"Resource.data_selector of {self.name!r} must name the field holding the "
                f"records: its pagination reads {needs} from the same response object"
            )

    @path.validator
    def _check_path(self, attribute: attrs.Attribute, value: str) -> None:
        if not value.startswith("/"):
            raise ValueError(f"Resource.path of {self.name!r} must start with '/', got {value!r}")
        if self.parent is not None and "{" + self.parent.placeholder + "}" not in value:
            raise ValueError(
                f"Resource.path of {self.name!r} must contain "
                f"{{{self.parent.placeholder}}} because the resource has a parent"
            )

    @property
    def primary_key_columns(self) -> tuple[str, ...]:
        """The primary key as a tuple of column names (empty when there is none)."""
        if self.primary_key is None:
            return ()
        return (self.primary_key,) if isinstance(self.primary_key, str) else tuple(self.primary_key)


@frozen
class Connector:
    """A connector: what it is called, where its API lives and how to talk to it.

    ``package`` is the import name of the package that ships the resources' schema
    files (use ``__package__`` in the hooks module). ``base_url`` is the default of the
    ``base_url`` setting. ``settings`` adds connector-specific settings as JSON Schema
    properties (mark secrets with ``"writeOnly": true``).
    """

    name: str = field(validator=_name)
    package: str = field(validator=_non_empty_str)
    resources: tuple[Resource, ...] = field(converter=tuple)
    auth: AuthSpec | None = field(default=None)
    base_url: str = field(default="https://api.example.com", validator=_non_empty_str)
    retry: RetryPolicy = field(default=DEFAULT_RETRY, validator=v.instance_of(RetryPolicy))
    response_rules: tuple[ResponseRule, ...] = field(default=(), converter=tuple)
    settings: Mapping[str, Any] = field(factory=dict, converter=_frozen_mapping)
    #: the API's limit for all requests of a run (the ``rate_limit`` setting overrides it)
    rate_limit: RateLimit | None = field(
        default=None, validator=v.optional(v.instance_of(RateLimit))
    )
    description: str = field(default="")

    @resources.validator
    def _check_resources(self, attribute: attrs.Attribute, value: tuple) -> None:
        if not value:
            raise ValueError(f"Connector.resources of {self.name!r} must not be empty")
        seen: set[str] = set()
        for resource in value:
            if not isinstance(resource, Resource):
                raise TypeError(
                    f"Connector.resources of {self.name!r} must hold Resource objects, "
                    f"got {type(resource).__name__}"
                )
            if resource.name in seen:
                raise ValueError(
                    f"Connector.resources of {self.name!r} declares {resource.name!r} twice"
                )
            seen.add(resource.name)
        for resource in value:
            if resource.parent is not None and resource.parent.resource not in seen:
                raise ValueError(
                    f"resource {resource.name!r} of connector {self.name!r} names parent "
                    f"{resource.parent.resource!r}, which the connector does not declare"
                )

    @auth.validator
    def _check_auth(self, attribute: attrs.Attribute, value: Any) -> None:
        if value is not None and not isinstance(value, _AUTH_TYPES):
            raise TypeError(
                f"Connector.auth of {self.name!r} must be one of "
                f"{', '.join(t.__name__ for t in _AUTH_TYPES)} or None, got {type(value).__name__}"
            )

    @response_rules.validator
    def _check_rules(self, attribute: attrs.Attribute, value: tuple) -> None:
        for rule in value:
            if not isinstance(rule, ResponseRule):
                raise TypeError(
                    f"Connector.response_rules of {self.name!r} must hold ResponseRule objects"
                )

    def resource(self, name: str) -> Resource:
        """The resource called ``name``; :class:`KeyError` if there is none."""
        for resource in self.resources:
            if resource.name == name:
                return resource
        raise KeyError(name)

    @property
    def resource_names(self) -> tuple[str, ...]:
        """Names of the declared resources, in declaration order."""
        return tuple(r.name for r in self.resources)
