"""Settings: what a connector needs to run, where each value comes from, and checks.

A connector's settings are a JSON Schema (:func:`settings_schema`): ``base_url``, the
settings of its auth kind, and any the connector adds. Secrets carry
``"writeOnly": true``. Each value is resolved in this order:

1. a keyword argument of :func:`headwater.source`;
2. the environment variable ``SOURCES__<CONNECTOR>__<KEY>``;
3. ``[sources.<connector>]`` in ``.dlt/secrets.toml`` then ``.dlt/config.toml``
   (in ``$DLT_PROJECT_DIR``, or the current directory);
4. the declared default.

Every problem (unknown, missing, empty or invalid setting, unreadable TOML) is
reported at once in a :class:`~headwater.errors.SettingsError` that says where to fix it.
"""

from __future__ import annotations

import json
import math
import os
import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from attrs import field, frozen

from headwater.errors import SettingsError
from headwater.spec import (
    DEFAULT_MAX_RESPONSE_BYTES,
    DEFAULT_RESPONSE_DEADLINE,
    MAX_RETRY_AFTER,
    Connector,
    JwtGrant,
    OAuth2ClientCredentials,
    OAuth2RefreshToken,
    OffsetPagination,
)
from headwater.suggest import closest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

__all__ = [
    "DEFAULT_MAX_WORKERS",
    "NAMING_CONVENTIONS",
    "STRUCTURE_SETTINGS",
    "SYNC_MODES",
    "URL_SETTINGS",
    "Settings",
    "env_text",
    "env_var",
    "parallel_page_resources",
    "preview_settings",
    "resolve_settings",
    "settings_schema",
    "toml_files",
]

#: The values of the ``validation`` setting (see :mod:`headwater.load.validation`).
VALIDATION_POLICIES = ("quarantine", "warn", "fail", "off")
#: The values of the ``sync_mode`` setting of connectors with incremental resources.
SYNC_MODES = ("incremental", "full_refresh")
#: The values of the ``naming`` setting and the dlt naming convention of each:
#: ``snake_case`` is dlt's default (``lastLoginTime`` -> ``last_login_time``, the names
#: a ``rest_api`` source gives), ``api`` keeps the API's spelling, made SQL-safe.
NAMING_CONVENTIONS = {"snake_case": "snake_case", "api": "sql_cs_v1"}
#: Settings that shape a source (its tables, write dispositions, cursors): read when
#: :func:`headwater.source` builds it, checked again when the settings are resolved.
STRUCTURE_SETTINGS = ("naming", "sync_mode")
#: Default of ``max_workers`` (concurrent child requests) for connectors with children.
DEFAULT_MAX_WORKERS = 8
#: Settings that are URLs: whitespace around one is dropped (a copied line's trailing
#: space), whitespace inside one is an invalid setting, and an empty one is refused.
URL_SETTINGS = ("base_url", "token_url")

_AUTH_SETTING_DOCS = {
    "client_id": "OAuth2 client id",
    "client_secret": "OAuth2 client secret",
    "token_url": "OAuth2 token endpoint",
    "scope": "OAuth2 scope sent with the token request",
    "api_key": "API key",
    "token": "bearer token",
    "username": "HTTP basic user name",
    "password": "HTTP basic password",
    "refresh_token": "OAuth2 refresh token (a rotated one is kept in the token store)",
    "issuer": "JWT issuer (iss), e.g. the service account's e-mail",
    "private_key": "PEM private key that signs the JWT",
    "subject": "JWT subject (sub), e.g. the user to act as",
    "key_id": "JWT key id (kid)",
}


def parallel_page_resources(connector: Connector) -> list[str]:
    """Resources whose pages can be fetched concurrently: offset pagination with a
    total reported by the API."""
    return [
        r.name
        for r in connector.resources
        if isinstance(r.pagination, OffsetPagination) and r.pagination.total_path is not None
    ]


def env_var(connector: str, key: str) -> str:
    """The environment variable that sets ``key`` of ``connector``."""
    return f"SOURCES__{connector.upper()}__{key.upper()}"


def env_text(value: Any) -> str:
    """``value`` as the text of its environment variable, which the settings read back
    as ``value``: a string as it is, anything else as JSON (``25``, ``true``)."""
    return value if isinstance(value, str) else json.dumps(value)


# Long for a reason: it is a table, one JSON Schema property per setting every
# connector has; split, the table would be in pieces.
def settings_schema(connector: Connector) -> dict[str, Any]:
    """The JSON Schema of ``connector``'s settings (secrets marked ``writeOnly``)."""
    properties: dict[str, Any] = {
        "base_url": {
            "type": "string",
            "default": connector.base_url,
            "description": "Base URL of the API",
        }
    }
    required: list[str] = ["base_url"]
    auth = connector.auth
    if auth is not None:
        for key in auth.settings:
            prop: dict[str, Any] = {
                "type": "string",
                "description": _AUTH_SETTING_DOCS.get(key, key.replace("_", " ")),
            }
            if key in auth.secrets:
                prop["writeOnly"] = True
            # Every setting an auth kind reads is required, but those with a default
            # (token_url, scope: below) and those it marks optional; client_id and
            # client_secret are optional for a public refresh-token client.
            optional = (*getattr(auth, "optional", ()), "token_url", "scope")
            if isinstance(auth, OAuth2RefreshToken):
                optional += ("client_id", "client_secret")
            if key not in optional and key not in required:
                required.append(key)
            properties[key] = prop
        if isinstance(auth, (OAuth2ClientCredentials, OAuth2RefreshToken, JwtGrant)):
            if auth.token_url is not None:
                properties["token_url"]["default"] = auth.token_url
            else:
                required.append("token_url")
            if auth.scope is not None:
                properties["scope"]["default"] = auth.scope
            if getattr(auth, "token_url_aliases", ()):
                properties["token_url"]["aliases"] = list(auth.token_url_aliases)
    properties["validation"] = {
        "type": "string",
        "enum": list(VALIDATION_POLICIES),
        "default": "quarantine",
        "description": "records that break the schema: quarantine (kept in "
        "<resource>_quarantine), warn (loaded, logged), fail (stop), off (not checked)",
    }
    properties["naming"] = {
        "type": "string",
        "enum": list(NAMING_CONVENTIONS),
        "default": "snake_case",
        "description": "table and column names: snake_case (dlt's default, lastLoginTime "
        "becomes last_login_time) or api (the API's spelling, made SQL-safe)",
    }
    properties["rate_limit"] = {
        "type": ["string", "null"],
        "pattern": r"^\s*[1-9][0-9]*\s*/\s*(second|minute|hour)s?\s*$",
        "default": str(connector.rate_limit) if connector.rate_limit else None,
        "description": "most requests for a whole run, e.g. 10/second or 600/minute "
        "(default: the connector's declared limit, if any)",
    }
    properties["max_pages"] = {
        "type": ["integer", "null"],
        "minimum": 1,
        "default": None,
        "description": "safety limit: most pages one resource may read before the run "
        "stops with an error (default: no limit)",
    }
    properties.update(_http_limit_properties())
    if any(r.incremental is not None for r in connector.resources):
        properties["sync_mode"] = {
            "type": "string",
            "enum": list(SYNC_MODES),
            "default": "incremental",
            "description": "incremental: only records newer than the last loaded one; "
            "full_refresh: every record, replacing the tables",
        }
    if any(r.incremental is not None for r in connector.resources):
        properties.update(_incremental_properties())
    if any(r.parent is not None for r in connector.resources):
        properties["max_workers"] = {
            "type": "integer",
            "minimum": 1,
            "maximum": 64,
            "default": DEFAULT_MAX_WORKERS,
            "description": "concurrent requests for child resources (one per parent record)",
        }
    if parallel_page_resources(connector):
        properties["parallel_pages"] = {
            "type": ["integer", "object"],
            "minimum": 1,
            "maximum": 32,
            "additionalProperties": {"type": "integer", "minimum": 1, "maximum": 32},
            "default": 1,
            "description": "pages fetched at once for offset resources whose API reports a "
            "total: a number for all of them, or {resource: number}",
        }
    for key, prop in connector.settings.items():
        properties[key] = dict(prop)
    # A required setting has no default: the one-line "missing setting" error names it
    # and where to set it, like a missing credential.
    required += [key for key in connector.required_settings if key not in required]
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": f"settings of connector {connector.name}",
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }


def _incremental_properties() -> dict[str, Any]:
    """The settings of connectors with incremental resources (see docs/incremental.md)."""
    return {
        "start_date": {
            "type": ["string", "null"],
            "default": None,
            "description": "where the first incremental run starts, an ISO 8601 date or "
            "date-time, e.g. 2024-01-01 (default: the connector's initial value)",
        },
        "window": {
            "type": ["string", "null"],
            "default": None,
            "description": "cut each run's time range into slices this long, e.g. 1d or "
            "6h; the position is saved after each slice (default: the connector's window)",
        },
        "parallel_windows": {
            "type": "integer",
            "minimum": 1,
            "maximum": 32,
            "default": 1,
            "description": "slices fetched at once when a window is set (default 1)",
        },
    }


def _incremental_problems(connector: Connector, values: Mapping[str, Any]) -> list[str]:
    """``start_date`` that is not a date, ``window`` that is not a duration > 0 or is set
    for a resource that cannot be sliced."""
    from datetime import datetime, timezone

    from headwater.timebounds import parse_duration, parse_instant

    name = connector.name
    problems = []
    start = values.get("start_date")
    if start is not None:
        try:
            begins = parse_instant(start, "start_date")
        except ValueError as exc:
            problems.append(f"invalid setting start_date for connector {name}: {exc}")
        else:
            now = datetime.now(timezone.utc)
            if begins > now:
                # every run would read nothing and report success (a typo: 2204 for 2024)
                problems.append(
                    f"invalid setting start_date for connector {name}: {start} is in the "
                    f"future (it is {now:%Y-%m-%dT%H:%M:%SZ} now), so a run would read "
                    "nothing; give a date in the past"
                )
    window = values.get("window")
    if window is not None:
        try:
            parse_duration(window, "window")
        except ValueError as exc:
            problems.append(f"invalid setting window for connector {name}: {exc}")
        else:
            unsliceable = [
                r.name
                for r in connector.resources
                if r.incremental is not None
                and r.incremental.end_param is None
                and not r.incremental.client_filter
            ]
            if unsliceable:
                problems.append(
                    f"invalid setting window for connector {name}: resource "
                    f"{', '.join(unsliceable)} has no end parameter to bound a slice; "
                    "unset window"
                )
    return problems


def _http_limit_properties() -> dict[str, Any]:
    """The settings bounding every response (see :class:`headwater.http.session.HttpLimits`)."""
    seconds = {"type": ["number", "null"], "exclusiveMinimum": 0, "default": None}
    return {
        "max_response_bytes": {
            "type": "integer",
            "minimum": 1,
            "default": DEFAULT_MAX_RESPONSE_BYTES,
            "description": "safety limit: most bytes one response may hold, decompressed "
            f"(default {DEFAULT_MAX_RESPONSE_BYTES} = 256 MiB); a larger one stops the run "
            "with an error",
        },
        "connect_timeout": {
            **seconds,
            "description": "seconds to wait for a connection (default: the connector's "
            "timeout, 60 s unless it declares another)",
        },
        "read_timeout": {
            **seconds,
            "description": "seconds to wait for each read from the connection (default: "
            "the connector's timeout, 60 s unless it declares another)",
        },
        "response_deadline": {
            **seconds,
            "description": "seconds a whole response may take, body included; a slower one "
            f"is abandoned and retried like a timeout (default {DEFAULT_RESPONSE_DEADLINE:g}, "
            "or the read timeout if longer)",
        },
        "max_retry_after": {
            "type": "number",
            "minimum": 0,
            "default": MAX_RETRY_AFTER,
            "description": "longest wait, in seconds, honoured from a Retry-After header "
            f"(default {MAX_RETRY_AFTER:g}); a longer one is cut to this, and logged",
        },
    }


@frozen
class Settings:
    """Resolved, validated settings of one connector.

    ``values`` maps each setting to its value; ``origins`` says where each came from
    (for ``headwater describe`` / ``check``); ``secret_names`` are the secret settings.
    """

    connector: str
    values: Mapping[str, Any]
    origins: Mapping[str, str] = field(factory=dict)
    secret_names: frozenset[str] = field(factory=frozenset)

    def __getitem__(self, key: str) -> Any:
        return self.values[key]

    def get(self, key: str, default: Any = None) -> Any:
        """The value of ``key``, or ``default`` when it is not set."""
        return self.values.get(key, default)

    @property
    def secret_values(self) -> list[str]:
        """The values of every secret setting (for redaction)."""
        return [str(self.values[k]) for k in self.secret_names if self.values.get(k)]

    def __repr__(self) -> str:
        shown = {k: ("***" if k in self.secret_names else v) for k, v in self.values.items()}
        return f"Settings(connector={self.connector!r}, values={shown!r})"

    __str__ = __repr__


def toml_files(project_dir: str | os.PathLike[str] | None = None) -> list[Path]:
    """The TOML files settings are read from, in order of precedence."""
    base = Path(project_dir or os.environ.get("DLT_PROJECT_DIR") or ".") / ".dlt"
    return [base / "secrets.toml", base / "config.toml"]


def _read_toml(path: Path, connector: str) -> dict[str, Any]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"{path} is not valid TOML ({exc}); fix or remove the file") from None
    except OSError as exc:
        raise SettingsError(f"{path} cannot be read ({exc.strerror})") from None
    section = data.get("sources", {})
    section = section.get(connector, {}) if isinstance(section, dict) else {}
    if not isinstance(section, dict):
        raise SettingsError(f"[sources.{connector}] in {path} must be a table of settings")
    return section


def _suggest(name: str, known: list[str]) -> str:
    close = closest(name, known)
    if close:
        return f"did you mean {close}?"
    return f"known settings: {', '.join(sorted(known))}"


def _coerce(value: Any, prop: Mapping[str, Any]) -> Any:
    """Turn a string from the environment into the declared JSON type where it parses."""
    if not isinstance(value, str):
        return value
    declared = prop.get("type")
    types = [declared] if isinstance(declared, str) else list(declared or [])
    if not types and isinstance(prop.get("enum"), list) and value not in prop["enum"]:
        # an enum without a type (enum: [1, 2, 3]): the member the text writes
        for member in prop["enum"]:
            if not isinstance(member, str) and json.dumps(member) == value.strip():
                return member
    if "string" in types or not types:
        return value
    text = value.strip()
    if "boolean" in types and text.lower() in ("true", "false", "1", "0", "yes", "no"):
        return text.lower() in ("true", "1", "yes")
    if "integer" in types:
        try:
            return int(text)
        except ValueError:
            pass
    if "number" in types:
        try:
            return float(text)
        except ValueError:
            pass
    if "object" in types or "array" in types:
        try:
            return json.loads(text)
        except ValueError:
            pass
    return value


def _where_to_set(connector: str, key: str, secret: bool, aliases: Sequence[str] = ()) -> str:
    toml = ".dlt/secrets.toml" if secret else ".dlt/config.toml"
    where = f"set {env_var(connector, key)} or [sources.{connector}] {key} in {toml}"
    if aliases:
        where += " (also accepted as " + ", ".join(env_var(connector, a) for a in aliases) + ")"
    return where


def resolve_settings(
    connector: Connector,
    explicit: Mapping[str, Any] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    project_dir: str | os.PathLike[str] | None = None,
) -> Settings:
    """Resolve and validate ``connector``'s settings; see the module docstring for order.

    Raises :class:`~headwater.errors.SettingsError` naming every problem found.
    """
    environ = os.environ if environ is None else environ
    schema = settings_schema(connector)
    props: dict[str, Any] = schema["properties"]
    secret_names = frozenset(k for k, p in props.items() if p.get("writeOnly"))
    aliases = {alias: key for key, p in props.items() for alias in p.get("aliases", ())}
    name = connector.name
    tables = [(path, _read_toml(path, name)) for path in toml_files(project_dir)]

    problems = _unknown_keys(name, list(props) + list(aliases), explicit, environ, tables)
    values, origins = _resolve_values(name, props, aliases, secret_names, explicit, environ, tables)
    # A URL set empty is refused even when it has a default (token_url made from
    # base_url): the default is what an unset one means, not an empty one.
    must_have = list(schema["required"]) + [k for k in URL_SETTINGS if k in props]
    for key in dict.fromkeys(must_have):
        where = _where_to_set(name, key, key in secret_names, props[key].get("aliases", ()))
        if key not in values:
            problems.append(f"missing setting {key} for connector {name}: {where}")
        elif isinstance(values[key], str) and not values[key].strip():
            problems.append(
                f"setting {key} for connector {name} is empty ({origins[key]}): {where}"
            )
    problems.extend(_validate_values(name, values, props, origins, secret_names))
    problems.extend(_parallel_pages_problems(connector, values))
    problems.extend(_incremental_problems(connector, values))
    if problems:
        raise SettingsError("; ".join(dict.fromkeys(problems)))
    return Settings(connector=name, values=values, origins=origins, secret_names=secret_names)


def _unknown_keys(
    name: str,
    known: list[str],
    explicit: Mapping[str, Any] | None,
    environ: Mapping[str, str],
    tables: list[tuple[Path, dict[str, Any]]],
) -> list[str]:
    """Unknown keys anywhere: almost always typos, so reported rather than ignored."""
    problems = []
    for key in explicit or {}:
        if key not in known:
            problems.append(f"unknown setting {key!r} for connector {name}: {_suggest(key, known)}")
    prefix = f"SOURCES__{name.upper()}__"
    for var in environ:
        if var.startswith(prefix) and var[len(prefix) :].lower() not in known:
            problems.append(
                f"unknown setting in environment variable {var}: "
                f"{_suggest(var[len(prefix) :].lower(), known)}"
            )
    for path, table in tables:
        for key in table:
            if key not in known:
                problems.append(
                    f"unknown setting {key!r} in [sources.{name}] of {path}: {_suggest(key, known)}"
                )
    return problems


def _resolve_values(
    name: str,
    props: Mapping[str, Any],
    aliases: Mapping[str, str],
    secret_names: frozenset[str],
    explicit: Mapping[str, Any] | None,
    environ: Mapping[str, str],
    tables: list[tuple[Path, dict[str, Any]]],
) -> tuple[dict[str, Any], dict[str, str]]:
    """Each setting's value and where it came from: an argument, the environment, a
    TOML file (secrets: the first file, others: the last), else its default."""
    values: dict[str, Any] = {}
    origins: dict[str, str] = {}
    for key, prop in props.items():
        names = [key] + [a for a, target in aliases.items() if target == key]
        hit = _lookup(name, key, prop, names, explicit, environ, tables, key in secret_names)
        if hit is not None:
            values[key], origins[key] = hit
    _fill_defaults(values, origins)
    return values, origins


def _fill_defaults(values: dict[str, Any], origins: Mapping[str, str]) -> None:
    """Trim the whitespace around each URL setting, then fill the templates of defaults:
    ``"{base_url}/oauth2/token"``."""
    for key in URL_SETTINGS:
        if isinstance(values.get(key), str):
            values[key] = values[key].strip()
    for key, value in list(values.items()):
        if origins.get(key) == "default" and isinstance(value, str) and "{base_url}" in value:
            values[key] = value.replace("{base_url}", str(values.get("base_url", "")).rstrip("/"))


def _parallel_pages_problems(connector: Connector, values: Mapping[str, Any]) -> list[str]:
    """``parallel_pages`` naming a resource whose pages cannot be fetched in parallel."""
    parallel = values.get("parallel_pages")
    if not isinstance(parallel, dict):
        return []
    eligible = parallel_page_resources(connector)
    return [
        f"invalid setting parallel_pages for connector {connector.name}: {key!r} is not a "
        f"resource whose pages can be fetched in parallel (those are: {', '.join(eligible)})"
        for key in parallel
        if key not in eligible
    ]


def _lookup(
    connector: str,
    key: str,
    prop: Mapping[str, Any],
    names: Sequence[str],
    explicit: Mapping[str, Any] | None,
    environ: Mapping[str, str],
    tables: Sequence[tuple[Path, Mapping[str, Any]]],
    secret: bool,
) -> tuple[Any, str] | None:
    """The value of setting ``key`` (under any of its ``names``) and where it came from,
    in the order of the module docstring; ``None`` when it has none and no default."""
    for candidate in names:
        if explicit and explicit.get(candidate) is not None:
            return explicit[candidate], "argument"
    for candidate in names:
        var = env_var(connector, candidate)
        if var in environ:
            return _coerce(environ[var], prop), f"env {var}"
    ordered = tables if secret else list(reversed(tables))
    for path, table in ordered:
        hit = next((c for c in names if c in table), None)
        if hit is not None:
            return table[hit], str(path)
    if "default" in prop:
        return prop["default"], "default"
    return None


def preview_settings(
    connector: Connector,
    explicit: Mapping[str, Any] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    project_dir: str | os.PathLike[str] | None = None,
) -> Settings:
    """The settings that are not secret, as far as they can be known now, without
    raising: each value as :func:`resolve_settings` finds it, or its default when it is
    missing or invalid. Secrets are not read.

    :func:`headwater.source` builds a source's structure from these (settings may not be
    available where sources are defined); :func:`resolve_settings` reports every
    problem when the source is extracted."""
    environ = os.environ if environ is None else environ
    schema = settings_schema(connector)
    props: dict[str, Any] = schema["properties"]
    aliases = {alias: key for key, p in props.items() for alias in p.get("aliases", ())}
    tables: list[tuple[Path, Mapping[str, Any]]] = []
    for path in toml_files(project_dir):
        try:
            tables.append((path, _read_toml(path, connector.name)))
        except SettingsError:
            continue  # reported when the settings are resolved
    values: dict[str, Any] = {}
    origins: dict[str, str] = {}
    for key, prop in props.items():
        if prop.get("writeOnly"):
            continue
        names = [key] + [a for a, target in aliases.items() if target == key]
        hit = _lookup(connector.name, key, prop, names, explicit, environ, tables, False)
        if hit is None:
            continue
        value, origin = hit
        if origin != "default" and _validate_values(
            connector.name, {key: value}, props, {key: origin}, frozenset()
        ):
            if "default" not in prop:
                continue
            value, origin = prop["default"], "default"
        values[key], origins[key] = value, origin
    _fill_defaults(values, origins)
    secret_names = frozenset(k for k, p in props.items() if p.get("writeOnly"))
    return Settings(
        connector=connector.name, values=values, origins=origins, secret_names=secret_names
    )


def _validate_values(
    name: str,
    values: Mapping[str, Any],
    props: Mapping[str, Any],
    origins: Mapping[str, str],
    secret_names: frozenset[str],
) -> list[str]:
    from jsonschema import Draft202012Validator

    problems: list[str] = []
    for key, value in values.items():
        prop = {k: v for k, v in props[key].items() if k not in ("aliases", "default")}
        errors = list(Draft202012Validator(prop).iter_errors(value))
        # Never echo a secret's value back, even when it is the wrong type.
        shown = "***" if key in secret_names else repr(value)
        if errors:
            problems.append(
                f"invalid setting {key} for connector {name} ({origins.get(key)}): "
                f"{shown} {_describe_error(errors[0])}"
            )
        elif isinstance(value, float) and not math.isfinite(value):
            # nan passes every minimum (no comparison with it is true): a wait of nan
            # seconds, or of inf, never ends
            problems.append(
                f"invalid setting {key} for connector {name} ({origins.get(key)}): "
                f"{shown} is not a finite number"
            )
    for key in URL_SETTINGS:
        url = values.get(key)
        made = key == "token_url" and origins.get(key) == "default"
        if made and (problems or not str(values.get("base_url") or "").strip()):
            continue  # made from base_url, whose problem is said already
        if isinstance(url, str) and url.strip():
            where = f"invalid setting {key} for connector {name} ({origins.get(key)})"
            # a user:password@ is never echoed back (nor sent: see below)
            shown = re.sub(r"^([^/?#]*//)[^/?#]*@", r"\1***@", url)
            if re.search(r"\s", url.strip()):
                # requests would send it half-quoted, or fail with InvalidURL mid-run
                problems.append(
                    f"{where}: {shown!r} has whitespace inside; write the URL without it "
                    "(a space in a path is %20)"
                )
                continue
            try:
                parsed = urlparse(url)
                parsed.port  # noqa: B018 (raises on a port out of range)
            except ValueError as exc:
                problems.append(f"{where}: {shown!r} is not a valid URL ({exc})")
                continue
            if parsed.scheme not in ("http", "https") or not parsed.netloc:
                problems.append(
                    f"{where}: {shown!r} is not an http(s) URL; write it with its scheme, "
                    f"e.g. https://{shown.split('://')[-1]}"
                )
            elif "@" in parsed.netloc:
                # requests would send it as basic auth, and it would be in every URL
                # logged, recorded or kept in dlt's trace
                problems.append(
                    f"{where}: {shown!r} holds credentials (user:password@host); remove them "
                    "from the URL and give them as the connector's auth settings "
                    f"(see headwater describe {name})"
                )
    return problems


_TYPE_NAMES = {
    "integer": "an integer",
    "number": "a number",
    "string": "a string",
    "boolean": "true or false",
    "object": "a JSON object (a TOML table)",
    "array": "a list",
}


def _describe_error(error: Any) -> str:
    """The end of a one-line message for a JSON Schema violation, e.g. ``is not an integer``."""
    if error.validator == "type":
        types = (
            error.validator_value
            if isinstance(error.validator_value, list)
            else [error.validator_value]
        )
        names = [_TYPE_NAMES.get(t, t) for t in types if t != "null"]
        return f"is not {' or '.join(names)}"
    if error.validator == "enum":
        return f"is not one of {', '.join(map(repr, error.validator_value))}"
    if error.validator == "pattern":
        hint = error.schema.get("description", "")
        example = hint[hint.find("e.g. ") :].split(" (")[0] if "e.g. " in hint else ""
        return f"is not in the expected form{f' ({example})' if example else ''}"
    message = error.message.split("\n")[0]
    # jsonschema's messages start with the value, which the caller has shown already
    return message.removeprefix(repr(error.instance)).lstrip() or message
