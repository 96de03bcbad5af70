"""Replaying a recording (``headwater run NAME --replay DIR``, the ``headwater_replay``
fixture): the connector runs offline against the cassettes ``headwater record`` wrote.

No request reaches the network and no credential is needed: secret settings are set
to the placeholders the recording has in their place, the base URL and the other
settings to the recorded ones, and each resource reads the pages recorded — no more.
Incremental reads end where the recorded run's did (:func:`recorded_end`), not now.
A request the recording lacks fails the run with one line naming it and the closest
recorded request.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from headwater.errors import ConfigError
from headwater.http.cassette import Player, read_cassettes, replaying
from headwater.http.token_store import MemoryTokenStore
from headwater.load.incremental import ending_at
from headwater.markers import hookimpl
from headwater.plugin.manager import get_plugin_manager, get_registry
from headwater.run.record import MANIFEST, secret_placeholder, single_page_settings
from headwater.run.sampling import Sample, watching
from headwater.settings import settings_schema
from headwater.timebounds import parse_instant

__all__ = ["load_manifest", "recorded_end", "recorded_resources", "replay", "replay_settings"]


def load_manifest(directory: str | Path, name: str | None = None) -> dict[str, Any]:
    """The manifest of the recording in ``directory`` (of connector ``name``, if given);
    :class:`~headwater.errors.ConfigError` when there is none."""
    path = Path(directory) / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(
            f"--replay {directory} holds no recording ({MANIFEST} is missing); record one "
            f"first: headwater record {name or 'NAME'} --to {directory}"
        ) from None
    except (OSError, ValueError) as exc:
        raise ConfigError(
            f"--replay {directory}: {MANIFEST} cannot be read ({type(exc).__name__}); "
            "record again with headwater record"
        ) from None
    if not isinstance(manifest, dict) or "connector" not in manifest:
        raise ConfigError(f"--replay {directory}: {MANIFEST} is not a Headwater recording")
    if not isinstance(manifest.get("base_url"), str) or not manifest["base_url"]:
        raise ConfigError(
            f"--replay {directory}: {MANIFEST} has no base_url (edited by hand?); record "
            "again with headwater record"
        )
    if name is not None and manifest["connector"] != name:
        raise ConfigError(
            f"--replay {directory} is a recording of connector {manifest['connector']}, not "
            f"{name}; name that connector or record {name} first"
        )
    return manifest


def recorded_end(directory: str | Path, name: str | None = None) -> datetime | None:
    """The end of the recorded run's incremental reads (the time it started), which a
    replay's reads end at too; ``None`` for a recording made before Headwater kept it
    (a replay then ends now, and a resource with an end parameter or a window asks for
    what was not recorded: its error says to record again)."""
    manifest = load_manifest(directory, name)
    end = manifest.get("end")
    if end is None:
        return None
    try:
        return parse_instant(end, "end")
    except ValueError:
        raise ConfigError(
            f"--replay {directory}: {MANIFEST} has an end that is not a date-time ({end!r}; "
            "edited by hand?); record again with headwater record"
        ) from None


def recorded_resources(name: str, manifest: Mapping[str, Any]) -> list[str] | None:
    """The resources a recording made with ``--resource`` holds (a replay reads those
    unless told otherwise); ``None`` when it holds every resource of connector
    ``name``."""
    every = get_registry().get(name).resource_names
    recorded = manifest.get("resources")
    if not isinstance(recorded, list):
        return None
    known = [r for r in recorded if r in every]
    return known if known and set(known) != set(every) else None


def replay_settings(
    name: str, manifest: Mapping[str, Any], explicit: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The settings of a replay: ``explicit`` ones, then the recorded ones over them (a
    replay must ask what was recorded), and every secret setting not given in
    ``explicit`` set to its placeholder (the user's real secrets are never read; a
    signing key can be given as a throwaway one)."""
    connector = get_registry().get(name)
    props = settings_schema(connector)["properties"]
    values = {**dict(explicit or {}), **dict(manifest.get("settings") or {})}
    values["base_url"] = manifest["base_url"]
    for key, prop in props.items():
        if prop.get("writeOnly") and key not in (explicit or {}):
            values[key] = secret_placeholder(key)
    values.update(single_page_settings(connector, manifest.get("pages")))
    return values


@contextlib.contextmanager
def replay(
    name: str,
    directory: str | Path,
    settings: Mapping[str, Any] | None = None,
    *,
    sample: Sample | None = None,
) -> Iterator[dict[str, Any]]:
    """Meanwhile, connector ``name`` is served by the recording in ``directory``;
    yields the settings to run it with (:func:`replay_settings`). ``sample``: keep the
    first records of each resource (for drift).

    Every request Headwater sends meanwhile is served from the recording, whichever
    connector sends it (nothing reaches the network): run other connectors outside the
    block."""
    manifest = load_manifest(directory, name)
    specs = [r.incremental for r in get_registry().get(name).resources if r.incremental]
    positions = {p for spec in specs for p in (spec.param, spec.end_param) if p}
    # a recording without the run's end: the replay's end bounds are now, never recorded
    unkept = (
        {spec.end_param for spec in specs if spec.end_param}
        if recorded_end(directory, name) is None
        else set()
    )
    player = Player(read_cassettes(Path(directory)), str(directory), positions, unkept)
    with (
        watching(name, pages=manifest.get("pages"), sample=sample),
        replaying(player),
        _tokens_in_memory(),
        # reads end where the recorded run's did (a source built without bounds too:
        # the headwater_replay fixture's, the recording suite's)
        ending_at(recorded_end(directory, name)),
    ):
        yield replay_settings(name, manifest, settings)


class _ReplayTokens:
    """A replay's rotated refresh tokens are the recording's placeholders: kept in
    memory for the replay, never written to the user's token store."""

    def __init__(self) -> None:
        self.store = MemoryTokenStore()

    @hookimpl(tryfirst=True)
    def headwater_token_store(self) -> MemoryTokenStore:
        return self.store


@contextlib.contextmanager
def _tokens_in_memory() -> Iterator[None]:
    pm = get_plugin_manager()
    plugin = _ReplayTokens()
    pm.register(plugin, name=f"replay.tokens.{id(plugin)}")
    try:
        yield
    finally:
        pm.unregister(plugin)
