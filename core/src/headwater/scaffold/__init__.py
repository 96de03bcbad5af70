"""``headwater new NAME``: scaffold a connector distribution that works as generated.

It writes ``headwater-NAME/``: a pyproject with the ``headwater`` entry point and the
destination extras, the hooks module declaring one resource (API key auth, offset
pagination, primary key, merge) with its JSON Schema file, a settings schema read by a
hook, tests that run the conformance suite and load into DuckDB against the simulator,
and a README. ``pip install -e ".[duckdb,test]" && pytest`` passes straight away.

Bad input (name, clash with an installed connector, a directory in the way or not
writable) is a :class:`~headwater.errors.ConfigError` raised before anything is written.

May import: ``headwater.run`` and everything below it (it asks the plugin registry
whether a name is taken). Not ``cli`` or ``testing``.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

from attrs import frozen

from headwater.convert.model import Converted
from headwater.errors import ConfigError
from headwater.scaffold.converted import render_converted
from headwater.scaffold.files import Names, render
from headwater.scaffold.names import check_available, check_name, distribution_name

__all__ = ["Created", "cmd_new", "create_connector", "next_steps"]

#: how --sample's changes begin in the notes
SAMPLED = "from a sample of the API: "


@frozen
class Created:
    """What :func:`create_connector` wrote: the distribution's directory, the files
    (relative paths, in order) and which of them replaced an existing file."""

    name: str
    directory: Path
    files: tuple[PurePosixPath, ...]
    replaced: frozenset[PurePosixPath] = frozenset()
    #: generated from a converted declaration (not the placeholder API)
    converted: bool = False


def _check_target(target: Path, force: bool) -> None:
    """Raise :class:`ConfigError` if ``target`` cannot receive a new distribution."""
    parent = target.parent
    if parent.exists() and not parent.is_dir():
        raise ConfigError(f"--directory {parent} is not a directory; choose a directory")
    if target.exists() or target.is_symlink():
        if not target.is_dir():
            raise ConfigError(
                f"{target} exists and is not a directory; remove it or choose another --directory"
            )
        if not force and any(target.iterdir()):
            raise ConfigError(
                f"{target} already exists and is not empty; choose another --directory, "
                "or pass --force to overwrite the generated files in it"
            )


def _write(target: Path, files: dict[PurePosixPath, str]) -> frozenset[PurePosixPath]:
    """Write ``files`` under ``target``; returns those that replaced a file."""
    replaced = set()
    for relative, text in files.items():
        path = target.joinpath(*relative.parts)
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists():
            replaced.add(relative)
        with open(path, "w", encoding="utf-8", newline="\n") as out:
            out.write(text)
    return frozenset(replaced)


def create_connector(
    name: str,
    directory: str | os.PathLike[str] = ".",
    *,
    force: bool = False,
    converted: Converted | None = None,
    origin: str = "",
) -> Created:
    """Create the distribution of connector ``name`` in ``directory/headwater-<name>/``.

    With ``converted`` (a declaration from :mod:`headwater.convert`), the package
    declares it instead of the placeholder API; ``origin`` names what it came from.

    Every check runs before anything is written. Without ``force`` the directory must
    not exist or be empty; with it, the generated files are overwritten and any other
    file is left alone. If writing fails, a directory this call created is removed.
    """
    check_name(name)
    target = Path(directory).expanduser() / distribution_name(name)
    check_available(name, target)
    _check_target(target, force)
    if converted is None:
        files = dict(render(Names(name)))
    else:
        files = render_converted(Names(name), converted, origin or "a converted declaration")
    existed = target.exists()
    try:
        target.mkdir(parents=True, exist_ok=True)
        replaced = _write(target, files)
    except OSError as exc:
        if not existed:
            shutil.rmtree(target, ignore_errors=True)
        reason = exc.strerror or type(exc).__name__
        raise ConfigError(
            f"cannot write {exc.filename or target}: {reason}; choose a --directory you "
            "can write to"
        ) from None
    return Created(
        name=name,
        directory=target,
        files=tuple(files),
        replaced=replaced,
        converted=converted is not None,
    )


def _shown(path: Path) -> str:
    """``path`` relative to the working directory when it is below it."""
    absolute = path.absolute()
    try:
        return str(absolute.relative_to(Path.cwd()))
    except ValueError:
        return str(absolute)


def next_steps(created: Created) -> Sequence[str]:
    """What to print after creating a connector: the files, then what to run."""
    package = f"headwater_{created.name}"
    lines = [f"created {distribution_name(created.name)} in {_shown(created.directory)}:"]
    lines += [
        f"  {path}" + ("  (replaced)" if path in created.replaced else "") for path in created.files
    ]
    steps = [
        (f"cd {shlex.quote(_shown(created.directory))}", ""),
        ('pip install -e ".[duckdb,test]"', 'or: uv pip install -e ".[duckdb,test]"'),
        ("pytest", "the conformance suite, against a simulated API"),
        (f"headwater describe {created.name}", "what users will see"),
    ]
    width = max(len(command) for command, note in steps if note) + 2
    lines.append("next steps:")
    lines += [
        f"  {command.ljust(width)}# {note}" if note else f"  {command}" for command, note in steps
    ]
    if created.converted:
        lines.append(
            f"the declaration is in src/{package}/hooks.py (README.md lists what was understood)"
        )
        return lines
    lines.append(
        f"then point it at your API: the CHANGE comments in src/{package}/hooks.py "
        "(README.md has the map)"
    )
    return lines


def _converted(args: argparse.Namespace) -> tuple[Converted | None, str]:
    """The declaration ``--from-rest-api`` / ``--from-openapi`` ask for, and its origin."""
    rest_api = getattr(args, "from_rest_api", None)
    openapi = getattr(args, "from_openapi", None)
    if rest_api and openapi:
        raise ConfigError("give --from-rest-api or --from-openapi, not both")
    if (getattr(args, "path", None) or getattr(args, "tag", None)) and not openapi:
        raise ConfigError(
            "--path and --tag select OpenAPI operations: use them with --from-openapi"
        )
    if getattr(args, "sample", False) and not openapi:
        raise ConfigError("--sample refines schemas from the API: use it with --from-openapi")
    if rest_api:
        from headwater.convert.config_file import load_config_file
        from headwater.convert.rest_api import convert_rest_api

        config = load_config_file(rest_api)
        return convert_rest_api(config, args.name), f"the rest_api config {Path(rest_api).name}"
    if openapi:
        from headwater.convert.openapi import convert_openapi, load_document

        document = load_document(openapi)
        shown = openapi if "://" in openapi else Path(openapi).name
        try:
            converted = convert_openapi(
                document, args.name, paths=args.path or (), tags=args.tag or ()
            )
        except ConfigError as exc:  # the document's problem: name the document
            raise ConfigError(f"{shown}: {exc}") from None
        if args.sample:
            from headwater.scaffold.sample import refine

            converted = refine(converted, print)
        return converted, f"the OpenAPI document {shown}"
    return None, ""


def cmd_new(args: argparse.Namespace) -> int:
    """The ``headwater new NAME [--directory DIR] [--force] [--from-rest-api FILE |
    --from-openapi FILE_OR_URL [--path GLOB] [--tag TAG] [--sample]]`` command."""
    check_name(args.name)  # before a conversion, whose errors would hide a bad name
    converted, origin = _converted(args)
    created = create_connector(
        args.name, args.directory, force=args.force, converted=converted, origin=origin
    )
    if converted is not None:
        for note in converted.notes:
            if not note.startswith(SAMPLED):  # --sample printed its own as it went
                print(f"note: {note}")
        for todo in converted.todos:
            print(f"todo: {todo}")
    print("\n".join(next_steps(created)))
    return 0
