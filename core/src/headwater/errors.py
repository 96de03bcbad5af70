"""The exceptions Headwater raises. Every message is one line naming the problem and the fix.

:class:`ConfigError` and its subclasses are usage or configuration errors (CLI exit
code 2, raised before any request is sent); :class:`RunError` is a failure while
talking to the API (exit code 1).
"""

from __future__ import annotations

import re

__all__ = [
    "ConfigError",
    "ConnectorNotFound",
    "HeadwaterError",
    "PluginError",
    "RedirectRefused",
    "ResponseError",
    "ResponseTooLarge",
    "RunError",
    "SchemaFileError",
    "SettingsError",
    "printable",
]

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def printable(text: str, limit: int = 200) -> str:
    """Text an API chose (a status line's reason, a broken header) made fit for a
    one-line error: control characters written as escapes (``\\x1b``: no terminal
    escape sequence, no line break), and at most ``limit`` characters."""
    shown = _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode(), text)
    return shown if len(shown) <= limit else shown[: limit - 1] + "…"


class HeadwaterError(Exception):
    """Base of every error Headwater raises on purpose."""


class ConfigError(HeadwaterError):
    """Bad usage or configuration: nothing was requested or loaded."""


class ConnectorNotFound(ConfigError):
    """No installed plugin declares the requested connector."""


class SettingsError(ConfigError):
    """A setting is missing or invalid."""


class SchemaFileError(ConfigError):
    """A resource's JSON Schema file is missing, unreadable or not a valid schema."""


class PluginError(ConfigError):
    """A plugin is broken: it failed to load, misnamed a hook or returned a bad value."""


class RunError(HeadwaterError):
    """Extraction failed while talking to the API."""


class ResponseError(RunError):
    """The API answered with something Headwater cannot use (error status, bad body).

    ``resource`` names the resource whose request failed, once known.
    """

    resource: str | None = None


class RedirectRefused(ResponseError):
    """The API redirected a request to another origin (scheme, host or port), or from
    https to http: Headwater does not follow, so no credential is sent there."""


class ResponseTooLarge(ResponseError):
    """A response body grew past the ``max_response_bytes`` setting (decompressed)."""
