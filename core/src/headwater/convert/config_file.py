"""Read a ``rest_api`` config as users hand it over: ``.json``, ``.yaml``/``.yml``,
``.toml``, or a ``.py`` file holding one dict literal (for example the
``rest_api_source({...})`` call the seeds show). YAML is read with YAML 1.2 rules
(``NO``, ``on`` and an unquoted date are strings). ``//`` line comments are allowed in
JSON and Python, as in the seeds; ``dlt.secrets["name"]`` and ``dlt.config["name"]``
become :class:`~headwater.convert.model.SettingRef` values, and a dlt paginator
constructed in Python (``OffsetPaginator(limit=10)``) the mapping of its type
(``{"type": "offset", "limit": 10}``). The Python file is parsed, never run. Every
problem is one :class:`~headwater.errors.ConfigError` line.
"""

from __future__ import annotations

import ast
import functools
import json
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from headwater.convert.model import SettingRef
from headwater.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

__all__ = [
    "decode_utf8",
    "load_config_file",
    "load_yaml",
    "parse_python_config",
    "read_text",
    "strip_line_comments",
]

_STRING_OR_COMMENT = re.compile(r'("(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\')|//[^\n]*')


def strip_line_comments(text: str) -> str:
    """``text`` without ``//`` comments outside string literals."""
    return _STRING_OR_COMMENT.sub(lambda m: m.group(1) or "", text)


# The YAML 1.2 core schema's plain scalars (https://yaml.org/spec/1.2.2/#1032-tag-resolution):
# PyYAML resolves YAML 1.1's, where NO, on, off, yes are booleans, 0644 is octal and
# 2024-01-01 a date. OpenAPI documents are YAML 1.2 (enum: [SE, NO] is two strings).
_YAML12 = {
    "tag:yaml.org,2002:null": (r"^(?:~|null|Null|NULL|)$", [*"~nN", ""]),
    "tag:yaml.org,2002:bool": (r"^(?:true|True|TRUE|false|False|FALSE)$", [*"tTfF"]),
    "tag:yaml.org,2002:int": (r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$", [*"-+0123456789"]),
    "tag:yaml.org,2002:float": (
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
        [*"-+.0123456789"],
    ),
}


@functools.cache
def _yaml12_loader() -> type:
    """A ``yaml.SafeLoader`` resolving plain scalars by the YAML 1.2 core schema."""
    import yaml  # kept by dlt itself (a dependency of dlt)

    class Yaml12Loader(yaml.SafeLoader):
        def construct_yaml_int(self, node: Any) -> int:
            text = str(self.construct_scalar(node))
            if text.startswith("0o"):
                return int(text[2:], 8)
            return int(text, 16) if text.startswith("0x") else int(text, 10)

    kept = ("tag:yaml.org,2002:merge",)  # << keys: every YAML library keeps them
    Yaml12Loader.yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag in kept]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    for tag, (regexp, first) in _YAML12.items():
        Yaml12Loader.add_implicit_resolver(tag, re.compile(regexp), first)
    Yaml12Loader.add_constructor("tag:yaml.org,2002:int", Yaml12Loader.construct_yaml_int)
    return Yaml12Loader


def load_yaml(text: str) -> Any:
    """The data of YAML ``text`` read with YAML 1.2 core-schema rules: only
    ``true``/``false`` are booleans, only ``null``/``~``/nothing is null, numbers are
    decimal (``0o``/``0x`` for others), and dates stay strings. Raises
    ``yaml.YAMLError``."""
    import yaml

    return yaml.load(text, Loader=_yaml12_loader())  # a SafeLoader subclass


def read_text(file: Path) -> str:
    """The UTF-8 text of ``file`` (a byte order mark, as Windows editors write, is
    dropped); a :class:`ConfigError` line if it cannot be read."""
    try:
        return decode_utf8(file.read_bytes(), str(file))
    except OSError as exc:
        raise ConfigError(f"cannot read {file}: {exc.strerror or exc}") from None


def decode_utf8(data: bytes, source: str) -> str:
    """``data`` (a file's or a response's bytes) as UTF-8 text, a byte order mark
    dropped; a :class:`ConfigError` line naming ``source`` if it is not UTF-8. JSON and
    YAML documents are UTF-8 whatever a server's Content-Type says (RFC 8259)."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{source} is not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset "
            f"{exc.start}): save it as UTF-8"
        ) from None


def load_config_file(path: str | Path) -> dict[str, Any]:
    """The ``rest_api`` config in the file at ``path``."""
    file = Path(path)
    text = read_text(file)
    suffix = file.suffix.lower()
    if suffix == ".json":
        try:
            config = json.loads(strip_line_comments(text))
        except json.JSONDecodeError as exc:
            raise ConfigError(
                f"{file} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
            ) from None
    elif suffix in (".yaml", ".yml"):
        import yaml  # kept by dlt itself (a dependency of dlt)

        try:
            config = load_yaml(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1}" if mark is not None else ""
            raise ConfigError(f"{file} is not valid YAML{where}: {exc}".splitlines()[0]) from None
    elif suffix == ".toml":
        try:
            config = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{file} is not valid TOML: {exc}") from None
    elif suffix == ".py":
        config = parse_python_config(text, str(file))
    else:
        raise ConfigError(
            f"{file}: unknown config format {suffix or '(no suffix)'!r}; use .json, .yaml, "
            ".toml or a .py file holding the config dict"
        )
    if not isinstance(config, dict):
        raise ConfigError(
            f"{file} must hold one rest_api config (a mapping), not {type(config).__name__}"
        )
    return config


_CALLS = ("rest_api_source", "rest_api_resources")


def _call_config(node: ast.Call) -> ast.expr | None:
    """The config argument of a ``rest_api_source``/``rest_api_resources`` call."""
    if getattr(node.func, "id", getattr(node.func, "attr", None)) not in _CALLS:
        return None
    if node.args:
        return node.args[0]
    for keyword_arg in node.keywords:
        if keyword_arg.arg == "config":
            return keyword_arg.value
    return None


def _assigned(tree: ast.AST) -> dict[str, ast.Dict]:
    """Each name assigned a dict literal (``config = {...}``, ``config: T = {...}``),
    anywhere in ``tree`` (a function body too); the first assignment wins."""
    out: dict[str, ast.Dict] = {}
    for node in ast.walk(tree):
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign):
            targets = list(node.targets)
        elif isinstance(node, ast.AnnAssign):
            targets = [node.target]
        value = getattr(node, "value", None)
        if isinstance(value, ast.Dict):
            for target in targets:
                if isinstance(target, ast.Name):
                    out.setdefault(target.id, value)
    return out


def _parameters(tree: ast.AST, found: ast.Dict) -> dict[str, bool]:
    """The parameters of the functions that hold ``found`` (e.g. ``access_token`` of
    ``def github_source(access_token=dlt.secrets.value)``), each with whether it is a
    secret (all but those defaulting to ``dlt.config.value``)."""
    names: dict[str, bool] = {}
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and any(
            inner is found for inner in ast.walk(node)
        ):
            arguments = node.args
            positional = [*arguments.posonlyargs, *arguments.args]
            defaults: list[ast.expr | None] = [None] * (
                len(positional) - len(arguments.defaults)
            ) + list(arguments.defaults)
            pairs = [
                *zip(positional, defaults, strict=True),
                *zip(arguments.kwonlyargs, arguments.kw_defaults, strict=True),
            ]
            for arg, default in pairs:
                names[arg.arg] = not (
                    default is not None and ast.unparse(default) == "dlt.config.value"
                )
    return names


def parse_python_config(text: str, where: str = "<config>") -> dict[str, Any]:
    """The config dict literal in Python source ``text``, parsed, never run: the
    argument of a ``rest_api_source(...)``/``rest_api_resources(...)`` call (positional
    or ``config=``, a dict or a name assigned one), else the dict assigned to
    ``config`` (also inside a function), else the first top-level dict. A parameter of
    the function holding it (``access_token=dlt.secrets.value``) is read as the setting
    of that name."""
    try:
        tree = ast.parse(strip_line_comments(text), filename=where)
    except SyntaxError as exc:
        raise ConfigError(f"{where} is not valid Python at line {exc.lineno}: {exc.msg}") from None
    assigned = _assigned(tree)
    found: ast.Dict | None = None
    for node in ast.walk(tree):
        argument = _call_config(node) if isinstance(node, ast.Call) else None
        if isinstance(argument, ast.Dict):
            found = argument
        elif isinstance(argument, ast.Name) and argument.id in assigned:
            found = assigned[argument.id]
        if found is not None:
            break
    if found is None:
        found = assigned.get("config")
    if found is None:
        for node in tree.body:
            value = getattr(node, "value", None)
            if isinstance(value, ast.Dict):
                found = value
                break
    if found is None:
        raise ConfigError(
            f"{where} holds no config dict: write the rest_api config as one dict literal "
            "(e.g. config = {...} or rest_api_source({...}))"
        )
    return _literal(found, where, _parameters(tree, found))


#: dlt's paginator classes a config may construct (``OffsetPaginator(limit=10)``): the
#: rest_api paginator type each is, and its constructor's positional parameters, which
#: are the mapping form's keys
_PAGINATOR_CALLS: dict[str, tuple[str, tuple[str, ...]]] = {
    "SinglePagePaginator": ("single_page", ()),
    "OffsetPaginator": (
        "offset",
        (
            "limit",
            "offset",
            "offset_param",
            "limit_param",
            "total_path",
            "maximum_offset",
            "stop_after_empty_page",
        ),
    ),
    "PageNumberPaginator": (
        "page_number",
        (
            "base_page",
            "page",
            "page_param",
            "total_path",
            "maximum_page",
            "stop_after_empty_page",
        ),
    ),
    "JSONLinkPaginator": ("json_link", ("next_url_path",)),
    "JSONResponsePaginator": ("json_link", ("next_url_path",)),
    "HeaderLinkPaginator": ("header_link", ("links_next_key",)),
    "JSONResponseCursorPaginator": ("cursor", ("cursor_path", "cursor_param", "cursor_body_path")),
    "HeaderCursorPaginator": ("header_cursor", ("cursor_key", "cursor_param")),
}


def _paginator_call(node: ast.Call, where: str, parameters: Mapping[str, bool]) -> dict[str, Any]:
    """``OffsetPaginator(limit=10, ...)`` as the mapping rest_api reads the same way:
    ``{"type": "offset", "limit": 10, ...}``."""
    name = getattr(node.func, "id", getattr(node.func, "attr", ""))
    kind, positional = _PAGINATOR_CALLS[name]
    if len(node.args) > len(positional) or any(isinstance(a, ast.Starred) for a in node.args):
        raise ConfigError(
            f"{where} line {node.lineno}: {name} takes at most {len(positional)} positional "
            "arguments; name them as keyword arguments"
        )
    out: dict[str, Any] = {"type": kind}
    for key, value in zip(positional, node.args, strict=False):
        out[key] = _literal(value, where, parameters)
    for keyword_arg in node.keywords:
        if keyword_arg.arg is None:
            raise ConfigError(
                f"{where} line {node.lineno}: ** in {name}(...) is not supported; write its "
                "keyword arguments out"
            )
        out[keyword_arg.arg] = _literal(keyword_arg.value, where, parameters)
    return out


def _literal(node: ast.expr, where: str, parameters: Mapping[str, bool] | None = None) -> Any:
    parameters = parameters or {}
    if isinstance(node, ast.Constant):
        return node.value
    if (
        isinstance(node, ast.Call)
        and getattr(node.func, "id", getattr(node.func, "attr", None)) in _PAGINATOR_CALLS
    ):
        return _paginator_call(node, where, parameters)
    if isinstance(node, ast.Dict):
        out: dict[Any, Any] = {}
        for key, value in zip(node.keys, node.values, strict=True):
            if key is None:
                raise ConfigError(
                    f"{where} line {value.lineno}: ** in a config dict is not supported"
                )
            out[_literal(key, where, parameters)] = _literal(value, where, parameters)
        return out
    if isinstance(node, (ast.List, ast.Tuple)):
        return [_literal(e, where, parameters) for e in node.elts]
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        value = _literal(node.operand, where, parameters)
        if isinstance(value, (int, float)):
            return -value
    if (
        isinstance(node, ast.Subscript)
        and isinstance(node.value, ast.Attribute)
        and node.value.attr in ("secrets", "config")
        and isinstance(node.value.value, ast.Name)
        and node.value.value.id == "dlt"
        and isinstance(node.slice, ast.Constant)
        and isinstance(node.slice.value, str)
    ):
        return SettingRef(node.slice.value, secret=node.value.attr == "secrets")
    if isinstance(node, ast.Name) and node.id in ("True", "False", "None"):
        return {"True": True, "False": False, "None": None}[node.id]
    if isinstance(node, ast.Name) and node.id in parameters:
        # the source function's parameter: a setting, secret unless dlt.config.value
        return SettingRef(node.id, secret=parameters[node.id])
    raise ConfigError(
        f"{where} line {node.lineno}: {_shown(node)!r} is not a literal; a config file "
        'holds literals, dlt.secrets["name"] and the parameters of the function holding '
        "the config only"
    )


def _shown(node: ast.AST) -> str:
    """``node``'s source with its strings as ``'...'``: an expression that is refused
    may hold a credential ("Bearer " + "sk_live_..."), never echoed."""
    import copy

    masked = copy.deepcopy(node)
    for child in ast.walk(masked):
        if isinstance(child, ast.Constant) and isinstance(child.value, str):
            child.value = "..."
    return ast.unparse(masked)
