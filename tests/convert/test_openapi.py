"""OpenAPI documents -> declarations: the vendored real documents, each pagination
style recognised from parameters and response shapes, auth from securitySchemes,
``$ref`` s and ``allOf`` resolved, and the one-line errors."""

from __future__ import annotations

import copy
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from headwater.convert.openapi import convert_openapi, load_document
from headwater.errors import ConfigError
from headwater.spec import (
    ApiKeyAuth,
    BasicAuth,
    BearerAuth,
    CursorPagination,
    LinkHeaderPagination,
    NextLinkPagination,
    OAuth2ClientCredentials,
    OAuth2RefreshToken,
    OffsetPagination,
    PageNumberPagination,
    ParentSpec,
    SinglePage,
)

DATA = Path(__file__).resolve().parents[1] / "data" / "openapi"

ITEM = {
    "type": "object",
    "required": ["id"],
    "properties": {"id": {"type": "string"}, "name": {"type": "string", "nullable": True}},
}


def document(parameters=(), response=None, headers=None, security=None, schemes=None):
    """A one-operation OpenAPI 3.0 document: GET /things."""
    ok = {
        "description": "ok",
        "content": {"application/json": {"schema": response or {"type": "array", "items": ITEM}}},
    }
    if headers:
        ok["headers"] = headers
    op = {"operationId": "listThings", "parameters": list(parameters), "responses": {"200": ok}}
    if security is not None:
        op["security"] = security
    doc = {
        "openapi": "3.0.3",
        "info": {"title": "Things", "version": "1"},
        "servers": [
            {"url": "https://things.test/v{major}", "variables": {"major": {"default": "2"}}}
        ],
        "paths": {"/things": {"get": op}},
    }
    if schemes:
        doc["components"] = {"securitySchemes": schemes}
    return doc


def query(name, **schema):
    return {"name": name, "in": "query", "schema": {"type": "integer", **schema}}


def wrapped(**extra):
    return {
        "type": "object",
        "properties": {"data": {"type": "array", "items": ITEM}, **extra},
    }


def only(doc):
    converted = convert_openapi(doc, "things")
    (resource,) = converted.connector.resources
    return converted, resource


def oauth2(flow, token_url):
    extra = {"authorizationUrl": "https://id.test/a"} if flow == "authorizationCode" else {}
    return {"type": "oauth2", "flows": {flow: {"tokenUrl": token_url, "scopes": {}, **extra}}}


@pytest.mark.parametrize(
    ("parameters", "response", "headers", "expected"),
    [
        (
            [query("offset"), query("limit", maximum=500)],
            wrapped(total={"type": "integer"}),
            None,
            OffsetPagination(limit=500, total_path="total"),
        ),
        (
            [query("page", minimum=1), query("per_page", default=25)],
            wrapped(total_pages={"type": "integer"}),
            None,
            PageNumberPagination(page_size=25, total_pages_path="total_pages"),
        ),
        (
            [{"name": "cursor", "in": "query", "schema": {"type": "string"}}],
            wrapped(meta={"type": "object", "properties": {"next_cursor": {"type": "string"}}}),
            None,
            CursorPagination(cursor_path=("meta", "next_cursor"), cursor_param="cursor"),
        ),
        (
            [],
            wrapped(**{"@odata.nextLink": {"type": "string"}}),
            None,
            NextLinkPagination(next_path="@odata.nextLink"),
        ),
        (
            [query("per_page")],
            None,
            {"Link": {"schema": {"type": "string"}}},
            LinkHeaderPagination(),
        ),
    ],
)
def test_pagination_is_recognised_from_parameters_and_response_shapes(
    parameters, response, headers, expected
):
    converted, resource = only(document(parameters, response, headers))
    assert resource.pagination == expected
    assert not converted.todos


def test_unknown_pagination_is_a_single_page_and_a_todo_naming_the_operation():
    converted, resource = only(document([query("limit")]))
    assert resource.pagination == SinglePage()
    assert converted.todos == (
        "GET /things (listThings): pagination not recognised; declared a single page",
    )
    assert "listThings" in converted.resource_todos["things"]


@pytest.mark.parametrize(
    ("scheme", "expected"),
    [
        ({"type": "http", "scheme": "bearer"}, BearerAuth()),
        ({"type": "http", "scheme": "basic"}, BasicAuth()),
        ({"type": "apiKey", "in": "header", "name": "X-Key"}, ApiKeyAuth(name="X-Key")),
        ({"type": "apiKey", "in": "query", "name": "key"}, ApiKeyAuth("key", "query")),
        (
            {
                "type": "oauth2",
                "flows": {"clientCredentials": {"tokenUrl": "https://id.test/token", "scopes": {}}},
            },
            OAuth2ClientCredentials(token_url="https://id.test/token"),
        ),
        (
            {
                "type": "oauth2",
                "flows": {
                    "authorizationCode": {
                        "authorizationUrl": "https://id.test/a",
                        "tokenUrl": "https://id.test/t",
                        "scopes": {},
                    }
                },
            },
            OAuth2RefreshToken(token_url="https://id.test/t"),
        ),
    ],
)
def test_auth_comes_from_the_security_scheme_used(scheme, expected):
    converted, _ = only(document(security=[{"main": []}], schemes={"main": scheme}))
    assert converted.connector.auth == expected


def test_the_scopes_the_operations_require_are_asked_for_with_the_token():
    scheme = {
        "type": "oauth2",
        "flows": {
            "clientCredentials": {
                "tokenUrl": "https://id.test/token",
                "scopes": {"contacts.read": "read", "deals.read": "read"},
            }
        },
    }
    converted, _ = only(
        document(security=[{"main": ["contacts.read", "deals.read"]}], schemes={"main": scheme})
    )
    assert converted.connector.auth == OAuth2ClientCredentials(
        token_url="https://id.test/token", scope="contacts.read deals.read"
    )
    assert "security scheme main: the token is asked for scope 'contacts.read deals.read'" in (
        converted.notes
    )


def test_refs_all_of_nullable_and_server_variables_are_resolved():
    doc = document(response={"$ref": "#/components/schemas/Page"})
    doc["components"] = {
        "schemas": {
            "Page": {
                "type": "object",
                "properties": {
                    "items": {"type": "array", "items": {"$ref": "#/components/schemas/Thing"}}
                },
            },
            "Base": {
                "type": "object",
                "required": ["id"],
                "properties": {"id": {"type": "integer"}},
            },
            "Thing": {
                "allOf": [
                    {"$ref": "#/components/schemas/Base"},
                    {
                        "type": "object",
                        "properties": {
                            "parent": {"$ref": "#/components/schemas/Thing"},
                            "size": {
                                "type": "number",
                                "nullable": True,
                                "exclusiveMinimum": True,
                                "minimum": 0,
                            },
                        },
                    },
                ]
            },
        }
    }
    converted, resource = only(doc)
    assert converted.connector.base_url == "https://things.test/v2"
    assert resource.data_selector == "items" and resource.primary_key == "id"
    schema = converted.schemas["things"]
    assert schema["properties"]["id"] == {"type": "integer"}
    assert schema["properties"]["size"] == {"type": ["number", "null"], "minimum": 0}
    assert schema["properties"]["parent"] == {}  # a Thing in a Thing: the cycle, cut
    assert "$ref" not in json.dumps(schema)


def test_the_vendored_uber_document():
    converted = convert_openapi(load_document(DATA / "uber.yaml"), "uber")
    c = converted.connector
    assert c.auth == ApiKeyAuth(name="server_token", location="query")
    assert c.base_url == "https://api.uber.com/v1"
    history = c.resource("history")
    assert history.pagination == OffsetPagination(limit=100, total_path="count")
    assert (history.data_selector, history.primary_key) == ("history", "uuid")
    products = c.resource("products")
    assert dict(products.params) == {"latitude": "{latitude}", "longitude": "{longitude}"}
    assert {"latitude", "longitude"} <= set(c.required_settings)
    assert "me" not in c.resource_names  # one object, not a collection
    assert converted.schemas["products"]["properties"]["capacity"]["type"] == "integer"


def test_the_vendored_twilio_document_and_path_globs():
    doc = load_document(DATA / "twilio_bulkexports_v1.yaml")
    converted = convert_openapi(doc, "twilio")
    c = converted.connector
    assert c.auth == BasicAuth() and c.base_url == "https://bulkexports.twilio.com"
    assert c.resource_names == ("exports_days", "exports_jobs")
    days = c.resource("exports_days")
    assert days.path == "/v1/Exports/{resource_type}/Days"
    assert days.pagination == NextLinkPagination(next_path=("meta", "next_page_url"))
    assert days.primary_key is None and days.write_disposition == "append"
    assert any("exports_days" in t or "/Days" in t for t in converted.todos)
    jobs = convert_openapi(doc, "twilio", paths=["/v1/Exports/*/Jobs"]).connector
    assert jobs.resource_names == ("exports_jobs",)
    assert jobs.resource("exports_jobs").primary_key == "job_sid"


def test_the_vendored_petstore_document_and_tags():
    doc = load_document(DATA / "petstore-expanded.yaml")
    converted = convert_openapi(doc, "pets")
    (pets,) = converted.connector.resources
    assert (pets.name, pets.data_selector, pets.pagination) == ("pets", None, SinglePage())
    assert set(converted.schemas["pets"]["required"]) >= {"id", "name"}  # allOf merged
    with pytest.raises(ConfigError, match="no collection GET operation matching nope"):
        convert_openapi(doc, "pets", tags=["nope"])


def test_a_child_collection_is_filled_from_its_parent():
    doc = document()
    doc["paths"]["/things/{thingId}/parts"] = {
        "get": {
            "parameters": [
                {"name": "thingId", "in": "path", "required": True, "schema": {"type": "string"}}
            ],
            "responses": {
                "200": {
                    "description": "ok",
                    "content": {"application/json": {"schema": {"type": "array", "items": ITEM}}},
                }
            },
        }
    }
    parts = convert_openapi(doc, "things").connector.resource("things_parts")
    assert parts.parent == ParentSpec(
        resource="things", field="id", placeholder="thingId", column="_things_id"
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"swagger": "2.0", "info": {}, "paths": {}}', "is Swagger 2.0: convert it to OpenAPI 3"),
        ('{"openapi": "3.0.0", "paths": {}}', "is not a valid OpenAPI 3.0.0 document"),
        ("a: [", "is neither JSON nor YAML"),
        ('{"info": {}}', "is not an OpenAPI 3.x document"),
    ],
)
def test_bad_documents_are_one_line_errors(tmp_path, text, message):
    (tmp_path / "doc.yaml").write_text(text)
    with pytest.raises(ConfigError) as info:
        load_document(tmp_path / "doc.yaml")
    assert message in str(info.value) and "\n" not in str(info.value)


def test_a_document_is_read_from_a_url():
    body = (DATA / "petstore-expanded.yaml").read_bytes()
    # the real Petstore v3: servers: [{url: /api/v3}]; a token URL relative to it
    cc = oauth2("clientCredentials", "/t")
    relative = document(security=[{"main": []}], schemes={"main": cc})
    relative["servers"] = [{"url": "/api/v3"}]
    relative["paths"]["/things"]["servers"] = [{"url": "v4"}]
    relative["info"]["title"] = "Zürich things"  # UTF-8, served as text/plain
    doc_bytes = json.dumps(relative, ensure_ascii=False).encode()  # ü as two UTF-8 bytes
    served = {"/openapi.yaml": body, "/docs/openapi.json": doc_bytes}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path == "/moved":  # the document's address now
                self.send_response(301)
                self.send_header("Location", "/docs/openapi.json")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(200 if self.path in served else 404)
            # no charset: requests' .text would read the bytes as Latin-1
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            self.wfile.write(served.get(self.path, b""))

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}"
        doc = load_document(url + "/openapi.yaml")
        assert doc["info"]["title"] == "Swagger Petstore"
        with pytest.raises(ConfigError, match="cannot fetch .*/missing.yaml: HTTPError"):
            load_document(url + "/missing.yaml")
        # relative server URLs are relative to where the document is
        converted, _ = only(load_document(url + "/docs/openapi.json"))
        assert converted.connector.base_url == url + "/api/v3"
        assert converted.connector.auth.token_url == url + "/t"
        assert not any("relative" in n for n in converted.notes)
        assert any(f"its own server {url}/docs/v4 is not" in t for t in converted.todos)
        # ... after its redirects (RFC 3986 5.1.3), and its text is UTF-8 whatever the
        # Content-Type says
        moved = load_document(url + "/moved")
        assert moved["info"]["title"] == "Zürich things"
        assert moved["paths"]["/things"]["servers"] == [{"url": f"{url}/docs/v4"}]
    finally:
        server.shutdown()
        server.server_close()


def test_documents_are_not_changed_by_conversion():
    doc = load_document(DATA / "uber.yaml")
    before = copy.deepcopy(doc)
    convert_openapi(doc, "uber")
    assert doc == before


def test_one_of_is_checked_as_any_of_and_a_nullable_enum_admits_null():
    from jsonschema import Draft202012Validator

    item = {
        "oneOf": [
            {"type": "object", "properties": {"id": {"type": "string"}, "a": {"type": "string"}}},
            {"type": "object", "properties": {"id": {"type": "string"}, "b": {"type": "string"}}},
        ],
        "type": "object",
        "properties": {
            "id": {"type": "string"},
            "status": {"type": "string", "enum": ["open", "closed"], "nullable": True},
        },
    }
    converted, _ = only(document(response={"type": "array", "items": item}))
    schema = converted.schemas["things"]
    validator = Draft202012Validator(schema)
    # both branches match a record with neither a nor b: oneOf would refuse it
    assert list(validator.iter_errors({"id": "1", "status": "open"})) == []
    assert list(validator.iter_errors({"id": "2", "status": None})) == []
    assert list(validator.iter_errors({"id": "3", "status": "other"})) != []
    assert "oneOf" not in json.dumps(schema)
    assert any("oneOf in the record schemas is checked as anyOf" in n for n in converted.notes)


def test_nullable_beside_one_of_admits_null():
    """3.0's nullable: true with oneOf [$ref, string]: the nullable was dropped, so a
    null the document allows was quarantined."""
    from jsonschema import Draft202012Validator

    item = {
        "type": "object",
        "properties": {
            "id": {"type": "string"},
            "alt": {
                "nullable": True,
                "oneOf": [
                    {"type": "object", "properties": {"x": {"type": "string"}}},
                    {"type": "string"},
                ],
            },
        },
    }
    converted, _ = only(document(response={"type": "array", "items": item}))
    validator = Draft202012Validator(converted.schemas["things"])
    assert list(validator.iter_errors({"id": "1", "alt": None})) == []
    assert list(validator.iter_errors({"id": "2", "alt": 5})) != []


def test_an_operation_that_does_not_accept_the_chosen_scheme_is_a_todo():
    """One auth serves every resource: /owners needs bearer where /things takes the API
    key, and the conversion said only 'the operations accept ...: used apiKey'."""
    import copy

    doc = document(
        security=[{"apiKey": []}],
        schemes={
            "apiKey": {"type": "apiKey", "in": "header", "name": "X-Key"},
            "bearer": {"type": "http", "scheme": "bearer"},
        },
    )
    owners = copy.deepcopy(doc["paths"]["/things"]["get"])
    owners["operationId"], owners["security"] = "listOwners", [{"bearer": []}]
    doc["paths"]["/owners"] = {"get": owners}
    converted = convert_openapi(doc, "things")
    assert any("GET /owners (listOwners) accept no apiKey" in todo for todo in converted.todos), (
        converted.todos
    )
    assert not any("(listThings) accept no" in todo for todo in converted.todos)


def test_a_parameter_named_like_a_headwater_setting_gets_a_setting_of_its_own():
    """Bearer auth and GET /boards/{token}/cards: the path parameter was merged into
    the secret token setting (the secret then went into the URL), and a required query
    parameter base_url was filled with the connector's base URL."""
    from headwater.settings import settings_schema

    path_param = {"name": "token", "in": "path", "required": True, "schema": {"type": "string"}}
    doc = document(
        parameters=[
            {"name": name, "in": "query", "required": True, "schema": {"type": "string"}}
            for name in ("base_url", "validation", "api_key", "region")
        ],
        security=[{"bearer": []}],
        schemes={"bearer": {"type": "http", "scheme": "bearer"}},
    )
    cards = copy.deepcopy(doc["paths"]["/things"]["get"])
    cards["operationId"], cards["parameters"] = "listCards", [path_param]
    doc["paths"]["/boards/{token}/cards"] = {"get": cards}
    converted = convert_openapi(doc, "things")
    connector = converted.connector
    assert connector.resource("boards_cards").path == "/boards/{token_param}/cards"
    assert dict(connector.resource("things").params) == {
        "base_url": "{base_url_param}",
        "validation": "{validation_param}",
        "api_key": "{api_key_param}",
        "region": "{region}",
    }
    properties = settings_schema(connector)["properties"]
    assert properties["token"].get("writeOnly") is True  # still the secret, apart
    assert properties["base_url"]["default"] == "https://things.test/v2"
    assert properties["validation"]["enum"]  # Headwater's own, untouched
    for setting in ("token_param", "base_url_param", "validation_param", "api_key_param"):
        assert "writeOnly" not in properties[setting]
        assert setting in connector.required_settings
    assert any(
        "{token} is the token_param setting (token is one of Headwater's own settings)" in n
        for n in converted.notes
    ), converted.notes


def test_yaml_documents_are_read_with_yaml_1_2_rules(tmp_path):
    """OpenAPI recommends YAML 1.2; PyYAML reads 1.1, where the Norwegian NO was False,
    [on, off] [True, False], and an unquoted date-time default a datetime (refused)."""
    item = {
        "type": "object",
        "properties": {
            "id": {"type": "string"},
            "country": {"type": "string", "enum": ["SE", "DK", "NO", "FI"]},
            "power": {"type": "string", "enum": ["on", "off", "yes"]},
            "since": {"type": "string", "format": "date-time", "default": "2024-01-01T00:00:00Z"},
            "day": {"type": "string", "format": "date", "example": "2024-01-01"},
            "code": {"type": "integer", "enum": [10, 16]},
        },
    }
    text = json.dumps(document(response={"type": "array", "items": item}), indent=1)
    # the same as YAML, each value plain (unquoted), as people write it
    import yaml

    plain = yaml.safe_dump(json.loads(text), default_style=None)
    for quoted in ("'NO'", "'on'", "'off'", "'yes'", "'2024-01-01T00:00:00Z'", "'2024-01-01'"):
        plain = plain.replace(quoted, quoted.strip("'"))
    plain = plain.replace("- 10", "- 010").replace("- 16", "- 0x10")
    (tmp_path / "doc.yaml").write_text(plain)
    doc = load_document(tmp_path / "doc.yaml")
    converted, _ = only(doc)
    properties = converted.schemas["things"]["properties"]
    assert properties["country"]["enum"] == ["SE", "DK", "NO", "FI"]
    assert properties["power"]["enum"] == ["on", "off", "yes"]
    assert properties["since"]["default"] == "2024-01-01T00:00:00Z"
    assert properties["code"]["enum"] == [10, 16]


def test_multiple_of_is_left_out_of_the_record_schemas():
    """price: {type: number, multipleOf: 0.01} quarantined the valid 19.99 (floating
    point division), and the generated tests failed on the simulator's prices."""
    from jsonschema import Draft202012Validator

    item = {
        "type": "object",
        "properties": {
            "id": {"type": "string"},
            "price": {"type": "number", "multipleOf": 0.01},
            "lines": {
                "type": "array",
                "items": {"type": "object", "properties": {"qty": {"multipleOf": 5}}},
            },
            "multipleOf": {"type": "string"},  # a field named so stays
        },
    }
    converted, _ = only(document(response={"type": "array", "items": item}))
    schema = converted.schemas["things"]
    validator = Draft202012Validator(schema)
    assert list(validator.iter_errors({"id": "1", "price": 19.99, "lines": [{"qty": 3}]})) == []
    assert "multipleOf" in schema["properties"]
    assert '"multipleOf": 0' not in json.dumps(schema) and '"multipleOf": 5' not in json.dumps(
        schema
    )
    assert any("multipleOf is left out" in n for n in converted.notes), converted.notes


def collection(*path_params, item=ITEM):
    """A GET listing ``item`` s, with these path parameters."""
    return {
        "get": {
            "parameters": [
                {"name": p, "in": "path", "required": True, "schema": {"type": "string"}}
                for p in path_params
            ],
            "responses": {
                "200": {
                    "description": "ok",
                    "content": {"application/json": {"schema": {"type": "array", "items": item}}},
                }
            },
        }
    }


def test_a_child_path_parameter_is_the_parent_field_named_like_it():
    """GitHub's /issues/{issue_number}/comments wants the issue's number, not its id:
    the parameter was always bound to the parent's primary key."""
    issue = {
        "type": "object",
        "properties": {"id": {"type": "integer"}, "number": {"type": "integer"}},
    }
    doc = document()
    doc["paths"]["/things"]["get"]["responses"]["200"]["content"]["application/json"] = {
        "schema": {"type": "array", "items": issue}
    }
    doc["paths"]["/things/{thing_number}/parts"] = collection("thing_number")
    doc["paths"]["/things/{number}/notes"] = collection("number")
    doc["paths"]["/things/{thingId}/tags"] = collection("thingId")
    doc["paths"]["/things/{slug}/labels"] = collection("slug")
    converted = convert_openapi(doc, "things")
    resource = converted.connector.resource
    assert resource("things_parts").parent.field == "number"
    assert resource("things_notes").parent.field == "number"
    assert resource("things_tags").parent.field == "id"
    assert resource("things_parts").parent.column == "_things_number"
    # nothing named like slug: the key, and a TODO rather than a plain note
    assert resource("things_labels").parent.field == "id"
    assert any(
        "{slug} is the id of each things record: no things field" in t for t in converted.todos
    )
    assert sum("field is named like" in t for t in converted.todos) == 1
    assert (
        "GET /things/{thing_number}/parts: {thing_number} is the number of each things record"
        in (converted.notes)
    )


def test_a_grandchild_inner_path_parameter_is_a_todo():
    """/orgs/{orgId}/projects/{projectId}/tasks: {projectId} silently became one fixed
    setting, reading the tasks of one project only."""
    doc = document()
    doc["paths"] = {
        "/orgs": collection(),
        "/orgs/{orgId}/projects": collection("orgId"),
        "/orgs/{orgId}/projects/{projectId}/tasks": collection("orgId", "projectId"),
    }
    converted = convert_openapi(doc, "orgs")
    tasks = converted.connector.resource("orgs_projects_tasks")
    assert tasks.parent.resource == "orgs"
    assert any(
        "{projectId} belongs to each orgs_projects record, itself a child of orgs" in t
        for t in converted.todos
    ), converted.todos
    assert "{projectId}" in converted.resource_todos["orgs_projects_tasks"]


def test_an_operation_with_its_own_server_is_a_todo():
    """A path's own servers were ignored without a word when the document has its own:
    GET /audit, served by https://audit.test/v9, was read from the main base URL."""
    doc = document()
    doc["paths"]["/audit"] = {**collection(), "servers": [{"url": "https://audit.test/v9"}]}
    doc["paths"]["/logs"] = collection()
    doc["paths"]["/logs"]["get"]["servers"] = [{"url": "https://things.test/v2/"}]  # the same
    converted = convert_openapi(doc, "things")
    assert converted.connector.base_url == "https://things.test/v2"
    todo = (
        "GET /audit: its own server https://audit.test/v9 is not the connector's base_url "
        "https://things.test/v2"
    )
    assert any(todo in t for t in converted.todos), converted.todos
    assert todo in converted.resource_todos["audit"]
    assert not any("GET /logs: its own server" in t for t in converted.todos)


def test_an_invalid_document_is_named_not_printed(tmp_path):
    """A $ref to nowhere printed the whole document in its error line (1 MB for a big
    one): the line names the $ref and where it is."""
    doc = document()
    doc["paths"]["/things"]["get"]["description"] = "x" * 100_000
    items = doc["paths"]["/things"]["get"]["responses"]["200"]["content"]["application/json"]
    items["schema"]["items"] = {"$ref": "#/components/schemas/Nope"}
    (tmp_path / "doc.json").write_text(json.dumps(doc))
    with pytest.raises(ConfigError) as info:
        load_document(tmp_path / "doc.json")
    message = str(info.value)
    assert "$ref '#/components/schemas/Nope' does not exist in the document" in message
    assert " at paths//things/get/responses/200/content/application/json/schema/items:" in message
    assert len(message) < 400 and "\n" not in message
    # a value that breaks the document's schema is not printed whole either
    doc = document()
    doc["paths"]["/things"]["get"]["responses"]["200"]["description"] = ["x" * 100_000]
    (tmp_path / "doc.json").write_text(json.dumps(doc))
    with pytest.raises(ConfigError) as info:
        load_document(tmp_path / "doc.json")
    assert "is not a valid OpenAPI 3.0.3 document" in str(info.value)
    assert len(str(info.value)) < 600, str(info.value)[:1000]


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_a_document_with_a_byte_order_mark_is_read(tmp_path, suffix):
    # Windows editors and PowerShell write UTF-8 with a BOM
    path = tmp_path / f"doc{suffix}"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(document()).encode())
    assert load_document(path)["openapi"].startswith("3.")


def test_renamed_and_header_parameters_each_get_their_own_setting():
    """{Token} (bearer auth) became token_param, which a query parameter of the same
    operation is named: one setting filled both. A required header parameter was
    dropped without a word; it is a setting sent as that header."""
    path_param = {"name": "Token", "in": "path", "required": True, "schema": {"type": "string"}}
    doc = document(
        parameters=[
            path_param,
            {"name": "token_param", "in": "query", "required": True, "schema": {"type": "string"}},
            {
                "name": "X-Start-Date",
                "in": "header",
                "required": True,
                "schema": {"type": "string"},
            },
        ],
        security=[{"bearer": []}],
        schemes={"bearer": {"type": "http", "scheme": "bearer"}},
    )
    doc["paths"] = {"/boards/{Token}/things": doc["paths"]["/things"]}
    converted, resource = only(doc)
    assert resource.path == "/boards/{token_param_param}/things"
    assert dict(resource.params) == {"token_param": "{token_param}"}
    assert dict(resource.headers) == {"X-Start-Date": "{x_start_date}"}
    assert {"token_param_param", "token_param", "x_start_date"} <= set(
        converted.connector.required_settings
    )
    assert any(
        "the required header X-Start-Date is the x_start_date setting" in n for n in converted.notes
    )


def test_a_one_of_record_merges_its_branches_properties():
    """Pet = oneOf [Cat, Dog] (a discriminator; both require uuid): the schema had no
    properties, so no primary key (records appended, duplicated every run), no column
    types (a date loaded as text) and the oneOf note said it was checked."""
    from headwater.schema import columns_from_schema
    from headwater.testing import generate_records
    from jsonschema import Draft202012Validator

    base = {
        "type": "object",
        "required": ["uuid", "kind"],
        "properties": {
            "uuid": {"type": "string", "format": "uuid", "minLength": 36},
            "kind": {"type": "string"},
            "created": {"type": "string", "format": "date"},
        },
    }
    cat = {"allOf": [base, {"type": "object", "properties": {"lives": {"type": "integer"}}}]}
    dog = {
        "allOf": [
            base,
            {
                "type": "object",
                "required": ["size"],
                "properties": {"size": {"type": "string"}, "barks": {"type": "boolean"}},
            },
        ]
    }
    pet = {
        "oneOf": [cat, {**dog, "properties": {"lives": {"type": "string"}}}],
        "discriminator": {"propertyName": "kind"},
    }
    converted, resource = only(document(response={"type": "array", "items": pet}))
    schema = converted.schemas["things"]
    assert set(schema["properties"]) == {"uuid", "kind", "created", "lives", "size", "barks"}
    assert sorted(schema["required"]) == ["kind", "uuid"]  # size: in one branch only
    assert (resource.primary_key, resource.write_disposition) == ("uuid", "merge")
    columns = columns_from_schema(schema)
    assert columns["created"]["data_type"] == "date"
    assert columns["lives"]["data_type"] == "text"  # integer in a Cat, string in a Dog
    validator = Draft202012Validator(schema)
    assert list(validator.iter_errors({"uuid": "u", "kind": "cat", "lives": 3})) == []
    assert list(validator.iter_errors({"uuid": "u", "kind": "dog", "size": "L"})) == []
    assert list(validator.iter_errors({"kind": "cat"})) != []  # no uuid
    assert list(validator.iter_errors({"uuid": "u", "kind": "dog", "lives": []})) != []
    # the simulator's records (the generated tests) match the schema
    for record in generate_records(schema, 20, key_fields=("uuid",)):
        assert list(validator.iter_errors(record)) == [], record
    assert not any("no identifying field" in t for t in converted.todos)


def test_a_key_in_one_branch_only_is_no_primary_key_and_no_properties_is_a_todo():
    one_has_id = {
        "anyOf": [
            {"type": "object", "properties": {"id": {"type": "string"}}},
            {"type": "object", "properties": {"name": {"type": "string"}}},
        ]
    }
    converted, resource = only(document(response={"type": "array", "items": one_has_id}))
    assert resource.primary_key is None
    assert "required" not in converted.schemas["things"]
    # nothing to derive the record's fields from: said, not an empty schema in silence
    converted, resource = only(document(response={"type": "array", "items": {"type": "object"}}))
    assert converted.schemas["things"]["properties"] == {}
    assert any(
        "GET /things (listThings): the record schema names no properties" in t
        for t in converted.todos
    ), converted.todos


@pytest.mark.parametrize(
    ("flow", "token_url", "expected"),
    [
        ("clientCredentials", "/oauth/token", "https://things.test/oauth/token"),
        ("clientCredentials", "token", "https://things.test/token"),
        ("authorizationCode", "/oauth/token", "https://things.test/oauth/token"),
        ("clientCredentials", "https://id.test/token", "https://id.test/token"),
    ],
)
def test_a_relative_token_url_is_relative_to_the_server(flow, token_url, expected):
    """OpenAPI 3 reads a relative tokenUrl against the server URL: it was copied as it
    was, and every run failed "token_url ... '/oauth/token' is not an http(s) URL"."""
    doc = document(security=[{"main": []}], schemes={"main": oauth2(flow, token_url)})
    converted, _ = only(doc)  # the server: https://things.test/v{major}, major 2
    assert converted.connector.auth.token_url == expected
    assert not any("token" in t for t in converted.todos)
    if token_url != expected:
        assert any(f"token URL {token_url!r} is {expected}" in n for n in converted.notes)


def test_a_relative_token_url_without_an_absolute_server_is_a_setting_and_a_todo():
    from headwater.settings import settings_schema

    doc = document(security=[{"main": []}], schemes={"main": oauth2("clientCredentials", "/t")})
    doc["servers"] = [{"url": "/api"}]  # a file: relative to nothing known
    converted, _ = only(doc)
    assert converted.connector.auth.token_url is None  # not a made-up host
    assert "token_url" in settings_schema(converted.connector)["required"]
    assert any(
        "security scheme main: the token URL '/t' is relative to the server" in t
        and "set the token_url setting" in t
        for t in converted.todos
    ), converted.todos


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/rest/api/3/dashboard", "rest_api_dashboard"),
        ("/2.0/repositories/{workspace}/{slug}/pullrequests", "repositories_pullrequests"),
        ("/v1.1/statuses", "statuses"),
        ("/api/V2/users", "api_users"),
        ("/v1beta/models", "models"),
        ("/2010-04-01/Accounts", "accounts"),
        ("/v2", "records"),
        ("/things", "things"),
        ("/v2x/things", "v2x_things"),  # not a version
    ],
)
def test_resource_names_leave_versions_out(path, expected):
    """Only vN was left out: /rest/api/3/dashboard was rest_api_p_3_dashboard."""
    doc = document()
    doc["paths"] = {path: doc["paths"]["/things"]}
    _, resource = only(doc)
    assert resource.name == expected


def test_names_without_their_versions_stay_unique():
    doc = document()
    doc["paths"] = {"/1.0/things": doc["paths"]["/things"], "/2.0/things": doc["paths"]["/things"]}
    names = convert_openapi(doc, "things").connector.resource_names
    assert sorted(names) == ["things", "things_2"]
