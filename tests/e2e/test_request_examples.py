"""The example connectors of #16, declared without hook code (``tests/request_examples``):
a GitHub-style and a Stripe-style API, through ``headwater.source()`` and the CLI
against the simulator, and the conformance suite for each, the every-kind connector
included."""

from __future__ import annotations

import base64

import duckdb
import headwater
import pytest
import request_examples
from headwater.testing.conformance import ConformanceSuite
from helpers import cli, settings_env
from request_examples.entry_point import install

GITHUB, STRIPE = request_examples.GITHUB, request_examples.STRIPE
KEY = "sk_test_canary-Stripe-31f0aa"


@pytest.fixture
def examples(headwater_plugins):
    headwater_plugins(request_examples)


def count(pipeline, sql):
    with pipeline.sql_client() as client:
        return client.execute_sql(sql)


def test_github_style_bearer_and_link_header(examples, api_simulator, duckdb_pipeline):
    sim = api_simulator(GITHUB, records={"repos": 130, "issues": 2})
    sim.page_size = 25  # the API's own page size when per_page is not sent
    pipeline = duckdb_pipeline("github")
    pipeline.run(headwater.source("gh_example", **sim.settings))
    assert count(pipeline, "select count(*) from repos") == [(130,)]
    issues = sum(len(v) for v in sim.data["issues"].values())
    assert count(pipeline, "select count(*) from issues i join repos r on i.repo = r.name") == [
        (issues,)
    ]
    org = sim.settings["org"]
    repos = sim.requests_for("repos")
    # per_page=40 declared: 4 pages, pages 2-4 from the Link header, the query kept
    assert [r.query.get("page") for r in repos] == [None, ["2"], ["3"], ["4"]]
    assert all(r.query["per_page"] == ["40"] and r.query["type"] == ["all"] for r in repos)
    assert all(r.path == f"/orgs/{org}/repos" for r in repos)
    for r in sim.requests_for("issues"):
        assert r.path.startswith(f"/repos/{org}/") and r.path.endswith("/issues")
    api = sim.requests_for("repos") + sim.requests_for("issues")
    assert all(r.headers["authorization"] == f"Bearer {sim.settings['token']}" for r in api)
    assert all(r.headers["accept"] == "application/vnd.github+json" for r in api)
    assert all(r.headers["x-github-api-version"] == "2022-11-28" for r in api)


def test_stripe_style_basic_has_more_and_created_incremental(
    examples, api_simulator, duckdb_pipeline
):
    sim = api_simulator(STRIPE, records={"customers": 100}, credentials={"username": KEY})
    pipeline = duckdb_pipeline("stripe")
    pipeline.run(headwater.source("stripe_example", **sim.settings))
    assert count(pipeline, "select count(*) from customers") == [(100,)]
    first = sim.requests_for("customers")
    assert len(first) == 4  # 30, 30, 30, 10 (has_more false)
    by_page = [r["id"] for r in sim.data["customers"]]
    assert [r.query.get("starting_after") for r in first[1:]] == [
        [by_page[29]],
        [by_page[59]],
        [by_page[89]],
    ]
    # the secret key as the username, no password (BasicAuth(password=False))
    assert "password" not in sim.settings
    basic = "Basic " + base64.b64encode(f"{KEY}:".encode()).decode()
    assert all(r.headers["authorization"] == basic for r in first)
    assert all(r.headers["stripe-version"] == "2024-06-20" for r in first)
    assert all("created[gt]" not in r.query for r in first)

    newest = max(r["created"] for r in sim.data["customers"])
    sim.reset_log()
    sim.grow("customers", 7)
    pipeline.run(headwater.source("stripe_example", **sim.settings))
    assert count(pipeline, "select count(*) from customers") == [(107,)]
    second = sim.requests_for("customers")
    # created[gt] answers strictly after its bound: asked a second before the newest
    assert [r.query["created[gt]"] for r in second] == [[str(newest - 1)]]


def test_cli_runs_both_examples(examples, api_simulator, tmp_path):
    github = api_simulator(GITHUB, records={"repos": 50})
    stripe = api_simulator(STRIPE, records={"customers": 70}, credentials={"username": KEY})
    for name, sim, table, expected in (
        ("gh_example", github, "repos", 50),
        ("stripe_example", stripe, "customers", 70),
    ):
        env = {**settings_env(name, sim), **install(tmp_path)}
        done = cli("run", name, "--progress", "off", env=env)
        assert done.returncode == 0, done.stderr[-3000:]
        assert KEY not in done.stdout + done.stderr
        with duckdb.connect(f"headwater_{name}.duckdb", read_only=True) as db:
            [schema] = db.sql(
                f"select table_schema from information_schema.tables where table_name = '{table}'"
            ).fetchone()
            assert db.sql(f'select count(*) from "{schema}"."{table}"').fetchone() == (expected,)
        assert sim.requests_for(table)


def test_cli_stops_on_a_missing_required_setting(examples, api_simulator, tmp_path):
    sim = api_simulator(GITHUB, records={"repos": 5})
    env = {**settings_env("gh_example", sim), **install(tmp_path)}
    env.pop("SOURCES__GH_EXAMPLE__ORG")
    done = cli("run", "gh_example", "--progress", "off", env=env)
    assert done.returncode == 2, done.stderr
    assert "org" in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert sim.requests_for("repos") == []


# ------------------------------------------------------------------ conformance


class _Installed:
    """The conformance suite's CLI runs find the example connectors."""

    @pytest.fixture(autouse=True)
    def _entry_point(self, tmp_path, monkeypatch):
        for key, value in install(tmp_path).items():
            monkeypatch.setenv(key, value)


class TestGithubStyleConformance(_Installed, ConformanceSuite):
    connector = "gh_example"
    plugins = (request_examples,)
    records = 60


class TestStripeStyleConformance(_Installed, ConformanceSuite):
    connector = "stripe_example"
    plugins = (request_examples,)
    records = 60


class TestEveryPagingKindConformance(_Installed, ConformanceSuite):
    connector = "paging_kinds"
    plugins = (request_examples,)
    records = 60
