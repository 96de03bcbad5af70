"""`headwater new`: the scaffolded connector installs, and its tests pass as generated.

The end-to-end tests share one virtual environment per session: the local core is
installed into it from `core/` as a wheel (so the templates must ship as package
data), `headwater new` runs from that environment's console script, the generated
distribution is installed editable with its `test` extra, and its own test suite runs
with that environment's Python. uv does the installs, reusing its cache.
The error cases run in-process through `headwater.cli.main`.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from headwater import __version__
from headwater.cli import main
from headwater.plugin import manager as plugins
from headwater.scaffold import files as scaffold_files
from headwater.scaffold.names import MAX_LENGTH
from helpers import Declares, connector

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[2]
CORE = ROOT / "core"
#: With an underscore, so every spelling is exercised: headwater-acme_widgets,
#: headwater_acme_widgets, ACME_WIDGETS, TestAcmeWidgetsConformance.
NAME = "acme_widgets"
DIST = f"headwater-{NAME}"
PACKAGE = f"headwater_{NAME}"
GENERATED = [
    "pyproject.toml",
    "README.md",
    ".gitignore",
    f"src/{PACKAGE}/__init__.py",
    f"src/{PACKAGE}/hooks.py",
    f"src/{PACKAGE}/settings.json",
    f"src/{PACKAGE}/schemas/items.json",
    "tests/conftest.py",
    "tests/test_conformance.py",
    "tests/test_connector.py",
]


# ----------------------------------------------------------------------- helpers


def clean_env() -> dict[str, str]:
    """The environment for subprocesses: none of this test run's settings, plugins,
    dlt directories, virtual environment or pytest options leak in."""
    dropped = ("SOURCES__", "HEADWATER_", "DLT_", "RUNTIME__", "PYTEST_")
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(dropped) and key not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")
    }
    env["UV_NO_PROGRESS"] = "1"
    return env


def run(
    command: list[str | Path], *, cwd: Path, timeout: float = 600
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def checked(command: list[str | Path], *, cwd: Path, timeout: float = 600) -> str:
    done = run(command, cwd=cwd, timeout=timeout)
    assert done.returncode == 0, f"{command} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


def uv_command() -> list[str]:
    """How to call uv: on PATH, or as a module of this Python (`pip install uv`)."""
    found = shutil.which("uv")
    if found:
        return [found]
    if importlib.util.find_spec("uv") is not None:
        return [sys.executable, "-m", "uv"]
    pytest.skip("uv is not installed (`pip install uv`): it builds the test environment")


def ruff_command() -> list[str]:
    if importlib.util.find_spec("ruff") is not None:
        return [sys.executable, "-m", "ruff"]
    found = shutil.which("ruff")
    if found:
        return [found]
    pytest.skip("ruff is not installed (it is in the workspace's dev dependencies)")


def summary(output: str) -> dict[str, int]:
    """Counts in pytest's last line, e.g. ``10 passed, 1 skipped in 27.4s``."""
    last = [line for line in output.splitlines() if line.strip()][-1]
    match = re.fullmatch(r"=* *(.*?) in [\d.]+s(?: \([^)]*\))? *=*", last.strip())
    assert match, f"no pytest summary line in: {last!r}"
    counts = {}
    for number, outcome in re.findall(r"(\d+) (\w+)", match.group(1)):
        counts[outcome.rstrip("s") if outcome in ("errors", "warnings") else outcome] = int(number)
    return counts


class Venv:
    """A virtual environment for the session: the local core, then the generated
    connector."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.bin = path / ("Scripts" if os.name == "nt" else "bin")
        self.python = self.bin / ("python.exe" if os.name == "nt" else "python")
        self.headwater = self.bin / ("headwater.exe" if os.name == "nt" else "headwater")


def uv_pip_install(venv: Venv, *args: str | Path, cwd: Path) -> None:
    checked([*uv_command(), "pip", "install", "--quiet", "--python", venv.python, *args], cwd=cwd)


def new(*args: str) -> int:
    return main(["new", *args])


# ---------------------------------------------------------------- the environment


@pytest.fixture(scope="session")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Venv:
    """A fresh virtual environment holding the core, built from `core/` as a wheel."""
    uv = uv_command()
    root = tmp_path_factory.mktemp("new_venv")
    env = Venv(root / "venv")
    checked([*uv, "venv", "--quiet", "--python", sys.executable, env.path], cwd=root)
    # --refresh-package: build the working tree's core, never a cached older wheel.
    uv_pip_install(env, "--refresh-package", "headwater", CORE, cwd=root)
    return env


@pytest.fixture(scope="session")
def generated(venv: Venv, tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    """`headwater new` run from the venv, then the result installed as its README says."""
    root = tmp_path_factory.mktemp("new_connector")
    created = run([venv.headwater, "new", NAME], cwd=root)
    assert created.returncode == 0, created.stderr
    target = root / DIST
    uv_pip_install(venv, "-e", f"{target}[duckdb,test]", cwd=root)
    return SimpleNamespace(root=root, target=target, stdout=created.stdout)


@pytest.fixture(scope="session")
def generated_tests(venv: Venv, generated: SimpleNamespace) -> subprocess.CompletedProcess:
    """The generated distribution's own test suite, run by the venv's Python."""
    return run([venv.python, "-m", "pytest", "-rA", "-p", "no:cacheprovider"], cwd=generated.target)


# ------------------------------------------------------------------- end to end


def test_new_prints_what_it_created_and_the_next_steps(generated):
    lines = generated.stdout.splitlines()
    assert lines[0] == f"created {DIST} in {DIST}:"
    assert [line.strip() for line in lines[1 : 1 + len(GENERATED)]] == GENERATED
    steps = "\n".join(lines[1 + len(GENERATED) :])
    assert steps.startswith("next steps:\n")
    for command in (
        f"cd {DIST}",
        'pip install -e ".[duckdb,test]"',
        'uv pip install -e ".[duckdb,test]"',
        "pytest",
        f"headwater describe {NAME}",
    ):
        assert command in steps
    assert sorted(str(p.relative_to(generated.target)) for p in _files(generated.target)) == sorted(
        GENERATED
    )


def test_generated_tests_pass_as_generated(generated_tests):
    output = generated_tests.stdout
    assert generated_tests.returncode == 0, output[-5000:] + generated_tests.stderr[-2000:]
    counts = summary(output)
    assert not {"failed", "error"} & set(counts), output[-5000:]
    assert counts.get("passed", 0) >= 10, counts
    # the skips: the token-renewal test (the template uses an API key, no expiring
    # token) and the incremental ones (the template declares no incremental resource)
    skips = re.findall(r"^SKIPPED \[(\d+)\] (.*)$", output, flags=re.M)
    assert sum(int(n) for n, _ in skips) == counts.get("skipped", 0) <= 3, output[-3000:]
    for _, line in skips:
        assert "no expiring access tokens" in line or "incremental" in line, line
    klass = "TestAcmeWidgetsConformance"
    for test in (
        f"tests/test_conformance.py::{klass}::test_every_record_extracted_exactly",
        f"tests/test_conformance.py::{klass}::test_second_run_merges_or_loads_incrementally",
        f"tests/test_conformance.py::{klass}::test_canary_secret_absent_from_output_and_files",
        "tests/test_connector.py::test_loads_every_record_into_duckdb",
        "tests/test_connector.py::test_page_size_setting_sets_the_limit_of_each_request",
        "tests/test_connector.py::test_api_key_is_sent_in_its_header",
    ):
        assert f"PASSED {test}" in output, f"{test} did not pass:\n{output[-3000:]}"


def test_the_readmes_record_and_replay_workflow_works_as_written(venv, generated, tmp_path):
    """README "Test against the real API": record (here: the simulator standing in for
    the real API), replay offline, then the commented RecordingSuite, uncommented, passes."""
    readme = (generated.target / "README.md").read_text()
    assert f"headwater record {NAME} --to tests/recording --pages 2" in readme
    server = subprocess.Popen(
        [str(venv.headwater), "simulate", NAME, "--records", "250"],
        cwd=tmp_path,
        env=clean_env(),
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        env = clean_env()
        wanted = {f"SOURCES__{NAME.upper()}__{key}" for key in ("BASE_URL", "API_KEY")}
        for line in server.stdout:  # the `export` lines the README says to paste
            if line.startswith("export "):
                key, _, value = line.removeprefix("export ").strip().partition("=")
                env[key] = value
            if wanted <= env.keys():
                break
        project = tmp_path / "project"
        shutil.copytree(generated.target / "tests", project / "tests")
        recorded = subprocess.run(
            [str(venv.headwater), "record", NAME, "--to", "tests/recording", "--pages", "2"],
            cwd=project,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert recorded.returncode == 0, recorded.stderr
    finally:
        server.terminate()
        server.wait(timeout=30)
    cassettes = list((project / "tests" / "recording").rglob("*"))
    assert any(p.is_file() for p in cassettes), cassettes
    secret = env[f"SOURCES__{NAME.upper()}__API_KEY"]
    for path in cassettes:
        if path.is_file():
            assert secret not in path.read_text(errors="replace"), path
    # offline: the simulator is gone, no credentials in the environment
    replayed = run(
        [venv.headwater, "run", NAME, "--replay", "tests/recording"], cwd=project, timeout=300
    )
    assert replayed.returncode == 0, replayed.stderr[-3000:]
    conformance = project / "tests" / "test_conformance.py"
    text = conformance.read_text()
    uncommented = re.sub(
        r"^# ?(from headwater.testing.recording|class |    )", r"\1", text, flags=re.M
    )
    conformance.write_text(uncommented)
    suite = run(
        [
            venv.python,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "tests/test_conformance.py",
            "-k",
            "Recording",
        ],
        cwd=project,
    )
    assert suite.returncode == 0, suite.stdout[-4000:]
    assert summary(suite.stdout).get("passed", 0) >= 1, suite.stdout[-2000:]


def test_headwater_list_shows_the_new_connector(venv, generated):
    listed = run([venv.headwater, "list"], cwd=generated.root)
    assert listed.returncode == 0, listed.stderr
    rows = [line.split() for line in listed.stdout.splitlines()]
    assert [NAME, DIST, "0.1.0", "items"] in rows


def test_headwater_describe_shows_the_settings_schema(venv, generated):
    described = checked([venv.headwater, "describe", NAME], cwd=generated.root)
    assert f"provided by:  {DIST} 0.1.0" in described
    assert "SOURCES__ACME_WIDGETS__API_KEY" in described
    assert "page_size" in described and "SOURCES__ACME_WIDGETS__PAGE_SIZE" in described


def test_the_core_came_from_a_wheel(venv, generated):
    """`headwater new` ran from a non-editable install: the templates ship in the wheel."""
    where = checked(
        [venv.python, "-c", "import headwater.scaffold as s; print(s.__file__)"],
        cwd=generated.root,
    )
    assert Path(where.strip()).resolve().is_relative_to(venv.path.resolve())


def test_the_generated_wheel_ships_the_schema_files(generated, tmp_path):
    """What users of the connector install: the JSON files and the entry point."""
    checked(
        [*uv_command(), "build", "--quiet", "--wheel", "-o", tmp_path, "."], cwd=generated.target
    )
    (wheel,) = tmp_path.glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        entry_points = archive.read(f"{PACKAGE}-0.1.0.dist-info/entry_points.txt").decode()
    assert {
        f"{PACKAGE}/hooks.py",
        f"{PACKAGE}/settings.json",
        f"{PACKAGE}/schemas/items.json",
    } <= names
    assert f"[headwater]\n{NAME} = {PACKAGE}.hooks" in entry_points


def test_generating_again_where_it_is_installed_from_is_allowed(venv, generated):
    again = run([venv.headwater, "new", NAME, "--force"], cwd=generated.root)
    assert again.returncode == 0, again.stderr
    assert "  pyproject.toml  (replaced)" in again.stdout


def test_a_connector_installed_elsewhere_is_not_created_twice(venv, generated, tmp_path):
    clash = run([venv.headwater, "new", NAME, "--directory", tmp_path], cwd=generated.root)
    assert clash.returncode == 2
    assert clash.stderr == (
        f"headwater: error: connector name {NAME!r} is taken: {DIST} 0.1.0 is installed; "
        f"choose another name, or uninstall {DIST} first\n"
    )
    assert not (tmp_path / DIST).exists()


# -------------------------------------------------------------- generated files


def _files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts]


@pytest.mark.parametrize("name", ["x", "acme_widgets", "v2_api", "a" * MAX_LENGTH])
def test_generated_code_is_ruff_clean(name, tmp_path, capsys):
    """With the ruff configuration it ships, and with ours: any name, even the longest."""
    assert new(name, "--directory", str(tmp_path)) == 0
    target = tmp_path / f"headwater-{name}"
    ruff = ruff_command()
    for config in ([], ["--config", str(ROOT / "pyproject.toml")]):
        checked([*ruff, "check", "--no-cache", *config, "."], cwd=target)
        checked([*ruff, "format", "--no-cache", "--check", *config, "."], cwd=target)


def test_generated_json_and_toml_parse(tmp_path, capsys):
    assert new(NAME, "--directory", str(tmp_path)) == 0
    target = tmp_path / DIST
    pyproject = tomllib.loads((target / "pyproject.toml").read_text())
    assert pyproject["project"]["name"] == DIST
    assert pyproject["project"]["dependencies"] == [f"headwater>={__version__}"]
    assert pyproject["project"]["entry-points"]["headwater"] == {NAME: f"{PACKAGE}.hooks"}
    assert pyproject["project"]["optional-dependencies"]["duckdb"] == [
        f"headwater[duckdb]>={__version__}"
    ]
    assert {"pytest>=8", "requests-mock>=1.11"} <= set(
        pyproject["project"]["optional-dependencies"]["test"]
    )
    settings = json.loads((target / "src" / PACKAGE / "settings.json").read_text())
    assert settings["$schema"].startswith("https://json-schema.org/")
    assert set(settings["properties"]) == {"page_size"}
    schema = json.loads((target / "src" / PACKAGE / "schemas" / "items.json").read_text())
    assert schema["required"] == ["id"]


def test_every_template_file_is_generated():
    root = Path(scaffold_files.__file__).parent / "template"
    templates = {str(p.relative_to(root)).replace(os.sep, "/") for p in _files(root)}
    assert templates == {source for source, _ in scaffold_files.MANIFEST}


def test_a_missing_directory_is_created(tmp_path, capsys):
    assert new(NAME, "--directory", str(tmp_path / "a" / "b")) == 0
    assert (tmp_path / "a" / "b" / DIST / "pyproject.toml").is_file()


def test_force_overwrites_generated_files_and_keeps_the_others(tmp_path, capsys):
    target = tmp_path / DIST
    (target / "src" / PACKAGE).mkdir(parents=True)
    (target / "src" / PACKAGE / "hooks.py").write_text("# mine\n")
    (target / "notes.txt").write_text("keep me\n")
    assert new(NAME, "--directory", str(tmp_path), "--force") == 0
    assert "# mine" not in (target / "src" / PACKAGE / "hooks.py").read_text()
    assert (target / "notes.txt").read_text() == "keep me\n"
    out = capsys.readouterr().out
    assert f"  src/{PACKAGE}/hooks.py  (replaced)\n" in out
    assert "  pyproject.toml\n" in out


def test_an_empty_existing_directory_needs_no_force(tmp_path, capsys):
    (tmp_path / DIST).mkdir()
    assert new(NAME, "--directory", str(tmp_path)) == 0


# ------------------------------------------------------------------ bad input


def error_of(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    """Run `headwater new ARGS`, expecting exit code 2; its one line on stderr."""
    code = new(*args)
    captured = capsys.readouterr()
    assert code == 2, captured.out
    assert captured.out == ""
    assert captured.err.endswith("\n") and captured.err.count("\n") == 1, captured.err
    return captured.err.removeprefix("headwater: error: ").rstrip("\n")


INVALID = "use lower case letters, digits and _, starting with a letter"


@pytest.mark.parametrize(
    ("name", "message"),
    [
        (
            "Acme-API",
            f"connector name 'Acme-API' is not valid: {INVALID}; e.g. `headwater new acme_api`",
        ),
        ("1acme", f"connector name '1acme' is not valid: {INVALID}; e.g. `headwater new acme`"),
        (
            "acme api",
            f"connector name 'acme api' is not valid: {INVALID}; e.g. `headwater new acme_api`",
        ),
        ("", f"connector name '' is not valid: {INVALID}; e.g. `headwater new acme`"),
        (
            "acme_",
            "connector name 'acme_' is not valid: it must end with a letter or digit, as the "
            "distribution name headwater-acme_ must; e.g. `headwater new acme`",
        ),
        (
            "x__y",
            "connector name 'x__y' is not valid: it must not contain __, which separates the "
            "parts of a setting's variable (SOURCES__<NAME>__<KEY>) and which dlt renames in "
            "the dataset; e.g. `headwater new x_y`",
        ),
        (
            "class",
            "connector name 'class' is a Python keyword; choose another, "
            "e.g. `headwater new class_api`",
        ),
        (
            "headwater_acme",
            "connector name 'headwater_acme' repeats the prefix: "
            "`headwater new acme` creates headwater-acme",
        ),
        (
            "a" * (MAX_LENGTH + 1),
            f"connector name '{'a' * (MAX_LENGTH + 1)}' is {MAX_LENGTH + 1} characters long; "
            f"use at most {MAX_LENGTH}",
        ),
    ],
    ids=[
        "capitals-and-dash",
        "digit-first",
        "space",
        "empty",
        "trailing-underscore",
        "double-underscore",
        "keyword",
        "prefix",
        "too-long",
    ],
)
def test_an_invalid_name_is_a_usage_error(name, message, tmp_path, capsys):
    assert error_of(capsys, name, "--directory", str(tmp_path / "out")) == message
    assert not (tmp_path / "out").exists()


def test_a_name_whose_distribution_is_installed_is_refused(tmp_path, capsys):
    assert error_of(capsys, "hr", "--directory", str(tmp_path / "out")) == (
        "connector name 'hr' is taken: headwater-hr 0.1.0 is installed; "
        "choose another name, or uninstall headwater-hr first"
    )
    assert not (tmp_path / "out").exists()


def test_a_name_declared_by_an_installed_plugin_is_refused(headwater_plugins, tmp_path, capsys):
    headwater_plugins(entry_points=True)
    assert error_of(capsys, "analytics_events", "--directory", str(tmp_path)) == (
        "connector name 'analytics_events' is taken: headwater-analytics 0.1.0 declares it; "
        "choose another name, or uninstall headwater-analytics first"
    )


def test_a_name_declared_by_a_registered_plugin_is_refused(headwater_plugins, tmp_path, capsys):
    headwater_plugins(Declares(connector("mine")))
    assert error_of(capsys, "mine", "--directory", str(tmp_path)) == (
        "connector name 'mine' is taken: plugin 'Declares' declares it; choose another name"
    )


def test_a_name_used_by_another_entry_point_is_refused(monkeypatch, tmp_path, capsys):
    from headwater.scaffold import names

    dist = SimpleNamespace(metadata={"Name": "headwater-extras"}, version="2.0")
    fake = [SimpleNamespace(name="acme", dist=dist, value="headwater_extras.acme")]
    real = names.metadata.entry_points

    def entry_points(**kwargs: Any) -> Any:
        return fake if kwargs.get("group") == "headwater" else real(**kwargs)

    monkeypatch.setattr(names.metadata, "entry_points", entry_points)
    assert error_of(capsys, "acme", "--directory", str(tmp_path)) == (
        "connector name 'acme' is taken: headwater-extras 2.0 installs a headwater plugin "
        "called 'acme'; choose another name, or uninstall headwater-extras first"
    )


def test_broken_plugins_do_not_stop_new(monkeypatch, tmp_path, capsys):
    from headwater.errors import PluginError

    class Broken:
        def connectors(self) -> list:
            raise PluginError("plugin 'x' failed")

    monkeypatch.setattr(plugins, "get_registry", Broken)
    assert new(NAME, "--directory", str(tmp_path)) == 0


def test_a_non_empty_directory_needs_force(tmp_path, capsys):
    (tmp_path / DIST).mkdir()
    (tmp_path / DIST / "notes.txt").write_text("mine\n")
    assert error_of(capsys, NAME, "--directory", str(tmp_path)) == (
        f"{tmp_path / DIST} already exists and is not empty; choose another --directory, "
        "or pass --force to overwrite the generated files in it"
    )
    assert [p.name for p in (tmp_path / DIST).iterdir()] == ["notes.txt"]


def test_a_file_in_the_way_is_a_usage_error(tmp_path, capsys):
    (tmp_path / DIST).write_text("")
    assert error_of(capsys, NAME, "--directory", str(tmp_path), "--force") == (
        f"{tmp_path / DIST} exists and is not a directory; remove it or choose another --directory"
    )


def test_a_directory_that_is_a_file_is_a_usage_error(tmp_path, capsys):
    (tmp_path / "file").write_text("")
    assert error_of(capsys, NAME, "--directory", str(tmp_path / "file")) == (
        f"--directory {tmp_path / 'file'} is not a directory; choose a directory"
    )


def test_an_unwritable_directory_is_a_usage_error(monkeypatch, tmp_path, capsys):
    """Whoever runs the tests (root writes anywhere): mkdir is refused."""
    target = tmp_path / DIST

    def refuse(self: Path, *args: Any, **kwargs: Any) -> None:
        raise PermissionError(13, "Permission denied", str(self))

    with monkeypatch.context() as patch:
        patch.setattr(Path, "mkdir", refuse)
        assert error_of(capsys, NAME, "--directory", str(tmp_path)) == (
            f"cannot write {target}: Permission denied; choose a --directory you can write to"
        )
    assert not target.exists()


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root can write anywhere"
)
def test_a_read_only_directory_is_a_usage_error(tmp_path, capsys):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        assert error_of(capsys, NAME, "--directory", str(locked)) == (
            f"cannot write {locked / DIST}: Permission denied; "
            "choose a --directory you can write to"
        )
    finally:
        locked.chmod(0o700)
