"""Settings a connector adds (``Connector.settings``) can be required (and secret): a
missing one is the usual one-line configuration error (exit 2, nothing requested), and
``describe`` marks them — never showing a secret's value."""

from __future__ import annotations

import json
import os

import headwater
import pytest
from headwater.cli import main
from headwater.errors import SettingsError
from headwater.spec import ApiKeyAuth, Connector, Resource
from helpers import SCHEMA, Declares, extraction_error, rows_of, settings_env

CANARY = "canary-required-31d7"

ACME = Connector(
    name="acme",
    package="headwater_directory",
    base_url="https://acme.test",
    auth=ApiKeyAuth(name="X-Api-Key"),
    settings={
        "account": {"type": "string", "description": "account the data belongs to"},
        "signing_key": {
            "type": "string",
            "writeOnly": True,
            "description": "key the API's webhooks are signed with",
        },
        "region": {"type": "string", "default": "eu"},
        "label": {"type": "string"},
    },
    required_settings=("account", "signing_key"),
    resources=[Resource(name="items", path="/items", schema=SCHEMA, data_selector="data")],
)


@pytest.fixture(autouse=True)
def _acme(headwater_plugins):
    headwater_plugins(Declares(ACME))


def cli(capsys, *argv: str, env: dict[str, str]) -> tuple[int, str, str]:
    """``headwater *argv`` in-process with ``env`` added: exit code, stdout, stderr."""
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        code = main(list(argv))
    finally:
        os.environ.clear()
        os.environ.update(saved)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(
    "missing,toml",
    [("account", ".dlt/config.toml"), ("signing_key", ".dlt/secrets.toml")],
)
def test_a_missing_required_setting_is_one_line_naming_it_and_its_variable(
    capsys, api_simulator, missing, toml
):
    sim = api_simulator(ACME)
    env = settings_env("acme", sim, account="north", signing_key=CANARY)
    del env[f"SOURCES__ACME__{missing.upper()}"]
    for command in ("check", "run"):
        code, out, err = cli(capsys, command, "acme", env=env)
        assert (code, out) == (2, "")
        assert err == (
            f"headwater: error: missing setting {missing} for connector acme: set "
            f"SOURCES__ACME__{missing.upper()} or [sources.acme] {missing} in {toml}\n"
        )
        assert CANARY not in err
    assert sim.requests == []  # nothing requested, nothing loaded
    assert not os.path.exists("headwater_acme.duckdb")


def test_a_required_setting_set_empty_is_refused(capsys, api_simulator):
    sim = api_simulator(ACME)
    env = settings_env("acme", sim, account=" ", signing_key=CANARY)
    code, _, err = cli(capsys, "check", "acme", env=env)
    assert code == 2
    assert err.startswith("headwater: error: setting account for connector acme is empty (env ")


def test_source_reports_the_missing_required_setting_before_any_request(api_simulator):
    sim = api_simulator(ACME)
    source = headwater.source("acme", **sim.settings, signing_key=CANARY)
    error = extraction_error(source)
    assert isinstance(error, SettingsError)
    assert str(error) == (
        "missing setting account for connector acme: set SOURCES__ACME__ACCOUNT or "
        "[sources.acme] account in .dlt/config.toml"
    )
    assert sim.requests == []


def test_with_every_required_setting_the_run_loads(capsys, api_simulator):
    sim = api_simulator(ACME, records={"items": 12})
    env = settings_env("acme", sim, account="north", signing_key=CANARY)
    code, _, err = cli(capsys, "check", "acme", env=env)
    assert code == 0, err
    assert len(sim.requests_for("items")) == 1


def test_describe_marks_required_and_secret_settings_and_never_shows_the_secret(capsys):
    env = {"SOURCES__ACME__SIGNING_KEY": CANARY, "SOURCES__ACME__ACCOUNT": "north"}
    code, out, err = cli(capsys, "describe", "acme", env=env)
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert "  account        required" in lines
    assert "  signing_key    secret, required" in lines
    assert "  region         default 'eu'" in lines
    assert "  label          optional" in lines
    assert (
        "                 env SOURCES__ACME__SIGNING_KEY; TOML [sources.acme] signing_key in "
        ".dlt/secrets.toml; key the API's webhooks are signed with"
    ) in lines
    assert CANARY not in out


# Settings of other types named in templates: an integer in a path (required, no
# default) and in a POST body (with a default), a boolean and an enum in the query.
TYPED = Connector(
    name="typed",
    package="headwater_directory",
    base_url="https://typed.test",
    auth=ApiKeyAuth(name="X-Api-Key"),
    settings={
        "project_id": {"type": "integer", "minimum": 1},
        "size": {"type": "integer", "default": 25},
        "archived": {"type": "boolean"},
        "region": {"type": "string", "enum": ["eu", "us"]},
        "step": {"type": "integer", "multipleOf": 7},
        "level": {"enum": [1, 2, 3]},
    },
    required_settings=("project_id", "archived", "region", "step", "level"),
    resources=[
        Resource(
            name="items",
            path="/projects/{project_id}/items",
            method="POST",
            params={"archived": "{archived}", "region": "{region}"},
            json={"page": {"size": "{size}", "step": "{step}", "level": "{level}"}},
            schema=SCHEMA,
            data_selector="data",
        )
    ],
)


def test_the_simulator_hands_out_settings_of_their_declared_type(
    capsys, api_simulator, headwater_plugins
):
    headwater_plugins(Declares(TYPED))
    sim = api_simulator(TYPED, records={"items": 7})
    settings = sim.settings
    assert settings["size"] == 25  # the declared default, an integer
    assert type(settings["project_id"]) is int and settings["project_id"] >= 1
    assert type(settings["archived"]) is bool
    assert settings["region"] in ("eu", "us")
    assert type(settings["step"]) is int and settings["step"] % 7 == 0  # multipleOf
    assert settings["level"] in (1, 2, 3)  # an enum without a type
    assert len(rows_of(headwater.source("typed", **settings))) == 7
    # and as the environment variables `headwater simulate` prints
    code, _, err = cli(capsys, "check", "typed", env=settings_env("typed", sim))
    assert code == 0, err
    page = json.loads(sim.requests_for("items")[-1].body)["page"]
    assert page == {"size": 25, "step": settings["step"], "level": settings["level"]}
