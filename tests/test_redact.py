"""Redaction of registered secrets, long and short."""

from __future__ import annotations

import logging

import pytest
from headwater import redact


def test_long_secret_masked_everywhere_including_url_encoded():
    redact.register(["s3cr3t/with+chars"])
    text = "token=s3cr3t/with+chars url=?k=s3cr3t%2Fwith%2Bchars"
    assert redact.redact(text) == "token=*** url=?k=***"


def test_short_secret_masked_where_it_stands_alone_only():
    redact.register(["k9z4"])
    assert redact.redact("GET /v1?api_key=k9z4&offset=0") == "GET /v1?api_key=***&offset=0"
    assert redact.redact('{"api_key": "k9z4"}') == '{"api_key": "***"}'
    kept = "chunk k9z42 fork9z4 k9z4x"  # inside words and numbers: kept
    assert redact.redact(kept) == kept


def test_values_too_short_to_be_secrets_are_not_masked_but_warned_about(caplog):
    caplog.set_level(logging.WARNING, logger="headwater.redact")
    redact.register(["1", "ab", "xyz"])
    # masking them would garble numbers, paths and words
    text = "HTTP 1.1 GET /v1/ab/items?offset=1 xyz"
    assert redact.redact(text) == text
    warnings = [r.getMessage() for r in caplog.records if r.name == "headwater.redact"]
    assert len(warnings) == 3
    assert "a secret value of 2 character(s) is too short to be masked" in warnings[1]
    assert all("ab" not in w.split("character")[0] for w in warnings)  # values not shown
    caplog.clear()
    redact.register(["ab"])
    assert not caplog.records  # once per length, not once per run of the same setting
    redact.register(["abcd"])
    assert redact.redact("key abcd") == "key ***"  # four characters are masked


def test_a_duckdb_path_in_the_credentials_is_not_a_secret(headwater_env):
    from headwater.run.destinations import register_destination_secrets

    path = str(headwater_env / "warehouse" / "events.duckdb")
    register_destination_secrets(
        {
            "DESTINATION__DUCKDB__CREDENTIALS": path,
            "DESTINATION__MOTHERDUCK__CREDENTIALS": "md:w?motherduck_token=canary-md-31",
            "DESTINATION__DUCKDB__CREDENTIALS__PASSWORD": "/looks/like/a/path",  # a password
        }
    )
    assert redact.redact(f"the DuckDB file {path} is open") == f"the DuckDB file {path} is open"
    assert redact.redact("md:w?motherduck_token=canary-md-31") == "md:w?motherduck_token=***"
    assert redact.redact("pw /looks/like/a/path") == "pw ***"


@pytest.mark.parametrize(
    "key", ["DESTINATION__SNOWFLAKE__CREDENTIALS", "DESTINATION__CREDENTIALS", "toml"]
)
@pytest.mark.parametrize("secret", ["AbCdEf0123/456789+xyzXYZ==", "sk_live_abc/def"])
def test_an_opaque_credentials_secret_with_a_slash_is_masked_whole(headwater_env, key, secret):
    """Base64 and API keys contain '/': that does not make them a database file."""
    from headwater.run.destinations import register_destination_secrets

    environ = {key: secret}
    if key == "toml":
        secrets = headwater_env / ".dlt" / "secrets.toml"
        secrets.parent.mkdir()
        secrets.write_text(f'[destination.snowflake]\ncredentials = "{secret}"\n')
        environ = {}
    register_destination_secrets(environ, project_dir=str(headwater_env))
    assert redact.redact(f"could not connect with {secret}") == "could not connect with ***"


def test_a_database_file_in_the_credentials_is_not_a_secret_for_any_destination(headwater_env):
    from headwater.run.destinations import register_destination_secrets

    (headwater_env / "data").mkdir()
    register_destination_secrets(
        {
            "DESTINATION__CREDENTIALS": "data/events.duckdb",
            "DESTINATION__SQLALCHEMY__CREDENTIALS": "data/warehouse",  # its folder exists
            "DESTINATION__X__CREDENTIALS": ":memory:",
        }
    )
    text = "loaded to data/events.duckdb, data/warehouse and :memory:"
    assert redact.redact(text) == text


def test_a_bare_duckdb_file_name_is_not_a_secret_but_motherducks_token_is(headwater_env):
    """DESTINATION__DUCKDB__CREDENTIALS=warehouse names ./warehouse: the run's summary
    and the 'file is open in another process' error showed /path/***."""
    from headwater.run.destinations import register_destination_secrets

    register_destination_secrets(
        {
            "DESTINATION__DUCKDB__CREDENTIALS": "warehouse",
            "DESTINATION__MOTHERDUCK__CREDENTIALS": "md:canaryMD?motherduck_token=canary-md-T9",
        }
    )
    assert redact.redact("the DuckDB file /w/warehouse is open") == (
        "the DuckDB file /w/warehouse is open"
    )
    assert "canary-md-T9" not in redact.redact("md:canaryMD?motherduck_token=canary-md-T9")


def test_every_log_record_is_redacted(caplog):
    caplog.set_level(logging.DEBUG)
    redact.register(["canary-log-secret-1"])
    redact.install()
    logging.getLogger("urllib3.connectionpool").debug("GET /x?key=%s", "canary-log-secret-1")
    assert "canary-log-secret-1" not in caplog.text
    assert "GET /x?key=***" in caplog.text


def test_destination_secrets_are_registered_from_env_and_secrets_toml(headwater_env):
    import json

    from headwater.run.destinations import register_destination_secrets

    secrets = headwater_env / ".dlt" / "secrets.toml"
    secrets.parent.mkdir()
    secrets.write_text(
        '[destination.snowflake.credentials]\npassword = "canary-sf-Pass-41"\nhost = "acct1"\n'
    )
    service_account = json.dumps({"client_email": "me@x.iam", "private_key": "canary-PK-77"})
    register_destination_secrets(
        {
            "DESTINATION__POSTGRES__CREDENTIALS": "postgresql://loader:canary%2Fpg-9@db:5432/w",
            "PIPE__DESTINATION__MSSQL__CREDENTIALS": "loader:canary-ms-55@sql/w",
            "DESTINATION__BIGQUERY__CREDENTIALS": service_account,
            "DESTINATION__POSTGRES__DATASET_NAME": "public_data",  # not a secret
        },
        project_dir=str(headwater_env),
    )
    text = (
        "could not parse 'postgresql://loader:canary%2Fpg-9@db:5432/w' (password canary/pg-9); "
        "mssql loader:canary-ms-55@sql; key canary-PK-77; sf canary-sf-Pass-41 at acct1; "
        "dataset public_data"
    )
    assert redact.redact(text) == (
        "could not parse 'postgresql://loader:***@db:5432/w' (password ***); mssql loader:***@sql; "
        "key ***; sf *** at acct1; dataset public_data"
    )


def test_an_api_key_parameter_is_masked_in_urls_however_short(headwater_env):
    """A key too short to mask as a value (``ab``) is still masked as the value of its
    query parameter, in every URL; the same letters elsewhere are left alone."""
    from headwater.http.authenticators import ApiKeyAuthenticator as ApiKeyAuth

    redact.register(["ab"])  # too short: not masked on its own
    ApiKeyAuth("api key", "ab", location="query")
    text = "GET http://api.test/v1/x?page=2&api+key=ab&q=ab failed; ab"
    assert redact.redact(text) == "GET http://api.test/v1/x?page=2&api+key=***&q=ab failed; ab"
    assert (
        redact.redact("http://api.test/?api%20key=ab#top") == "http://api.test/?api%20key=***#top"
    )
    ApiKeyAuth("X-Key", "cd", location="header")  # a header: no parameter to mask
    assert redact.redact("?X-Key=cd") == "?X-Key=cd"


class _Opaque(Exception):
    """An exception whose text does not come from its arguments."""

    def __init__(self, url: str) -> None:
        super().__init__()
        self.url = url

    def __str__(self) -> str:
        return f"cannot reach {self.url}"


def test_scrub_redacts_every_exception_of_the_chain():
    secret = "canary-Scrub-81f0c2a9"
    redact.register([secret])
    try:
        try:
            try:
                raise _Opaque(f"http://h.test/?api_key={secret}")
            except _Opaque as inner:
                raise ValueError(f"failed: ?api_key={secret}") from inner
        except ValueError:
            raise RuntimeError(redact.redact(f"the request failed (api_key={secret})")) from None
    except RuntimeError as exc:
        caught = exc
    redact.scrub(caught)
    chain, current = [], caught
    while current is not None:
        chain.append(current)
        current = current.__cause__ or current.__context__
    assert len(chain) == 3  # the context is kept, its text redacted
    assert all(secret not in str(e) for e in chain), [str(e) for e in chain]
    assert "failed: ?api_key=***" in str(chain[1])
    assert str(chain[2]) == "_Opaque: cannot reach http://h.test/?api_key=***"


def test_an_unreachable_api_leaves_no_secret_in_dlts_trace_file(headwater_env, headwater_plugins):
    """The API key travels in the query; urllib3's error names the URL, and dlt keeps
    the text of the whole chain in the pipeline's trace file (pickled)."""
    import dlt
    import headwater
    import headwater_hr.hooks
    from headwater.testing.cli_process import NoWaiting
    from helpers import files_containing

    canary = "canary-Unreachable-4c1d7e"
    headwater_plugins(headwater_hr.hooks, NoWaiting())
    source = headwater.source("hr", api_key=canary, base_url="http://127.0.0.1:1")
    pipeline = dlt.pipeline(
        "unreachable", destination="duckdb", pipelines_dir=str(headwater_env / "pipelines")
    )
    with pytest.raises(Exception, match="failed after"):
        pipeline.run(source)
    assert list(headwater_env.rglob("trace.pickle"))
    assert files_containing(headwater_env, canary) == []


def test_a_basic_credential_is_masked_as_the_header_carries_it():
    """The base64 of user:password (UTF-8, and Latin-1 as requests' HTTPBasicAuth encodes
    it), alone, as the header's value and URL-encoded."""
    import base64
    from urllib.parse import quote

    redact.register_basic("user-1", "pässwort-Basic-7e1")
    for encoding in ("utf-8", "latin1"):
        encoded = base64.b64encode("user-1:pässwort-Basic-7e1".encode(encoding)).decode()
        assert redact.redact(f"Authorization: Basic {encoded}") == "Authorization: ***"
        assert redact.redact(f"?tok={quote('Basic ' + encoded, safe='')}&n=1") == "?tok=***&n=1"
        assert redact.redact(f"x {encoded} y") == "x *** y"
