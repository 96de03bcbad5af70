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

from headwater import timebounds

__all__ = [
    "DEFAULT_MAX_RESPONSE_BYTES",
    "DEFAULT_RESPONSE_DEADLINE",
    "DEFAULT_RETRY",
    "MAX_RETRY_AFTER",
    "QUARANTINE_SUFFIX",
    "ApiKeyAuth",
    "AuthSpec",
    "BasicAuth",
    "BearerAuth",
    "Connector",
    "CursorPagination",
    "HeaderCursorPagination",
    "IncrementalSpec",
    "JwtBearer",
    "JwtGrant",
    "LastRecordPagination",
    "LinkHeaderPagination",
    "NextLinkPagination",
    "OAuth2ClientCredentials",
    "OAuth2RefreshToken",
    "OffsetPagination",
    "PageNumberPagination",
    "PaginationSpec",
    "ParentSpec",
    "RateLimit",
    "Resource",
    "ResponseRule",
    "RetryPolicy",
    "SessionLogin",
    "SinglePage",
    "TemplateAuth",
    "field_path",
    "is_jsonpath",
    "literal_text",
    "quarantined_by",
    "template_names",
    "uneven_braces",
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


def _one_of(options: tuple[Any, ...]) -> Any:
    """attrs' ``in_``, with a one-line message (attrs' own carries a repr of the
    attribute): ``IncrementalSpec.location must be one of 'query', 'body' (got 'header')``."""

    def check(instance: Any, attribute: Any, value: Any) -> None:
        if value not in options:
            choices = ", ".join(repr(o) for o in options)
            raise ValueError(
                f"{type(instance).__name__}.{attribute.name} must be one of {choices} "
                f"(got {value!r})"
            )

    return check


def _of_type(kind: type) -> Any:
    """attrs' ``instance_of``, with a one-line message: ``RetryPolicy.max_retries must
    be int (got str 'x')``."""

    def check(instance: Any, attribute: Any, value: Any) -> None:
        if not isinstance(value, kind):
            raise TypeError(
                f"{type(instance).__name__}.{attribute.name} must be {kind.__name__} "
                f"(got {type(value).__name__} {value!r})"
            )

    return check


#: A field in a JSON response, one of:
#:
#: * a JSONPath, a string starting with ``$`` (``"$.results[*]"``, ``"$.data.items"``),
#:   compiled once, when the source is assembled (with jsonpath-ng);
#: * a dotted path ``"data.items"``: nested keys (the same as ``$.data.items``);
#: * a key taken literally: a string without dots, or one starting with ``@`` (so
#:   ``"@odata.nextLink"`` is one key, dots and all);
#: * a tuple of keys, each taken literally (``("meta", "next.url")``).
FieldPath = str | tuple


def is_jsonpath(value: Any) -> bool:
    """Whether ``value`` is a JSONPath :data:`FieldPath` (a string starting with ``$``)."""
    return isinstance(value, str) and value.startswith("$")


def field_path(value: FieldPath | list[str]) -> tuple[str, ...]:
    """Normalise a key :data:`FieldPath` to a tuple of keys.

    A dotted string is split (``"data.items"`` -> ``("data", "items")``) unless it starts
    with ``@``; a JSONPath (``$...``) cannot be expressed as keys and raises ValueError.
    """
    if isinstance(value, str):
        if value.startswith("$"):
            raise ValueError(f"{value!r} is a JSONPath, not a key path")
        if "." in value and not value.startswith("@"):
            return tuple(value.split("."))
        return (value,)
    return tuple(value)


#: a template's tokens: a doubled brace (one literal brace) or a ``{name}`` placeholder
TEMPLATE_TOKEN = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*)\}")


def literal_text(template: str) -> str:
    """``template`` as it is sent, but for its settings: each doubled brace as one,
    each ``{name}`` placeholder kept."""
    return TEMPLATE_TOKEN.sub(lambda m: m.group(0) if m.group(1) else m.group(0)[0], template)


def uneven_braces(field: str, value: Any) -> str | None:
    """What is wrong with template ``value`` (a string, or the strings anywhere inside
    a mapping or list, keys included) declared as ``field``, when one of its strings
    doubles some literal braces but not others; ``None`` when none does.

    A doubled brace is sent as one and a single one as written, so such a string would
    not be sent as it reads: a GraphQL query ending in ``}}}`` would lose a brace while
    its single ``{`` stayed. A string whose every literal brace is doubled, or none
    is, is sent as it reads."""
    if isinstance(value, str):
        doubled = [m for m in TEMPLATE_TOKEN.finditer(value) if not m.group(1)]
        if not doubled or not re.search(r"[{}]", TEMPLATE_TOKEN.sub("", value)):
            return None
        at = doubled[-1].end()
        start = max(0, at - 40)
        excerpt = (
            ("…" if start else "") + value[start : at + 20] + ("…" if at + 20 < len(value) else "")
        )
        return (
            f"{field} doubles some literal braces but not others ({excerpt!r}): a doubled "
            "brace is sent as one, a single one as written, so it would not be sent as it "
            "reads; double every literal brace ({{ for {, }} for }), a {setting} stays single"
        )
    if isinstance(value, Mapping):
        for key, item in value.items():
            where = f"{field}.{key}"
            problem = uneven_braces(f"{field} key", key) or uneven_braces(where, item)
            if problem:
                return problem
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            problem = uneven_braces(f"{field}[{index}]", item)
            if problem:
                return problem
    return None


def _parsed_jsonpath(path: str) -> Any:
    # imported here: only declarations holding a JSONPath pay for the parser (no dlt)
    from jsonpath_ng.ext import parse

    try:
        return parse(path)
    except Exception:  # jsonpath-ng raises several types for a bad path
        return None


def key_path(path: FieldPath) -> tuple[str, ...] | None:
    """The keys of a response field named by keys only: a key path as :func:`field_path`
    reads it, or a JSONPath of ``$`` and single field names with an optional trailing
    ``[*]`` (``$.data.items``; ``$.results[*]``, the list at ``results``; ``$``, no
    keys). ``None`` for any other JSONPath (``$..id``, ``$.data[-1].id``, filters) and
    for one that does not parse."""
    if not is_jsonpath(path):
        return field_path(path)
    from jsonpath_ng.jsonpath import Child, Wildcard

    node = _parsed_jsonpath(str(path))
    if isinstance(node, Child) and type(node.right) is Wildcard:
        node = node.left
    return _keys_of(node)


def last_record_field(path: FieldPath, data_selector: FieldPath | None) -> str | None:
    """The field of a page's last record that a cursor path reads, when it reads one:
    Stripe's ``$.data[-1].id`` (or ``$.data[-1:].id``) with ``data_selector`` ``data``
    reads ``"id"``; so does ``$[-1].id`` when the body is the list of records
    (``data_selector`` ``None``). ``None`` for any other path (a response field such
    as ``meta.next``, a list other than the records, a nested field of the record)."""
    if not is_jsonpath(path):
        return None
    from jsonpath_ng.jsonpath import Child, Fields, Index, Slice

    node = _parsed_jsonpath(str(path))
    if not isinstance(node, Child) or type(node.right) is not Fields:
        return None
    fields = node.right.fields
    last = node.left
    if len(fields) != 1 or fields[0] == "*" or not isinstance(last, Child):
        return None
    index = last.right
    is_last = (type(index) is Index and tuple(getattr(index, "indices", ())) == (-1,)) or (
        type(index) is Slice and (index.start, index.end, index.step) == (-1, None, None)
    )
    if not is_last:
        return None
    records = key_path(data_selector) if data_selector is not None else ()
    if records is None or _keys_of(last.left) != records:
        return None
    return fields[0]


def _keys_of(node: Any) -> tuple[str, ...] | None:
    """The keys of a parsed JSONPath of ``$`` and single field names, else ``None``."""
    from jsonpath_ng.jsonpath import Child, Fields, Root

    keys: list[str] = []
    while isinstance(node, Child):
        right = node.right
        if type(right) is not Fields or len(right.fields) != 1 or right.fields[0] == "*":
            return None
        keys.append(right.fields[0])
        node = node.left
    return tuple(reversed(keys)) if type(node) is Root else None


def template_names(value: Any) -> tuple[str, ...]:
    """The ``{name}`` placeholders in a template: a string, or the strings anywhere
    inside a mapping or list (``{{``/``}}`` are literal braces). In declaration order,
    without repeats."""
    found: list[str] = []

    def walk(item: Any) -> None:
        if isinstance(item, str):
            for match in TEMPLATE_TOKEN.finditer(item):  # as the templates are filled
                name = match.group(1)
                if name and name not in found:
                    found.append(name)
        elif isinstance(item, Mapping):
            for key in item:
                walk(key)
                walk(item[key])
        elif isinstance(item, (list, tuple)):
            for element in item:
                walk(element)

    walk(value)
    return tuple(found)


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


def _required_path(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    """A field path that must be given (``None`` is refused, as any other non-path)."""
    if value is None:
        raise ValueError(
            f"{type(instance).__name__}.{attribute.name} must be a response field name or a "
            "tuple of field names, got None"
        )
    _field_path(instance, attribute, value)


def _field_path(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if value is None:
        return  # an optional path, not given
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


def _checked_mapping(value: Any, instance: Any, field: attrs.Attribute) -> Mapping[str, Any]:
    """``value`` as a frozen mapping; anything but a mapping (or ``None``: empty) is a
    one-line error naming the field (a list of pairs failed with dict()'s own words)."""
    if value is not None and not isinstance(value, Mapping):
        raise TypeError(
            f"{type(instance).__name__}.{field.name} must be a mapping of names to values "
            f"(a dict), got {type(value).__name__} {value!r}"
        )
    return _frozen_mapping(value)


def _checked_optional_mapping(
    value: Any, instance: Any, field: attrs.Attribute
) -> Mapping[str, Any] | None:
    return None if value is None else _checked_mapping(value, instance, field)


#: the converters of mapping fields: frozen, and checked with the field's name
_MAPPING = attrs.Converter(_checked_mapping, takes_self=True, takes_field=True)  # type: ignore[call-overload]
_OPTIONAL_MAPPING = attrs.Converter(  # type: ignore[call-overload]
    _checked_optional_mapping, takes_self=True, takes_field=True
)


def _key_names(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    """A primary key: ``None``, a field name, or a tuple of field names."""
    if value is None or (isinstance(value, str) and value):
        return
    if isinstance(value, tuple) and all(isinstance(k, str) and k for k in value):
        return
    raise TypeError(
        f"{type(instance).__name__}.{attribute.name} must be a field name or a tuple of "
        f"field names (or None), got {type(value).__name__} {value!r}"
    )


#: the end of the name of the table that keeps a resource's records breaking its schema
QUARANTINE_SUFFIX = "_quarantine"


def quarantined_by(table: str) -> str | None:
    """The resource whose quarantine table ``table`` would be (``None``: none)."""
    if table.endswith(QUARANTINE_SUFFIX) and len(table) > len(QUARANTINE_SUFFIX):
        return table[: -len(QUARANTINE_SUFFIX)]
    return None


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
    extra_form: Mapping[str, str] = field(factory=dict, converter=_MAPPING)
    token_url_aliases: tuple[str, ...] = field(default=(), converter=tuple)
    #: how the client authenticates at the token endpoint: ``"form"`` (client_id and
    #: client_secret in the form body) or ``"basic"`` (HTTP basic, RFC 6749
    #: ``client_secret_basic``)
    client_auth: Literal["form", "basic"] = field(
        default="form", validator=_one_of(("form", "basic"))
    )

    kind: ClassVar[str] = "oauth2_client_credentials"
    #: settings this auth kind reads, and which of them are secret
    settings: ClassVar[tuple[str, ...]] = ("client_id", "client_secret", "token_url", "scope")
    secrets: ClassVar[tuple[str, ...]] = ("client_id", "client_secret")


@frozen
class ApiKeyAuth:
    """A static API key sent in a header or in the query string under ``name``."""

    name: str = field(default="api_key", validator=_non_empty_str)
    location: Literal["header", "query"] = field(
        default="header", validator=_one_of(("header", "query"))
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
    """HTTP basic authentication with ``username`` and ``password`` settings.

    ``password=False``: the username alone is the credential, and the secret (Stripe's
    secret key: "provide your API key as the basic auth username; you do not need to
    provide a password"); an empty password is sent, and there is no password setting.
    """

    kind: ClassVar[str] = "basic"
    password: bool = field(default=True, validator=_of_type(bool))

    @property
    def settings(self) -> tuple[str, ...]:
        """The settings this auth reads."""
        return ("username", "password") if self.password else ("username",)

    @property
    def secrets(self) -> tuple[str, ...]:
        """Those of :attr:`settings` that are secret."""
        return ("password",) if self.password else ("username",)


@frozen
class OAuth2RefreshToken:
    """OAuth2 refresh-token grant (RFC 6749 section 6).

    The access token is obtained from the ``refresh_token`` setting at ``token_url``,
    renewed before it expires and on a 401. When the token endpoint answers with a new
    refresh token (rotation), the new one is kept in the run's token store (the
    ``headwater_token_store`` hook; by default an owner-only file outside the dataset)
    and used by the next run instead of the setting, until the setting changes.
    ``token_url``, ``scope``, ``extra_form``, ``token_url_aliases`` and ``client_auth``
    mean what they mean for :class:`OAuth2ClientCredentials`.
    """

    token_url: str | None = field(
        default="{base_url}/oauth2/token", validator=_optional_non_empty_str
    )
    scope: str | None = field(default=None, validator=_optional_non_empty_str)
    extra_form: Mapping[str, str] = field(factory=dict, converter=_MAPPING)
    token_url_aliases: tuple[str, ...] = field(default=(), converter=tuple)
    client_auth: Literal["form", "basic"] = field(
        default="form", validator=_one_of(("form", "basic"))
    )

    kind: ClassVar[str] = "oauth2_refresh_token"
    settings: ClassVar[tuple[str, ...]] = (
        "client_id",
        "client_secret",
        "refresh_token",
        "token_url",
        "scope",
    )
    secrets: ClassVar[tuple[str, ...]] = ("client_id", "client_secret", "refresh_token")


#: Signing algorithms the JWT auth kinds accept (PyJWT names).
JWT_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "HS256")


@frozen
class JwtGrant:
    """JWT bearer grant (RFC 7523), the "service account" flow.

    An assertion signed with the ``private_key`` setting (PEM; ``algorithm`` RS256,
    ES256, ...) with ``iss`` = the ``issuer`` setting, ``aud`` = ``audience`` (default:
    the token URL), ``scope`` (if any), ``sub`` = the ``subject`` setting (if set),
    ``iat``/``exp`` ``lifetime`` seconds apart and the ``claims`` given here, is
    exchanged at ``token_url`` for an access token sent as a bearer token and renewed
    like the client-credentials one. The ``key_id`` setting, if set, is the JWT's ``kid``.
    """

    token_url: str | None = field(
        default="{base_url}/oauth2/token", validator=_optional_non_empty_str
    )
    algorithm: str = field(default="RS256", validator=_one_of(JWT_ALGORITHMS))
    scope: str | None = field(default=None, validator=_optional_non_empty_str)
    audience: str | None = field(default=None, validator=_optional_non_empty_str)
    lifetime: int = field(default=3600, validator=_positive)
    claims: Mapping[str, Any] = field(factory=dict, converter=_MAPPING)
    grant_type: str = field(
        default="urn:ietf:params:oauth:grant-type:jwt-bearer", validator=_non_empty_str
    )

    kind: ClassVar[str] = "jwt_grant"
    settings: ClassVar[tuple[str, ...]] = (
        "issuer",
        "private_key",
        "token_url",
        "scope",
        "subject",
        "key_id",
    )
    secrets: ClassVar[tuple[str, ...]] = ("private_key",)
    #: settings that may be left unset
    optional: ClassVar[tuple[str, ...]] = ("scope", "subject", "key_id")


@frozen
class JwtBearer:
    """A self-signed JWT sent as ``Authorization: Bearer <jwt>``.

    Signed with the ``private_key`` setting (a PEM key; for HS256 the shared secret),
    ``iss`` = the ``issuer`` setting, ``aud`` = ``audience`` (default: the ``base_url``
    setting), ``iat``/``exp`` ``lifetime`` seconds apart plus ``claims``; a new one is
    signed before the last expires. The ``key_id`` setting, if set, is the ``kid``.
    """

    algorithm: str = field(default="RS256", validator=_one_of(JWT_ALGORITHMS))
    audience: str | None = field(default=None, validator=_optional_non_empty_str)
    lifetime: int = field(default=3600, validator=_positive)
    claims: Mapping[str, Any] = field(factory=dict, converter=_MAPPING)

    kind: ClassVar[str] = "jwt_bearer"
    settings: ClassVar[tuple[str, ...]] = ("issuer", "private_key", "key_id")
    secrets: ClassVar[tuple[str, ...]] = ("private_key",)
    optional: ClassVar[tuple[str, ...]] = ("key_id",)


@frozen
class SessionLogin:
    """Log in once, then send the session token with every request.

    ``body`` (``{name}`` placeholders are settings; every placeholder is a required
    setting, secret if named in ``secret_settings``) is sent as JSON (or a form, with
    ``body_format="form"``) by ``method`` to ``login_path`` (relative to ``base_url``).
    The token is read from ``token_path`` of the response body (a :data:`FieldPath`), or
    from the response header ``token_header`` when set. It is sent as ``template``
    (``{token}`` is the token) in the header, query parameter or cookie ``name``
    (``location``). A 401 logs in again once; so does the session's age reaching
    ``expires_in`` seconds (or the seconds at ``expires_in_path`` of the login response).
    """

    login_path: str = field(default="/login", validator=_non_empty_str)
    body: Mapping[str, Any] = field(
        factory=lambda: {"username": "{username}", "password": "{password}"},
        converter=_MAPPING,
    )
    body_format: Literal["json", "form"] = field(
        default="json", validator=_one_of(("json", "form"))
    )
    method: Literal["POST", "GET"] = field(default="POST", validator=_one_of(("POST", "GET")))
    token_path: FieldPath | None = field(
        default="token", converter=_to_field_path, validator=_field_path
    )
    token_header: str | None = field(default=None, validator=_optional_non_empty_str)
    location: Literal["header", "query", "cookie"] = field(
        default="header", validator=_one_of(("header", "query", "cookie"))
    )
    name: str = field(default="Authorization", validator=_non_empty_str)
    template: str = field(default="Bearer {token}", validator=_non_empty_str)
    expires_in: float | None = field(default=None, validator=v.optional(_non_negative_number))
    expires_in_path: FieldPath | None = field(
        default=None, converter=_to_field_path, validator=_field_path
    )
    secret_settings: tuple[str, ...] = field(default=("password",), converter=tuple)

    kind: ClassVar[str] = "session"

    def __attrs_post_init__(self) -> None:
        if self.token_path is None and self.token_header is None:
            raise ValueError("SessionLogin needs token_path or token_header to find the token")
        if "{token}" not in self.template:
            raise ValueError(f"SessionLogin.template must contain {{token}}, got {self.template!r}")
        problem = uneven_braces("body", self.body)
        if problem:
            raise ValueError(f"SessionLogin {problem}")

    @property
    def settings(self) -> tuple[str, ...]:
        """The settings named by the login body's placeholders."""
        return template_names(self.body)

    @property
    def secrets(self) -> tuple[str, ...]:
        """The settings among :attr:`settings` that are secret."""
        return tuple(name for name in self.settings if name in self.secret_settings)


@frozen
class TemplateAuth:
    """Credentials sent as templated headers and/or query parameters, e.g.
    ``headers={"Authorization": "Token {api_key}", "X-Account": "{account_id}"}``.

    Every ``{name}`` placeholder is a required setting; those named in
    ``secret_settings`` (default: all of them) are secret.
    """

    headers: Mapping[str, str] = field(factory=dict, converter=_MAPPING)
    query: Mapping[str, str] = field(factory=dict, converter=_MAPPING)
    secret_settings: tuple[str, ...] | None = field(
        default=None, converter=lambda x: None if x is None else tuple(x)
    )

    kind: ClassVar[str] = "template"

    def __attrs_post_init__(self) -> None:
        if not self.headers and not self.query:
            raise ValueError("TemplateAuth needs headers, query, or both")
        problem = uneven_braces("headers", self.headers) or uneven_braces("query", self.query)
        if problem:
            raise ValueError(f"TemplateAuth {problem}")
        if not self.settings:
            raise ValueError(
                "TemplateAuth names no setting: write the credential as a {placeholder}, "
                "e.g. {'Authorization': 'Token {api_key}'}"
            )

    @property
    def settings(self) -> tuple[str, ...]:
        """The settings named by the templates' placeholders."""
        return template_names({"h": dict(self.headers), "q": dict(self.query)})

    @property
    def secrets(self) -> tuple[str, ...]:
        """The settings among :attr:`settings` that are secret (default: all)."""
        if self.secret_settings is None:
            return self.settings
        return tuple(name for name in self.settings if name in self.secret_settings)


AuthSpec = (
    OAuth2ClientCredentials
    | OAuth2RefreshToken
    | JwtGrant
    | JwtBearer
    | SessionLogin
    | TemplateAuth
    | ApiKeyAuth
    | BearerAuth
    | BasicAuth
)
_AUTH_TYPES = (
    OAuth2ClientCredentials,
    OAuth2RefreshToken,
    JwtGrant,
    JwtBearer,
    SessionLogin,
    TemplateAuth,
    ApiKeyAuth,
    BearerAuth,
    BasicAuth,
)

# --------------------------------------------------------------------- pagination


@frozen
class OffsetPagination:
    """``offset``/``limit`` query parameters.

    Each request's offset is the number of records received so far. Stops when
    ``total_path`` (if the API reports a total) says every record was read, however
    short the pages (many APIs serve fewer records than ``limit`` asks for), or on an
    empty page; on a page shorter than ``limit`` only when the API reports no total.
    """

    limit: int = field(default=100, validator=_positive)
    offset_param: str = field(default="offset", validator=_non_empty_str)
    limit_param: str = field(default="limit", validator=_non_empty_str)
    total_path: FieldPath | None = field(
        default=None, converter=_to_field_path, validator=_field_path
    )
    #: where the paging parameters go: the query string, or the JSON body of a POST
    #: (a dotted name such as ``"variables.after"`` sets a nested body field)
    location: Literal["query", "body"] = field(
        default="query", validator=_one_of(("query", "body"))
    )
    kind: ClassVar[str] = "offset"


@frozen
class CursorPagination:
    """A cursor token read from ``cursor_path`` of each response and sent back as
    ``cursor_param``; ends when the token is missing, null or empty. A JSONPath may
    read it from the page's last record: Stripe's ``"$.data[-1].id"`` (``"$[-1].id"``
    when the body is the list of records, ``data_selector=None``), ending on an empty
    page.
    ``page_size`` (if set) is sent as ``page_size_param`` on every request; a full page
    that ends the resource without the cursor's field at all is warned about (a
    misspelled ``cursor_path`` would cut the data short).

    ``end_path`` (if set) names a response field that ends the resource after its page
    when it is JSON ``true``, whatever the cursor says: for APIs that always send a
    cursor and flag the last page instead (Zendesk's cursor-based incremental exports:
    ``after_cursor`` with ``end_of_stream``). See :class:`NextLinkPagination` for what
    the flag may hold."""

    cursor_path: FieldPath = field(
        default="next_cursor", converter=_to_field_path, validator=_required_path
    )
    cursor_param: str = field(default="cursor", validator=_non_empty_str)
    page_size: int | None = field(default=None, validator=v.optional(_positive))
    page_size_param: str = field(default="page_size", validator=_non_empty_str)
    #: where the paging parameters go: the query string, or the JSON body of a POST
    #: (a dotted name such as ``"variables.after"`` sets a nested body field)
    location: Literal["query", "body"] = field(
        default="query", validator=_one_of(("query", "body"))
    )
    #: a response field whose JSON ``true`` says the page is the last
    #: (``"end_of_stream"``); ``None``: no such field
    end_path: FieldPath | None = field(
        default=None, converter=_to_field_path, validator=_field_path
    )
    kind: ClassVar[str] = "cursor"


@frozen
class NextLinkPagination:
    """The next page's absolute URL (with its own query) read from ``next_path``
    (e.g. ``"@odata.nextLink"``); ends when the field is absent, null or empty.

    ``end_path`` (if set) names a response field that ends the resource after its page
    when it is JSON ``true``, whatever the next link says: for APIs that always send a
    next link and flag the last page instead, such as Zendesk's incremental exports
    (``NextLinkPagination(next_path="next_page", end_path="end_of_stream")``) or Jira's
    ``isLast``. The page carrying the flag is loaded. Only JSON ``true`` ends it;
    ``false``, ``null`` or a missing field go on to the next page; any other value
    (the string ``"true"``, ``1``) fails the run naming the field and the value, rather
    than being guessed at."""

    next_path: FieldPath = field(default="next", converter=_to_field_path, validator=_required_path)
    #: a response field whose JSON ``true`` says the page is the last
    #: (``"end_of_stream"``, ``"isLast"``); ``None``: no such field
    end_path: FieldPath | None = field(
        default=None, converter=_to_field_path, validator=_field_path
    )
    kind: ClassVar[str] = "next_link"


@frozen
class PageNumberPagination:
    """A page number sent as ``page_param`` starting at ``start``; stops at
    ``total_pages_path`` (a page count) or ``total_path`` (a record count) when the API
    reports it, however short the pages, or on an empty page; on a page shorter than
    ``page_size`` only when the API reports no count."""

    page_param: str = field(default="page", validator=_non_empty_str)
    start: int = field(default=1, validator=_of_type(int))
    page_size: int | None = field(default=None, validator=v.optional(_positive))
    page_size_param: str = field(default="per_page", validator=_non_empty_str)
    total_pages_path: FieldPath | None = field(
        default=None, converter=_to_field_path, validator=_field_path
    )
    total_path: FieldPath | None = field(
        default=None, converter=_to_field_path, validator=_field_path
    )
    #: where the paging parameters go: the query string, or the JSON body of a POST
    #: (a dotted name such as ``"variables.after"`` sets a nested body field)
    location: Literal["query", "body"] = field(
        default="query", validator=_one_of(("query", "body"))
    )
    kind: ClassVar[str] = "page_number"


@frozen
class LinkHeaderPagination:
    """The next page's URL from the ``Link`` response header (RFC 8288) entry whose
    ``rel`` is ``rel``; ends when there is none. GitHub, GitLab and many others."""

    rel: str = field(default="next", validator=_non_empty_str)
    kind: ClassVar[str] = "link_header"


@frozen
class HeaderCursorPagination:
    """A cursor read from the response header ``header`` and sent back as
    ``cursor_param``; ends when the header is missing or empty."""

    header: str = field(default="X-Next-Cursor", validator=_non_empty_str)
    cursor_param: str = field(default="cursor", validator=_non_empty_str)
    page_size: int | None = field(default=None, validator=v.optional(_positive))
    page_size_param: str = field(default="page_size", validator=_non_empty_str)
    #: where the paging parameters go: the query string, or the JSON body of a POST
    #: (a dotted name such as ``"variables.after"`` sets a nested body field)
    location: Literal["query", "body"] = field(
        default="query", validator=_one_of(("query", "body"))
    )
    kind: ClassVar[str] = "header_cursor"


@frozen
class LastRecordPagination:
    """The cursor is a field of the page's last record (Stripe's ``starting_after``).

    After each page, ``cursor_field`` of its last record is sent as ``cursor_param``.
    Ends when ``has_more_path`` is false or missing (if the API reports it), or on an
    empty page (or one shorter than ``page_size``, when set); a full page without
    ``has_more_path`` at all is warned about (a misspelled path would cut the data short).
    """

    cursor_field: FieldPath = field(
        default="id", converter=_to_field_path, validator=_required_path
    )
    cursor_param: str = field(default="starting_after", validator=_non_empty_str)
    has_more_path: FieldPath | None = field(
        default="has_more", converter=_to_field_path, validator=_field_path
    )
    page_size: int | None = field(default=None, validator=v.optional(_positive))
    page_size_param: str = field(default="limit", validator=_non_empty_str)
    #: where the paging parameters go: the query string, or the JSON body of a POST
    #: (a dotted name such as ``"variables.after"`` sets a nested body field)
    location: Literal["query", "body"] = field(
        default="query", validator=_one_of(("query", "body"))
    )
    kind: ClassVar[str] = "last_record"


@frozen
class SinglePage:
    """The endpoint answers with everything in one response."""

    kind: ClassVar[str] = "single_page"


PaginationSpec = (
    OffsetPagination
    | CursorPagination
    | NextLinkPagination
    | PageNumberPagination
    | LinkHeaderPagination
    | HeaderCursorPagination
    | LastRecordPagination
    | SinglePage
)
_PAGINATION_TYPES = (
    OffsetPagination,
    CursorPagination,
    NextLinkPagination,
    PageNumberPagination,
    LinkHeaderPagination,
    HeaderCursorPagination,
    LastRecordPagination,
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
    max_retries: int = field(default=3, validator=v.and_(_of_type(int), v.ge(0)))
    backoff_factor: float = field(default=2.0, validator=_non_negative_number)
    max_delay: float = field(default=60.0, validator=_non_negative_number)
    respect_retry_after: bool = field(default=True, validator=_of_type(bool))
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
        default="second", validator=_one_of(("second", "minute", "hour"))
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
    request, yields nothing more), ``retry`` it, or ``fail`` the run. Declared in
    ``Connector.response_rules`` for every resource, or in
    ``Resource.response_rules`` for that resource's responses (tried first)."""

    action: Literal["ignore", "retry", "fail"] = field(
        validator=_one_of(("ignore", "retry", "fail"))
    )
    status_code: int | None = field(default=None, validator=v.optional(_of_type(int)))
    contains: str | None = field(default=None, validator=_optional_non_empty_str)

    def __attrs_post_init__(self) -> None:
        if self.status_code is None and self.contains is None:
            raise ValueError("ResponseRule needs status_code, contains, or both")

    def matches(self, status_code: int, body: str) -> bool:
        """Whether a response with this status and body text matches the rule."""
        if self.status_code is not None and status_code != self.status_code:
            return False
        return self.contains is None or self.contains in body


def _response_rules(instance: Any, attribute: attrs.Attribute, value: tuple) -> None:
    """A ``response_rules`` field (of a connector or a resource) holds rules only."""
    for rule in value:
        if not isinstance(rule, ResponseRule):
            raise TypeError(
                f"{type(instance).__name__}.{attribute.name} of {instance.name!r} must hold "
                "ResponseRule objects"
            )


# ----------------------------------------------------------------------- resources


@frozen
class ParentSpec:
    """Makes a resource a child: one request per record of ``resource``.

    ``placeholder`` in the child's path is replaced by the parent record's ``field``;
    the value is also stored in each child record as ``column`` so the tables join
    (``None``: not stored, as dlt's ``rest_api`` does without ``include_from_parent``).
    """

    # ``attrs.field`` spelled out: the ``field`` attribute shadows the name in the body.
    resource: str = attrs.field(validator=_name)
    field: str = attrs.field(default="id", validator=_non_empty_str)
    placeholder: str = attrs.field(default="parent_id", validator=_non_empty_str)
    column: str | None = attrs.field(default="parent_id", validator=_optional_non_empty_str)


@frozen
class IncrementalSpec:
    """Incremental loading on a time cursor (see ``docs/incremental.md``).

    Each run requests the records of ``[start, end)``: ``param`` carries the start and
    ``end_param`` (when the API has one) the end, both written in ``format`` (see
    :mod:`headwater.timebounds`: ``iso8601``, ``date``, ``unix``, ``unix_ms`` or
    ``strftime:<pattern>``), in the query string or, with ``location="body"``, in the
    JSON body (a dotted name sets a nested field). The first run starts at ``initial``
    (overridden by the ``start_date`` setting; ``None``: no lower bound); later runs at
    the position the last run reached, less ``lookback`` (a duration such as ``"2h"``:
    records that arrive late are fetched again and merged on the primary key). The
    end is the time the run started (``--end`` for a backfill).

    ``cursor_field`` (a :data:`FieldPath`: a field name, a dotted path or a JSONPath)
    is the record's time. Without ``end_param`` the position is the latest cursor
    loaded; with it, the end of the last completed slice. ``window`` (e.g. ``"1d"``,
    overridable by the ``window`` setting) cuts the range into slices read one after
    another (or ``parallel_windows`` at once); the position advances per completed
    slice, and ``headwater run`` loads after each slice with records, so a killed run
    resumes where it stopped. ``client_filter``: the API does not filter exactly, drop
    records outside ``[start, end)`` too. A record whose cursor ``format`` cannot read
    is quarantined.
    """

    cursor_field: FieldPath = field(converter=_to_field_path, validator=_required_path)
    param: str = field(validator=_non_empty_str)
    initial: str | None = field(default=None)
    end_param: str | None = field(default=None, validator=_optional_non_empty_str)
    location: Literal["query", "body"] = field(
        default="query", validator=_one_of(("query", "body"))
    )
    #: ``None``: as the cursor values come (numbers: ``unix``; text: ``iso8601``)
    format: str | None = field(default=None)
    #: how records' cursor values are written (``None``: as ``format``)
    cursor_format: str | None = field(default=None)
    lookback: str | None = field(default=None)
    window: str | None = field(default=None)
    client_filter: bool = field(default=False, validator=_of_type(bool))

    def __attrs_post_init__(self) -> None:
        def check(what: str, function: Any, value: Any) -> None:
            if value is None:
                return
            try:
                function(value)
            except ValueError as exc:
                raise ValueError(f"IncrementalSpec.{what}: {exc}") from None

        check("format", timebounds.check_format, self.format)
        check("cursor_format", timebounds.check_format, self.cursor_format)
        check("lookback", lambda x: timebounds.parse_duration(x, "lookback"), self.lookback)
        check("window", lambda x: timebounds.parse_duration(x, "window"), self.window)
        check("initial", self.parse_initial, self.initial)
        if self.window is not None and self.end_param is None and not self.client_filter:
            raise ValueError(
                "IncrementalSpec.window needs end_param (the API's upper bound) or "
                "client_filter=True, or a slice would read everything after its start"
            )
        if self.end_param is not None and self.end_param == self.param:
            raise ValueError("IncrementalSpec.end_param must differ from param")

    @property
    def record_format(self) -> str | None:
        """The format of the records' cursor values (``None``: found from each value)."""
        return self.cursor_format or self.format

    def parse_initial(self, value: Any) -> Any:
        """``value`` (an ``initial`` or ``start_date``) as a UTC datetime: an ISO 8601
        date or date-time, or a value in the declared ``format``."""
        try:
            return timebounds.parse_instant(value, "initial")
        except ValueError:
            try:
                if self.format is None:
                    return timebounds.parse_auto(value)[0]
                return timebounds.parse_value(value, self.format)
            except ValueError:
                raise ValueError(
                    f"{value!r} is not a date; write an ISO 8601 date or date-time "
                    f"(e.g. 2024-01-31) or a {self.format or 'unix'} value"
                ) from None


@frozen
class Resource:
    """One endpoint, loaded into one table named ``name``.

    ``schema`` is the path of the JSON Schema file of one record, relative to the
    connector's package (e.g. ``"schemas/users.json"``). ``data_selector`` is the
    response field holding the list of records, a :data:`FieldPath` (``None``: the
    body is the list; a body that is one object is one record, as from a detail
    endpoint such as ``/pokemon/{name}``).

    ``path``, the values of ``params`` and ``headers`` and the strings anywhere in
    ``json`` are templates: ``{name}`` is replaced by the setting ``name`` (declare it
    in :attr:`Connector.settings`), ``{{``/``}}`` are literal braces; a child's
    ``{<placeholder>}`` is its parent's field. A string that doubles some literal braces
    but not others would not be sent as it reads, and is refused: double every one (a
    GraphQL query: ``"{{items{{nodes{{id}}}}}}"``).
    """

    name: str = field(validator=_name)
    path: str = field(validator=_non_empty_str)
    schema: str = field(validator=_non_empty_str)
    data_selector: FieldPath | None = field(default=None, converter=_to_field_path)
    pagination: PaginationSpec = field(factory=SinglePage)
    primary_key: str | tuple[str, ...] | None = field(
        default="id", converter=_to_field_path, validator=_key_names
    )
    write_disposition: Literal["merge", "append", "replace"] = field(
        default="merge", validator=_one_of(("merge", "append", "replace"))
    )
    params: Mapping[str, Any] = field(factory=dict, converter=_MAPPING)
    #: the HTTP method; a POST sends ``json`` as its body
    method: Literal["GET", "POST"] = field(default="GET", validator=_one_of(("GET", "POST")))
    #: request headers of this resource, on top of the connector's ``headers``
    headers: Mapping[str, str] = field(factory=dict, converter=_MAPPING)
    #: the JSON body (search and GraphQL-style endpoints); ``None``: no body
    json: Mapping[str, Any] | None = field(default=None, converter=_OPTIONAL_MAPPING)
    parent: ParentSpec | None = field(default=None, validator=v.optional(_of_type(ParentSpec)))
    incremental: IncrementalSpec | None = field(
        default=None, validator=v.optional(_of_type(IncrementalSpec))
    )
    #: a limit for this resource's requests, on top of the connector's
    rate_limit: RateLimit | None = field(default=None, validator=v.optional(_of_type(RateLimit)))
    description: str = field(default="")
    #: rules for this resource's responses, tried before the connector's
    response_rules: tuple[ResponseRule, ...] = field(
        default=(), converter=tuple, validator=_response_rules
    )

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
        if needs == "cursor_path" and last_record_field(self.pagination.cursor_path, None):
            needs = None  # the last record's field ($[-1].id): read from the list itself
        if value is None and getattr(self.pagination, "end_path", None) is not None:
            needs = "end_path"
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
    properties (mark secrets with ``"writeOnly": true``); ``required_settings`` names
    those that have no default and must be set.
    """

    name: str = field(validator=_name)
    package: str = field(validator=_non_empty_str)
    resources: tuple[Resource, ...] = field(converter=tuple)
    auth: AuthSpec | None = field(default=None)
    base_url: str = field(default="https://api.example.com", validator=_non_empty_str)
    retry: RetryPolicy = field(default=DEFAULT_RETRY, validator=_of_type(RetryPolicy))
    response_rules: tuple[ResponseRule, ...] = field(
        default=(), converter=tuple, validator=_response_rules
    )
    settings: Mapping[str, Any] = field(factory=dict, converter=_MAPPING)
    #: names in ``settings`` the user must set (a one-line error names each one missing)
    required_settings: tuple[str, ...] = field(default=(), converter=tuple)
    #: headers sent with every request of every resource (templates, like a resource's)
    headers: Mapping[str, str] = field(factory=dict, converter=_MAPPING)
    #: the API's limit for all requests of a run (the ``rate_limit`` setting overrides it)
    rate_limit: RateLimit | None = field(default=None, validator=v.optional(_of_type(RateLimit)))
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
            owner = quarantined_by(resource.name)
            if owner in seen:
                raise ValueError(
                    f"Connector.resources of {self.name!r} declares {resource.name!r}, the "
                    f"name of the table that keeps resource {owner!r}'s records breaking its "
                    "schema; rename the resource"
                )
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

    @required_settings.validator
    def _check_required(self, attribute: attrs.Attribute, value: tuple) -> None:
        for name in value:
            if name not in self.settings:
                raise ValueError(
                    f"Connector.required_settings of {self.name!r} names {name!r}, which "
                    "Connector.settings does not declare; add it to settings"
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
