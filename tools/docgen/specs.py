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
    "OAuth2RefreshToken",
    "JwtGrant",
    "JwtBearer",
    "SessionLogin",
    "TemplateAuth",
    "ApiKeyAuth",
    "BearerAuth",
    "BasicAuth",
    "OffsetPagination",
    "CursorPagination",
    "NextLinkPagination",
    "PageNumberPagination",
    "LinkHeaderPagination",
    "HeaderCursorPagination",
    "LastRecordPagination",
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


def _settings_of(cls: type) -> tuple[str, str]:
    """The settings and secrets cells of an auth kind: class attributes, or (for kinds
    whose settings are their templates' placeholders) what a default instance names."""
    settings, secrets = cls.__dict__.get("settings"), cls.__dict__.get("secrets")
    if isinstance(settings, tuple) and isinstance(secrets, tuple):
        return ", ".join(f"`{s}`" for s in settings), ", ".join(f"`{s}`" for s in secrets)
    try:
        example = cls()
    except (TypeError, ValueError):  # no default instance: every name is the author's
        return (
            "the `{name}` placeholders of its templates",
            "all of them unless `secret_settings` says",
        )
    if "secret_settings" not in attrs.fields_dict(cls):
        # settings that depend on a field (BasicAuth(password=False)): the default's
        return (
            ", ".join(f"`{s}`" for s in example.settings) + " (by default)",
            ", ".join(f"`{s}`" for s in example.secrets) + " (by default)",
        )
    return (
        "the `{name}` placeholders of its templates; by default "
        + ", ".join(f"`{s}`" for s in example.settings),
        "those in `secret_settings`; by default " + ", ".join(f"`{s}`" for s in example.secrets),
    )


def render_kinds(classes: list[type]) -> str:
    """A row per declared kind: what it is for, its class and the settings it adds."""
    auth = set(getattr(spec, "_AUTH_TYPES", ()))
    rows = [
        "| concern | kind | class | settings it adds | secret |",
        "| --- | --- | --- | --- | --- |",
    ]
    for cls in classes:
        kind = cls.__dict__.get("kind")
        if not isinstance(kind, str):
            continue
        summary = _markdown(inspect.cleandoc(cls.__doc__ or "")).split("\n\n")[0]
        summary = summary.replace("\n", " ").replace("|", "\\|")
        link = f"[`{cls.__name__}`](#{cls.__name__.lower()})"
        if cls in auth:
            settings, secrets = _settings_of(cls)
            rows.append(f"| auth | `{kind}` | {link}: {summary} | {settings} | {secrets} |")
        else:
            rows.append(f"| pagination | `{kind}` | {link}: {summary} | | |")
    return "### Every kind\n\n" + "\n".join(rows)


def render_specs() -> str:
    """A table of every declared kind, then every attrs class exported by ``headwater.spec``."""
    classes = [getattr(spec, n) for n in spec.__all__]
    classes = [c for c in classes if inspect.isclass(c) and attrs.has(c)]
    ranked = sorted(
        classes, key=lambda c: ORDER.index(c.__name__) if c.__name__ in ORDER else len(ORDER)
    )
    parts = [render_kinds(ranked)] + [render_class(c) for c in ranked]
    return "\n\n".join(parts) + "\n"
