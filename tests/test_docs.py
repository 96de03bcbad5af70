"""Meta-tests that keep the docs honest.

The hook reference matches the hook specifications; the README's commands are CI's;
the site builds with ``mkdocs build --strict``; the generated reference pages cover
every installed connector, setting and command; and the code the pages show runs and
does what the pages say.
"""

from __future__ import annotations

import ast
import html
import inspect
import os
import re
import subprocess
import sys
import types
from pathlib import Path
from typing import Any

import pytest
from headwater import hookimpl
from headwater.plugin import hookspecs
from helpers import use_settings

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
HOOKS = sorted(n for n in dir(hookspecs) if n.startswith("headwater_"))

FENCE = re.compile(
    r'^```(?P<lang>\w+)(?: title="(?P<title>[^"]+)")?\n(?P<body>.*?)^```$', re.M | re.S
)


def code_blocks(page: str, lang: str, title: str | None = None) -> list[str]:
    """The fenced ``lang`` blocks of ``docs/<page>`` (with that title, if given)."""
    text = (DOCS / page).read_text()
    return [
        m["body"]
        for m in FENCE.finditer(text)
        if m["lang"] == lang and (title is None or m["title"] == title)
    ]


def titled_blocks(page: str) -> dict[str, str]:
    """``{title: body}`` of the blocks of ``docs/<page>`` that name a file."""
    text = (DOCS / page).read_text()
    found: dict[str, str] = {}
    for m in FENCE.finditer(text):
        if m["title"]:
            found[m["title"]] = found.get(m["title"], "") + m["body"]
    return found


def module_from(source: str, name: str) -> types.ModuleType:
    module = types.ModuleType(name)
    exec(compile(source, f"<docs: {name}>", "exec"), module.__dict__)
    return module


def signature_text(name: str) -> str:
    sig = str(inspect.signature(getattr(hookspecs, name))).replace("'", "")
    return f"def {name}{sig}"


def installed_registry() -> Any:
    """The connectors installed in this environment, as the docs build sees them."""
    from headwater.plugin.manager import Registry, make_plugin_manager

    return Registry(make_plugin_manager(strict=True, disabled=()))


# --------------------------------------------------------------- hook reference


def test_every_hook_is_in_the_reference_with_its_exact_signature():
    reference = (DOCS / "hooks.md").read_text()
    for name in HOOKS:
        assert f"## {name}" in reference, f"{name} has no section in docs/hooks.md"
        assert signature_text(name) in reference, (
            f"docs/hooks.md shows another signature for {name}; expected {signature_text(name)}"
        )
    documented = set(re.findall(r"^## (headwater_\w+)", reference, re.M))
    assert documented == set(HOOKS), (
        f"docs/hooks.md documents unknown hooks {documented - set(HOOKS)}"
    )


def test_every_hook_has_a_test_named_after_it():
    names: set[str] = set()
    for path in (ROOT / "tests").rglob("test_*.py"):
        tree = ast.parse(path.read_text())
        names |= {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}
    for hook in HOOKS:
        assert any(n.startswith(f"test_{hook}") for n in names), f"no test named test_{hook}*"


def test_specs_page_states_the_field_path_rule_of_the_code():
    """docs/specs.md's "Response fields" lists the forms of a ``FieldPath`` as the
    comment that documents it in headwater/spec.py does (the rule the code follows)."""
    from headwater import spec

    source = Path(spec.__file__).read_text().splitlines()
    end = source.index("FieldPath = str | tuple")
    start = end
    while source[start - 1].startswith("#:"):
        start -= 1
    comment = [line[2:].strip() for line in source[start:end]]
    bullets = " ".join(" ".join(comment).split("* ")[1:]).replace("``", "`")
    section = (DOCS / "specs.md").read_text().split("## Response fields")[1].split("\n## ")[0]
    assert " ".join(bullets.split()) in " ".join(section.replace("- ", "").split())
    # and the rule is what field_path does
    assert spec.field_path("data.items") == ("data", "items")
    assert spec.field_path("@odata.nextLink") == ("@odata.nextLink",)
    assert spec.field_path(("meta", "next.url")) == ("meta", "next.url")


def test_readme_commands_are_what_ci_runs():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "pip install uv && uv run pytest" in readme
    assert "pip install uv && uv run headwater demo" in readme
    assert re.search(r"^uv run pytest$", ci, re.M), ".ci/run must run the README's test command"


def test_every_fixture_of_the_pytest_plugin_is_in_the_testing_kit_page():
    from headwater.testing import pytest_plugin

    page = (DOCS / "testing.md").read_text()
    fixtures = [
        name
        for name, value in vars(pytest_plugin).items()
        if type(value).__name__ == "FixtureFunctionDefinition"
    ]
    assert fixtures, "no fixtures found: has the pytest plugin moved?"
    for name in fixtures:
        assert f"| `{name}` |" in page, f"fixture {name} is missing from docs/testing.md"


# ------------------------------------------------------------------ the site


def mkdocs_build(config: Path, site: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(config)]
    return subprocess.run(
        [*command, "--site-dir", str(site)],
        cwd=config.parent,
        capture_output=True,
        text=True,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        timeout=300,
    )


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess]:
    """The site, built once for this module as CI builds it."""
    site = tmp_path_factory.mktemp("site")
    return site, mkdocs_build(ROOT / "mkdocs.yml", site)


def page_text(site: Path, page: str) -> str:
    """The text of a built page, tags removed and entities decoded."""
    markup = (site / page / "index.html").read_text()
    return html.unescape(re.sub(r"<[^>]+>", "", markup))


def test_site_builds_with_strict(built):
    site, done = built
    assert done.returncode == 0, f"mkdocs build --strict failed:\n{done.stderr[-4000:]}"
    assert (site / "index.html").exists()
    leftovers = [p for p in site.rglob("*.html") if "<!-- generated:" in p.read_text()]
    assert not leftovers, f"markers left unexpanded in {leftovers}"


def test_connector_pages_cover_every_installed_connector(built):
    from headwater.schema import columns_from_schema
    from headwater.settings import env_var, settings_schema

    site, done = built
    assert done.returncode == 0, done.stderr[-4000:]
    registry = installed_registry()
    connectors = registry.connectors()
    assert {c.name for c in connectors} >= {"directory", "analytics_odata", "hr"}
    index = page_text(site, "connectors")
    for connector in connectors:
        assert connector.name in index, f"{connector.name} is missing from the connectors index"
        text = page_text(site, f"connectors/{connector.name}")
        for key, prop in settings_schema(connector)["properties"].items():
            for name in (key, *prop.get("aliases", ())):
                assert env_var(connector.name, name) in text, (
                    f"{connector.name}: {env_var(connector.name, name)} is not on its page"
                )
        for resource in connector.resources:
            assert resource.name in text and resource.path in text
            schema = registry.pm.hook.headwater_record_schema(
                connector=connector, resource=resource
            )
            for column in columns_from_schema(schema, resource.primary_key_columns):
                assert column in text, f"{connector.name}.{resource.name}.{column} not listed"
        retry = connector.retry
        assert ", ".join(map(str, retry.status_codes)) in text
        assert f"({retry.max_retries + 1} attempts in all)" in text


def test_cli_page_covers_every_command_and_option(built):
    import argparse

    from headwater.cli import _parser

    site, done = built
    assert done.returncode == 0, done.stderr[-4000:]
    text = page_text(site, "cli")
    sub = next(a for a in _parser()._actions if isinstance(a, argparse._SubParsersAction))
    for name, parser in sub.choices.items():
        assert f"headwater {name}" in text, f"`headwater {name}` is not in the CLI reference"
        for action in parser._actions:
            for option in action.option_strings:
                if option not in ("-h", "--help"):
                    assert option in text, f"headwater {name} {option} is not documented"


def test_generated_reference_in_docs_is_up_to_date():
    """The generated blocks of ``docs/`` are what the code generates now (the site shows
    the same text, generated again while it is built)."""
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        from docgen import pages
    finally:
        sys.path.remove(str(ROOT / "tools"))
    problems: list[str] = []
    stale = pages.stale_pages(DOCS, pages.Renderer(problems.append))
    assert not problems, problems
    names = ", ".join(p.relative_to(ROOT).as_posix() for p in stale)
    assert not stale, f"generated docs are stale ({names}): run `{pages.REFRESH}`"


def test_a_page_for_a_connector_that_is_not_installed_fails_the_build(tmp_path):
    (tmp_path / "docs" / "connectors").mkdir(parents=True)
    (tmp_path / "docs" / "index.md").write_text("# Home\n")
    (tmp_path / "docs" / "connectors" / "index.md").write_text("# Connectors\n")
    (tmp_path / "docs" / "connectors" / "gone.md").write_text(
        "# Gone\n\n<!-- generated: connector gone -->\n"
    )
    config = tmp_path / "mkdocs.yml"
    config.write_text(
        "site_name: t\n"
        f"hooks: [{ROOT / 'tools' / 'mkdocs_hooks.py'}]\n"
        "nav:\n  - index.md\n  - Connectors:\n    - connectors/index.md\n"
        "    - connectors/gone.md\n"
    )
    done = mkdocs_build(config, tmp_path / "site")
    assert done.returncode != 0
    assert "connector 'gone' is not installed" in done.stderr


# ------------------------------------------------------- the code the pages show


def test_overriding_examples_work_as_documented(
    headwater_plugins, api_simulator, monkeypatch: pytest.MonkeyPatch
):
    import headwater
    import headwater_directory.hooks
    import headwater_hr.hooks
    from headwater.http.paginators import OffsetPaginator
    from headwater.schema import load_record_schema

    source = "\n\n".join(code_blocks("overriding.md", "python", "headwater_tweaks/hooks.py"))
    tweaks = module_from(source, "headwater_tweaks.hooks")

    class Rival:
        """Registered after tweaks, so called before it — unless tweaks is tryfirst."""

        @hookimpl
        def headwater_paginator(self, connector, resource):
            return OffsetPaginator(limit=50) if connector.name == "directory" else None

    pm = headwater_plugins(headwater_directory.hooks, headwater_hr.hooks, tweaks, Rival())
    directory = headwater_directory.hooks.DIRECTORY
    users = directory.resource("directory_users")

    # tryfirst paginator, auth wrapper: pages of 500, the header, one token
    sim = api_simulator(directory, records={"directory_users": 1200})
    from headwater.testing import rows_of

    assert len(rows_of(headwater.source("directory", **sim.settings))) == 1200
    requests = sim.requests_for("directory_users")
    assert {r.query["limit"][0] for r in requests} == {"500"}
    assert {r.headers.get("x-tenant") for r in requests} == {"acme"}
    assert sim.tokens_issued == 1

    # schema wrapper: a new column, the cached file left alone
    schema = pm.hook.headwater_record_schema(connector=directory, resource=users)
    assert "department" in schema["properties"]
    assert "department" not in load_record_schema(directory, users)["properties"]

    # retry wrapper and collected rules, for hr only
    hr = headwater_hr.hooks.HR
    employees = hr.resources[0]
    policy = pm.hook.headwater_retry_policy(connector=hr, resource=employees)
    assert policy.max_retries == hr.retry.max_retries + 1 and 520 in policy.status_codes
    assert pm.hook.headwater_retry_policy(connector=directory, resource=users) == directory.retry
    rules = [
        r
        for found in pm.hook.headwater_response_rules(connector=hr, resource=employees)
        for r in found
    ]
    assert (rules[0].action, rules[0].status_code, rules[0].contains) == (
        "retry",
        400,
        "rate limit",
    )

    # "Replace a declaration": block the connector's plugin, declare an edited copy
    [replace, test_block] = code_blocks("overriding.md", "python")[-2:]
    pm = headwater_plugins(module_from(replace, "headwater_replacement.hooks"))
    from headwater.plugin.manager import Registry

    assert Registry(pm).get("directory").base_url == "https://directory.internal.example"

    # "Test it": the page's own test, with the page's tweaks importable
    package = types.ModuleType("headwater_tweaks")
    package.hooks = tweaks  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "headwater_tweaks", package)
    monkeypatch.setitem(sys.modules, "headwater_tweaks.hooks", tweaks)
    test = module_from(test_block, "docs_overriding_test")
    test.test_directory_pages_of_500(None, headwater_plugins, api_simulator)


def test_testing_kit_examples_pass(
    headwater_env, headwater_plugins, api_simulator, duckdb_pipeline
):
    source = titled_blocks("testing.md")["tests/test_directory.py"]
    examples = module_from(source, "docs_testing_examples")
    fixtures = {
        "headwater_env": headwater_env,
        "headwater_plugins": headwater_plugins,
        "api_simulator": api_simulator,
        "duckdb_pipeline": duckdb_pipeline,
    }
    tests = [f for name, f in vars(examples).items() if name.startswith("test_")]
    assert len(tests) == 2
    for test in tests:
        test(**{p: fixtures[p] for p in inspect.signature(test).parameters})


def test_production_script_lets_dlt_deploy_see_its_secrets(
    headwater_plugins, api_simulator, monkeypatch: pytest.MonkeyPatch
):
    """The script of docs/production.md loads (here into DuckDB instead of Postgres), and
    its pipeline's trace — what `dlt deploy` reads — lists the connector's secrets."""
    import headwater_directory.hooks

    [script] = code_blocks("production.md", "python", "load_directory.py")
    assert 'destination="postgres"' in script
    headwater_plugins(headwater_directory.hooks)
    sim = api_simulator("directory", records={"directory_users": 150})
    use_settings(monkeypatch, "directory", sim)
    namespace = module_from(script.replace('"postgres"', '"duckdb"'), "load_directory")
    assert not namespace.load_info.has_failed_jobs
    traced = {
        ("__".join([*v.sections, v.key]).upper(), v.is_secret_hint)
        for v in namespace.pipeline.last_trace.resolved_config_values
    }
    assert ("SOURCES__DIRECTORY__CLIENT_ID", True) in traced
    assert ("SOURCES__DIRECTORY__CLIENT_SECRET", True) in traced
    assert ("SOURCES__DIRECTORY__BASE_URL", False) in traced


def test_tutorial_connector_passes_its_tests(tmp_path):
    """docs/writing-a-connector.md: `headwater new tracker`, the page's files written
    over the generated ones, then the project's own tests — the conformance suite too."""
    page = (DOCS / "writing-a-connector.md").read_text()
    assert "headwater new tracker" in page
    done = subprocess.run(
        [sys.executable, "-m", "headwater", "new", "tracker", "--directory", str(tmp_path)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    project = tmp_path / "headwater-tracker"
    for command in code_blocks("writing-a-connector.md", "sh"):
        for line in command.splitlines():
            if line.startswith("rm "):
                for path in line.split()[1:]:
                    (project / path).unlink()
    files = titled_blocks("writing-a-connector.md")
    assert "src/headwater_tracker/hooks.py" in files and "tests/test_connector.py" in files
    for path, body in files.items():
        (project / path).parent.mkdir(parents=True, exist_ok=True)
        (project / path).write_text(body)
    # What `pip install -e .` gives, without a network: the package importable and its
    # entry point visible (the conformance suite runs the CLI in a subprocess).
    site = tmp_path / "site"
    info = site / "headwater_tracker-0.1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: headwater-tracker\nVersion: 0.1.0\n"
    )
    (info / "entry_points.txt").write_text("[headwater]\ntracker = headwater_tracker.hooks\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "HEADWATER_"))}
    env["PYTHONPATH"] = os.pathsep.join([str(site), str(project / "src")])
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=project,
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout[-6000:]
    [claimed] = re.findall(r"^\d+ passed(?:, \d+ skipped)?$", page, re.M)
    assert claimed in done.stdout, f"the page says {claimed!r}; pytest said:\n{done.stdout[-800:]}"


def test_tutorial_refresh_token_section_runs_twice(
    tmp_path, monkeypatch, capsys, api_simulator, headwater_plugins
):
    """docs/writing-a-connector.md, "a refresh token that rotates": the tutorial's
    connector with the page's auth loads twice against a simulator that rotates refresh
    tokens, the second run with the same (now refused) setting; the store holds the
    rotated token; describe prints the line the page shows."""
    import attrs
    import headwater
    from headwater.cli import main
    from headwater.spec import OAuth2RefreshToken
    from headwater.testing import rows_of
    from helpers import Declares

    page = (DOCS / "writing-a-connector.md").read_text()
    section = page[page.index("## Another auth, declared") :]
    [declared] = re.findall(r"^```python\n(.*?)^```$", section, re.M | re.S)
    [shown] = re.findall(r"^```text\n(.*?)^```$", section, re.M | re.S)
    namespace: dict = {"OAuth2RefreshToken": OAuth2RefreshToken}
    exec(compile(declared, "writing-a-connector.md", "exec"), namespace)
    # the tutorial's package, as its files on the page make it
    package = tmp_path / "src" / "headwater_tracker"
    for path, body in titled_blocks("writing-a-connector.md").items():
        if path.startswith("src/headwater_tracker/"):
            target = tmp_path / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(body)
    (package / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path / "src"))
    for name in [m for m in sys.modules if m.startswith("headwater_tracker")]:
        monkeypatch.delitem(sys.modules, name)
    from headwater_tracker import hooks

    tracker = attrs.evolve(hooks.TRACKER, auth=namespace["auth"])
    headwater_plugins(Declares(tracker))
    sim = api_simulator(tracker, records={"projects": 3, "tasks": 30})
    original = sim.settings["refresh_token"]
    for run in (1, 2):
        rows = rows_of(headwater.source("tracker", **sim.settings))  # the same settings
        assert len(rows) == 33, f"run {run}"
    assert sim.refresh_token != original and sim.refresh_tokens_refused == 0
    assert len(sim.requests_for("token")) == 2
    stored = Path(os.environ["HEADWATER_TOKEN_DIR"]) / "tracker.json"
    assert sim.refresh_token in stored.read_text() and original not in stored.read_text()
    # describe: the page's line, with the default directory of this machine
    import platformdirs

    monkeypatch.delenv("HEADWATER_TOKEN_DIR")
    assert main(["describe", "tracker"]) == 0
    out = capsys.readouterr().out
    default = Path(platformdirs.user_data_dir("headwater", appauthor=False)) / "tokens"
    [line] = shown.splitlines()
    assert line.replace("/home/ana/.local/share/headwater/tokens", str(default)) in out
