"""Settings: resolution order, defaults, and one error naming every problem."""

from __future__ import annotations

import headwater
import pytest
from headwater.errors import SettingsError
from headwater.settings import resolve_settings, settings_schema
from headwater.spec import ApiKeyAuth, Connector, OAuth2ClientCredentials, Resource
from headwater_directory.hooks import DIRECTORY
from helpers import extraction_error


def write_toml(work, name, text):
    d = work / ".dlt"
    d.mkdir(exist_ok=True)
    (d / name).write_text(text)


def test_keyword_beats_env_beats_toml(headwater_env, monkeypatch):
    write_toml(
        headwater_env,
        "secrets.toml",
        '[sources.directory]\nclient_id = "from-toml"\nclient_secret = "toml-secret"\n',
    )
    monkeypatch.setenv("SOURCES__DIRECTORY__CLIENT_ID", "from-env")
    s = resolve_settings(DIRECTORY, {"client_id": "from-kwarg"})
    assert s["client_id"] == "from-kwarg"
    assert s.origins["client_id"] == "argument"
    s = resolve_settings(DIRECTORY, {})
    assert s["client_id"] == "from-env"
    assert s["client_secret"] == "toml-secret"
    assert s.origins["client_secret"].endswith("secrets.toml")


def test_config_toml_for_plain_settings_and_defaults(headwater_env):
    write_toml(headwater_env, "config.toml", '[sources.directory]\nbase_url = "http://h:1"\n')
    s = resolve_settings(DIRECTORY, {"client_id": "abcd", "client_secret": "efgh"})
    assert s["base_url"] == "http://h:1"
    # the token URL is derived from the resolved base_url
    assert s["token_url"] == "http://h:1/oauth2/token"
    assert s.origins["token_url"] == "default"


def test_default_base_url_is_the_seeds():
    s = resolve_settings(DIRECTORY, {"client_id": "abcd", "client_secret": "efgh"})
    assert s["base_url"] == "https://api.example.com"
    assert s["token_url"] == "https://api.example.com/oauth2/token"


def test_missing_secrets_named_with_where_to_set_them():
    with pytest.raises(SettingsError) as err:
        resolve_settings(DIRECTORY, {})
    msg = str(err.value)
    assert (
        "missing setting client_secret for connector directory: set "
        "SOURCES__DIRECTORY__CLIENT_SECRET or [sources.directory] client_secret in "
        ".dlt/secrets.toml" in msg
    )
    assert "missing setting client_id" in msg
    assert "\n" not in msg


def test_misspelled_setting_suggests_the_right_one(monkeypatch):
    with pytest.raises(SettingsError, match="unknown setting 'clientid'.*did you mean client_id"):
        resolve_settings(DIRECTORY, {"clientid": "x", "client_secret": "yyyy"})
    monkeypatch.setenv("SOURCES__DIRECTORY__CLIENT_SECERT", "x")
    with pytest.raises(SettingsError, match="SOURCES__DIRECTORY__CLIENT_SECERT.*client_secret"):
        resolve_settings(DIRECTORY, {"client_id": "abcd", "client_secret": "efgh"})


def test_url_without_scheme_and_empty_secret():
    with pytest.raises(SettingsError) as err:
        resolve_settings(
            DIRECTORY, {"base_url": "api.example.com", "client_id": "abcd", "client_secret": "  "}
        )
    msg = str(err.value)
    assert "'api.example.com' is not an http(s) URL" in msg
    assert "https://api.example.com" in msg
    assert "setting client_secret for connector directory is empty" in msg


@pytest.mark.parametrize(
    ("variable", "value", "shown"),
    [
        ("MAX_RETRY_AFTER", "nan", "nan"),
        ("READ_TIMEOUT", "inf", "inf"),
        ("CONNECT_TIMEOUT", "1e309", "inf"),
    ],
)
def test_a_number_that_is_not_finite_is_an_invalid_setting(monkeypatch, variable, value, shown):
    """nan passes every minimum: a Retry-After capped at nan seconds waited for days."""
    monkeypatch.setenv(f"SOURCES__DIRECTORY__{variable}", value)
    with pytest.raises(SettingsError) as err:
        resolve_settings(DIRECTORY, {"client_id": "abcd", "client_secret": "efgh"})
    assert str(err.value) == (
        f"invalid setting {variable.lower()} for connector directory "
        f"(env SOURCES__DIRECTORY__{variable}): {shown} is not a finite number"
    )


@pytest.mark.parametrize(
    ("url", "why"),
    [("http://127.0.0.1:70000", "Port out of range 0-65535"), ("http://[::1", "Invalid IPv6 URL")],
)
def test_a_url_that_does_not_parse_is_an_invalid_setting(url, why):
    with pytest.raises(SettingsError) as err:
        resolve_settings(DIRECTORY, {"base_url": url, "client_id": "abcd", "client_secret": "efgh"})
    assert str(err.value) == (
        f"invalid setting base_url for connector directory (argument): {url!r} is not a "
        f"valid URL ({why})"
    )


def test_a_value_below_its_minimum_is_shown_once(monkeypatch):
    monkeypatch.setenv("SOURCES__DIRECTORY__MAX_PAGES", "0")
    with pytest.raises(SettingsError) as err:
        resolve_settings(DIRECTORY, {"client_id": "abcd", "client_secret": "efgh"})
    assert str(err.value).endswith(
        "(env SOURCES__DIRECTORY__MAX_PAGES): 0 is less than the minimum of 1"
    )


def test_broken_toml_names_the_file(headwater_env):
    write_toml(headwater_env, "secrets.toml", "[sources.directory\nclient_id = 1\n")
    with pytest.raises(SettingsError, match=r"secrets.toml is not valid TOML"):
        resolve_settings(DIRECTORY, {})


def test_wrong_type_never_echoes_a_secret():
    with pytest.raises(SettingsError) as err:
        resolve_settings(DIRECTORY, {"client_id": "abcd", "client_secret": 12345678})
    assert "12345678" not in str(err.value)
    assert "invalid setting client_secret" in str(err.value)


def test_connector_settings_are_typed_from_env(monkeypatch):
    conn = Connector(
        name="typed",
        package="headwater_directory",
        auth=ApiKeyAuth(location="query"),
        settings={"max_workers": {"type": "integer", "minimum": 1, "default": 4}},
        resources=[Resource(name="r", path="/r", schema="schemas/directory_users.json")],
    )
    monkeypatch.setenv("SOURCES__TYPED__MAX_WORKERS", "12")
    s = resolve_settings(conn, {"api_key": "kkkk"})
    assert s["max_workers"] == 12
    monkeypatch.setenv("SOURCES__TYPED__MAX_WORKERS", "many")
    with pytest.raises(SettingsError, match=r"max_workers.*'many' is not an integer$"):
        resolve_settings(conn, {"api_key": "kkkk"})


def test_token_url_alias_and_schema_marks_secrets():
    conn = Connector(
        name="aliased",
        package="headwater_directory",
        auth=OAuth2ClientCredentials(token_url=None, token_url_aliases=("authorization_endpoint",)),
        resources=[Resource(name="r", path="/r", schema="schemas/directory_users.json")],
    )
    schema = settings_schema(conn)
    assert schema["properties"]["client_secret"]["writeOnly"] is True
    assert "token_url" in schema["required"]
    s = resolve_settings(
        conn,
        {
            "client_id": "abcd",
            "client_secret": "efgh",
            "authorization_endpoint": "https://login.example.com/t",
        },
    )
    assert s["token_url"] == "https://login.example.com/t"
    assert "efgh" not in repr(s)


def test_missing_setting_names_its_alias():
    conn = Connector(
        name="aliased",
        package="headwater_directory",
        auth=OAuth2ClientCredentials(token_url=None, token_url_aliases=("authorization_endpoint",)),
        resources=[Resource(name="r", path="/r", schema="schemas/directory_users.json")],
    )
    with pytest.raises(SettingsError) as err:
        resolve_settings(conn, {"client_id": "abcd", "client_secret": "efgh"})
    assert str(err.value) == (
        "missing setting token_url for connector aliased: set SOURCES__ALIASED__TOKEN_URL or "
        "[sources.aliased] token_url in .dlt/config.toml (also accepted as "
        "SOURCES__ALIASED__AUTHORIZATION_ENDPOINT)"
    )


@pytest.mark.parametrize("token_url", ["", "  "])
def test_a_url_set_empty_is_refused_even_with_a_default(api_simulator, token_url):
    """directory's token_url has a default (made from base_url): set empty, it is refused
    as a required one is, not sent to as '' (MissingSchema, mid-run)."""
    sim = api_simulator(DIRECTORY)
    source = headwater.source("directory", **{**sim.settings, "token_url": token_url})
    error = extraction_error(source)
    assert isinstance(error, SettingsError)
    assert str(error) == (
        "setting token_url for connector directory is empty (argument): set "
        "SOURCES__DIRECTORY__TOKEN_URL or [sources.directory] token_url in .dlt/config.toml"
    )
    assert sim.requests == []
