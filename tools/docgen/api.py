"""Python API reference for one object, rendered from its signature and docstring.

Used for the testing kit (``headwater.testing``): the simulator's options, the faults,
the conformance suite's settings and checks are documented where they are defined.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import re
from pathlib import Path
from typing import Any

__all__ = ["docstring_markdown", "render_modules", "render_object"]

_ROLE = re.compile(r":\w+:`~?(?:[\w.]+\.)?([^`]+)`")


def docstring_markdown(doc: str) -> str:
    """A reStructuredText docstring as Markdown: roles, double backticks, ``::`` blocks."""
    out: list[str] = []
    lines = doc.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.rstrip().endswith("::"):
            head = line.rstrip()[:-2].rstrip()
            out.append(_ROLE.sub(r"`\1`", head + ":" if head else "").replace("``", "`"))
            i += 1
            block: list[str] = []
            while i < len(lines) and (not lines[i].strip() or lines[i].startswith(" ")):
                block.append(lines[i])
                i += 1
            while block and not block[-1].strip():
                block.pop()
            code = inspect.cleandoc("\n".join(block))
            out += ["", "```python", code, "```", ""]
            continue
        out.append(_ROLE.sub(r"`\1`", line).replace("``", "`"))
        i += 1
    return "\n".join(out).strip()


def _resolve(dotted: str) -> Any:
    module, _, name = dotted.rpartition(".")
    return getattr(importlib.import_module(module), name)


def _first_paragraph(obj: Any) -> str:
    doc = inspect.getdoc(obj) or ""
    return " ".join(doc.split("\n\n")[0].split())


def _signature(name: str, obj: Any, width: int = 88) -> str:
    """``name(params) -> result``, one parameter per line when it would be too long."""
    prefix = "class " if inspect.isclass(obj) else ""
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        return f"{prefix}{name}"
    if inspect.isclass(obj) and not sig.parameters:
        return f"{prefix}{name}"
    result = ""
    if sig.return_annotation is not inspect.Signature.empty and not inspect.isclass(obj):
        result = f" -> {sig.return_annotation}".replace("'", "")
    text = f"{prefix}{name}{sig.replace(return_annotation=inspect.Signature.empty)}{result}"
    text = text.replace("'", "")
    if len(text) <= width:
        return text
    params = str(sig.replace(return_annotation=inspect.Signature.empty))[1:-1].replace("'", "")
    parts, depth, current = [], 0, ""
    for char in params:
        depth += char in "[({"
        depth -= char in "])}"
        if char == "," and depth == 0:
            parts.append(current.strip())
            current = ""
        else:
            current += char
    parts.append(current.strip())
    body = "".join(f"    {p},\n" for p in parts)
    return f"{prefix}{name}(\n{body}){result}"


def _members(cls: type) -> list[str]:
    rows = []
    for name, value in vars(cls).items():
        if name.startswith("_"):
            continue
        if isinstance(value, property):
            rows.append(f"- `{name}`: {_first_paragraph(value)}")
        elif inspect.isfunction(value):
            if name.startswith("test_"):
                continue
            sig = str(inspect.signature(value)).replace("'", "").replace("(self, ", "(")
            sig = sig.replace("(self)", "()")
            rows.append(f"- `{name}{sig}`: {_first_paragraph(value)}")
    return [docstring_markdown(r) for r in rows]


def _tests(cls: type) -> list[str]:
    rows = []
    for name in dir(cls):
        if name.startswith("test_"):
            doc = _first_paragraph(getattr(cls, name))
            rows.append(f"- `{name}`" + (f": {docstring_markdown(doc)}" if doc else ""))
    return rows


def _class_settings(cls: type) -> list[str]:
    rows = []
    annotations = getattr(cls, "__annotations__", {})
    for name in annotations:
        if name.startswith("_") or "ClassVar" not in str(annotations[name]):
            continue
        rows.append(f"- `{name} = {getattr(cls, name)!r}`")
    return rows


def render_object(dotted: str, level: int = 3) -> str:
    """Heading, signature and docstring of the object at ``dotted`` (a module path plus
    a name); for a class also its public methods and properties, the class settings
    it declares and, for a test-suite class, its tests."""
    obj = _resolve(dotted)
    name = dotted.rpartition(".")[2]
    parts = [
        f"{'#' * level} `{name}`",
        f"```python\n{_signature(name, obj)}\n```",
        docstring_markdown(inspect.getdoc(obj) or ""),
    ]
    if inspect.isclass(obj):
        settings = _class_settings(obj)
        if settings:
            parts.append("Class settings:\n\n" + "\n".join(settings))
        members = _members(obj)
        if members:
            parts.append("\n".join(members))
        tests = _tests(obj)
        if tests:
            parts.append("The checks:\n\n" + "\n".join(tests))
    return "\n\n".join(p for p in parts if p) + "\n"


def render_modules(package: str) -> str:
    """A table of ``package``'s modules, then each subpackage followed by its own modules
    and subpackages, with the first paragraph of each docstring (read from the source:
    nothing is imported)."""
    root = Path(importlib.import_module(package).__file__).parent  # type: ignore[arg-type]
    rows = ["| module | holds |", "| --- | --- |"]
    entries = [(p.name, p) for p in sorted(root.glob("*.py")) if p.name != "__init__.py"]
    for init in sorted(root.glob("*/__init__.py")):
        folder = init.parent
        entries.append((f"{folder.name}/", init))
        entries += [
            (f"{folder.name}/{p.name}", p)
            for p in sorted(folder.glob("*.py"))
            if p.name != "__init__.py"
        ]
        entries += [
            (f"{folder.name}/{p.parent.name}/", p) for p in sorted(folder.glob("*/__init__.py"))
        ]
    for name, path in entries:
        doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
        first = " ".join(doc.split("\n\n")[0].split())
        text = docstring_markdown(first).replace("|", "\\|").replace("<", "&lt;")
        rows.append(f"| `{name}` | {text} |")
    return "\n".join(rows) + "\n"
