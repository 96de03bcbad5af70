"""``headwater record NAME --to DIR``: the connector run against the real API once, its
traffic written as scrubbed vcrpy cassettes for offline replays.

A recording folder holds one cassette per resource (``<resource>.yaml``), one for the
token endpoint and other authentication exchanges (``_auth.yaml``), and
``headwater-recording.json``: the connector, the pages read per resource, the base URL,
the settings a replay needs (secret ones only by name: a replay gets their
placeholders) and the run's ``end``: the time it started, where the incremental reads
ended (a replay ends there too, or it would ask for today's "now", which the recording
does not have).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from attrs import frozen

from headwater.errors import ConfigError, HeadwaterError
from headwater.http.cassette import Scrubber, Tape, recording, render_cassette
from headwater.load.assemble import build_source
from headwater.load.incremental import RunBounds
from headwater.plugin.manager import get_registry
from headwater.redact import redact
from headwater.run.dlt_errors import explain
from headwater.run.sampling import reading, watching
from headwater.settings import resolve_settings, settings_schema
from headwater.spec import (
    Connector,
    CursorPagination,
    LastRecordPagination,
    key_path,
    last_record_field,
)
from headwater.timebounds import isoformat

__all__ = [
    "AUTH_CASSETTE",
    "MANIFEST",
    "RecordResult",
    "record_connector",
    "secret_placeholder",
    "single_page_settings",
]

MANIFEST = "headwater-recording.json"
#: the cassette of the token endpoint and of any request that is not a resource's
AUTH_CASSETTE = "_auth"


def secret_placeholder(name: str) -> str:
    """What secret setting ``name`` is recorded as, and what a replay sets it to."""
    return f"redacted-{name}"


def single_page_settings(connector: Connector, pages: int | None = None) -> dict[str, Any]:
    """Settings that make page requests one after another (the order a recording and
    its replay must share): ``parallel_pages`` off where the connector has it, and
    with a page limit ``parallel_windows`` too (which slices read a resource's
    ``pages`` must not depend on which answered first)."""
    props = settings_schema(connector)["properties"]
    forced = {"parallel_pages": 1} if "parallel_pages" in props else {}
    if pages is not None and "parallel_windows" in props:
        forced["parallel_windows"] = 1
    return forced


@frozen
class RecordResult:
    """What a recording wrote (or, when :attr:`kept`, would have written): cassette
    name -> number of interactions."""

    directory: str
    cassettes: Mapping[str, int]
    failure: str = ""
    #: the recording failed and the earlier one in ``directory`` was kept as it was
    kept: bool = False


def _classifier(connector: Connector, base_url: str) -> Any:
    """Which cassette a request belongs to: the resource the sending thread reads a
    page of (:func:`~headwater.run.sampling.reading`: resources may share a path),
    when the URL's path (below the base URL's path) is a resource's, else
    :data:`AUTH_CASSETTE` (the token endpoint, a login). A resource request sent
    outside a page read goes by the first resource whose path template matches."""
    prefix = urlsplit(base_url).path.rstrip("/")
    patterns = []
    for resource in sorted(connector.resources, key=lambda r: -len(r.path)):
        parts = re.split(r"(\{[^{}]+\})", resource.path)
        regex = "".join("[^/]+" if p.startswith("{") else re.escape(p) for p in parts)
        patterns.append((re.compile(re.escape(prefix) + regex + "/?"), resource.name))

    def classify(method: str, url: str) -> str:
        path = urlsplit(url).path
        for pattern, name in patterns:
            if pattern.fullmatch(path):
                return reading() or name
        return AUTH_CASSETTE

    return classify


def _child_paths(connector: Connector, base_url: str) -> list[tuple[str, str, str]]:
    """The URL path templates of the child resources (below the base URL's path), the
    placeholder their parent's field fills and that field (its last key): where that
    field's masked values are masked in a URL, whatever their length."""
    prefix = urlsplit(base_url).path.rstrip("/")
    return [
        (prefix + r.path, r.parent.placeholder, (key_path(r.parent.field) or ("",))[-1])
        for r in connector.resources
        if r.parent
    ]


def _check_masks(connector: Connector, names: Sequence[str] | None, scrubber: Scrubber) -> None:
    """Refuse a ``--mask`` whose masked values the replay would have to send as the
    recorded run sent the real ones: a resource's incremental cursor (a masked value
    is not a time), or the last record's field a cursor pagination sends."""
    for resource in connector.resources:
        if names and resource.name not in names:
            continue
        incremental = resource.incremental
        cursor = key_path(incremental.cursor_field) if incremental is not None else None
        if cursor and scrubber.masks(cursor[-1]):
            raise ConfigError(
                f"--mask {cursor[-1]}: it is the incremental cursor of resource "
                f"{resource.name}, and a masked value is no time for the replay to read; "
                "mask other fields"
            )
        paging = resource.pagination
        field = None
        if isinstance(paging, CursorPagination):
            field = last_record_field(paging.cursor_path, resource.data_selector)
        elif isinstance(paging, LastRecordPagination):  # Stripe's starting_after
            path = key_path(paging.cursor_field)
            field = path[-1] if path else None
        if field is not None and scrubber.masks(field):
            raise ConfigError(
                f"--mask {field}: resource {resource.name} sends its last record's "
                f"{field} as the next page's {paging.cursor_param}, which the replay "
                "would send masked and the recording has not; mask other fields"
            )


#: what :func:`_kept` answers for a value JSON cannot hold (a Python object given to
#: :func:`record_connector`): not written to the manifest
_UNKEPT: Any = object()


def _kept(value: Any, scrubber: Scrubber) -> Any:
    """``value`` as the manifest keeps it: JSON's types, every text in it (an object's
    keys too) scrubbed of the secrets; :data:`_UNKEPT` when JSON cannot hold it."""
    if isinstance(value, str):
        return scrubber.text(value)
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, (list, tuple)):
        items = [_kept(v, scrubber) for v in value]
        return _UNKEPT if any(i is _UNKEPT for i in items) else items
    if isinstance(value, Mapping) and all(isinstance(k, str) for k in value):
        pairs = {scrubber.text(k): _kept(v, scrubber) for k, v in value.items()}
        return _UNKEPT if any(v is _UNKEPT for v in pairs.values()) else pairs
    return _UNKEPT


def _prepare_directory(directory: Path, connector: str) -> bool:
    """Make ``directory`` ready for a recording of ``connector``; returns whether it
    holds an earlier one (replaced only by a recording that succeeds)."""
    if directory.exists() and not directory.is_dir():
        raise ConfigError(f"--to {directory} is a file; name a folder for the cassettes")
    directory.mkdir(parents=True, exist_ok=True)
    manifest = directory / MANIFEST
    if manifest.exists():
        try:
            other = json.loads(manifest.read_text(encoding="utf-8")).get("connector")
        except (OSError, ValueError):
            other = None
        if other != connector:
            raise ConfigError(
                f"--to {directory} holds a recording of connector {other}; choose another folder"
            )
    elif any(directory.glob("*.yaml")):
        raise ConfigError(
            f"--to {directory} holds YAML files that are not a Headwater recording; "
            "choose an empty folder"
        )
    return manifest.exists()


def record_connector(
    name: str,
    settings: Mapping[str, Any] | None = None,
    *,
    to: str | Path,
    resources: Sequence[str] | None = None,
    pages: int | None = None,
    mask: Sequence[str] = (),
) -> RecordResult:
    """Run connector ``name`` against its API (nothing is loaded) and write what was
    sent and received to cassettes in ``to``, every secret scrubbed before it is
    written. ``pages``: at most that many pages per resource (per parent record for a
    child resource). ``mask``: record fields whose values are personal data.

    Settings problems raise :class:`~headwater.errors.ConfigError` before anything is
    sent. When the API fails, the failure is in :attr:`RecordResult.failure` and what
    was recorded is written (an error's answers replay too), unless ``to`` holds an
    earlier recording: that one is kept whole (:attr:`RecordResult.kept`)."""
    if pages is not None and pages < 1:
        raise ConfigError(f"--pages must be at least 1, got {pages}")
    connector = get_registry().get(name)
    _check_masks(connector, resources, Scrubber(mask=mask))
    # records are not checked against their schemas here: nothing is loaded, and a
    # recording of an API that disagrees with the declaration is what drift checks read
    forced = {**single_page_settings(connector, pages), "validation": "off"}
    explicit = {**dict(settings or {}), **forced}
    resolved = resolve_settings(connector, explicit)
    base_url = str(resolved["base_url"])
    scrubber = Scrubber({}, mask, _child_paths(connector, base_url))
    directory = Path(to)
    earlier = _prepare_directory(directory, name)
    secrets = {
        key: resolved[key] for key in resolved.secret_names if resolved.get(key) not in (None, "")
    }
    # each secret setting becomes the placeholder a replay will set it to
    for key, value in secrets.items():
        scrubber.add(value, label=key, numbered=False)
    tape = Tape(scrubber, _classifier(connector, base_url))
    failure = ""
    # one end for every incremental read, as `headwater run` has: kept for the replay
    end = datetime.now(timezone.utc)
    with watching(name, pages=pages, mark=True), recording(tape):
        try:
            source = build_source(name, explicit, resources=resources, bounds=RunBounds(end=end))
            for _item in source:
                pass
        except HeadwaterError:
            raise
        except Exception as exc:
            known = explain(exc)
            if known is None or isinstance(known, ConfigError):
                raise (known or exc) from None
            failure = redact(str(known))
    cassettes = tape.cassettes()
    if failure and earlier:
        return RecordResult(
            directory=str(directory),
            cassettes={k: len(v) for k, v in cassettes.items()},
            failure=failure,
            kept=True,
        )
    # every cassette is rendered (and checked for secrets) before any file is touched:
    # a refusal leaves the folder as it was, not half of a recording
    texts = {
        f"{cassette}.yaml": render_cassette(f"{cassette}.yaml", interactions, scrubber)
        for cassette, interactions in cassettes.items()
    }
    for old in directory.glob("*.yaml"):  # a new recording replaces the old one whole
        old.unlink()
    for file_name, text in texts.items():
        (directory / file_name).write_text(text, encoding="utf-8")
    # every non-secret setting given (text, number, flag, object or list: a replay
    # needs an object setting such as extra_resources as much as a text one), any
    # secret inside scrubbed as in the cassettes
    non_secret = {}
    for key, value in resolved.values.items():
        if key in resolved.secret_names or key in forced:
            continue
        if resolved.origins.get(key, "default") == "default":
            continue
        kept = _kept(value, scrubber)
        if kept is not _UNKEPT:
            non_secret[key] = kept
    manifest = {
        "connector": name,
        "resources": list(resources or connector.resource_names),
        "pages": pages,
        "base_url": base_url,
        "settings": non_secret,
        "secret_settings": sorted(secrets),
        "masked": sorted(mask),
        "end": isoformat(end),
    }
    (directory / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return RecordResult(
        directory=str(directory),
        cassettes={k: len(v) for k, v in cassettes.items()},
        failure=failure,
    )
