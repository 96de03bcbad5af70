"""`headwater new NAME --from-rest-api FILE` / `--from-openapi DOC`: the generated
connector installs, passes its own tests as generated (the conformance suite against
the simulator) and is described as declared; bad input is exit 2 with one line.

The end-to-end tests share one virtual environment (the `venv` fixture name puts them
on the worker that builds the scaffold tests' environment): the working tree's core is
installed into it as a wheel, `headwater new` runs from its console script, and each
generated package is installed editable and tested with that environment's Python.
Each nested pytest session takes 5-25 s: it is the generated package's whole suite.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from headwater import hookimpl
from headwater.cli import main
from headwater.convert.openapi import convert_openapi, load_document
from headwater.spec import Connector, Resource
from headwater.testing import Simulator

ROOT = Path(__file__).resolve().parents[2]
CORE = ROOT / "core"
DATA = ROOT / "tests" / "data"


def clean_env() -> dict[str, str]:
    dropped = ("SOURCES__", "HEADWATER_", "DLT_", "RUNTIME__", "PYTEST_")
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(dropped) and k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")
    }
    env["UV_NO_PROGRESS"] = "1"
    return env


def run(command, cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(c) for c in command],
        cwd=cwd,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def checked(command, cwd: Path) -> str:
    done = run(command, cwd)
    assert done.returncode == 0, f"{command}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


def uv() -> list[str]:
    found = shutil.which("uv")
    if found:
        return [found]
    pytest.skip("uv is not installed (`pip install uv`): it builds the test environment")


@pytest.fixture(scope="session")
def venv(tmp_path_factory):
    """A virtual environment holding the working tree's core (with its openapi extra)."""
    root = tmp_path_factory.mktemp("convert_venv")
    path = root / "venv"
    checked([*uv(), "venv", "--quiet", "--python", sys.executable, path], root)
    python = path / "bin" / "python"
    checked(
        [
            *uv(),
            "pip",
            "install",
            "--quiet",
            "--python",
            python,
            "--refresh-package",
            "headwater",
            f"{CORE}[openapi]",
        ],
        root,
    )
    return path


GENERATED = {
    # name: (arguments of `headwater new`, resources, auth line of `describe`)
    "seed_meetings": (
        ["--from-rest-api", DATA / "rest_api" / "seed_003.py"],
        ["users", "meetings"],
        "oauth2_client_credentials",
    ),
    "github_layout": (
        ["--from-rest-api", DATA / "rest_api" / "github_layout.py"],
        ["issues"],
        "bearer",
    ),
    "uber": (
        ["--from-openapi", DATA / "openapi" / "uber.yaml"],
        ["estimates_price", "estimates_time", "history", "products"],
        "api_key",
    ),
    "petstore": (["--from-openapi", DATA / "openapi" / "petstore-expanded.yaml"], ["pets"], "none"),
    "twilio": (
        [
            "--from-openapi",
            DATA / "openapi" / "twilio_bulkexports_v1.yaml",
            "--path",
            "/v1/Exports/*/Jobs",
        ],
        ["exports_jobs"],
        "basic",
    ),
}


@pytest.mark.parametrize("name", sorted(GENERATED))
def test_generated_connector_installs_passes_its_tests_and_is_described(name, venv, tmp_path):
    arguments, resources, auth = GENERATED[name]
    generated_and_tested(name, arguments, resources, auth, venv, tmp_path)


#: what real documents write and the conversion mishandled: a path parameter named
#: like the bearer token, a required query parameter named base_url, YAML 1.1 scalars
#: (NO, on, an unquoted date-time), a decimal multipleOf
TRICKY = """\
openapi: 3.0.3
info: {title: Tricky, version: "1"}
servers: [{url: "https://tricky.test/v1"}]
security: [{b: []}]
components:
  securitySchemes:
    b: {type: http, scheme: bearer}
paths:
  /warehouses:
    get:
      parameters:
        - {name: base_url, in: query, required: true, schema: {type: string}}
      responses:
        "200":
          description: ok
          content:
            application/json:
              schema:
                type: array
                items:
                  type: object
                  required: [id, country, price]
                  properties:
                    id: {type: integer}
                    country: {type: string, enum: [SE, DK, NO, FI]}
                    power: {type: string, enum: [on, off]}
                    price: {type: number, multipleOf: 0.01}
                    since: {type: string, format: date-time, default: 2024-01-01T00:00:00Z}
  /boards/{token}/cards:
    get:
      parameters:
        - {name: token, in: path, required: true, schema: {type: string}}
      responses:
        "200":
          description: ok
          content:
            application/json:
              schema: {type: array, items: {type: object, properties: {id: {type: integer}}}}
"""


def test_a_tricky_document_generates_a_connector_that_passes_its_tests(venv, tmp_path):
    (tmp_path / "tricky.yaml").write_text(TRICKY)
    described = generated_and_tested(
        "tricky",
        ["--from-openapi", "tricky.yaml"],
        ["warehouses", "boards_cards"],
        "bearer",
        venv,
        tmp_path,
    )
    assert re.search(r"^  token_param\b", described, re.MULTILINE), described
    assert re.search(r"^  base_url_param\b", described, re.MULTILINE), described
    schema = json.loads(
        (tmp_path / "headwater-tricky/src/headwater_tricky/schemas/warehouses.json").read_text()
    )
    assert schema["properties"]["country"]["enum"] == ["SE", "DK", "NO", "FI"]
    assert schema["properties"]["power"]["enum"] == ["on", "off"]


def generated_and_tested(name, arguments, resources, auth, venv, tmp_path) -> str:
    """Generate connector ``name`` with ``arguments``, install it, pass its tests; what
    ``headwater describe`` says of it."""
    bin_dir = venv / "bin"
    created = run([bin_dir / "headwater", "new", name, *arguments], tmp_path)
    assert created.returncode == 0, created.stderr
    assert f"created headwater-{name}" in created.stdout
    target = tmp_path / f"headwater-{name}"
    checked(
        [
            *uv(),
            "pip",
            "install",
            "--quiet",
            "--python",
            bin_dir / "python",
            "-e",
            f"{target}[duckdb,test]",
        ],
        tmp_path,
    )
    tests = run([bin_dir / "python", "-m", "pytest", "-q", "-p", "no:cacheprovider"], target)
    last = [line for line in tests.stdout.splitlines() if line.strip()][-1]
    assert tests.returncode == 0 and " passed" in last and "failed" not in last, tests.stdout[
        -3000:
    ]
    described = checked([bin_dir / "headwater", "describe", name], tmp_path)
    assert re.search(rf"auth:\s+{auth}", described), described
    for resource in resources:
        assert re.search(rf"^  {resource}$", described, re.MULTILINE), resource
    # no credential of the config anywhere: files (also those the tests wrote), output
    written = [p.read_bytes() for p in target.rglob("*") if p.is_file()]
    shown = [created.stdout.encode(), described.encode()]
    assert not any(b"CANARY" in data for data in [*written, *shown])
    # every schema file is a JSON Schema the simulator served from
    for resource in resources:
        schema = json.loads(
            (target / "src" / f"headwater_{name}" / "schemas" / f"{resource}.json").read_text()
        )
        assert schema["type"] == "object"
    return described


# ------------------------------------------------------------ in-process errors


def error_of(capsys, *args) -> str:
    code = main(["new", *map(str, args)])
    captured = capsys.readouterr()
    assert code == 2, captured.out
    assert captured.err.count("\n") == 1, captured.err
    return captured.err.removeprefix("headwater: error: ").rstrip("\n")


def test_an_unsupported_key_is_exit_2_naming_it(tmp_path, capsys):
    config = tmp_path / "config.json"
    config.write_text(
        json.dumps({"client": {"base_url": "https://x.test", "session": "s"}, "resources": ["a"]})
    )
    message = error_of(capsys, "acme", "--from-rest-api", config, "--directory", tmp_path)
    assert message.startswith("client.session is not supported by Headwater")
    assert not (tmp_path / "headwater-acme").exists()


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--from-rest-api", "missing.json"], "cannot read missing.json"),
        (["--from-rest-api", "bad.json"], "bad.json is not valid JSON"),
        (["--from-openapi", "bad.json"], "bad.json is neither JSON nor YAML"),
        (["--path", "/x*"], "--path and --tag select OpenAPI operations"),
        (["--sample"], "--sample refines schemas from the API"),
    ],
)
def test_bad_files_and_options_are_exit_2_with_one_line(
    arguments, message, tmp_path, capsys, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad.json").write_text("[1,")
    assert message in error_of(capsys, "acme", *arguments)


def test_sample_reconciles_the_schemas_with_a_page_of_the_api(
    headwater_env, tmp_path, capsys, monkeypatch
):
    doc = {
        "openapi": "3.0.3",
        "info": {"title": "Sampled", "version": "1"},
        "servers": [{"url": "https://sampled.test"}],
        "components": {
            "securitySchemes": {"key": {"type": "apiKey", "in": "header", "name": "X-Key"}}
        },
        "security": [{"key": []}],
        "paths": {
            "/people": {
                "get": {
                    "parameters": [
                        {"name": "offset", "in": "query", "schema": {"type": "integer"}},
                        {
                            "name": "limit",
                            "in": "query",
                            "schema": {"type": "integer", "default": 20},
                        },
                    ],
                    "responses": {
                        "200": {
                            "description": "ok",
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "type": "object",
                                        "properties": {
                                            "data": {
                                                "type": "array",
                                                "items": {
                                                    "type": "object",
                                                    "required": ["id", "nickname"],
                                                    "properties": {
                                                        "id": {"type": "string"},
                                                        "age": {"type": "string"},
                                                        "nickname": {"type": "string"},
                                                    },
                                                },
                                            }
                                        },
                                    }
                                }
                            },
                        }
                    },
                }
            }
        },
    }
    path = tmp_path / "sampled.json"
    path.write_text(json.dumps(doc))
    declared = convert_openapi(load_document(path), "sampled")
    # the real API: age is an integer, nickname never sent, email undeclared
    real = {
        "type": "object",
        "required": ["id"],
        "properties": {
            "id": {"type": "string"},
            "age": {"type": "integer"},
            "email": {"type": "string"},
        },
    }
    with Simulator(
        declared.connector,
        schemas={"people": real},
        extra_field=False,
        credentials={"api_key": "canary-sample-key"},
    ) as sim:
        monkeypatch.setenv("SOURCES__SAMPLED__BASE_URL", sim.base_url)
        monkeypatch.setenv("SOURCES__SAMPLED__API_KEY", "canary-sample-key")
        code = main(
            [
                "new",
                "sampled",
                "--from-openapi",
                str(path),
                "--sample",
                "--directory",
                str(tmp_path),
            ]
        )
        out = capsys.readouterr().out
        requests = sim.requests_for("people")
    assert code == 0, out
    # the first page (the page loop may have fetched the next one ahead)
    assert requests[0].query["offset"] == ["0"] and len(requests) <= 2
    assert "sample: people: added email (string)" in out
    assert "sample: people: age is string in the schema but the API sent integer" in out
    assert "nickname is required in the schema but missing or null in 20 of 20 records" in out
    assert "canary-sample-key" not in out
    schema = json.loads(
        (tmp_path / "headwater-sampled/src/headwater_sampled/schemas/people.json").read_text()
    )
    assert schema["properties"]["email"] == {"type": "string"}
    assert "nickname" not in schema["required"]
    readme = (tmp_path / "headwater-sampled/README.md").read_text()
    assert "from a sample of the API" in readme


def test_sample_of_an_api_whose_first_page_is_its_last(headwater_env, monkeypatch):
    """Five records on one page: sample_records returned None (it returned only when
    the page loop stopped with an error), and --sample said 'the API sent no records'."""
    from headwater.scaffold.sample import refine

    item = {
        "type": "object",
        "properties": {"id": {"type": "string"}, "age": {"type": "string"}},
    }
    ok = {"content": {"application/json": {"schema": {"type": "array", "items": item}}}}
    doc = {
        "openapi": "3.0.3",
        "info": {"title": "Few", "version": "1"},
        "servers": [{"url": "https://few.test"}],
        "paths": {"/people": {"get": {"responses": {"200": {"description": "ok", **ok}}}}},
    }
    declared = convert_openapi(doc, "few")
    real = {**item, "properties": {"id": {"type": "string"}, "age": {"type": "integer"}}}
    said: list[str] = []
    with Simulator(declared.connector, {"people": 5}, schemas={"people": real}) as sim:
        monkeypatch.setenv("SOURCES__FEW__BASE_URL", sim.base_url)
        refined = refine(declared, said.append)
    assert not any("sent no records" in line for line in said), said
    assert any("age is string in the schema but the API sent integer" in line for line in said)
    assert refined.schemas["people"]["properties"]["age"]["type"] == ["integer", "string"]


def test_a_name_with_a_double_underscore_is_refused_before_converting(tmp_path, capsys):
    config = tmp_path / "config.json"
    config.write_text(
        json.dumps(
            {
                "client": {"base_url": "https://x.test"},
                "resources": [
                    {"name": "a", "endpoint": {"data_selector": "$", "paginator": "single_page"}}
                ],
            }
        )
    )
    message = error_of(capsys, "x__y", "--from-rest-api", config, "--directory", tmp_path)
    assert message.startswith("connector name 'x__y' is not valid: it must not contain __")
    assert not (tmp_path / "headwater-x__y").exists()


@pytest.mark.parametrize("selector", ["$.data[*].items", "$..items", "$.data[?(@.ok)]"])
def test_a_data_selector_the_simulator_cannot_serve_is_refused(selector, tmp_path, capsys):
    config = tmp_path / "config.json"
    config.write_text(
        json.dumps(
            {
                "client": {"base_url": "https://x.test"},
                "resources": [
                    {
                        "name": "a",
                        "endpoint": {"data_selector": selector, "paginator": "single_page"},
                    }
                ],
            }
        )
    )
    message = error_of(capsys, "acme", "--from-rest-api", config, "--directory", tmp_path)
    assert message.startswith(f"resource 'a': data_selector {selector!r} is a JSONPath with")
    assert "'$.data.items', '$.results[*]'" in message
    assert not (tmp_path / "headwater-acme").exists()


@pytest.mark.parametrize(
    ("paginator", "field", "path"),
    [
        ({"type": "cursor", "cursor_param": "after"}, "cursor_path", "$..next"),
        ({"type": "cursor", "cursor_param": "after"}, "cursor_path", "data[0].id"),
        ({"type": "cursor", "cursor_param": "after"}, "cursor_path", "meta[-1].id"),
        ({"type": "json_link"}, "next_url_path", "$.links[?(@.rel == 'next')].href"),
        ({"type": "offset", "limit": 10}, "total_path", "$..total"),
    ],
)
def test_a_paging_field_the_simulator_cannot_serve_is_refused(
    paginator, field, path, tmp_path, capsys
):
    """Such a path ran, but the generated package failed its own tests against the
    simulator (which cannot place the field); a last record's field is served (the
    tests of headwater.testing and tests/convert/test_side_by_side.py)."""
    config = tmp_path / "config.json"
    endpoint = {"path": "/a", "data_selector": "data", "paginator": {**paginator, field: path}}
    config.write_text(
        json.dumps(
            {
                "client": {"base_url": "https://x.test"},
                "resources": [{"name": "a", "endpoint": endpoint}],
            }
        )
    )
    message = error_of(capsys, "acme", "--from-rest-api", config, "--directory", tmp_path)
    assert message.startswith("resource 'a': pagination "), message
    assert "is a JSONPath a generated connector cannot be tested with" in message
    assert "'meta.next' or '$.meta.next'" in message
    assert not (tmp_path / "headwater-acme").exists()


def test_simulate_of_a_selector_it_cannot_serve_is_a_usage_error(headwater_plugins, capsys):
    class Plugin:
        @staticmethod
        @hookimpl
        def headwater_connectors():
            resource = Resource(
                name="a", path="/a", schema="schemas/a.json", data_selector="$.data[*].items"
            )
            return [Connector(name="wild", package="wild", resources=[resource])]

    headwater_plugins(Plugin())
    code = main(["simulate", "wild"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.count("\n") == 1 and "unexpected" not in err
    assert err.startswith("headwater: error: connector wild cannot be simulated: ")
    assert "'$.data[*].items'" in err


def test_a_document_not_in_utf8_or_too_deep_is_exit_2_naming_it(tmp_path, capsys):
    """Latin-1 text was 'unexpected UnicodeDecodeError', a 250-deep $ref chain
    'unexpected RecursionError', both exit 1."""
    (tmp_path / "latin1.yaml").write_bytes(
        'openapi: "3.0.3"\ninfo: {title: Café}\n'.encode("latin-1")
    )
    message = error_of(
        capsys, "acme", "--from-openapi", tmp_path / "latin1.yaml", "--directory", tmp_path
    )
    assert "latin1.yaml is not UTF-8 text (byte 0xe9 at offset 34)" in message
    (tmp_path / "c.json").write_bytes(b"\xff\xfe{}")
    message = error_of(
        capsys, "acme", "--from-rest-api", tmp_path / "c.json", "--directory", tmp_path
    )
    assert "c.json is not UTF-8 text" in message

    depth = 250
    schemas = {
        f"T{i}": {
            "type": "object",
            "properties": {
                "id": {"type": "integer"},
                "next": {"$ref": f"#/components/schemas/T{i + 1}"},
            },
        }
        for i in range(depth)
    }
    schemas[f"T{depth}"] = {"type": "object", "properties": {"id": {"type": "integer"}}}
    ok = {
        "content": {
            "application/json": {
                "schema": {"type": "array", "items": {"$ref": "#/components/schemas/T0"}}
            }
        }
    }
    doc = {
        "openapi": "3.0.3",
        "info": {"title": "Chain", "version": "1"},
        "paths": {"/t": {"get": {"responses": {"200": {"description": "ok", **ok}}}}},
        "components": {"schemas": schemas},
    }
    (tmp_path / "chain.json").write_text(json.dumps(doc))
    message = error_of(
        capsys, "acme", "--from-openapi", tmp_path / "chain.json", "--directory", tmp_path
    )
    assert message.startswith("chain.json: $ref '#/components/schemas/T128' is 129 $refs deep")
    assert not (tmp_path / "headwater-acme").exists()


def test_response_actions_are_written_on_the_resource_that_declares_them(
    tmp_path, capsys, monkeypatch
):
    import importlib.util

    from headwater.spec import ResponseRule

    single = {"data_selector": "data", "paginator": "single_page"}
    info = {
        "path": "/things/{resources.things.id}",
        "response_actions": [{"content": "Not found", "action": "ignore"}],
        **single,
    }
    config = {
        "client": {"base_url": "https://x.test"},
        "resources": [
            {"name": "things", "primary_key": "id", "endpoint": {"path": "/things", **single}},
            {"name": "thing_info", "endpoint": info},
            {"name": "notes", "endpoint": {"path": "/notes", **single}},
        ],
    }
    (tmp_path / "config.json").write_text(json.dumps(config))
    config_file = str(tmp_path / "config.json")
    code = main(["new", "scoped", "--from-rest-api", config_file, "--directory", str(tmp_path)])
    assert code == 0, capsys.readouterr().err
    # the generated hooks module imports and declares the rule on thing_info only (the
    # package is not installed: its __init__, which reads its version, is not run)
    package = tmp_path / "headwater-scoped" / "src" / "headwater_scoped"
    spec = importlib.util.spec_from_file_location(
        "headwater_scoped", package / "__init__.py", submodule_search_locations=[str(package)]
    )
    monkeypatch.setitem(sys.modules, "headwater_scoped", importlib.util.module_from_spec(spec))
    monkeypatch.delitem(sys.modules, "headwater_scoped.hooks", raising=False)
    hooks = importlib.import_module("headwater_scoped.hooks")
    declared = hooks.SCOPED
    rule = ResponseRule(action="ignore", contains="Not found")
    assert declared.resource("thing_info").response_rules == (rule,)
    assert declared.resource("notes").response_rules == declared.response_rules == ()
