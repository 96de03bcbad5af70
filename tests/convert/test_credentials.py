"""Credentials written literally in a rest_api config never reach the generated
package: a secret-looking header or query parameter becomes a secret setting, what
cannot become one is refused with one line, and the connector runs with the setting."""

from __future__ import annotations

import json
import urllib.parse

import attrs
import headwater
import pytest
from headwater.cli import main
from headwater.convert.plugin import InMemoryConnector
from headwater.convert.rest_api import convert_rest_api
from headwater.errors import ConfigError
from headwater.testing import rows_of

CANARIES = ("CANARY-auth-1f", "CANARY-token-2e", "CANARY-key-3d", "CANARY-param-4c")


def leaky_config(base_url: str = "https://api.test") -> dict:
    return {
        "client": {
            "base_url": base_url,
            "headers": {"Authorization": f"Token {CANARIES[0]}", "Accept": "application/json"},
        },
        "resources": [
            {
                "name": "items",
                "endpoint": {
                    "path": "/items",
                    "data_selector": "data",
                    "paginator": "single_page",
                    "headers": {"X-Api-Token": CANARIES[1], "x-api-key": CANARIES[2]},
                    "params": {"access_token": CANARIES[3], "status": "open"},
                },
            }
        ],
    }


def test_literal_credentials_become_secret_settings():
    converted = convert_rest_api(leaky_config(), "leaky")
    connector = converted.connector
    assert dict(connector.headers) == {
        "Authorization": "{authorization}",
        "Accept": "application/json",
    }
    items = connector.resource("items")
    assert dict(items.headers) == {"X-Api-Token": "{x_api_token}", "x-api-key": "{x_api_key}"}
    assert dict(items.params) == {"access_token": "{access_token}", "status": "open"}
    for name in ("authorization", "x_api_token", "x_api_key", "access_token"):
        assert connector.settings[name] == {"type": "string", "writeOnly": True}
        assert name in connector.required_settings
    notes = " | ".join(converted.notes)
    assert "set SOURCES__LEAKY__X_API_TOKEN" in notes
    assert "set SOURCES__LEAKY__AUTHORIZATION" in notes
    # an in-memory run (headwater.from_rest_api) still has the values
    assert converted.settings["x_api_token"] == CANARIES[1]


def test_no_generated_file_holds_a_credential_of_the_config(tmp_path, capsys):
    config = tmp_path / "config.json"
    config.write_text(json.dumps(leaky_config()))
    code = main(["new", "leaky", "--from-rest-api", str(config), "--directory", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0, out
    target = tmp_path / "headwater-leaky"
    texts = [p.read_text() for p in target.rglob("*") if p.is_file()]
    assert len(texts) > 5
    for canary in CANARIES:
        assert not any(canary in text for text in texts), canary
        assert canary not in out
    readme = (target / "README.md").read_text()
    assert "- `x_api_token` (secret): `SOURCES__LEAKY__X_API_TOKEN`" in readme
    assert "the secret setting x_api_token (set SOURCES__LEAKY__X_API_TOKEN)" in readme
    assert "note: understood resources['items'].endpoint.headers.X-Api-Token" in out


@pytest.mark.usefixtures("headwater_env")
def test_the_declaration_runs_with_the_settings_given(api_simulator):
    converted = convert_rest_api(leaky_config(), "leaky")
    given = {
        "authorization": "Token given-1",
        "x_api_token": "given-2",
        "x_api_key": "given-3",
        "access_token": "given-4",
    }
    sim = api_simulator(
        converted.connector, records={"items": 5}, schemas=converted.schemas, credentials=given
    )
    declared = attrs.evolve(converted, settings={})  # what the package knows: no values
    from headwater.load.assemble import build_source
    from headwater.plugin.manager import make_plugin_manager

    pm = make_plugin_manager(
        entry_points=False, plugins=[("leaky", InMemoryConnector(declared))], strict=True
    )
    source = build_source("leaky", {"base_url": sim.base_url, **given}, pm=pm)
    assert len(rows_of(source)) == 5
    request = sim.requests_for("items")[0]
    assert request.headers["x-api-token"] == "given-2"
    assert request.headers["authorization"] == "Token given-1"
    assert request.query["access_token"] == ["given-4"]
    # headwater.from_rest_api runs the config as written, with its own values
    written = dict(zip(given, [f"Token {CANARIES[0]}", *CANARIES[1:]], strict=True))
    sim = api_simulator(
        converted.connector, records={"items": 3}, schemas=converted.schemas, credentials=written
    )
    assert len(rows_of(headwater.from_rest_api(leaky_config(sim.base_url), name="leaky"))) == 3


@pytest.mark.parametrize(
    ("client", "message"),
    [
        (
            {"base_url": "https://bob:CANARY@api.test"},
            "client.base_url holds credentials (user:password@host)",
        ),
        (
            {
                "base_url": "https://api.test",
                "auth": {
                    "type": "oauth2_client_credentials",
                    "access_token_url": "https://id.test/token",
                    "access_token_request_data": {"scope": "r", "client_assertion": "CANARY"},
                },
            },
            "access_token_request_data.client_assertion may be a credential",
        ),
    ],
)
def test_a_credential_that_cannot_be_a_setting_is_refused(client, message):
    config = leaky_config()
    config["client"] = client
    with pytest.raises(ConfigError) as info:
        convert_rest_api(config, "leaky")
    assert message in str(info.value) and "\n" not in str(info.value)
    assert "CANARY" not in str(info.value)


def test_names_that_only_look_like_credentials_keep_their_values():
    """A paging token or a key that names a field is not a credential."""
    config = leaky_config()
    params = config["resources"][0]["endpoint"]["params"]
    params.update({"sort_key": "created", "page_token": "first", "pageToken": "first"})
    items = convert_rest_api(config, "leaky").connector.resource("items")
    assert items.params["sort_key"] == "created"
    assert items.params["page_token"] == items.params["pageToken"] == "first"
    assert items.params["access_token"] == "{access_token}"


def test_a_token_form_field_that_is_no_credential_is_kept():
    """Zoom's server-to-server grant sends account_id with the token request."""
    config = leaky_config()
    config["client"]["auth"] = {
        "type": "oauth2_client_credentials",
        "access_token_url": "https://zoom.test/oauth/token",
        "access_token_request_data": {"scope": "meetings", "account_id": "a1"},
    }
    auth = convert_rest_api(config, "leaky").connector.auth
    assert dict(auth.extra_form) == {"account_id": "a1"} and auth.scope == "meetings"


@pytest.mark.usefixtures("headwater_env")
def test_zooms_account_credentials_grant_gets_a_token_and_loads(api_simulator):
    config = leaky_config()
    config["client"] = {
        "base_url": "https://api.test",
        "auth": {
            "type": "oauth2_client_credentials",
            "access_token_url": "https://api.test/oauth/token",
            "client_id": "zoom-id",
            "client_secret": CANARIES[0],
            "access_token_request_data": {"grant_type": "account_credentials", "account_id": "a1"},
        },
    }
    del config["resources"][0]["endpoint"]["headers"], config["resources"][0]["endpoint"]["params"]
    converted = convert_rest_api(config, "zoomish")
    auth = converted.connector.auth
    assert dict(auth.extra_form) == {"grant_type": "account_credentials", "account_id": "a1"}
    assert any("account_credentials" in note for note in converted.notes)
    credentials = {"client_id": "zoom-id", "client_secret": CANARIES[0]}
    sim = api_simulator(
        converted.connector,
        records={"items": 3},
        schemas=converted.schemas,
        credentials=credentials,
    )
    config["client"]["base_url"] = sim.base_url
    config["client"]["auth"]["access_token_url"] = sim.base_url + "/oauth/token"
    assert len(rows_of(headwater.from_rest_api(config, name="zoomish"))) == 3
    [token] = sim.requests_for("token")
    sent = dict(urllib.parse.parse_qsl(token.body.decode()))
    assert sent["grant_type"] == "account_credentials" and sent["account_id"] == "a1"


@pytest.mark.usefixtures("headwater_env")
def test_a_credential_in_a_json_body_becomes_a_secret_setting(api_simulator, tmp_path, capsys):
    config = leaky_config()
    endpoint = config["resources"][0]["endpoint"]
    del endpoint["headers"], endpoint["params"]
    endpoint["method"] = "POST"
    endpoint["json"] = {"auth": {"api_secret": CANARIES[1]}, "filter": {"status": "{open}"}}
    config["client"]["headers"] = {}
    converted = convert_rest_api(config, "leaky")
    items = converted.connector.resource("items")
    assert items.json == {"auth": {"api_secret": "{api_secret}"}, "filter": {"status": "{{open}}"}}
    assert converted.connector.settings["api_secret"] == {"type": "string", "writeOnly": True}
    # the generated package holds no credential
    (tmp_path / "config.json").write_text(json.dumps(config))
    code = main(["new", "leaky", "--from-rest-api", str(tmp_path / "config.json"),
                 "--directory", str(tmp_path)])  # fmt: skip
    assert code == 0, capsys.readouterr()
    files = [p.read_text() for p in (tmp_path / "headwater-leaky").rglob("*") if p.is_file()]
    assert not any(CANARIES[1] in text for text in files)
    # and the connector sends the setting's value in the body
    sim = api_simulator(
        converted.connector,
        records={"items": 4},
        schemas=converted.schemas,
        credentials={"api_secret": "given"},
    )
    declared = attrs.evolve(converted, settings={})
    from headwater.load.assemble import build_source
    from headwater.plugin.manager import make_plugin_manager

    pm = make_plugin_manager(
        entry_points=False, plugins=[("leaky", InMemoryConnector(declared))], strict=True
    )
    source = build_source("leaky", {"base_url": sim.base_url, "api_secret": "given"}, pm=pm)
    assert len(rows_of(source)) == 4
    assert json.loads(sim.requests_for("items")[0].body) == {
        "auth": {"api_secret": "given"},
        "filter": {"status": "{open}"},
    }


def test_a_token_url_with_a_password_is_refused():
    config = leaky_config()
    config["client"]["auth"] = {
        "type": "oauth2_client_credentials",
        "access_token_url": "https://bob:CANARY@id.test/token",
        "client_id": "id",
        "client_secret": "s",
    }
    with pytest.raises(ConfigError) as info:
        convert_rest_api(config, "leaky")
    message = str(info.value)
    assert "access_token_url holds credentials" in message and "CANARY" not in message


def test_two_credentials_named_alike_keep_their_own_settings():
    config = leaky_config()
    endpoint = config["resources"][0]["endpoint"]
    endpoint["headers"] = {"X-Api-Key": CANARIES[1]}
    endpoint["params"] = {"x_api_key": CANARIES[2], "x-api-token": "same", "X_Api_Token": "same"}
    converted = convert_rest_api(config, "leaky")
    items = converted.connector.resource("items")
    header = items.headers["X-Api-Key"].strip("{}")
    param = items.params["x_api_key"].strip("{}")
    assert {header, param} == {"x_api_key", "x_api_key_2"}
    assert converted.settings[header] == CANARIES[1]
    assert converted.settings[param] == CANARIES[2]
    # one value under two spellings: one setting
    assert items.params["x-api-token"] == items.params["X_Api_Token"] == "{x_api_token}"
