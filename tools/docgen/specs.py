"""The spec classes a connector is declared with (``headwater.spec``), rendered from the
attrs classes themselves: fields, types, defaults and docstrings."""

from __future__ import annotations

import inspect
import re

import attrs
from headwater import spec

__all__ = ["render_specs"]

#: Presentation order; classes missing here are appended, so new ones still appear.
ORDER = [
    "Connector",
    "Resource",
    "OAuth2ClientCredentials",
    "ApiKeyAuth",
    "BearerAuth",
    "BasicAuth",
    "OffsetPagination",
    "CursorPagination",
    "NextLinkPagination",
    "PageNumberPagination",
    "SinglePage",
    "ParentSpec",
    "IncrementalSpec",
    "RetryPolicy",
    "RateLimit",
    "ResponseRule",
]

_ROLE = re.compile(r":\w+:`~?(?:[\w.]+\.)?([^`]+)`")


def _markdown(doc: str) -> str:
    """reStructuredText docstring -> Markdown: roles and double backticks."""
    text = _ROLE.sub(r"`\1`", doc)
    return text.replace("``", "`")


def _default(field: attrs.Attribute) -> str:
    default = field.default
    if default is attrs.NOTHING:
        return "**required**"
    if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
        default = default.factory()  # type: ignore[call-arg]
    return f"`{default!r}`"


def _class_vars(cls: type) -> list[str]:
    lines = []
    for name in ("kind", "settings", "secrets"):
        value = cls.__dict__.get(name)
        if isinstance(value, (str, tuple)):  # a ClassVar, not an attrs field's slot
            shown = ", ".join(f"`{v}`" for v in value) if isinstance(value, tuple) else f"`{value}`"
            lines.append(f"*{name}*: {shown}")
    return lines


def render_class(cls: type) -> str:
    doc = _markdown(inspect.cleandoc(cls.__doc__ or ""))
    parts = [f"### `{cls.__name__}`", doc]
    extra = _class_vars(cls)
    if extra:
        parts.append(" · ".join(extra))
    rows = ["| field | type | default |", "| --- | --- | --- |"]
    for field in attrs.fields(cls):
        annotation = str(field.type)  # a pipe inside a code span needs no escape
        rows.append(f"| `{field.name}` | `{annotation}` | {_default(field)} |")
    if len(rows) > 2:
        parts.append("\n".join(rows))
    else:
        parts.append("No fields.")
    return "\n\n".join(p for p in parts if p)


def render_specs() -> str:
    """Every attrs class exported by ``headwater.spec``."""
    classes = [getattr(spec, n) for n in spec.__all__]
    classes = [c for c in classes if inspect.isclass(c) and attrs.has(c)]
    ranked = sorted(
        classes, key=lambda c: ORDER.index(c.__name__) if c.__name__ in ORDER else len(ORDER)
    )
    return "\n\n".join(render_class(c) for c in ranked) + "\n"
