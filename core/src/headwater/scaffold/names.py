"""Checks of a new connector's name: well formed, and not taken by an installed one.

Every check raises :class:`~headwater.errors.ConfigError` with one line that names the
problem and the fix.
"""

from __future__ import annotations

import json
import keyword
import re
from importlib import metadata
from pathlib import Path
from urllib.parse import unquote, urlsplit

from headwater.errors import ConfigError, HeadwaterError
from headwater.markers import PROJECT
from headwater.plugin.manager import get_registry

__all__ = ["MAX_LENGTH", "check_available", "check_name", "distribution_name"]

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
#: Longest accepted name: it is spelled out in generated code, which must stay within
#: the 100-column lines of the generated ruff configuration.
MAX_LENGTH = 40


def distribution_name(name: str) -> str:
    """The distribution that holds connector ``name``: ``headwater-<name>``."""
    return f"{PROJECT}-{name}"


def _example(name: str) -> str:
    """A valid name close to ``name``, for the error message."""
    text = re.sub(r"[^a-z0-9]+|__+", "_", name.lower()).strip("_")
    text = re.sub(r"^[^a-z]+", "", text)[:MAX_LENGTH].rstrip("_")
    if not text or keyword.iskeyword(text):
        text = f"{text}_api" if text else "acme"
    return text


def check_name(name: str) -> None:
    """Raise :class:`ConfigError` unless ``name`` can name a connector and its packages.

    The name becomes the connector name, the entry-point name, the import package
    ``headwater_<name>`` and the distribution ``headwater-<name>``: lower case letters,
    digits and underscores, starting with a letter and ending with a letter or digit
    (a distribution name cannot end with ``_``), without ``__`` (the separator of
    ``SOURCES__<NAME>__<KEY>``, and dlt renames a dataset holding it), not a Python
    keyword.
    """
    fix = f"e.g. `{PROJECT} new {_example(name)}`"
    if not _NAME.match(name):
        raise ConfigError(
            f"connector name {name!r} is not valid: use lower case letters, digits and _, "
            f"starting with a letter; {fix}"
        )
    if name.endswith("_"):
        raise ConfigError(
            f"connector name {name!r} is not valid: it must end with a letter or digit, as "
            f"the distribution name {distribution_name(name)} must; {fix}"
        )
    if "__" in name:
        raise ConfigError(
            f"connector name {name!r} is not valid: it must not contain __, which separates "
            f"the parts of a setting's variable (SOURCES__<NAME>__<KEY>) and which dlt "
            f"renames in the dataset; {fix}"
        )
    if keyword.iskeyword(name):
        raise ConfigError(
            f"connector name {name!r} is a Python keyword; choose another, "
            f"e.g. `{PROJECT} new {name}_api`"
        )
    if name == PROJECT or name.startswith(f"{PROJECT}_"):
        short = name.removeprefix(f"{PROJECT}_") if name != PROJECT else "acme"
        raise ConfigError(
            f"connector name {name!r} repeats the prefix: `{PROJECT} new {short}` creates "
            f"{distribution_name(short)}"
        )
    if len(name) > MAX_LENGTH:
        raise ConfigError(
            f"connector name {name!r} is {len(name)} characters long; use at most {MAX_LENGTH}"
        )


def _installed_from(dist: metadata.Distribution) -> Path | None:
    """The local directory ``dist`` was installed from (``pip install [-e] DIR``)."""
    try:
        text = dist.read_text("direct_url.json")
        url = urlsplit(json.loads(text)["url"]) if text else None
    except (ValueError, KeyError, TypeError):
        return None
    if url is None or url.scheme != "file":
        return None
    return Path(unquote(url.path)).resolve()


def _taken(name: str, what: str, distribution: str | None = None) -> ConfigError:
    fix = "choose another name"
    if distribution:
        fix += f", or uninstall {distribution} first"
    return ConfigError(f"connector name {name!r} is taken: {what}; {fix}")


def _label(dist: metadata.Distribution) -> str:
    return f"{dist.metadata['Name']} {dist.version}"


def check_available(name: str, target: Path) -> None:
    """Raise :class:`ConfigError` if installing ``headwater-<name>`` would clash with
    what is installed: a distribution called ``headwater-<name>``, a ``headwater``
    entry point called ``name``, or a connector called ``name``.

    Two plugins declaring one connector break every Headwater command in that
    environment, and a second entry point of the same name is silently never loaded:
    a clash is an error, not a warning. The exception is generating a connector again
    into the directory it is installed from (``--force`` over an editable install).
    """
    try:
        dist = metadata.distribution(distribution_name(name))
    except metadata.PackageNotFoundError:
        dist = None
    if dist is not None:
        if _installed_from(dist) == target.resolve():
            return  # the same connector, generated again where it was installed from
        raise _taken(name, f"{_label(dist)} is installed", dist.metadata["Name"])
    for ep in metadata.entry_points(group=PROJECT):
        if ep.name == name and ep.dist is not None:
            raise _taken(
                name,
                f"{_label(ep.dist)} installs a {PROJECT} plugin called {name!r}",
                ep.dist.metadata["Name"],
            )
    registry = get_registry()
    try:
        declared = {c.name for c in registry.connectors()}
    except HeadwaterError:
        return  # broken plugins are reported by the commands that use them
    if name in declared:
        owner = registry.owner(name)
        installed = registry.plugin_distribution(owner)
        if installed is None:
            raise _taken(name, f"plugin {owner!r} declares it")
        raise _taken(name, f"{installed[0]} {installed[1]} declares it", installed[0])
