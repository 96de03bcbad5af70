"""A dlt ``rest_api`` config turned into a Headwater declaration.

:func:`convert_rest_api` takes the dict ``dlt.sources.rest_api.rest_api_source`` takes
(``client``, ``resource_defaults``, ``resources``) and returns a
:class:`~headwater.convert.model.Converted`: a :class:`~headwater.spec.Connector`, a
JSON Schema per resource (from its ``columns`` hints, else a permissive one holding the
primary key), the setting values the config spelled out, and notes saying what was
understood. Each rest_api auth and paginator type maps onto a declared kind:

=================================  ============================================
rest_api                           Headwater
=================================  ============================================
auth ``bearer``                    :class:`~headwater.spec.BearerAuth`
auth ``api_key``                   :class:`~headwater.spec.ApiKeyAuth`
auth ``http_basic``                :class:`~headwater.spec.BasicAuth`
auth ``oauth2_client_credentials`` :class:`~headwater.spec.OAuth2ClientCredentials`
paginator ``offset``               :class:`~headwater.spec.OffsetPagination`
paginator ``page_number``          :class:`~headwater.spec.PageNumberPagination`
paginator ``cursor``               :class:`~headwater.spec.CursorPagination`
paginator ``json_link``            :class:`~headwater.spec.NextLinkPagination`
paginator ``header_link``          :class:`~headwater.spec.LinkHeaderPagination`
paginator ``header_cursor``        :class:`~headwater.spec.HeaderCursorPagination`
paginator ``single_page``          :class:`~headwater.spec.SinglePage`
=================================  ============================================

A dlt paginator instance (``OffsetPaginator(limit=10)``, any of dlt's own paginator
classes) is read from its attributes as the mapping of its type; a paginator class of
one's own is refused, naming it.

A key Headwater does not support is one :class:`~headwater.errors.ConfigError` naming
it; nothing is dropped silently. The seeds' liberties (``"type": "oauth2"``,
``token_url``/``scope``/``grant_type`` in the auth, ``{{ response... }}`` cursor
templates, ``limit`` on a cursor paginator, a ``{parent_id}`` placeholder) are accepted
and each is reported in :attr:`Converted.notes`.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from headwater.convert.model import Converted, SettingRef
from headwater.convert.templates import response_field, stop_field
from headwater.errors import ConfigError
from headwater.settings import env_var
from headwater.spec import (
    ApiKeyAuth,
    BasicAuth,
    BearerAuth,
    Connector,
    CursorPagination,
    HeaderCursorPagination,
    IncrementalSpec,
    LinkHeaderPagination,
    NextLinkPagination,
    OAuth2ClientCredentials,
    OAuth2RefreshToken,
    OffsetPagination,
    PageNumberPagination,
    ParentSpec,
    Resource,
    ResponseRule,
    SinglePage,
    last_record_field,
)

__all__ = ["DLT_TYPES", "convert_rest_api", "record_schema"]

_CONFIG_KEYS = {"client", "resources", "resource_defaults"}
_CLIENT_KEYS = {"base_url", "headers", "auth", "paginator"}
_RESOURCE_KEYS = {
    "name",
    "endpoint",
    "primary_key",
    "write_disposition",
    "columns",
    "include_from_parent",
    "selected",
    "table_name",
    "parallelized",
}
_ENDPOINT_KEYS = {
    "path",
    "method",
    "params",
    "json",
    "paginator",
    "data_selector",
    "response_actions",
    "incremental",
    "headers",
}
#: rest_api keys Headwater knows but cannot honour, and why (the error says it)
_UNSUPPORTED = {
    "session": "Headwater makes its own session (retries, limits, redaction)",
    "data": "a form or raw body; Headwater sends JSON bodies (json)",
    "auth": "auth per endpoint; declare one auth under client",
    "max_table_nesting": "nesting follows dlt's default",
    "processing_steps": "add them to the source's resources with add_map/add_filter",
    "table_format": "table formats are a destination concern",
    "file_format": "file formats are a destination concern",
    "schema_contract": "the JSON Schema of each resource is its contract",
    "merge_key": "Headwater merges on the primary key",
    "references": "not declared by Headwater",
    "nested_hints": "not declared by Headwater",
    "has_more_path": "Headwater stops on an empty or short page, or a missing cursor",
    "maximum_offset": "bound a run with the max_pages setting",
    "maximum_page": "bound a run with the max_pages setting",
    "access_token": "a fixed access token: use auth type bearer",
    "end_value": "a fixed end is a backfill: headwater run NAME --start A --end B",
    "convert": "a Python callable",
    "row_order": "not declared by Headwater",
    "range_start": "not declared by Headwater",
    "range_end": "not declared by Headwater",
    "on_cursor_value_missing": "not declared by Headwater",
}

#: dlt data types -> JSON Schema of a column (``columns`` hints)
DLT_TYPES: dict[str, dict[str, Any]] = {
    "text": {"type": "string"},
    "bigint": {"type": "integer"},
    "wei": {"type": "integer"},
    "double": {"type": "number"},
    # exact numbers a JSON Schema cannot declare: loaded as DOUBLE and BIGINT (a note)
    "decimal": {"type": "number"},
    "bool": {"type": "boolean"},
    "timestamp": {"type": "string", "format": "date-time"},
    "date": {"type": "string", "format": "date"},
    "time": {"type": "string", "format": "time"},
    # an object or a list kept in one JSON column (not unnested)
    "json": {"type": ["object", "array"]},
}
#: dlt data types a JSON Schema cannot declare: Headwater loads them as DOUBLE, BIGINT
_EXACT_NUMBERS = {"decimal": "DOUBLE", "wei": "BIGINT"}
_COLUMN_KEYS = {"name", "data_type", "nullable", "primary_key", "description"}
_PLAIN_PATH = re.compile(r"^\$\.([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)$")
_PLACEHOLDER = re.compile(r"\{([^{}]+)\}")
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
#: header and query parameter names whose literal values are credentials
#: (not a paging token, nor a key that only names a field: sort_key, primary_key)
_SECRET_NAME = re.compile(
    r"(?<!page)(?<!page_)(?<!next)(?<!next_)(?<!continuation)(?<!continuation_)token"
    r"|^key$|(?:api|access|secret|app|private|client|subscription|license|consumer|master"
    r"|dev|auth|signing)[-_]?key"
    r"|secret|passw|auth(?!or(?!iz))|session|cookie|signature|credential|^sig$",
    re.IGNORECASE,
)
#: OAuth2 token request fields that are not credentials
_HARMLESS_FORM = {"scope", "audience", "resource", "grant_type"}
#: settings every connector (or an auth kind) already has: a derived name never takes one
_TAKEN_SETTINGS = {
    "base_url",
    "token",
    "api_key",
    "username",
    "password",
    "client_id",
    "client_secret",
    "token_url",
    "scope",
    "refresh_token",
    "validation",
    "naming",
    "rate_limit",
    "max_pages",
}
#: the setting of each auth field, per auth kind
_AUTH_FIELDS = {
    "bearer": {"token": "token"},
    "api_key": {"api_key": "api_key"},
    "http_basic": {"username": "username", "password": "password"},
    "oauth2_client_credentials": {"client_id": "client_id", "client_secret": "client_secret"},
}


_INCREMENTAL_PLACEHOLDER = re.compile(r"\{incremental\.[a-z_]+\}")


def _incremental_placeholder(where: str, value: str, param: str | None) -> ConfigError:
    start = param or "<the query parameter>"
    return ConfigError(
        f"{where} {value!r}: dlt's {{incremental...}} placeholders are not supported; "
        f"declare incremental: {{start_param: {start}, cursor_path: <the record's cursor "
        "field>, initial_value: <the first start>} on the endpoint instead"
    )


def _unsupported(where: str, key: str) -> ConfigError:
    why = _UNSUPPORTED.get(key)
    if why:
        return ConfigError(f"{where}.{key} is not supported by Headwater ({why}); remove it")
    return ConfigError(f"{where}.{key} is not a rest_api key Headwater knows; remove or fix it")


def _check_keys(value: Any, allowed: set[str], where: str) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where} must be a mapping, got {type(value).__name__}")
    for key in value:
        if key not in allowed:
            raise _unsupported(where, str(key))
    return dict(value)


def _field(value: Any, where: str) -> str | tuple[str, ...]:
    """A rest_api JSONPath as a :data:`~headwater.spec.FieldPath` (``$.a.b`` -> ``a.b``)."""
    if isinstance(value, (list, tuple)) and value and all(isinstance(k, str) for k in value):
        return tuple(value)
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{where} must be a field path such as 'data' or '$.data.items'")
    match = _PLAIN_PATH.match(value)
    if match:
        return match.group(1)
    if not value.startswith("$") and any(c in value for c in "[]*?"):
        # rest_api reads every path as a JSONPath: "data[-1].id" is one, where a
        # Headwater path without "$" would be the keys "data[-1]" and "id"
        return "$." + value
    return value


def _escape(text: str, keep: set[str] = frozenset()) -> str:  # type: ignore[assignment]
    """A literal string as a Headwater template: braces doubled, but ``{name}`` of the
    placeholders in ``keep``."""
    out = text.replace("{", "{{").replace("}", "}}")
    for name in keep:
        out = out.replace("{{" + name + "}}", "{" + name + "}")
    return out


def _column_hints(columns: Any) -> dict[str, Any]:
    """rest_api ``columns`` (a mapping or a list of column schemas) by column name."""
    if isinstance(columns, list):
        return {c.get("name"): c for c in columns if isinstance(c, Mapping)}
    return dict(columns) if isinstance(columns, Mapping) else {}


def record_schema(
    name: str, columns: Any, primary_key: tuple[str, ...], where: str
) -> dict[str, Any]:
    """The JSON Schema of one record from rest_api ``columns`` hints (a permissive
    object schema holding the primary key when there are none)."""
    if isinstance(columns, list):
        columns = {c.get("name"): c for c in columns if isinstance(c, Mapping)}
    if columns is None:
        columns = {}
    if not isinstance(columns, Mapping):
        raise ConfigError(f"{where}.columns must be a mapping of column name to hints")
    properties: dict[str, Any] = {}
    required: list[str] = []
    for column, hints in columns.items():
        hints = _check_keys(hints or {}, _COLUMN_KEYS, f"{where}.columns.{column}")
        data_type = hints.get("data_type")
        if data_type is not None and data_type not in DLT_TYPES:
            raise ConfigError(
                f"{where}.columns.{column}.data_type {data_type!r} is not supported; use one "
                f"of {', '.join(DLT_TYPES)}"
            )
        prop = copy.deepcopy(DLT_TYPES[data_type]) if data_type else {}
        nullable = hints.get("nullable", True) and column not in primary_key
        if nullable and "type" in prop:
            types = prop["type"]
            prop["type"] = [*types, "null"] if isinstance(types, list) else [types, "null"]
        if not nullable:
            required.append(column)
        if hints.get("description"):
            prop["description"] = hints["description"]
        properties[column] = prop
    for key in primary_key:
        if key not in properties:
            properties[key] = {}
        if key not in required:
            required.append(key)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": name,
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": True,
    }


class _Conversion:
    """One conversion: the notes and settings gathered on the way."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.notes: list[str] = []
        self.settings: dict[str, Any] = {}
        self.references: dict[str, str] = {}
        self.extra_settings: dict[str, Any] = {}

    # ---------------------------------------------------------------- values

    def setting(self, setting: str, value: Any, where: str) -> None:
        """Record the value a config gives for ``setting``."""
        if value is None:
            return
        if isinstance(value, SettingRef):
            if value.name != setting:
                self.references[setting] = value.name
                self.notes.append(
                    f"understood {where}: {value} as the {setting} setting "
                    f"(set {setting}, or {value.name} where the config reads it)"
                )
            return
        if not isinstance(value, (str, int, float)):
            raise ConfigError(f"{where} must be a string, got {type(value).__name__}")
        self.settings[setting] = str(value)

    def secret_setting(self, key: str, value: Any, where: str, kind: str) -> str:
        """The template of a value read from a secret setting: a ``dlt.secrets[...]``
        reference, or a credential written literally under a secret-looking header or
        query parameter ``key`` (its value is kept for an in-memory run, never written
        to a package)."""
        if isinstance(value, SettingRef):
            name = value.name
            self.extra_settings.setdefault(
                name, {"type": "string", **({"writeOnly": True} if value.secret else {})}
            )
            return "{" + name + "}"
        name = re.sub(r"[^a-z0-9]+", "_", key.lower()).strip("_") or kind
        if not name[0].isalpha() or name in _TAKEN_SETTINGS:
            name = f"{kind}_{name}"
        base, number = name, 1
        # two credentials whose names read alike (X-Api-Key, x_api_key) keep their own
        # setting unless they are one value
        while name in self.settings and self.settings[name] != str(value):
            number += 1
            name = f"{base}_{number}"
        self.extra_settings.setdefault(name, {"type": "string", "writeOnly": True})
        self.settings[name] = str(value)
        self.notes.append(
            f"understood {where} as a credential: it is the secret setting {name} "
            f"(set {env_var(self.name, name)}); the value in the config is not written "
            "to the package"
        )
        return "{" + name + "}"

    def body(self, raw: Any, where: str, keep: set[str]) -> Any:
        """A JSON body's template: strings escaped (but the ``{placeholders}`` in
        ``keep``), and a credential written under a secret-looking key, or read from
        ``dlt.secrets``, made a secret setting (a body's strings are templates too)."""
        if isinstance(raw, Mapping):
            out: dict[str, Any] = {}
            for key, value in raw.items():
                if isinstance(value, SettingRef) or (
                    _SECRET_NAME.search(str(key))
                    and isinstance(value, (str, int))
                    and not isinstance(value, bool)
                    and value != ""
                ):
                    out[key] = self.secret_setting(str(key), value, f"{where}.{key}", "body")
                else:
                    out[key] = self.body(value, f"{where}.{key}", keep)
            return out
        if isinstance(raw, list):
            return [self.body(v, f"{where}[{i}]", keep) for i, v in enumerate(raw)]
        if isinstance(raw, SettingRef):
            return self.secret_setting(raw.name, raw, where, "body")
        return _escape(raw, keep) if isinstance(raw, str) else raw

    def headers(self, raw: Any, where: str, keep: set[str]) -> dict[str, str]:
        """Header templates: literal values escaped, credentials made secret settings."""
        if raw is None:
            return {}
        if not isinstance(raw, Mapping):
            raise ConfigError(f"{where} must be a mapping of header name to value")
        out: dict[str, str] = {}
        for key, value in raw.items():
            key = str(key)
            if isinstance(value, SettingRef) or (
                _SECRET_NAME.search(key) and value not in (None, "")
            ):
                out[key] = self.secret_setting(key, value, f"{where}.{key}", "header")
            else:
                out[key] = _escape(str(value), keep)
        return out

    # ---------------------------------------------------------------- auth

    def auth(self, spec: Any, base_url: str) -> Any:
        where = "client.auth"
        if spec is None:
            return None
        if not isinstance(spec, Mapping):
            raise ConfigError(
                f"{where} must be a mapping with a type (bearer, api_key, http_basic, "
                f"oauth2_client_credentials), got {type(spec).__name__}"
            )
        kind = spec.get("type", "bearer")
        if kind == "oauth2":
            self.notes.append(
                f'understood {where}.type "oauth2" as "oauth2_client_credentials" '
                "(rest_api's name for the client-credentials grant)"
            )
            return self._oauth2(spec, base_url, liberal=True)
        if kind == "oauth2_client_credentials":
            return self._oauth2(spec, base_url, liberal=False)
        fields = _AUTH_FIELDS.get(kind)
        if fields is None:
            raise ConfigError(
                f"{where}.type {kind!r} is not a rest_api auth type Headwater supports; use "
                "bearer, api_key, http_basic or oauth2_client_credentials"
            )
        allowed = {"type", *fields} | ({"name", "location"} if kind == "api_key" else set())
        _check_keys(spec, allowed, where)
        for key, setting in fields.items():
            self.setting(setting, spec.get(key), f"{where}.{key}")
        if kind == "bearer":
            return BearerAuth()
        if kind == "http_basic":
            return BasicAuth()
        location = spec.get("location", "header")
        if location == "param":
            location = "query"
        if location not in ("header", "query"):
            raise ConfigError(
                f"{where}.location {location!r} is not supported by Headwater; use header or query"
            )
        return ApiKeyAuth(name=spec.get("name") or "Authorization", location=location)

    def _oauth2(self, spec: Mapping[str, Any], base_url: str, liberal: bool) -> Any:
        where = "client.auth"
        allowed = {
            "type",
            "access_token_url",
            "client_id",
            "client_secret",
            "access_token_request_data",
            "default_token_expiration",
        }
        if liberal:
            allowed |= {"token_url", "scope", "grant_type"}
        _check_keys(spec, allowed, where)
        form = dict(spec.get("access_token_request_data") or {})
        scope = spec.get("scope", form.pop("scope", None))
        grant = spec.get("grant_type", form.pop("grant_type", "client_credentials"))
        cls: Any = OAuth2ClientCredentials
        if grant == "refresh_token":
            cls = OAuth2RefreshToken
            self.notes.append(
                f'understood {where}.grant_type "refresh_token" as the OAuth2 refresh-token '
                "grant (the refresh_token setting)"
            )
        elif grant == "account_credentials":
            # Zoom's server-to-server grant: client credentials plus account_id
            form["grant_type"] = grant
            self.notes.append(
                f'understood {where}.grant_type "account_credentials" (Zoom\'s server-to-server '
                "grant) as client credentials sending grant_type=account_credentials"
            )
        elif grant != "client_credentials":
            raise ConfigError(
                f"{where}.grant_type {grant!r} is not supported; use client_credentials, "
                "account_credentials or refresh_token"
            )
        key = "access_token_url" if "access_token_url" in spec else "token_url"
        if key == "token_url" and "token_url" in spec:
            self.notes.append(f"understood {where}.token_url as access_token_url")
        token_url = spec.get(key)
        for field_name in ("client_id", "client_secret"):
            self.setting(field_name, spec.get(field_name), f"{where}.{field_name}")
        if isinstance(scope, SettingRef):
            self.setting("scope", scope, f"{where}.scope")
            scope = None
        if "default_token_expiration" in spec:
            self.notes.append(
                f"understood {where}.default_token_expiration as the token's lifetime when the "
                "token endpoint gives no expires_in (Headwater renews before expiry and on a 401)"
            )
        for form_key in form:
            # a field that is not a credential (Zoom's account_id) stays as written
            name = str(form_key)
            if name not in _HARMLESS_FORM and (
                _SECRET_NAME.search(name) or "assertion" in name.lower()
            ):
                raise ConfigError(
                    f"{where}.access_token_request_data.{form_key} may be a credential and "
                    "Headwater never writes one into a package; remove it (the token request "
                    "sends client_id and client_secret from settings; fields that are not "
                    "credentials, such as scope or account_id, are kept)"
                )
        extra = {str(k): str(v) for k, v in form.items()}
        aliases: tuple[str, ...] = ()
        if isinstance(token_url, SettingRef):
            if token_url.name != "token_url":
                aliases = (token_url.name,)
                self.notes.append(
                    f"understood {where}.{key}: {token_url} as the token_url setting, also "
                    f"read as {token_url.name}"
                )
            token_url = None
        elif token_url is not None:
            if not isinstance(token_url, str):
                raise ConfigError(f"{where}.{key} must be a URL")
            if "@" in (urlsplit(token_url).netloc or ""):
                raise ConfigError(
                    f"{where}.{key} holds credentials (user:password@host), which Headwater "
                    "never writes into a package; remove them from the URL (the token request "
                    "sends client_id and client_secret from settings)"
                )
            if base_url and token_url.startswith(base_url.rstrip("/") + "/"):
                relative = token_url[len(base_url.rstrip("/")) :]
                self.notes.append(
                    f"understood {where}.{key} {token_url!r} as {{base_url}}{relative}: the "
                    "token endpoint follows the base_url setting"
                )
                token_url = "{base_url}" + _escape(relative)
            else:
                token_url = _escape(token_url)
        elif not liberal:
            raise ConfigError(f"{where}.access_token_url is missing; give the token endpoint")
        return cls(
            token_url=token_url,
            scope=scope if isinstance(scope, str) and scope else None,
            extra_form=extra,
            token_url_aliases=aliases,
            client_auth="form",
        )

    # ---------------------------------------------------------------- pagination

    def pagination(self, spec: Any, where: str, has_selector: bool) -> Any:
        if (
            spec is None
            or spec == "auto"
            or (isinstance(spec, Mapping) and spec.get("type") == "auto")
        ):
            raise ConfigError(
                f"{where} is not given: rest_api guesses a paginator from the first response; "
                'name it (e.g. "paginator": "single_page" or {"type": "offset", ...})'
            )
        if isinstance(spec, str):
            spec = {"type": spec}
        if not isinstance(spec, Mapping):
            spec = _paginator_instance(spec, where)
        kind = spec.get("type")
        method = getattr(self, f"_page_{kind}", None)
        if kind == "json_response":
            method = self._page_json_link
        if method is None:
            raise ConfigError(
                f"{where}.type {kind!r} is not a rest_api paginator; use offset, page_number, "
                "cursor, json_link, header_link, header_cursor or single_page"
            )
        return method(dict(spec), where, has_selector)

    def _page_single_page(self, spec: dict, where: str, has_selector: bool) -> Any:
        _check_keys(spec, {"type"}, where)
        return SinglePage()

    def _page_offset(self, spec: dict, where: str, has_selector: bool) -> Any:
        _check_keys(
            spec,
            {
                "type",
                "limit",
                "offset",
                "offset_param",
                "limit_param",
                "total_path",
                "stop_after_empty_page",
                "offset_body_path",
                "limit_body_path",
            },
            where,
        )
        if "limit" not in spec:
            raise ConfigError(f"{where}.limit is missing: the offset paginator needs a page size")
        if spec.get("offset", 0) != 0:
            raise ConfigError(f"{where}.offset must be 0 (Headwater starts at the first record)")
        body = bool(spec.get("offset_body_path") or spec.get("limit_body_path"))
        if body and not (spec.get("offset_body_path") and spec.get("limit_body_path")):
            raise ConfigError(f"{where}: give both offset_body_path and limit_body_path")
        total = self._total(spec, where, has_selector)
        self._empty_page(spec, where, default=True)
        return OffsetPagination(
            limit=spec["limit"],
            offset_param=spec.get("offset_body_path") or spec.get("offset_param") or "offset",
            limit_param=spec.get("limit_body_path") or spec.get("limit_param") or "limit",
            total_path=total,
            location="body" if body else "query",
        )

    def _total(self, spec: dict, where: str, has_selector: bool) -> Any:
        if "total_path" in spec:
            return (
                None
                if spec["total_path"] is None
                else _field(spec["total_path"], f"{where}.total_path")
            )
        if not has_selector:
            self.notes.append(
                f"understood {where} without total_path as reading no total: the body is the "
                "list of records (rest_api would look for 'total')"
            )
            return None
        return "total"

    def _empty_page(self, spec: dict, where: str, default: bool) -> None:
        value = spec.get("stop_after_empty_page", default)
        if value is not default:
            self.notes.append(
                f"understood {where}.stop_after_empty_page {value} as Headwater's rule: stop on "
                "an empty page, or when the total or cursor says so"
            )

    def _page_page_number(self, spec: dict, where: str, has_selector: bool) -> Any:
        _check_keys(
            spec,
            {
                "type",
                "base_page",
                "page",
                "page_param",
                "total_path",
                "stop_after_empty_page",
                "page_body_path",
            },
            where,
        )
        base = spec.get("base_page") or 0
        start = spec.get("page", base) if spec.get("page") is not None else base
        total = self._total(spec, where, has_selector)
        self._empty_page(spec, where, default=True)
        return PageNumberPagination(
            page_param=spec.get("page_body_path") or spec.get("page_param") or "page",
            start=start,
            total_pages_path=total,
            location="body" if spec.get("page_body_path") else "query",
        )

    def _page_cursor(self, spec: dict, where: str, has_selector: bool) -> Any:
        allowed = {
            "type",
            "cursor_path",
            "cursor_param",
            "cursor_body_path",
            "stop_after_empty_page",
            # the seeds' liberties
            "cursor_value",
            "stop_condition",
            "limit",
        }
        _check_keys(spec, allowed, where)
        self._empty_page(spec, where, default=False)
        path: Any
        if "cursor_value" in spec:
            if "cursor_path" in spec:
                raise ConfigError(f"{where}: give cursor_path or cursor_value, not both")
            keys = response_field(spec["cursor_value"], f"{where}.cursor_value")
            if "stop_condition" in spec:
                stop = stop_field(spec["stop_condition"], f"{where}.stop_condition")
                if stop != keys:
                    raise ConfigError(
                        f"{where}.stop_condition {spec['stop_condition']!r} reads another field "
                        "than cursor_value; Headwater stops when the cursor field is empty"
                    )
            path = keys[0] if len(keys) == 1 else keys
            last = keys[-1].lower()
            if ("link" in last or "url" in last) and "cursor_param" not in spec:
                self.notes.append(
                    f"understood {where}.cursor_value {spec['cursor_value']!r} as the next "
                    f"page's URL (next-link pagination on {'.'.join(keys)!r}), ending when it "
                    "is empty"
                )
                if "limit" in spec:
                    raise ConfigError(f"{where}.limit cannot be sent with a next-page URL")
                return NextLinkPagination(next_path=path)
            self.notes.append(
                f"understood {where}.cursor_value {spec['cursor_value']!r} as cursor_path "
                f"{'.'.join(keys)!r}"
            )
        elif "stop_condition" in spec:
            raise ConfigError(f"{where}.stop_condition needs cursor_value; use cursor_path alone")
        elif "cursor_path" in spec:
            path = _field(spec["cursor_path"], f"{where}.cursor_path")
        elif spec.get("cursor_param") and spec["cursor_param"] != "cursor":
            path = spec["cursor_param"]
            self.notes.append(
                f"understood {where} without cursor_path as reading the cursor from the "
                f"response field {path!r}, named like cursor_param (rest_api would read "
                "'cursors.next'; add cursor_path to say otherwise)"
            )
        else:
            path = "cursors.next"
        page_size = None
        if "limit" in spec:
            page_size = spec["limit"]
            self.notes.append(
                f"understood {where}.limit {page_size} as a page size sent as ?limit={page_size}"
            )
        return CursorPagination(
            cursor_path=path,
            cursor_param=spec.get("cursor_body_path") or spec.get("cursor_param") or "cursor",
            page_size=page_size,
            page_size_param="limit" if page_size else "page_size",
            location="body" if spec.get("cursor_body_path") else "query",
        )

    def _page_json_link(self, spec: dict, where: str, has_selector: bool) -> Any:
        _check_keys(spec, {"type", "next_url_path"}, where)
        return NextLinkPagination(next_path=_field(spec.get("next_url_path") or "next", where))

    def _page_header_link(self, spec: dict, where: str, has_selector: bool) -> Any:
        _check_keys(spec, {"type", "links_next_key"}, where)
        return LinkHeaderPagination(rel=spec.get("links_next_key") or "next")

    def _page_header_cursor(self, spec: dict, where: str, has_selector: bool) -> Any:
        _check_keys(spec, {"type", "cursor_key", "cursor_param"}, where)
        return HeaderCursorPagination(
            header=spec.get("cursor_key") or "next",
            cursor_param=spec.get("cursor_param") or "cursor",
        )

    # ---------------------------------------------------------------- resources

    def resource(
        self,
        raw: Any,
        defaults: Mapping[str, Any],
        client_paginator: Any,
        previous: Resource | None,
        index: int,
    ) -> tuple[Resource, dict[str, Any]]:
        if isinstance(raw, str):
            raw = {"name": raw, "endpoint": {"path": raw}}
        where = f"resources[{index}]"
        if not isinstance(raw, Mapping):
            raise ConfigError(
                f"{where} must be a name or a mapping (a DltResource cannot be converted)"
            )
        _check_keys(raw, _RESOURCE_KEYS, where)
        _check_keys(defaults, _RESOURCE_KEYS - {"name"}, "resource_defaults")
        merged = {**defaults, **raw}
        endpoint = raw.get("endpoint", raw.get("name"))
        if isinstance(endpoint, str):
            endpoint = {"path": endpoint}
        default_endpoint = defaults.get("endpoint") or {}
        if isinstance(default_endpoint, str):
            default_endpoint = {"path": default_endpoint}
        _check_keys(default_endpoint, _ENDPOINT_KEYS, "resource_defaults.endpoint")
        endpoint = {
            **default_endpoint,
            **_check_keys(endpoint or {}, _ENDPOINT_KEYS, f"{where}.endpoint"),
        }
        own = raw.get("endpoint")
        own_params = (own.get("params") or {}) if isinstance(own, Mapping) else {}
        # rest_api merges the default params with the resource's, key by key
        params = {**(default_endpoint.get("params") or {}), **own_params}
        name = merged.get("name")
        if not isinstance(name, str) or not name:
            raise ConfigError(f"{where}.name is missing")
        where = f"resources[{name!r}]"
        table = name
        if _NAME.match(name) is None:
            table = re.sub(r"[^a-z0-9_]+", "_", name.lower()).strip("_") or "resource"
            if not table[0].isalpha():
                table = "r_" + table
            self.notes.append(f"understood resource {name!r} as table {table!r}")
        if merged.get("table_name") not in (None, name):
            raise ConfigError(
                f"{where}.table_name differs from the name; name the resource as its table"
            )
        if merged.get("selected") is False:
            raise ConfigError(
                f"{where}.selected false is not supported: Headwater loads every "
                "declared resource; remove it"
            )
        if merged.get("parallelized"):
            self.notes.append(
                f"understood {where}.parallelized as Headwater's own concurrency (the "
                "parallel_pages and max_workers settings)"
            )
        path = endpoint.get("path") or name
        if not isinstance(path, str) or re.match(r"^[a-z]+://", path):
            raise ConfigError(f"{where}.endpoint.path must be a path below base_url, got {path!r}")
        if not path.startswith("/"):
            path = "/" + path
        method = str(endpoint.get("method") or "GET").upper()
        if method not in ("GET", "POST"):
            raise ConfigError(
                f"{where}.endpoint.method {method!r} is not supported; use GET or POST"
            )

        parent, path, plain_params, incremental = self._params(
            params, path, where, previous, merged.get("include_from_parent")
        )
        selector: Any = None
        if "data_selector" not in endpoint:
            raise ConfigError(
                f"{where}.endpoint.data_selector is missing: rest_api looks for the first list "
                'in the response; name its field (e.g. "data"), or "$" when the body is '
                "the list"
            )
        if endpoint["data_selector"] not in (None, "$", "$[*]"):
            selector = _field(endpoint["data_selector"], f"{where}.endpoint.data_selector")
        pagination = self.pagination(
            endpoint.get("paginator", client_paginator),
            f"{where}.endpoint.paginator",
            selector is not None,
        )
        if "incremental" in endpoint:
            if incremental is not None:
                raise ConfigError(f"{where}: declare incremental once (endpoint or params)")
            incremental = self._incremental(
                endpoint["incremental"], None, f"{where}.endpoint.incremental"
            )
        rules = self._actions(
            endpoint.get("response_actions"), f"{where}.endpoint.response_actions"
        )
        primary_key = merged.get("primary_key")
        if isinstance(primary_key, list):
            primary_key = tuple(primary_key)
        disposition = merged.get("write_disposition", "append")
        if isinstance(disposition, Mapping):
            strategy = disposition.get("strategy", "delete-insert")
            if strategy != "delete-insert":
                raise ConfigError(
                    f"{where}.write_disposition.strategy {strategy!r} is not supported; use "
                    "delete-insert (merge on the primary key: the default), or disposition "
                    "append or replace"
                )
            disposition = disposition.get("disposition", "append")
        if disposition not in ("merge", "append", "replace"):
            raise ConfigError(f"{where}.write_disposition {disposition!r} is not supported")
        placeholders = {parent.placeholder} if parent else set()
        placeholders |= set(self.extra_settings)
        body = endpoint.get("json")
        resource = Resource(
            name=table,
            path=path,
            schema=f"schemas/{table}.json",
            data_selector=selector,
            pagination=pagination,
            primary_key=primary_key,
            write_disposition=disposition,
            params=plain_params,
            method=method,
            headers=self.headers(
                endpoint.get("headers"), f"{where}.endpoint.headers", placeholders
            ),
            json=None if body is None else self.body(body, f"{where}.endpoint.json", placeholders),
            parent=parent,
            incremental=incremental,
            response_rules=rules,
        )
        pk = resource.primary_key_columns
        schema = record_schema(table, merged.get("columns"), pk, where)
        for column, hints in _column_hints(merged.get("columns")).items():
            data_type = hints.get("data_type")
            if data_type in _EXACT_NUMBERS:
                self.notes.append(
                    f"{where}.columns.{column}: data_type {data_type} is loaded as a "
                    f"{_EXACT_NUMBERS[data_type]} column (a JSON Schema types numbers, not "
                    "exact decimals): change the table's column type after the first load "
                    "if you need exact values"
                )
        if incremental is not None and incremental.cursor_field not in schema["properties"]:
            # the simulator serves (and filters by) declared fields only: without the
            # cursor an incremental resource would be served no records at all
            cursor = incremental.cursor_field
            schema["properties"][cursor] = _cursor_schema(incremental.initial)
            schema["required"].append(cursor)
            self.notes.append(
                f"{where}: the incremental cursor {cursor} is declared in the schema as "
                f"{_described(schema['properties'][cursor])}, from its initial_value"
            )
        last = (
            last_record_field(pagination.cursor_path, selector)
            if isinstance(pagination, CursorPagination)
            else None
        )
        if last is not None and last not in schema["properties"]:
            # the simulator serves declared fields only: records without the field the
            # cursor is read from would end every resource after its first page
            schema["properties"][last] = {}
            schema["required"].append(last)
            self.notes.append(
                f"{where}: the cursor is the last record's {last} "
                f"({pagination.cursor_path}), declared in the schema"
            )
        return resource, schema

    def _params(
        self,
        params: Mapping[str, Any],
        path: str,
        where: str,
        previous: Resource | None,
        include: Any,
    ) -> tuple[ParentSpec | None, str, dict[str, Any], IncrementalSpec | None]:
        parent: ParentSpec | None = None
        plain: dict[str, Any] = {}
        incremental = None
        for key, value in (params or {}).items():
            if isinstance(value, Mapping) and value.get("type") == "resolve":
                _check_keys(value, {"type", "resource", "field"}, f"{where}.endpoint.params.{key}")
                if parent is not None:
                    raise ConfigError(f"{where}: Headwater resolves one parent field per resource")
                if "{" + key + "}" not in path:
                    raise ConfigError(
                        f"{where}.endpoint.params.{key} resolves a query parameter; Headwater "
                        f"puts the parent's field in the path: use {{{key}}} in the path"
                    )
                parent = self._parent(value["resource"], value["field"], key, where, include)
            elif isinstance(value, Mapping) and value.get("type") == "incremental":
                incremental = self._incremental(value, key, f"{where}.endpoint.params.{key}")
            elif isinstance(value, SettingRef) or (
                _SECRET_NAME.search(str(key))
                and isinstance(value, (str, int))
                and not isinstance(value, bool)
                and value != ""
            ):
                plain[key] = self.secret_setting(
                    str(key), value, f"{where}.endpoint.params.{key}", "param"
                )
            elif isinstance(value, str):
                if _INCREMENTAL_PLACEHOLDER.search(value):
                    raise _incremental_placeholder(f"{where}.endpoint.params.{key}", value, key)
                plain[key] = _escape(value)
            else:
                plain[key] = value

        def rewrite(match: re.Match) -> str:
            nonlocal parent
            inner = match.group(1)
            if parent is not None and inner == parent.placeholder:
                return match.group(0)
            parts = inner.split(".")
            if len(parts) == 3 and parts[0] == "resources":
                if parent is not None:
                    raise ConfigError(f"{where}: Headwater resolves one parent field per resource")
                placeholder = f"{parts[1]}_{parts[2]}"
                parent = self._parent(parts[1], parts[2], placeholder, where, include)
                return "{" + placeholder + "}"
            if inner == "parent_id" and parent is None and previous is not None:
                field = previous.primary_key if isinstance(previous.primary_key, str) else "id"
                parent = ParentSpec(
                    resource=previous.name,
                    field=field,
                    placeholder="parent_id",
                    column=f"_{previous.name}_{field}",
                )
                self.notes.append(
                    f"understood {{parent_id}} in {where}.endpoint.path as the {field} of each "
                    f"record of {previous.name!r}, the resource before it (kept as column "
                    f"_{previous.name}_{field})"
                )
                return match.group(0)
            if inner.startswith("incremental."):
                raise _incremental_placeholder(f"{where}.endpoint.path", path, None)
            if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", inner):
                self.extra_settings.setdefault(inner, {"type": "string"})
                self.notes.append(
                    f"understood {{{inner}}} in {where}.endpoint.path as the {inner} setting"
                )
                return match.group(0)
            raise ConfigError(f"{where}.endpoint.path placeholder {{{inner}}} is not understood")

        path = _PLACEHOLDER.sub(rewrite, path)
        if include and parent is None:
            raise ConfigError(f"{where}.include_from_parent needs a parent (a resolve param)")
        return parent, path, plain, incremental

    def _parent(
        self, resource: str, field: str, placeholder: str, where: str, include: Any
    ) -> ParentSpec:
        if not isinstance(field, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", field):
            raise ConfigError(
                f"{where}: the resolved field {field!r} must be a top-level field name"
            )
        column = None
        if include is not None:
            if list(include) != [field]:
                raise ConfigError(
                    f"{where}.include_from_parent {list(include)!r}: Headwater carries the "
                    f"resolved field only; use [{field!r}]"
                )
            column = f"_{resource}_{field}"  # as rest_api names it
        return ParentSpec(resource=resource, field=field, placeholder=placeholder, column=column)

    def _incremental(self, spec: Any, param: str | None, where: str) -> IncrementalSpec:
        allowed = {"cursor_path", "initial_value", "start_param", "end_param", "lag", "type"}
        spec = _check_keys(spec, allowed | set(_UNSUPPORTED), where)
        for key in spec:
            if key not in allowed:
                raise _unsupported(where, key)
        param = param or spec.get("start_param")
        cursor = spec.get("cursor_path")
        if not param or not isinstance(cursor, str):
            raise ConfigError(f"{where} needs cursor_path and start_param")
        cursor = _field(cursor, f"{where}.cursor_path")
        if not isinstance(cursor, str) or "." in cursor:
            raise ConfigError(f"{where}.cursor_path must be a top-level field of the record")
        initial = spec.get("initial_value")
        lag = spec.get("lag")
        if lag is not None and (isinstance(lag, bool) or not isinstance(lag, (int, float))):
            raise ConfigError(f"{where}.lag must be a number of seconds, got {lag!r}")
        end_param = spec.get("end_param")
        if end_param is not None and (not isinstance(end_param, str) or not end_param):
            raise ConfigError(f"{where}.end_param must be a parameter name, got {end_param!r}")
        return IncrementalSpec(
            cursor_field=cursor,
            param=param,
            initial=None if initial is None else str(initial),
            end_param=end_param,
            # dlt's lag: seconds back from the last value, re-read each run
            lookback=f"{int(lag)}s" if lag else None,
        )

    def _actions(self, actions: Any, where: str) -> tuple[ResponseRule, ...]:
        """A resource's ``response_actions`` as its own rules (rest_api applies them to
        that resource's responses only)."""
        rules: list[ResponseRule] = []
        for i, action in enumerate(actions or ()):
            action = _check_keys(action, {"status_code", "content", "action"}, f"{where}[{i}]")
            if action.get("action") not in ("ignore", "retry", "fail"):
                raise ConfigError(
                    f"{where}[{i}].action {action.get('action')!r} is not supported; use ignore"
                )
            code = action.get("status_code")
            rule = ResponseRule(
                action=action["action"],
                status_code=None if code is None else int(code),
                contains=action.get("content"),
            )
            if rule not in rules:
                rules.append(rule)
        return tuple(rules)


_DLT_PAGINATORS = "dlt.sources.helpers.rest_client.paginators"
_JSON_LINK = ("json_link", {"next_url_path": "next_url_path"})
#: dlt's paginator classes: the rest_api type each is, and the attribute holding the
#: value of each key of that type's mapping (``total_path``, ``has_more_path`` and
#: ``stop_after_empty_page`` are read from every class that has them)
_INSTANCE_KEYS: dict[str, tuple[str, dict[str, str]]] = {
    "SinglePagePaginator": ("single_page", {}),
    "OffsetPaginator": (
        "offset",
        {
            "limit": "limit",
            "offset": "initial_value",
            "offset_param": "param_name",
            "limit_param": "limit_param",
            "offset_body_path": "param_body_path",
            "limit_body_path": "limit_body_path",
            "maximum_offset": "maximum_value",
        },
    ),
    "PageNumberPaginator": (
        "page_number",
        {
            "base_page": "base_index",
            "page": "initial_value",
            "page_param": "param_name",
            "page_body_path": "param_body_path",
            "maximum_page": "maximum_value",
        },
    ),
    "JSONLinkPaginator": _JSON_LINK,
    "JSONResponsePaginator": _JSON_LINK,
    "HeaderLinkPaginator": ("header_link", {"links_next_key": "links_next_key"}),
    "JSONResponseCursorPaginator": (
        "cursor",
        {k: k for k in ("cursor_path", "cursor_param", "cursor_body_path")},
    ),
    "HeaderCursorPaginator": ("header_cursor", {k: k for k in ("cursor_key", "cursor_param")}),
}


def _path_text(value: Any) -> Any:
    """A dlt paginator's attribute as a rest_api config value: a JSONPath dlt compiled
    written back as a path string, anything else as it is."""
    if not type(value).__module__.startswith("jsonpath_ng"):
        return value
    text = str(value)  # jsonpath-ng writes it back as a JSONPath
    if not text.startswith("$") and any(c in text for c in "[]*?'\"()"):
        text = "$." + text
    return text


def _paginator_instance(paginator: Any, where: str) -> dict[str, Any]:
    """A dlt paginator instance (``OffsetPaginator(limit=10)``) as the mapping form
    rest_api reads the same way, from its attributes; a class of one's own is refused
    (its behaviour is code, not data)."""
    cls = type(paginator)
    dlt_based = any(
        c.__module__ == _DLT_PAGINATORS and c.__name__ == "BasePaginator" for c in cls.__mro__
    )
    if not dlt_based:
        raise ConfigError(
            f"{where} must be a paginator name, a mapping with a type or a dlt paginator, got "
            f"{cls.__name__}"
        )
    if cls.__module__ != _DLT_PAGINATORS or cls.__name__ not in _INSTANCE_KEYS:
        raise ConfigError(
            f"{where} is {cls.__name__}, a paginator class of its own, which Headwater cannot "
            "read as data; declare a rest_api paginator type (offset, page_number, cursor, "
            "json_link, header_link, header_cursor, single_page), or page it in code with a "
            "headwater_paginator hook in a connector package (headwater new --from-rest-api)"
        )
    attributes = vars(paginator)
    kind, keys = _INSTANCE_KEYS[cls.__name__]
    found = {key: attributes[attribute] for key, attribute in keys.items()}
    # None is meant for total_path (no total); elsewhere it is rest_api's default
    found = {k: _path_text(v) for k, v in found.items() if v is not None}
    if "total_path" in attributes:
        found["total_path"] = _path_text(attributes["total_path"])
    for key in ("has_more_path", "stop_after_empty_page"):
        if attributes.get(key) is not None:
            found[key] = _path_text(attributes[key])
    return {"type": kind, **found}


#: the cursor of a date ``initial_value``: the records' values may be date-times (dlt's
#: GitHub ``since`` pattern: ``2024-01-03`` against ``2024-01-05T01:00:00Z``) or dates;
#: the simulator serves the first branch, date-times
_DATE_OR_DATE_TIME = {
    "anyOf": [{"type": "string", "format": "date-time"}, {"type": "string", "format": "date"}]
}


def _cursor_schema(initial: Any) -> dict[str, Any]:
    """The JSON Schema of an incremental cursor field, from its initial value: a
    date-time string for an ISO date-time, a date-time or date string for a date (a
    date is how a start is written for either), an integer, a number, or else a
    string."""
    if isinstance(initial, bool):
        return {"type": "string"}
    if isinstance(initial, int):
        return {"type": "integer"}
    if isinstance(initial, float):
        return {"type": "number"}
    text = str(initial or "").strip()
    if re.fullmatch(r"-?\d+", text):
        return {"type": "integer"}
    try:
        datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return {"type": "string"}
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        return copy.deepcopy(_DATE_OR_DATE_TIME)
    return {"type": "string", "format": "date-time"}


def _described(prop: Mapping[str, Any]) -> str:
    if prop == _DATE_OR_DATE_TIME:
        return "a date-time or date string"
    return str(prop.get("format") or prop.get("type"))


#: where a config may read a value from a setting (dlt.secrets[...], a parameter of
#: the source function): the key paths, ``*`` standing for any one key or index
_SETTING_PLACES = (
    ("client", "base_url"),
    ("client", "auth", "*"),
    ("client", "auth", "access_token_request_data", "scope"),
    ("client", "headers", "*"),
    ("resources", "*", "endpoint", "params", "*"),
    ("resources", "*", "endpoint", "headers", "*"),
    ("resource_defaults", "endpoint", "params", "*"),
    ("resource_defaults", "endpoint", "headers", "*"),
)


def _check_references(value: Any, path: tuple[str, ...] = ()) -> None:
    """Refuse a value read from a setting where Headwater declares a literal (a page
    size, a path, a JSON body): one line naming the key."""
    if isinstance(value, SettingRef):
        if not any(
            len(place) == len(path)
            and all(p in ("*", key) for p, key in zip(place, path, strict=True))
            for place in _SETTING_PLACES
        ):
            where = path[0] + "".join(f"[{k}]" if k.isdigit() else f".{k}" for k in path[1:])
            raise ConfigError(
                f"{where} is {value}, read when the source runs; Headwater declares this "
                "value: write it as a literal (settings are read in client.base_url, "
                "client.auth, headers and params)"
            )
    elif isinstance(value, Mapping):
        for key, inner in value.items():
            _check_references(inner, (*path, str(key)))
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            _check_references(inner, (*path, str(index)))


def convert_rest_api(
    config: Mapping[str, Any], name: str = "rest_api", *, package: str | None = None
) -> Converted:
    """The Headwater declaration of a ``rest_api`` ``config`` (see the module doc).

    ``name`` is the connector's name (lower case letters, digits, ``_``); ``package``
    the import package that would ship its schema files (default ``headwater_<name>``).
    """
    if not isinstance(config, Mapping):
        raise ConfigError(f"a rest_api config is a mapping, got {type(config).__name__}")
    if not isinstance(name, str) or _NAME.match(name) is None or "__" in name:
        raise ConfigError(
            f"connector name {name!r} must be lower case letters, digits and single _, "
            "starting with a letter (__ separates the parts of SOURCES__<NAME>__<KEY>)"
        )
    _check_keys(config, _CONFIG_KEYS, "config")
    _check_references(config)
    conversion = _Conversion(name)
    client = _check_keys(config.get("client") or {}, _CLIENT_KEYS | {"session"}, "client")
    if "session" in client:
        raise _unsupported("client", "session")
    base_url = client.get("base_url")
    if isinstance(base_url, SettingRef):
        conversion.setting("base_url", base_url, "client.base_url")
        base_url = None
    if base_url is not None and not isinstance(base_url, str):
        raise ConfigError("client.base_url must be a URL")
    if not base_url and not isinstance(client.get("base_url"), SettingRef):
        raise ConfigError("client.base_url is missing; give the API's address")
    if base_url and "@" in (urlsplit(base_url).netloc or ""):
        raise ConfigError(
            "client.base_url holds credentials (user:password@host), which Headwater never "
            "writes into a package; remove them from the URL and move them to client.auth "
            "(type http_basic, username and password)"
        )
    base = (base_url or "https://api.example.com").rstrip("/")
    auth = conversion.auth(client.get("auth"), base)
    headers = conversion.headers(client.get("headers"), "client.headers", set())
    resources_raw = config.get("resources")
    if not isinstance(resources_raw, list) or not resources_raw:
        raise ConfigError("config.resources must be a non-empty list")
    defaults = config.get("resource_defaults") or {}
    resources: list[Resource] = []
    schemas: dict[str, dict[str, Any]] = {}
    previous: Resource | None = None
    for index, raw in enumerate(resources_raw):
        resource, schema = conversion.resource(
            raw, defaults, client.get("paginator"), previous, index
        )
        if resource.name in schemas:
            raise ConfigError(f"resources[{index}]: resource {resource.name!r} is declared twice")
        resources.append(resource)
        schemas[resource.name] = schema
        previous = resource
    names = {r.name for r in resources}
    for resource in resources:
        if resource.parent is not None and resource.parent.resource not in names:
            raise ConfigError(
                f"resources[{resource.name!r}] resolves from {resource.parent.resource!r}, which "
                "the config does not declare"
            )
        if resource.parent is not None:
            # the parent's records must carry the field its children are requested by:
            # declared (and served by the simulator) when the config's columns leave it
            # out, untyped, so that dlt infers its column as rest_api's run does (a type
            # union such as integer-or-string would make it a text column)
            parent = schemas[resource.parent.resource]
            field = resource.parent.field
            if field not in parent.get("properties", {}):
                parent.setdefault("properties", {})[field] = {}
                parent.setdefault("required", []).append(field)
                conversion.notes.append(
                    f"resources[{resource.parent.resource!r}]: its field {field}, which "
                    f"{resource.name} is requested by, is declared in its schema (required, "
                    "any type: loaded as the API sends it)"
                )
    try:
        connector = Connector(
            name=name,
            package=package or f"headwater_{name}",
            resources=resources,
            auth=auth,
            base_url=base,
            settings=conversion.extra_settings,
            required_settings=tuple(conversion.extra_settings),
            headers=headers,
            description="Converted from a dlt rest_api config: "
            + ", ".join(r.name for r in resources),
        )
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"the converted declaration is not valid: {exc}") from None
    return Converted(
        connector=connector,
        schemas=schemas,
        settings=conversion.settings,
        references=conversion.references,
        notes=conversion.notes,
    )
