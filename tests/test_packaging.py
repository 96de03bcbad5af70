"""What `pip install headwater-<connector>` pulls in: exactly what it needs — the driver
of DuckDB, the default destination, included — and no other destination driver the
user did not ask for (those are extras, as in dlt).

Resolved for real by uv (`uv pip install --dry-run` into an empty virtual environment),
from the distributions in this repository.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DRIVERS = {"duckdb", "psycopg2-binary", "psycopg2", "psycopg", "snowflake-connector-python"}


def uv() -> list[str]:
    found = shutil.which("uv")
    if found:
        return [found]
    probe = subprocess.run([sys.executable, "-m", "uv", "--version"], capture_output=True)
    if probe.returncode == 0:
        return [sys.executable, "-m", "uv"]
    pytest.skip("uv is not installed (`pip install uv`), so installs cannot be resolved")


@pytest.fixture(scope="module")
def would_install(tmp_path_factory):
    """``would_install(*requirements)``: the distribution names uv would install."""
    venv = tmp_path_factory.mktemp("packaging") / "venv"
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "UV_PROJECT")}
    env["UV_NO_PROGRESS"] = "1"
    subprocess.run([*uv(), "venv", "-q", str(venv)], check=True, env=env)

    def resolve(*requirements: str) -> dict[str, str]:
        result = subprocess.run(
            [*uv(), "pip", "install", "--dry-run", "-p", str(venv), *requirements],
            cwd=ROOT,
            capture_output=True,
            text=True,
            env=env,
            timeout=600,
        )
        assert result.returncode == 0, result.stderr
        # " + name==version", or " + name @ file://..." for this repository's own
        found = re.findall(
            r"^ \+ ([A-Za-z0-9_.-]+)(?:==(\S+)| @ )", result.stderr + result.stdout, re.M
        )
        return dict(found)

    return resolve


@pytest.mark.parametrize("connector", ["hr", "directory", "analytics"])
def test_a_connector_brings_duckdb_and_no_other_driver(would_install, connector):
    names = would_install("./core", f"./connectors/{connector}")
    assert {"headwater", f"headwater-{connector}", "dlt", "pyarrow"} <= set(names)
    # DuckDB is the default destination: it comes without asking
    assert set(names) & DRIVERS == {"duckdb"}, f"drivers: {set(names) & DRIVERS}"
    others = {"headwater-hr", "headwater-directory", "headwater-analytics"} - {
        f"headwater-{connector}"
    }
    assert not set(names) & others, "a connector installs alone"


def test_duckdb_is_one_dlt_reads_back(would_install):
    # duckdb 2 dropped what dlt 1.31 reads loaded data back with (fetch_arrow_table)
    version = would_install("./core")["duckdb"]
    assert int(version.split(".")[0]) < 2, version


@pytest.mark.parametrize(
    ("extra", "drivers"),
    [("duckdb", {"duckdb"}), ("postgres", {"duckdb", "psycopg2-binary"})],
)
def test_a_destination_extra_brings_exactly_its_driver(would_install, extra, drivers):
    # `[duckdb]` is a no-op alias now, kept so that older install commands still work
    names = would_install("./core", f"./connectors/hr[{extra}]")
    assert set(names) & DRIVERS == drivers


def test_every_connector_extra_names_a_core_extra_of_the_same_name():
    core = read_pyproject(ROOT / "core")["project"]["optional-dependencies"]
    for path in sorted((ROOT / "connectors").glob("*/pyproject.toml")):
        extras = read_pyproject(path.parent)["project"]["optional-dependencies"]
        assert {"duckdb", "postgres"} <= set(extras), path
        for name, requirements in extras.items():
            assert name in core, f"{path}: extra {name} has no counterpart in the core"
            assert requirements == [f"headwater[{name}]>=0.1.0"], path


def read_pyproject(directory: Path) -> dict:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    return tomllib.loads((directory / "pyproject.toml").read_text())
