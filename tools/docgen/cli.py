"""The command reference, rendered from the real argparse parser (``headwater.cli._parser``):
each subcommand's usage, description, arguments with their help and defaults, and the
examples of its epilog. A new subcommand or option appears without touching the docs."""

from __future__ import annotations

import argparse
from collections.abc import Iterable

from headwater.cli import _parser

__all__ = ["commands", "render_command", "render_overview"]

#: Width of rendered usage lines (the terminal's width must not change the docs).
WIDTH = 88


def _subparsers(parser: argparse.ArgumentParser) -> argparse._SubParsersAction:
    return next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))


def commands() -> dict[str, tuple[str, argparse.ArgumentParser]]:
    """Each subcommand: name -> (one-line help, its parser), in the parser's order."""
    sub = _subparsers(_parser())
    helps = {a.dest: a.help or "" for a in sub._choices_actions}
    return {name: (helps.get(name, ""), p) for name, p in sub.choices.items()}


def _formatter(parser: argparse.ArgumentParser) -> argparse.HelpFormatter:
    return argparse.RawDescriptionHelpFormatter(prog=parser.prog, width=WIDTH)


def _usage(parser: argparse.ArgumentParser) -> str:
    formatter = _formatter(parser)
    formatter.add_usage(parser.usage, parser._actions, parser._mutually_exclusive_groups, prefix="")
    return formatter.format_help().strip()


def _arguments(parser: argparse.ArgumentParser) -> list[tuple[str, str]]:
    formatter = _formatter(parser)
    rows = []
    for action in parser._actions:
        if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
            continue
        invocation = formatter._format_action_invocation(action)
        if not action.option_strings and action.nargs in ("*", "?"):
            invocation = f"[{invocation}]"
        help_text = formatter._expand_help(action) if action.help else ""
        rows.append((invocation, help_text))
    return rows


def _epilog(text: str | None) -> str:
    """``examples:`` sections (indented lines) become shell blocks; other lines, text."""
    if not text:
        return ""
    out: list[str] = []
    block: list[str] = []

    def flush() -> None:
        if block:
            out.append("```sh\n" + "\n".join(block) + "\n```")
            block.clear()

    for line in text.rstrip().splitlines():
        if line.startswith("  "):
            block.append(line[2:])
            continue
        flush()
        stripped = line.strip()
        if not stripped:
            continue
        if stripped.endswith(":"):
            out.append(f"**{stripped[:-1].capitalize()}**")
        else:
            out.append(stripped[0].upper() + stripped[1:] + ("" if stripped.endswith(".") else "."))
    flush()
    return "\n\n".join(out)


def _table(rows: Iterable[tuple[str, str]]) -> str:
    lines = ["| argument | meaning |", "| --- | --- |"]
    for invocation, help_text in rows:
        text = help_text.replace("|", "\\|").replace("<", "&lt;")
        lines.append(f"| `{invocation}` | {text} |")
    return "\n".join(lines)


def render_command(name: str, level: int = 2) -> str:
    """The reference of ``headwater NAME``."""
    _help, parser = commands()[name]
    parts = [
        f"{'#' * level} `headwater {name}`",
        parser.description or _help,
        f"```text\n{_usage(parser)}\n```",
    ]
    rows = _arguments(parser)
    if rows:
        parts.append(_table(rows))
    epilog = _epilog(parser.epilog)
    if epilog:
        parts.append(epilog)
    return "\n\n".join(parts) + "\n"


def render_overview() -> str:
    """The top-level usage, global options and one line per subcommand."""
    parser = _parser()
    lines = ["| command | what it does |", "| --- | --- |"]
    for name, (help_text, _p) in commands().items():
        lines.append(f"| [`headwater {name}`](#headwater-{name}) | {help_text} |")
    return (
        "\n\n".join(
            [
                f"```text\n{_usage(parser)}\n```",
                "\n".join(lines),
                "Global options, given before the command:",
                _table(_arguments(parser)),
                _epilog(parser.epilog),
            ]
        )
        + "\n"
    )
