"""Destinations: their drivers (extras) and their secrets, checked before a run starts."""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from headwater import redact
from headwater.errors import ConfigError
from headwater.redact import is_secret_name
from headwater.run.dlt_errors import explain
from headwater.settings import toml_files, tomllib

__all__ = [
    "check_destination",
    "drop_empty_staging",
    "extra_for",
    "is_secret_name",
    "register_destination_secrets",
]

#: ``user:password@host`` written without a scheme
_USERINFO = re.compile(r"^[^:/@\s]+:([^@\s]+)@")


def check_destination(destination: str) -> None:
    """Fail early, before anything is fetched, when ``destination`` is unknown or its
    driver is not installed (drivers are extras: ``pip install "headwater[postgres]"``)."""
    from dlt.common.destination import Destination

    try:
        factory = Destination.from_reference(destination)
        factory.client_class  # noqa: B018 - imports the driver
    except ImportError as exc:
        raise ConfigError(
            f"destination {destination!r} needs its driver "
            f"({getattr(exc, 'name', None) or exc}), which is not installed; "
            f"install it with: pip install {extra_for(destination)}"
        ) from None
    except Exception as exc:
        known = explain(exc)
        if known is not None:
            raise known from None
        raise


def drop_empty_staging(client: Any) -> bool:
    """Drop ``client``'s staging dataset when it holds no table at all; whether it did.

    dlt empties the staging dataset after a load (Headwater sets
    ``LOAD__TRUNCATE_STAGING_DATASET``) and creates it to do so when it is not there.
    After a load that staged nothing (only appends, or merges straight into empty
    tables) that leaves a schema without dlt's own tables, and a later
    ``--full-refresh`` of some resources, which drops their tables there too, failed
    on its missing ``_dlt_version``. ``client``: a dlt SQL job client, its connection
    open; any other client is left alone."""
    sql_client = getattr(client, "sql_client", None)
    if sql_client is None or not hasattr(client, "with_staging_dataset"):
        return False
    with client.with_staging_dataset():
        if not sql_client.has_dataset():
            return False
        ((count,),) = sql_client.execute_sql(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = %s",
            sql_client.dataset_name,
        )
        if count:
            return False
        sql_client.execute_sql(f"DROP SCHEMA {sql_client.fully_qualified_dataset_name()}")
        return True


def extra_for(destination: str) -> str:
    """The pip requirement that brings ``destination``'s driver."""
    from importlib.metadata import PackageNotFoundError, metadata

    try:
        extras = metadata("headwater").get_all("Provides-Extra") or []
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        extras = []
    if destination in extras:
        return f'"headwater[{destination}]"'
    return f'"dlt[{destination}]"'


def register_destination_secrets(
    environ: Mapping[str, str] | None = None, project_dir: str | None = None
) -> None:
    """Register the destination's secrets with :mod:`headwater.redact`, so that no log
    line, error or traceback shows them: ``DESTINATION__…`` environment variables and
    ``[destination…]`` keys in ``.dlt/secrets.toml`` named credentials, password, secret,
    token or key (not ``host``, ``database``…) — and the password in a credentials URL."""
    environ = os.environ if environ is None else environ
    found: list[str] = []
    for key, value in environ.items():
        if "DESTINATION__" in key.upper() and is_secret_name(key):
            found.extend(_secret_parts(value, _last(key), key))
    secrets_toml = toml_files(project_dir)[0]
    try:
        data = tomllib.loads(secrets_toml.read_text(encoding="utf-8"))
    except (OSError, ValueError):  # missing, or reported by settings resolution
        data = {}
    for name, value in _leaves(data.get("destination", {})):
        if is_secret_name(name):
            found.extend(_secret_parts(value, _last(name), f"destination.{name}"))
    redact.register(found)


def _leaves(table: Any, name: str = "") -> Iterator[tuple[str, str]]:
    """``(dotted key, string value)`` for every string under ``table``."""
    if isinstance(table, Mapping):
        for key, value in table.items():
            yield from _leaves(value, f"{name}.{key}" if name else str(key))
    elif isinstance(table, str):
        yield name, table


def _last(name: str) -> str:
    """The last part of a setting's name: ``credentials`` of ``DESTINATION__X__CREDENTIALS``."""
    return name.rsplit("__", 1)[-1].rsplit(".", 1)[-1].lower()


#: a ``credentials`` value shaped like a file path (DuckDB's database file)
_PATH = re.compile(r"^(?:[A-Za-z]:)?[^:?@{}\s]*[/\\][^?@{}]*$")
#: ... or named like a database file, whatever the destination
_DATABASE_FILE = re.compile(r"^[^?@{}]+\.(?:duckdb|db)$|^:memory:$", re.I)
#: ... or a bare file name, for a file-based destination (not MotherDuck's ``md:``)
_BARE_NAME = re.compile(r"^(?!md:)[^:/\\?@{}\s]+$", re.I)
#: destinations whose ``credentials`` is a database file
_FILE_DESTINATIONS = re.compile(r"duckdb|sqlite", re.I)


def _is_database_path(text: str, key: str) -> bool:
    """Whether a ``credentials`` value is a database file, not an opaque secret: named
    like one, or path-shaped for a file-based destination (``key`` names it) or with a
    parent folder that exists. An opaque secret may well contain a ``/`` (base64, API
    keys): it is masked whole."""
    if _DATABASE_FILE.match(text):
        return True
    if _FILE_DESTINATIONS.search(key) and _BARE_NAME.match(text):
        return True  # DESTINATION__DUCKDB__CREDENTIALS=warehouse: a file in this folder
    if not _PATH.match(text):
        return False
    if _FILE_DESTINATIONS.search(key):
        return True
    parent = os.path.dirname(os.path.expanduser(text))
    return bool(parent) and os.path.isdir(parent)


def _secret_parts(value: str, name: str = "", key: str = "") -> list[str]:
    """The secrets in ``value``, a setting called ``name`` (its full name: ``key``): the
    value itself, a URL's password and secret query parameters (``motherduck_token``),
    a JSON document's secret fields (a service account's ``private_key``).

    A ``credentials`` value is not secret as a whole when it is a URL, a JSON document
    or a database file (:func:`_is_database_path`): only the secrets inside it are.
    Masking a whole connection string or path would hide where the data went from
    the user."""
    text = value.strip()
    structured = "://" in text or text.startswith("{") or _USERINFO.match(text) is not None
    whole = name != "credentials" or not (structured or "?" in text or _is_database_path(text, key))
    parts = [value] if text and whole else []
    if text.startswith("{"):
        with contextlib.suppress(ValueError):
            document = json.loads(text)
            parts.extend(v for k, v in _leaves(document) if is_secret_name(k))
    try:
        password = urlsplit(text).password if "://" in text else None
    except ValueError:
        password = None
    if password:
        parts.append(unquote(password))
    if "?" in text:
        for key, secret in parse_qsl(text.split("?", 1)[1].split("#", 1)[0]):
            if is_secret_name(key):
                parts.append(secret)
    match = None if "://" in text else _USERINFO.match(text)
    if match:
        parts.append(unquote(match.group(1)))
    return parts
