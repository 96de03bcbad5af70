"""An OpenAPI 3.0/3.1 document turned into a Headwater declaration.

:func:`load_document` reads a file or URL (JSON or YAML) and validates it with
``openapi-spec-validator`` (the ``openapi`` extra); :func:`convert_openapi` makes a
resource of each collection ``GET`` (a response that is a list, or an object holding
one), filtered by path globs and tags:

* the record schema is the list's item schema, ``$ref`` s resolved with
  :mod:`referencing` (recursion cut at the first repeat), ``allOf`` merged, and OpenAPI
  3.0 keywords made JSON Schema (``nullable``, also in an ``enum``, boolean
  ``exclusiveMinimum``), ``oneOf`` checked as ``anyOf`` (branches that require nothing
  distinguishing all match one record, which ``oneOf`` would quarantine); an item schema
  of branches only gets their properties (:func:`record_schema_of`);
* the data selector is the list's property (``None`` for a bare list);
* pagination from the query parameters and the response: ``offset``/``limit`` (with a
  total if the response has one), ``page`` (and a page size), a cursor parameter with a
  response token, a next-page URL in the body, a ``Link`` response header; anything else
  is a single page with a TODO naming the operation;
* auth from the security scheme the operations use: HTTP bearer or basic, an API key
  in a header or the query, OAuth2 client credentials (or the refresh-token grant for
  the authorization-code flow; a relative token URL read against the server URL);
* a path parameter is filled from a parent resource's records when a collection lists
  them at the path's prefix, and otherwise is a setting; so is a required query
  parameter (``<name>_param`` when ``<name>`` is one of Headwater's own settings, an
  auth or builtin one: never merged into it).

Swagger 2.0 is refused with a one-line error: no kept Python library converts it.
"""

from __future__ import annotations

import contextlib
import fnmatch
import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from headwater.convert.config_file import decode_utf8, load_yaml, read_text
from headwater.convert.model import Converted
from headwater.errors import ConfigError
from headwater.settings import settings_schema
from headwater.spec import (
    ApiKeyAuth,
    BasicAuth,
    BearerAuth,
    Connector,
    CursorPagination,
    IncrementalSpec,
    JwtBearer,
    JwtGrant,
    LinkHeaderPagination,
    NextLinkPagination,
    OAuth2ClientCredentials,
    OAuth2RefreshToken,
    OffsetPagination,
    PageNumberPagination,
    ParentSpec,
    Resource,
    SinglePage,
)

__all__ = ["convert_openapi", "load_document", "record_schema_of"]

_OFFSET = ("offset", "skip", "start")
_LIMIT = (
    "limit",
    "page_size",
    "pagesize",
    "per_page",
    "perpage",
    "size",
    "count",
    "take",
    "max_results",
    "maxresults",
)
_PAGE = ("page", "page_number", "pagenumber", "page_no", "pageno")
_CURSOR = (
    "cursor",
    "after",
    "page_token",
    "pagetoken",
    "next_token",
    "nexttoken",
    "continuation_token",
    "continuationtoken",
    "starting_after",
    "next_page_token",
)
_TOKEN_FIELDS = (
    "next_cursor",
    "nextcursor",
    "next_page_token",
    "nextpagetoken",
    "cursor",
    "next_token",
    "nexttoken",
    "continuation_token",
    "after",
    "end_cursor",
    "endcursor",
)
_NEXT_FIELDS = (
    "next",
    "next_url",
    "nexturl",
    "next_page_url",
    "nextpageurl",
    "next_link",
    "nextlink",
    "@odata.nextlink",
)
_TOTAL_FIELDS = (
    "total",
    "total_count",
    "totalcount",
    "count",
    "total_results",
    "totalresults",
    "total_items",
)
_TOTAL_PAGES = ("total_pages", "totalpages", "pages", "page_count", "pagecount")
_LIST_NAMES = ("data", "items", "results", "records", "value", "entries", "list")
_DRAFT = "https://json-schema.org/draft/2020-12/schema"
#: the longest chain of ``$ref`` s followed (each schema naming the next); a longer one
#: is refused rather than exhaust Python's recursion
MAX_REF_DEPTH = 128


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9@.]", "", name.lower().replace("-", "_")).replace("_", "")


def _is(name: str, candidates: Iterable[str]) -> bool:
    return _norm(name) in {_norm(c) for c in candidates}


# --------------------------------------------------------------------- loading


def load_document(source: str | Path, timeout: float = 30.0) -> dict[str, Any]:
    """The OpenAPI document at ``source`` (a path, or an http(s) URL), validated.

    YAML is read with YAML 1.2 rules, as OpenAPI recommends: ``NO``, ``on`` and an
    unquoted date are strings, not a boolean and a date."""
    import yaml  # kept by dlt itself (a dependency of dlt)

    text_source = str(source)
    if re.match(r"^https?://", text_source):
        import requests

        try:
            response = requests.get(text_source, timeout=timeout)
            response.raise_for_status()
        except requests.RequestException as exc:
            raise ConfigError(
                f"cannot fetch {text_source}: {type(exc).__name__}: {exc}".splitlines()[0]
            ) from None
        # the bytes as UTF-8: requests reads text/* without a charset as Latin-1
        text = decode_utf8(response.content, text_source)
        # relative servers resolve against where the document came from (redirects
        # followed: RFC 3986 5.1.3)
        text_source_final = response.url or text_source
    else:
        text = read_text(Path(source))
    try:
        document = load_yaml(text)  # YAML is a superset of JSON
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source} is neither JSON nor YAML: {exc}".splitlines()[0]) from None
    except RecursionError:
        raise ConfigError(f"{source} is nested too deeply to be read") from None
    if not isinstance(document, dict):
        raise ConfigError(f"{source} is not an OpenAPI document (not a mapping)")
    document = json.loads(json.dumps(document, default=str))  # keys as strings (YAML 200:)
    if "swagger" in document:
        raise ConfigError(
            f"{source} is Swagger {document['swagger']}: convert it to OpenAPI 3 first "
            "(e.g. with swagger2openapi); no kept Python library converts it"
        )
    version = str(document.get("openapi", ""))
    if not version.startswith("3."):
        raise ConfigError(f"{source} is not an OpenAPI 3.x document (no openapi: 3.x field)")
    try:
        from openapi_spec_validator import validate
    except ImportError:
        raise ConfigError(
            "--from-openapi validates the document with openapi-spec-validator: "
            "pip install 'headwater[openapi]'"
        ) from None
    try:
        validate(document)
    except Exception as exc:  # the validator's own error classes, each with a message
        where, message = _invalid(exc, document)
        at = f" at {where}" if where else ""
        raise ConfigError(
            f"{source} is not a valid OpenAPI {version} document{at}: {message}".splitlines()[0]
        ) from None
    if re.match(r"^https?://", text_source):
        _resolve_servers(document, text_source_final)
    return document


#: the longest message of the validator shown; their values' reprs can be the document
_MESSAGE_LENGTH = 300


def _invalid(exc: Exception, document: Mapping[str, Any]) -> tuple[str, str]:
    """Where the document is invalid and why, short: the validator's messages hold the
    offending value, which may be the whole document (a ``$ref`` to nowhere)."""
    from jsonschema.exceptions import ValidationError, best_match
    from referencing.exceptions import PointerToNowhere, Unresolvable

    if isinstance(exc, Unresolvable):
        pointer = getattr(exc, "ref", "")
        ref = "#" + pointer if isinstance(exc, PointerToNowhere) else str(pointer)
        return _ref_at(document, ref), f"$ref {ref!r} does not exist in the document"
    if isinstance(exc, ValidationError):
        if exc.context:  # oneOf/anyOf: the branch that came closest says more
            # (the validator's own errors may lack what best_match reads)
            with contextlib.suppress(Exception):
                exc = best_match([exc]) or exc
        where = "/".join(str(p) for p in exc.absolute_path)
        message = str(exc.message)
        shown = repr(exc.instance)
        if len(shown) > 60 and shown in message:
            message = message.replace(shown, "the value", 1)
    else:
        where = "/".join(str(p) for p in getattr(exc, "path", ()) or ())
        message = getattr(exc, "message", None) or str(exc)
    message = str(message).splitlines()[0] if str(message).strip() else type(exc).__name__
    if len(message) > _MESSAGE_LENGTH:
        message = message[:_MESSAGE_LENGTH] + "..."
    return where, message


def _ref_at(node: Any, ref: str, where: tuple[str, ...] = ()) -> str:
    """The location of the first ``$ref: ref`` in ``node`` (``""``: none)."""
    if isinstance(node, Mapping):
        if node.get("$ref") == ref:
            return "/".join(where)
        items: Iterable[tuple[Any, Any]] = node.items()
    elif isinstance(node, list):
        items = enumerate(node)
    else:
        return ""
    for key, value in items:
        found = _ref_at(value, ref, (*where, str(key)))
        if found:
            return found
    return ""


def _resolve_servers(document: dict[str, Any], url: str) -> None:
    """Make the relative server URLs of ``document``, fetched from ``url``, absolute:
    OpenAPI reads them relative to where the document is (``/api/v3`` of the Petstore)."""
    from urllib.parse import urljoin

    holders: list[Any] = [document]
    for item in (document.get("paths") or {}).values():
        if isinstance(item, dict):
            holders.append(item)
            holders.extend(op for op in item.values() if isinstance(op, dict))
    for holder in holders:
        for server in holder.get("servers") or ():
            target = server.get("url") if isinstance(server, dict) else None
            if isinstance(target, str) and not re.match(r"^([a-zA-Z][a-zA-Z0-9+.-]*:|\{)", target):
                server["url"] = urljoin(url, target)


# --------------------------------------------------------------------- schemas


class _Schemas:
    """Resolves ``$ref`` s within the document with :mod:`referencing`."""

    def __init__(self, document: Mapping[str, Any]) -> None:
        from referencing import Registry, Resource
        from referencing.jsonschema import DRAFT202012

        uri = "urn:headwater:openapi"
        resource = Resource.from_contents(document, default_specification=DRAFT202012)
        self.resolver = Registry().with_resource(uri, resource).resolver(base_uri=uri)

    def resolve(self, node: Any, seen: tuple[str, ...] = ()) -> Any:
        """``node`` with every ``$ref`` replaced by its target (a cycle becomes ``{}``)."""
        if isinstance(node, list):
            return [self.resolve(item, seen) for item in node]
        if not isinstance(node, Mapping):
            return node
        if "$ref" in node:
            ref = node["$ref"]
            if ref in seen:
                return {}
            if len(seen) >= MAX_REF_DEPTH:
                raise ConfigError(
                    f"$ref {ref!r} is {len(seen) + 1} $refs deep (each schema names the "
                    f"next, from {seen[0]!r}): at most {MAX_REF_DEPTH} are followed; "
                    "shorten the chain"
                )
            try:
                target = self.resolver.lookup(ref).contents
            except Exception:
                raise ConfigError(f"$ref {ref!r} cannot be resolved in the document") from None
            return self.resolve(target, (*seen, ref))
        return {k: self.resolve(v, seen) for k, v in node.items()}


def _merge_all_of(schema: Any) -> Any:
    if isinstance(schema, list):
        return [_merge_all_of(s) for s in schema]
    if not isinstance(schema, Mapping):
        return schema
    schema = {k: _merge_all_of(v) for k, v in schema.items()}
    if "allOf" in schema:
        merged: dict[str, Any] = {k: v for k, v in schema.items() if k != "allOf"}
        for part in schema["allOf"]:
            if not isinstance(part, Mapping):
                continue
            for key, value in part.items():
                if key == "properties":
                    merged.setdefault("properties", {}).update(value)
                elif key == "required":
                    merged["required"] = sorted({*merged.get("required", ()), *value})
                else:
                    merged.setdefault(key, value)
        schema = merged
    return schema


def _json_schema(schema: Any) -> Any:
    """OpenAPI 3.0 schema keywords as JSON Schema 2020-12."""
    if isinstance(schema, list):
        return [_json_schema(s) for s in schema]
    if not isinstance(schema, Mapping):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in ("exclusiveMinimum", "exclusiveMaximum") and isinstance(value, bool):
            continue  # 3.0's boolean form; the bound stays as minimum/maximum
        if key in ("example", "examples", "xml", "externalDocs", "discriminator") or key.startswith(
            "x-"
        ):
            continue
        if key in ("properties", "patternProperties", "$defs", "definitions") and isinstance(
            value, Mapping
        ):
            out[key] = {k: _json_schema(v) for k, v in value.items()}
        else:
            out[key] = _json_schema(value)
    nullable = out.pop("nullable", False) is True
    if nullable:
        if "type" in out:
            types = out["type"] if isinstance(out["type"], list) else [out["type"]]
            out["type"] = [*types, "null"] if "null" not in types else types
        if isinstance(out.get("enum"), list) and None not in out["enum"]:
            out["enum"] = [*out["enum"], None]  # else the null the type allows is refused
    if "oneOf" in out:
        # Branches without distinguishing required fields all match one record, which
        # oneOf then refuses: validated as anyOf, a record matching any branch passes.
        branches = out.pop("oneOf")
        if "anyOf" in out:
            out["allOf"] = [*out.get("allOf", ()), {"anyOf": branches}]
        else:
            out["anyOf"] = branches
    # nullable beside oneOf/anyOf (3.0): null is one more branch, or every branch (a
    # $ref's object, say) refuses it
    branches = out.get("anyOf")
    if (
        nullable
        and "type" not in out
        and isinstance(branches, list)
        and not any(isinstance(b, Mapping) and b.get("type") == "null" for b in branches)
    ):
        out["anyOf"] = [*branches, {"type": "null"}]
    if "properties" in out and "type" not in out:
        out["type"] = "object"
    return out


_ONE_OF_NOTE = (
    "oneOf in the record schemas is checked as anyOf: a record matching several "
    "branches (none requires a field the others lack) is loaded, not quarantined"
)


def _has_key(node: Any, key: str) -> bool:
    """Whether ``key`` is a keyword anywhere in schema ``node``."""
    if isinstance(node, list):
        return any(_has_key(n, key) for n in node)
    if not isinstance(node, Mapping):
        return False
    return key in node or any(_has_key(v, key) for v in node.values())


def record_schema_of(items: Mapping[str, Any], name: str) -> dict[str, Any]:
    """The JSON Schema of one record, from the (resolved) schema of a list's items.

    An item schema that is only ``oneOf``/``anyOf`` branches (``Pet`` = ``oneOf [Cat,
    Dog]``) gets its branches' properties: one in several branches as each declares it
    (``anyOf`` of the declarations when they differ), required when every branch
    requires it; the branches are still checked (as ``anyOf``)."""
    return _record_schema(items, name)[0]


def _record_schema(
    items: Mapping[str, Any], name: str
) -> tuple[dict[str, Any], frozenset[str] | None]:
    """:func:`record_schema_of`, and the properties every branch declares when the
    properties are the branches' (``None``: the schema's own)."""
    schema = _json_schema(_merge_all_of(items))
    everywhere: frozenset[str] | None = None
    if not isinstance(schema.get("properties"), Mapping):
        branches = _object_branches(schema)
        if any(properties for properties, _ in branches):
            properties, required, everywhere = _merged_branches(branches)
            # the fields first, the branches they came from after
            schema = {"type": "object", "properties": properties, "required": required, **schema}
            if not required:
                del schema["required"]
        else:
            schema = {"type": "object", "properties": {}}
    schema = {k: v for k, v in schema.items() if k not in ("$schema", "title")}
    schema.setdefault("type", "object")
    schema.setdefault("additionalProperties", True)
    return {"$schema": _DRAFT, "title": name, **schema}, everywhere


def _object_branches(schema: Mapping[str, Any]) -> list[tuple[Mapping[str, Any], list[str]]]:
    """The properties and required fields of each branch of ``schema``'s ``anyOf`` (its
    ``oneOf``, by now) that may be an object; a branch of branches, each of those."""
    found: list[tuple[Mapping[str, Any], list[str]]] = []
    for branch in schema.get("anyOf") or ():
        if not isinstance(branch, Mapping):
            continue
        types = branch.get("type")
        if types is not None and "object" not in (types if isinstance(types, list) else [types]):
            continue  # null, a string...: no record
        properties = branch.get("properties")
        inner = _object_branches(branch) if not isinstance(properties, Mapping) else []
        if inner:
            found.extend(inner)
            continue
        required = [r for r in branch.get("required") or () if isinstance(r, str)]
        found.append((properties if isinstance(properties, Mapping) else {}, required))
    return found


def _merged_branches(
    branches: list[tuple[Mapping[str, Any], list[str]]],
) -> tuple[dict[str, Any], list[str], frozenset[str]]:
    """The properties of all ``branches`` (first declared first), those every branch
    requires, and those every branch declares."""
    variants: dict[str, list[Any]] = {}
    for properties, _ in branches:
        for prop, declared in properties.items():
            seen = variants.setdefault(prop, [])
            if declared not in seen:
                seen.append(declared)
    merged = {
        prop: seen[0] if len(seen) == 1 else {"anyOf": seen} for prop, seen in variants.items()
    }
    required = [r for r in branches[0][1] if all(r in req for _, req in branches[1:])]
    everywhere = frozenset(p for p in merged if all(p in props for props, _ in branches))
    return merged, required, everywhere


# --------------------------------------------------------------------- conversion


class _Operation:
    """One collection GET: where its records are and what paging it offers."""

    def __init__(
        self, path: str, item: Mapping[str, Any], op: Mapping[str, Any], schemas: _Schemas
    ) -> None:
        self.path = path
        self.op = op
        self.label = f"GET {path}" + (f" ({op['operationId']})" if op.get("operationId") else "")
        params = [
            schemas.resolve(p) for p in [*item.get("parameters", ()), *op.get("parameters", ())]
        ]
        self.query = {
            p["name"]: p for p in params if isinstance(p, Mapping) and p.get("in") == "query"
        }
        self.path_params = [
            p["name"] for p in params if isinstance(p, Mapping) and p.get("in") == "path"
        ]
        self.header_params = {
            p["name"]: p for p in params if isinstance(p, Mapping) and p.get("in") == "header"
        }
        self.response, self.headers = self._success(schemas)

    def _success(self, schemas: _Schemas) -> tuple[Any, Mapping[str, Any]]:
        responses = self.op.get("responses") or {}
        for code in sorted(responses, key=str):
            if not str(code).startswith("2"):
                continue
            response = schemas.resolve(responses[code])
            for media, body in (response.get("content") or {}).items():
                if "json" in media and isinstance(body, Mapping) and "schema" in body:
                    return _merge_all_of(body["schema"]), response.get("headers") or {}
        return None, {}

    def records(self) -> tuple[Any, Any] | None:
        """``(data_selector, item schema)`` if the response holds a list of records."""
        schema = self.response
        if not isinstance(schema, Mapping):
            return None
        if schema.get("type") == "array" and isinstance(schema.get("items"), Mapping):
            return None, schema["items"]
        lists = {
            name: prop
            for name, prop in (schema.get("properties") or {}).items()
            if isinstance(prop, Mapping)
            and prop.get("type") == "array"
            and isinstance(prop.get("items"), Mapping)
        }
        if not lists:
            return None
        chosen = next((n for n in lists if _is(n, _LIST_NAMES)), next(iter(lists)))
        return chosen, lists[chosen]["items"]


def _find(
    properties: Mapping[str, Any], names: Iterable[str], nested: bool = True
) -> tuple[str, ...] | None:
    """The path of a response property named like one of ``names`` (one level deep too)."""
    for name in properties:
        if _is(name, names):
            return (name,)
    if nested:
        for name, prop in properties.items():
            if isinstance(prop, Mapping) and isinstance(prop.get("properties"), Mapping):
                inner = _find(prop["properties"], names, nested=False)
                if inner:
                    return (name, *inner)
    return None


def _as_field(path: tuple[str, ...]) -> Any:
    if len(path) == 1:
        return path[0]
    return path


def _default_limit(param: Mapping[str, Any]) -> int:
    schema = param.get("schema") or {}
    for key in ("default", "maximum"):
        value = schema.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and 0 < value <= 1000:
            return value
    return 100


def _pagination(op: _Operation, selector: Any) -> tuple[Any, str | None]:
    """The pagination recognised for ``op`` and a note saying why (``None``: not)."""
    query = op.query
    props = (op.response or {}).get("properties") or {} if selector is not None else {}
    names = list(query)
    offset = next((n for n in names if _is(n, _OFFSET)), None)
    limit = next((n for n in names if _is(n, _LIMIT)), None)
    page = next((n for n in names if _is(n, _PAGE)), None)
    cursor = next((n for n in names if _is(n, _CURSOR)), None)
    next_link = _find(props, _NEXT_FIELDS) if props else None
    if any(h.lower() == "link" for h in op.headers):
        return LinkHeaderPagination(), "a Link response header"
    if next_link:
        return NextLinkPagination(
            next_path=_as_field(next_link)
        ), f"the next-page URL {'.'.join(next_link)!r}"
    if cursor and props:
        token = _find(props, _TOKEN_FIELDS)
        if token:
            size = (
                {"page_size": _default_limit(query[limit]), "page_size_param": limit}
                if limit
                else {}
            )
            return CursorPagination(cursor_path=_as_field(token), cursor_param=cursor, **size), (
                f"the {cursor!r} parameter and the response token {'.'.join(token)!r}"
            )
    if offset and limit:
        total = _find(props, _TOTAL_FIELDS) if props else None
        return OffsetPagination(
            limit=_default_limit(query[limit]),
            offset_param=offset,
            limit_param=limit,
            total_path=_as_field(total) if total else None,
        ), f"the {offset!r} and {limit!r} parameters"
    if page:
        start = (query[page].get("schema") or {}).get("minimum", 1)
        start = start if isinstance(start, int) and start in (0, 1) else 1
        pages = _find(props, _TOTAL_PAGES) if props else None
        size = (
            {"page_size": _default_limit(query[limit]), "page_size_param": limit} if limit else {}
        )
        return PageNumberPagination(
            page_param=page,
            start=start,
            total_pages_path=_as_field(pages) if pages else None,
            **size,
        ), f"the {page!r} parameter"
    return SinglePage(), None


def _auth(
    document: Mapping[str, Any],
    operations: list[_Operation],
    schemas: _Schemas,
    server: str | None,
) -> tuple[Any, list[str], list[str]]:
    """The declared auth of the operations' security scheme, notes, todos; ``server``
    is the absolute URL relative token URLs are read against (``None``: none known)."""
    declared = schemas.resolve((document.get("components") or {}).get("securitySchemes") or {})
    used: list[str] = []
    scopes: dict[str, list[str]] = {}  # per scheme, the scopes the operations require
    for op in operations:
        for requirement in op.op.get("security", document.get("security") or ()):
            for name in requirement:
                if name not in used:
                    used.append(name)
                wanted = scopes.setdefault(name, [])
                for scope in requirement.get(name) or ():
                    if isinstance(scope, str) and scope and scope not in wanted:
                        wanted.append(scope)
    if not used and len(declared) == 1:
        used = list(declared)
    notes: list[str] = []
    todos: list[str] = []
    if not used:
        return None, notes, todos
    name = used[0]
    if len(used) > 1:
        notes.append(f"the operations use security schemes {', '.join(used)}: used {name}")
    # one auth serves every resource: an operation whose security does not accept it
    # would be refused (401) at run time
    apart = [
        op.label
        for op in operations
        if (requirements := op.op.get("security", document.get("security") or ()))
        and not any(name in requirement for requirement in requirements)
    ]
    if apart:
        todos.append(
            f"{', '.join(apart)} accept no {name} (the connector's auth): their resources "
            "will be refused; declare them in a connector of their own with their scheme, "
            "or remove them"
        )
    scheme = declared.get(name) or {}
    kind = scheme.get("type")
    if kind == "http" and str(scheme.get("scheme", "")).lower() == "bearer":
        return BearerAuth(), notes, todos
    if kind == "http" and str(scheme.get("scheme", "")).lower() == "basic":
        return BasicAuth(), notes, todos
    if kind == "apiKey" and scheme.get("in") in ("header", "query"):
        return ApiKeyAuth(name=scheme["name"], location=scheme["in"]), notes, todos
    if kind == "oauth2":
        flows = scheme.get("flows") or {}
        # the scopes the chosen operations require, asked for with the token
        scope = " ".join(scopes.get(name, ())) or None
        if scope is not None:
            notes.append(f"security scheme {name}: the token is asked for scope {scope!r}")
        if "clientCredentials" in flows:
            token_url = _token_url(name, flows["clientCredentials"], server, notes, todos)
            return OAuth2ClientCredentials(token_url=token_url, scope=scope), notes, todos
        if "authorizationCode" in flows:
            notes.append(
                f"security scheme {name}: the authorization-code flow, declared as the "
                "refresh-token grant (set refresh_token from a one-time authorization)"
            )
            token_url = _token_url(name, flows["authorizationCode"], server, notes, todos)
            return OAuth2RefreshToken(token_url=token_url, scope=scope), notes, todos
    todos.append(
        f"security scheme {name} ({kind}) is not declared: add the connector's auth by hand"
    )
    return None, notes, todos


def _token_url(
    scheme: str, flow: Mapping[str, Any], server: str | None, notes: list[str], todos: list[str]
) -> str | None:
    """The token URL of an OAuth2 ``flow``, as the default of the ``token_url`` setting.

    OpenAPI 3 reads a relative one (``/oauth/token``) against the server URL (RFC 3986
    resolution); with no absolute server to read it against it is no default (the user
    sets it: a run says so), and a TODO."""
    from urllib.parse import urljoin

    url = str(flow.get("tokenUrl", ""))
    if re.match(r"^https?://", url):
        return _template(url)
    if server is None:
        todos.append(
            f"security scheme {scheme}: the token URL {url!r} is relative to the server, "
            "and the document names no absolute server URL: set the token_url setting"
        )
        return None
    resolved = urljoin(server, url)
    notes.append(f"security scheme {scheme}: the token URL {url!r} is {resolved} (the server's)")
    return _template(resolved)


def _snake(name: str) -> str:
    """``ResourceType`` / ``resource-type`` -> ``resource_type`` (a setting's name)."""
    name = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name)
    name = re.sub(r"[^a-z0-9_]+", "_", name.lower()).strip("_")
    return name if name and name[0].isalpha() else f"p_{name}"


def _template(text: str) -> str:
    return text.replace("{", "{{").replace("}", "}}")


def _own_servers(op: _Operation, items: Mapping[str, Any]) -> list[Any]:
    """The servers the operation or its path item name (they override the document's)."""
    return list(op.op.get("servers") or (items.get(op.path) or {}).get("servers") or ())


def _server_url(server: Mapping[str, Any]) -> str:
    """A server's URL with its variables' defaults."""
    url = str(server.get("url", ""))
    for var, spec in (server.get("variables") or {}).items():
        url = url.replace("{" + var + "}", str(spec.get("default", "")))
    return url


def _first_server(
    document: Mapping[str, Any], operations: list[_Operation], items: Mapping[str, Any]
) -> str | None:
    """The URL of the document's first server (its variables' defaults; the first
    operation's own when the document names none), ``None``: no server."""
    servers = document.get("servers") or []
    if not servers and operations:
        servers = _own_servers(operations[0], items)
    return _server_url(servers[0]) if servers else None


def _base_url(url: str | None, notes: list[str]) -> str:
    """The connector's base URL, from the first server's ``url``."""
    if url is None:
        notes.append("the document names no server: base_url is https://api.example.com; set it")
        return "https://api.example.com"
    if not re.match(r"^https?://", url):
        notes.append(
            f"the server URL {url!r} is relative: base_url is https://api.example.com{url}; set it"
        )
    return _absolute(url)


def _absolute(url: str) -> str:
    """A server URL as a base URL: a relative one below https://api.example.com."""
    if not re.match(r"^https?://", url):
        url = "https://api.example.com" + ("" if url.startswith("/") else "/") + url
    return url.rstrip("/")


def _reserved_settings() -> frozenset[str]:
    """The names of Headwater's own settings: every builtin one (those of a connector
    with incremental, child and parallel-page resources included) and every auth kind's.

    A document's parameter named like one of them would be merged into it (a path
    parameter ``{token}`` filled with the bearer token, a query parameter ``base_url``
    with the base URL): it gets a setting of its own instead (:func:`_setting_name`).
    """
    offset = OffsetPagination(limit=10, total_path="total")
    parent = Resource(
        name="p",
        path="/p",
        schema="p.json",
        data_selector="data",
        pagination=offset,
        incremental=IncrementalSpec(cursor_field="t", param="since"),
    )
    child = Resource(name="c", path="/p/{i}/c", schema="c.json", parent=ParentSpec("p", "id", "i"))
    everything = Connector(name="x", package="x", base_url="https://x", resources=[parent, child])
    builtin = set(settings_schema(everything)["properties"])
    for kind in (
        ApiKeyAuth(name="k"),
        BasicAuth(),
        BearerAuth(),
        OAuth2ClientCredentials(),
        OAuth2RefreshToken(),
        JwtGrant(),
        JwtBearer(),
    ):
        builtin.update(kind.settings)
    return frozenset(builtin)


def _setting_name(param: str, reserved: frozenset[str]) -> str:
    """The setting carrying parameter ``param``: its snake_case name, with ``_param``
    added while that is one of Headwater's own settings (``token`` -> ``token_param``)."""
    setting = _snake(param)
    while setting in reserved:
        setting += "_param"
    return setting


#: request headers an auth kind sends itself (a required header parameter of that name
#: is the auth's, not a setting of its own)
_AUTH_HEADERS = frozenset({"authorization", "cookie", "x-api-key", "api-key", "apikey"})


def _others(op: _Operation, param: str) -> frozenset[str]:
    """The setting names ``op``'s other parameters take as they are: a parameter
    renamed away from a Headwater setting must not land on one of them (``{Token}``
    and a query parameter ``token_param``)."""
    names = [*op.path_params, *op.query, *op.header_params]
    return frozenset(_snake(n) for n in names if n != param)


def _clash(param: str, setting: str) -> str:
    """What a note adds when ``param``'s setting was renamed (:func:`_setting_name`)."""
    if setting == _snake(param):
        return ""
    return f" ({_snake(param)} is one of Headwater's own settings)"


#: a path segment that is an API's version: ``v2``, ``v1.1``, ``v1beta``, ``3``, ``2.0``,
#: a dated version (``2010-04-01``)
_VERSION = re.compile(r"v?\d+(\.\d+)*((alpha|beta)\d*)?|\d{4}-\d{2}-\d{2}", re.IGNORECASE)


def _resource_name(path: str, taken: set[str]) -> str:
    """A table name from the path's literal segments (versions left out)."""
    parts = [p for p in path.strip("/").split("/") if p and not p.startswith("{")]
    kept = [_snake(p) for p in parts if not _VERSION.fullmatch(p)]
    base = "_".join(kept) or "records"
    name, n = base, 1
    while name in taken:
        n += 1
        name = f"{base}_{n}"
    return name


def _drop_keyword(schema: Any, key: str, kinds: type | tuple[type, ...]) -> bool:
    """Remove ``key`` (a value of ``kinds``: not a property named so) from ``schema`` and
    every subschema; whether there was one."""
    found = False
    if isinstance(schema, dict):
        if isinstance(schema.get(key), kinds) and not isinstance(schema.get(key), bool):
            del schema[key]
            found = True
        for value in schema.values():
            found = _drop_keyword(value, key, kinds) or found
    elif isinstance(schema, list):
        for value in schema:
            found = _drop_keyword(value, key, kinds) or found
    return found


_DROPPED = {
    "pattern": (
        str,
        "string patterns are left out of the record schemas: Headwater checks types, "
        "required fields and formats, and the simulator makes no pattern-shaped values",
    ),
    # 19.99 / 0.01 is 1998.9999999999998 in floating point: a decimal step refuses
    # valid values, and the simulator makes no multiples
    "multipleOf": (
        (int, float),
        "multipleOf is left out of the record schemas: a decimal step such as 0.01 "
        "refuses valid values (19.99 is no float multiple of 0.01), and the simulator "
        "makes no multiples",
    ),
}


def _singular(word: str) -> str:
    if word.endswith("ies"):
        return word[:-3] + "y"
    return word[:-1] if word.endswith("s") and not word.endswith("ss") else word


def _parent_field(
    param: str, prefix: str, schema: Mapping[str, Any], owner: Resource
) -> tuple[str | None, bool]:
    """The field of ``owner``'s records that fills path parameter ``param`` (at
    ``prefix``), and whether it is only a guess: the field named like the parameter,
    exactly or without the parent's singular name (``issue_number`` -> ``number``,
    ``petId`` -> ``id``), else the primary key (a guess)."""
    properties = schema.get("properties") or {}
    scalar = {
        _norm(name): name
        for name, prop in properties.items()
        if not (isinstance(prop, Mapping) and prop.get("type") in ("object", "array"))
    }
    wanted = _norm(param)
    segments = [p for p in prefix.split("/") if p and not p.startswith("{")]
    singular = _norm(_singular(segments[-1])) if segments else ""
    candidates = [wanted]
    if singular and wanted.startswith(singular) and wanted != singular:
        candidates.append(wanted[len(singular) :])
    for candidate in candidates:
        if candidate in scalar:
            return scalar[candidate], False
    key = owner.primary_key if isinstance(owner.primary_key, str) else None
    return key, True


def _unbounded_key(schema: dict[str, Any], key: str) -> bool:
    """Remove the length bounds of property ``key`` from ``schema`` (its declarations in
    the ``anyOf`` branches too): the simulator's keys are its own (``"e-000001"``), only
    the key's type is kept. Whether there were any."""
    found = False
    properties = schema.get("properties")
    if isinstance(properties, dict) and isinstance(properties.get(key), Mapping):
        declared = properties[key]
        for variant in [declared, *(declared.get("anyOf") or ())]:
            if isinstance(variant, dict):
                for bound in ("minLength", "maxLength"):
                    found = variant.pop(bound, None) is not None or found
    for branch in schema.get("anyOf") or ():
        if isinstance(branch, dict):
            found = _unbounded_key(branch, key) or found
    return found


def _primary_key(schema: Mapping[str, Any], everywhere: frozenset[str] | None = None) -> str | None:
    """The record's key, of the properties every record declares (``everywhere``: of a
    schema merged from branches, those every branch declares)."""
    props = [p for p in schema.get("properties") or {} if everywhere is None or p in everywhere]
    for candidate in ("id", "uuid", "sid", "key"):
        if candidate in props:
            return candidate
    ids = [
        p for p in props if p.lower().endswith(("_id", "_sid")) or (p.endswith("Id") and len(p) > 2)
    ]
    return ids[0] if len(ids) == 1 else None


def convert_openapi(
    document: Mapping[str, Any],
    name: str,
    *,
    paths: Iterable[str] = (),
    tags: Iterable[str] = (),
    package: str | None = None,
) -> Converted:
    """The declaration of the collection GETs of ``document`` (see the module doc).

    ``paths``: glob patterns an operation's path must match (any of them); ``tags``:
    tags it must have (any of them).
    """
    try:
        return _convert(document, name, paths=paths, tags=tags, package=package)
    except RecursionError:  # deep inline nesting: no $ref chain to name
        raise ConfigError(
            "the document's schemas are nested too deeply to convert; flatten them"
        ) from None


def _convert(
    document: Mapping[str, Any],
    name: str,
    *,
    paths: Iterable[str],
    tags: Iterable[str],
    package: str | None,
) -> Converted:
    schemas = _Schemas(document)
    items = document.get("paths") or {}
    paths, tags = list(paths), list(tags)
    operations: list[_Operation] = []
    for path, item in items.items():
        if not isinstance(item, Mapping) or "get" not in item:
            continue
        if paths and not any(fnmatch.fnmatchcase(path, p) for p in paths):
            continue
        op = item["get"]
        if tags and not set(op.get("tags") or ()) & set(tags):
            continue
        if re.search(r"\{[^{}/]+\}/?$", path):
            continue  # one record by its key (an instance), not a collection
        operation = _Operation(path, item, op, schemas)
        if operation.records() is not None:
            operations.append(operation)
    if not operations:
        selection = f" matching {' '.join(paths + tags)}" if paths or tags else ""
        raise ConfigError(
            f"the document has no collection GET operation{selection} (a JSON response "
            "that is a list, or an object holding one); check --path / --tag"
        )
    notes: list[str] = []
    todos: list[str] = []
    resource_todos: dict[str, str] = {}
    server = _first_server(document, operations, items)
    absolute = server if server is not None and re.match(r"^https?://", server) else None
    auth, auth_notes, auth_todos = _auth(document, operations, schemas, absolute)
    notes += auth_notes
    todos += auth_todos
    base_url = _base_url(server, notes)
    resources: list[Resource] = []
    record_schemas: dict[str, dict[str, Any]] = {}
    settings: dict[str, Any] = {}
    by_path: dict[str, Resource] = {}
    taken: set[str] = set()
    reserved = _reserved_settings()
    for op in sorted(operations, key=lambda o: (o.path.count("{"), o.path)):
        selector, item_schema = op.records()  # type: ignore[misc]
        rname = _resource_name(op.path, taken)
        taken.add(rname)
        resolved = schemas.resolve(item_schema)
        schema, everywhere = _record_schema(resolved, rname)
        if not schema["properties"]:
            todo = (
                f"{op.label}: the record schema names no properties (nor do its oneOf/anyOf "
                f"branches): columns are inferred from the records; declare the fields in "
                f"schemas/{rname}.json"
            )
            todos.append(todo)
            resource_todos[rname] = "; ".join(filter(None, (resource_todos.get(rname), todo)))
        if _has_key(resolved, "oneOf") and not any(_ONE_OF_NOTE in n for n in notes):
            notes.append(_ONE_OF_NOTE)
        pagination, why = _pagination(op, selector)
        if why:
            notes.append(f"{op.label}: {pagination.kind} pagination, from {why}")
        else:
            todo = f"{op.label}: pagination not recognised; declared a single page"
            todos.append(todo)
            resource_todos[rname] = todo
        own = _own_servers(op, items)
        if own and _absolute(_server_url(own[0])) != base_url:
            todo = (
                f"{op.label}: its own server {_server_url(own[0])} is not the connector's "
                f"base_url {base_url}: the resource is read from base_url; declare it in a "
                "connector of its own, or remove it"
            )
            todos.append(todo)
            resource_todos[rname] = "; ".join(filter(None, (resource_todos.get(rname), todo)))
        parent = None
        path = op.path
        for param in op.path_params:
            prefix = op.path.split("{" + param + "}")[0].rstrip("/")
            owner = by_path.get(prefix)
            if parent is None and owner is not None:
                field, guessed = _parent_field(param, prefix, record_schemas[owner.name], owner)
                if field:
                    placeholder = re.sub(r"[^A-Za-z0-9_]", "_", param)
                    path = path.replace("{" + param + "}", "{" + placeholder + "}")
                    parent = ParentSpec(
                        resource=owner.name,
                        field=field,
                        placeholder=placeholder,
                        column=f"_{owner.name}_{field}",
                    )
                    line = f"{op.label}: {{{param}}} is the {field} of each {owner.name} record"
                    if guessed:
                        todo = (
                            f"{line}: no {owner.name} field is named like {param}; check "
                            "that the path wants the record's key"
                        )
                        todos.append(todo)
                        resource_todos[rname] = "; ".join(
                            filter(None, (resource_todos.get(rname), todo))
                        )
                    else:
                        notes.append(line)
                    continue
            if parent is not None and owner is not None:
                todo = (
                    f"{op.label}: {{{param}}} belongs to each {owner.name} record, itself a "
                    f"child of {owner.parent.resource if owner.parent else '?'}: a resource "
                    "has one parent, so it is one fixed setting; declare the resource by hand "
                    "to read every one"
                )
                todos.append(todo)
                resource_todos[rname] = "; ".join(filter(None, (resource_todos.get(rname), todo)))
            setting = _setting_name(param, reserved | _others(op, param))
            path = path.replace("{" + param + "}", "{" + setting + "}")
            settings.setdefault(
                setting, {"type": "string", "description": f"the {{{param}}} of {op.path}"}
            )
            notes.append(
                f"{op.label}: the path parameter {{{param}}} is the {setting} setting"
                + _clash(param, setting)
            )
        params: dict[str, Any] = {}
        for qname, qparam in op.query.items():
            if not qparam.get("required"):
                continue
            setting = _setting_name(qname, reserved | _others(op, qname))
            params[qname] = "{" + setting + "}"
            settings.setdefault(
                setting,
                {"type": "string", "description": f"the {qname} query parameter of {op.path}"},
            )
            notes.append(
                f"{op.label}: the required query parameter {qname} is the {setting} setting"
                + _clash(qname, setting)
            )
        headers: dict[str, str] = {}
        for hname, hparam in op.header_params.items():
            if not hparam.get("required") or hname.lower() in _AUTH_HEADERS:
                continue  # the auth kind sends its own
            setting = _setting_name(hname, reserved | _others(op, hname))
            headers[hname] = "{" + setting + "}"
            settings.setdefault(
                setting, {"type": "string", "description": f"the {hname} header of {op.path}"}
            )
            notes.append(
                f"{op.label}: the required header {hname} is the {setting} setting"
                + _clash(hname, setting)
            )
        pk = _primary_key(schema, everywhere)
        for keyword, (kinds, note) in _DROPPED.items():
            if _drop_keyword(schema, keyword, kinds) and note not in notes:
                notes.append(note)
        if pk is None:
            todo = (
                f"{op.label}: no identifying field found; records are appended: name the "
                "primary key if the records have one"
            )
            todos.append(todo)
            resource_todos[rname] = "; ".join(filter(None, (resource_todos.get(rname), todo)))
        else:
            if _unbounded_key(schema, pk):
                notes.append(f"{op.label}: the length bounds of key {pk} are left out")
            schema.setdefault("required", [])
            if pk not in schema["required"]:
                schema["required"] = [*schema["required"], pk]
        try:
            resource = Resource(
                name=rname,
                path=path,
                schema=f"schemas/{rname}.json",
                data_selector=selector,
                pagination=pagination,
                primary_key=pk,
                write_disposition="merge" if pk else "append",
                params=params,
                headers=headers,
                parent=parent,
                description=str(op.op.get("summary") or "").strip().splitlines()[0]
                if op.op.get("summary")
                else "",
            )
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{op.label} cannot be declared: {exc}") from None
        resources.append(resource)
        record_schemas[rname] = schema
        by_path[op.path.rstrip("/")] = resource
    info = document.get("info") or {}
    try:
        connector = Connector(
            name=name,
            package=package or f"headwater_{name}",
            resources=resources,
            auth=auth,
            base_url=base_url,
            settings=settings,
            required_settings=tuple(settings),
            description=str(info.get("title") or name) + " (from its OpenAPI document)",
        )
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"the converted declaration is not valid: {exc}") from None
    return Converted(
        connector=connector,
        schemas=record_schemas,
        notes=notes,
        todos=todos,
        resource_todos=resource_todos,
    )
