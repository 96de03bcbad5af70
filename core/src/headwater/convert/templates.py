"""The Jinja-like response templates some ``rest_api`` configs carry (the seeds'
``cursor_value`` and ``stop_condition``).

For example::

    "cursor_value": "{{ response.get('@odata.nextLink', {}) }}",
    "stop_condition": "{{ not response.get('@odata.nextLink', {}) }}"

``rest_api`` itself has no such keys; they say "read this field of the response" and
"stop when it is empty". Only those two meanings are understood, and only for a field
reached by keys (``response.get('a')``, ``response['a']['b']``, ``response.a``,
chained); anything else is a :class:`~headwater.errors.ConfigError` naming the
template, never a guess. The expression is parsed with :mod:`ast`, never evaluated.
"""

from __future__ import annotations

import ast
import re

from headwater.errors import ConfigError

__all__ = ["is_template", "response_field", "stop_field"]

_TEMPLATE = re.compile(r"^\s*\{\{(.*)\}\}\s*$", re.DOTALL)


def is_template(value: object) -> bool:
    """Whether ``value`` is a ``{{ ... }}`` template string."""
    return isinstance(value, str) and _TEMPLATE.match(value) is not None


def _expression(template: str, what: str) -> ast.expr:
    match = _TEMPLATE.match(template)
    if match is None:
        raise ConfigError(f"{what} {template!r} is not a {{{{ ... }}}} template")
    try:
        return ast.parse(match.group(1).strip(), mode="eval").body
    except SyntaxError:
        raise ConfigError(
            f"{what} {template!r} cannot be read: write it as "
            "\"{{ response.get('field') }}\", or use the paginator's own keys"
        ) from None


def _keys(node: ast.expr, template: str, what: str) -> tuple[str, ...]:
    """The key path of a ``response...`` access expression."""
    keys: list[str] = []
    while True:
        if isinstance(node, ast.Name) and node.id == "response":
            break
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "get"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
            and not node.keywords
            and len(node.args) <= 2
        ):
            keys.append(node.args[0].value)
            node = node.func.value
        elif (
            isinstance(node, ast.Subscript)
            and isinstance(node.slice, ast.Constant)
            and isinstance(node.slice.value, str)
        ):
            keys.append(node.slice.value)
            node = node.value
        elif isinstance(node, ast.Attribute) and node.attr != "get":
            keys.append(node.attr)
            node = node.value
        else:
            raise ConfigError(
                f"{what} {template!r} is not a field of the response that Headwater can "
                "read: write it as \"{{ response.get('field') }}\" (keys only), or use "
                "the paginator's own keys (cursor_path, next_url_path)"
            )
    if not keys:
        raise ConfigError(f"{what} {template!r} names the whole response, not a field of it")
    return tuple(reversed(keys))


def response_field(template: str, what: str) -> tuple[str, ...]:
    """The key path read by ``{{ response.get('a').get('b') }}``: ``("a", "b")``."""
    return _keys(_expression(template, what), template, what)


def stop_field(template: str, what: str) -> tuple[str, ...]:
    """The key path of a stop condition "this field is empty":
    ``{{ not response.get('a') }}`` or ``{{ response.get('a') is none }}``."""
    node = _expression(template, what)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        return _keys(node.operand, template, what)
    if (
        isinstance(node, ast.Compare)
        and len(node.ops) == 1
        and isinstance(node.ops[0], (ast.Is, ast.Eq))
        and isinstance(node.comparators[0], (ast.Name, ast.Constant))
        and getattr(node.comparators[0], "id", getattr(node.comparators[0], "value", 0))
        in ("none", "None", None)
    ):
        return _keys(node.left, template, what)
    raise ConfigError(
        f"{what} {template!r} is not understood: Headwater stops when the cursor field is "
        "missing or empty, written \"{{ not response.get('field') }}\""
    )
