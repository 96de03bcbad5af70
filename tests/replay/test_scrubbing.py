"""The scrubber, one concern at a time: what counts as a credential, and placeholders
that stay stable so replays still match (#19)."""

from __future__ import annotations

import json

import pytest
from headwater import redact
from headwater.http.cassette import Scrubber, is_credential_name

SECRET = "canary-Scrub-0a9e77"


@pytest.mark.parametrize(
    "name",
    [
        "token",
        "access_token",
        "refresh_token",
        "id_token",
        "assertion",
        "client_assertion",
        "client_secret",
        "password",
        "api_key",
        "apiKey",
        "X-Api-Key",
        "key",
        "secret",
        "signature",
        "session",
        "sessionId",
        "X-Auth-Token",
        "private_key",
    ],
)
def test_credential_names(name):
    assert is_credential_name(name)


@pytest.mark.parametrize(
    "name",
    ["nextPageToken", "page_token", "$skiptoken", "cursor", "token_type", "token_url", "limit"],
)
def test_pagination_tokens_and_descriptions_are_not_credentials(name):
    assert not is_credential_name(name)


def test_record_fields_named_like_request_credentials_are_kept_in_responses():
    assert is_credential_name("key", request=True)
    assert not is_credential_name("key", request=False)  # an issue's key is data
    assert is_credential_name("password", request=False)


def test_the_same_secret_gets_the_same_placeholder_everywhere():
    scrub = Scrubber({"client_secret": SECRET})
    url = scrub.url(f"https://api.test/v1/x?client_secret={SECRET}&page=2")
    body = scrub.body(f"grant_type=x&client_secret={SECRET}".encode(), "", request=True)
    assert "redacted-client_secret" in url and "page=2" in url
    assert b"redacted-client_secret" in body
    assert SECRET not in url and SECRET.encode() not in body


def test_token_endpoint_answers_and_json_bodies_lose_every_credential_field():
    scrub = Scrubber()
    answer = json.dumps(
        {
            "access_token": "at-1111111111",
            "refresh_token": "rt-2222222222",
            "id_token": "it-3333333333",
            "token_type": "Bearer",
            "expires_in": 60,
            "nextPageToken": "cursor-abc",
        }
    ).encode()
    scrubbed = json.loads(scrub.body(answer, "application/json", request=False))
    assert scrubbed["access_token"] == "redacted-access_token-1"
    assert scrubbed["refresh_token"].startswith("redacted-refresh_token")
    assert scrubbed["id_token"].startswith("redacted-id_token")
    assert scrubbed["token_type"] == "Bearer" and scrubbed["expires_in"] == 60
    assert scrubbed["nextPageToken"] == "cursor-abc"  # must replay as sent
    # the access token learnt from the answer is replaced wherever it shows up next
    headers = scrub.headers({"Authorization": "Bearer at-1111111111"}, request=True)
    assert headers == {"Authorization": "Bearer redacted-access_token-1"}
    assert "at-1111111111" not in scrub.url("https://api.test/x?t=at-1111111111")


def test_headers_cookies_and_redirects():
    scrub = Scrubber()
    request = scrub.headers(
        {
            "Authorization": "Basic dXNlcjpwYXNzd29yZA==",
            "Cookie": "sid=s3cr3t-cookie; theme=dark",
            "X-Api-Key": SECRET,
            "Accept": "application/json",
        },
        request=True,
    )
    assert request["Authorization"].startswith("Basic redacted-authorization")
    assert "s3cr3t-cookie" not in request["Cookie"] and "sid=" in request["Cookie"]
    assert request["X-Api-Key"].startswith("redacted-") and request["Accept"] == "application/json"
    response = scrub.headers(
        {"Set-Cookie": "session=abcdef123456; Path=/; HttpOnly", "Content-Length": "5"},
        request=False,
    )
    assert "abcdef123456" not in response["Set-Cookie"][0]
    assert "Path=/" in response["Set-Cookie"][0]
    assert "Content-Length" not in response  # the recorded body is decoded and scrubbed
    assert "sig=" in scrub.url("https://api.test/next?sig=zzzzzzzz&page=3")
    assert "zzzzzzzz" not in scrub.url("https://api.test/next?sig=zzzzzzzz&page=3")


def test_secrets_redact_knows_at_record_time_are_scrubbed(headwater_env):
    redact.register(["runtime-token-98765"])
    scrub = Scrubber()
    scrub.learn()
    assert "runtime-token-98765" not in scrub.text('{"note": "runtime-token-98765"}')


def test_declared_personal_fields_are_masked_consistently():
    scrub = Scrubber(mask=["email", "displayName"])
    body = json.dumps(
        [
            {"id": 1, "email": "ada@example.com", "displayName": "Ada L"},
            {"id": 2, "email": "ada@example.com", "displayName": "Grace H"},
        ]
    ).encode()
    out = json.loads(scrub.body(body, "application/json", request=False))
    assert out[0]["email"] == out[1]["email"] and "ada@" not in out[0]["email"]
    assert out[0]["email"].endswith("@example.invalid")
    assert out[0]["displayName"] != out[1]["displayName"]
    assert "Ada" not in json.dumps(out) and out[0]["id"] == 1
    # a masked value used in a later URL (a child resource's path) is masked there too
    assert "ada%40example.com" not in scrub.url("https://api.test/u/ada%40example.com/x")


def test_masked_values_of_any_length_or_type_are_masked_exactly_where_they_are():
    """A short value is masked as a field's value and as the parent's part of a child
    path (also in a next link), never inside other text; a number stays a distinct
    number; an object or list under a masked field is masked whole."""
    scrub = Scrubber(
        mask=["name", "id", "address"], child_paths=[("/v1/u/{who}/items", "who", "name")]
    )
    body = {
        "data": [
            {"id": 7, "name": "bo", "note": "bob and bo", "address": {"city": "Oslo"}},
            {"id": 8, "name": "cat", "address": ["Main St", 12]},
        ],
        "next": "https://api.test/v1/u/bo/items?page=2",
    }
    out = json.loads(scrub.body(json.dumps(body).encode(), "application/json", request=False))
    first, second = out["data"]
    assert first["name"].startswith("masked-name-") and first["name"] != second["name"]
    assert first["note"] == "bob and bo"  # too short to be replaced in text
    assert isinstance(first["id"], int) and {first["id"], second["id"]}.isdisjoint({7, 8})
    assert first["id"] != second["id"]
    assert "Oslo" not in json.dumps(out) and "Main St" not in json.dumps(out)
    assert out["next"] == f"https://api.test/v1/u/{first['name']}/items?page=2"
    assert scrub.url("https://api.test/v1/u/cat/items") == (
        f"https://api.test/v1/u/{second['name']}/items"
    )
    # the path is filled by name: id's masks (and any other field's) do not apply there,
    # or a name "7" would be recorded as id 7's mask and the replay ask for "7"
    assert scrub.url("https://api.test/v1/u/7/items") == "https://api.test/v1/u/7/items"
    other = Scrubber(mask=["nickname"], child_paths=[("/v1/u/{who}/items", "who", "name")])
    other.body(b'{"data": [{"name": "al", "nickname": "eve"}]}', "application/json", request=False)
    # "eve" is a nickname's value, but the path holds a name: not masked there
    assert other.url("https://api.test/v1/u/eve/items") == "https://api.test/v1/u/eve/items"
    assert scrub.url("https://api.test/v1/bo/cat") == "https://api.test/v1/bo/cat"  # no child's
    next_link = '<https://api.test/v1/u/bo/items?p=2>; rel="next"'
    link = scrub.headers({"Link": next_link}, request=False)
    assert link["Link"] == [f'<https://api.test/v1/u/{first["name"]}/items?p=2>; rel="next"']
