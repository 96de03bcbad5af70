"""The API simulator in ``headwater.testing``, exercised over real HTTP with ``requests``."""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import requests
from headwater.spec import (
    ApiKeyAuth,
    BasicAuth,
    BearerAuth,
    Connector,
    CursorPagination,
    IncrementalSpec,
    LastRecordPagination,
    NextLinkPagination,
    OAuth2ClientCredentials,
    OffsetPagination,
    PageNumberPagination,
    ParentSpec,
    Resource,
    SinglePage,
)
from headwater.testing import Fault, RequestRecord, Simulator, generate_records
from headwater.testing.records import EXTRA_FIELD

USERS_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "users",
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "email": {"type": "string", "format": "email"},
        "first_name": {"type": "string"},
        "status": {"type": ["string", "null"]},
        "nickname": {"type": ["string", "null"], "maxLength": 12},
        "updated_at": {"type": "string", "format": "date-time"},
        "birthday": {"type": ["string", "null"], "format": "date"},
        "age": {"type": ["integer", "null"], "minimum": 18, "maximum": 99},
        "score": {"type": "number", "minimum": 0, "maximum": 1},
        "active": {"type": "boolean"},
        "plan": {"enum": ["free", "pro", "team"]},
        "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 3},
        "address": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "zip": {"type": "integer"}},
            "required": ["city", "zip"],
        },
    },
    "required": ["id", "email", "updated_at"],
}

MEETINGS_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "meetings",
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "topic": {"type": "string"},
        "start_time": {"type": "string", "format": "date-time"},
        "duration": {"type": "integer", "minimum": 15, "maximum": 120},
    },
    "required": ["id"],
}

CLOSED_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"id": {"type": "integer"}, "name": {"type": "string"}},
    "required": ["id", "name"],
    "additionalProperties": False,
}


@pytest.fixture
def package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh importable package shipping the test schemas (unique name: schema files
    are cached per package and path)."""
    name = f"hw_sim_{uuid.uuid4().hex[:10]}"
    root = tmp_path / "pkgs" / name
    (root / "schemas").mkdir(parents=True)
    (root / "__init__.py").write_text("")
    for file, schema in (
        ("users.json", USERS_SCHEMA),
        ("meetings.json", MEETINGS_SCHEMA),
        ("closed.json", CLOSED_SCHEMA),
    ):
        (root / "schemas" / file).write_text(json.dumps(schema))
    monkeypatch.syspath_prepend(str(tmp_path / "pkgs"))
    return name


ConnectorFactory = Callable[..., Connector]


@pytest.fixture
def make_connector(package: str) -> ConnectorFactory:
    """Factory: a one-resource ``users`` connector with the given auth and resource options."""

    def make(auth: Any = None, *, extra: tuple[Resource, ...] = (), **resource: Any) -> Connector:
        options: dict[str, Any] = {
            "name": "users",
            "path": "/v1/users",
            "schema": "schemas/users.json",
            "data_selector": "users",
        }
        options.update(resource)
        return Connector(
            name="testapi",
            package=package,
            auth=auth,
            resources=[Resource(**options), *extra],
        )

    return make


def fetch_token(sim: Simulator, **overrides: Any) -> requests.Response:
    settings = sim.settings
    form = {
        "grant_type": "client_credentials",
        "client_id": settings["client_id"],
        "client_secret": settings["client_secret"],
    }
    if "scope" in settings:
        form["scope"] = settings["scope"]
    form.update(overrides)
    form = {k: v for k, v in form.items() if v is not None}
    return requests.post(settings["token_url"], data=form, timeout=5)


def bearer(sim: Simulator) -> dict[str, str]:
    response = fetch_token(sim)
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


# --------------------------------------------------------------------- records


def test_records_are_deterministic_valid_and_shaped() -> None:
    first = generate_records(USERS_SCHEMA, 300, seed=7)
    assert first == generate_records(USERS_SCHEMA, 300, seed=7)
    assert first != generate_records(USERS_SCHEMA, 300, seed=8)
    # a record depends on (schema, seed, index) only
    assert generate_records(USERS_SCHEMA, 5, seed=7, start=100) == first[100:105]

    validator = jsonschema.Draft202012Validator(USERS_SCHEMA)
    for record in first:
        validator.validate(record)
    assert [r["id"] for r in first[:2]] == ["u-000001", "u-000002"]
    assert len({r["id"] for r in first}) == 300
    assert first[3]["email"] == "user3@example.com"
    stamps = [r["updated_at"] for r in first]
    assert stamps == sorted(stamps) and len(set(stamps)) == 300
    assert stamps[0].startswith("2024-01-01T00:00:") and stamps[0].endswith("Z")
    # nullable, not required: None for roughly one record in ten
    nulls = sum(r["status"] is None for r in first)
    assert 10 <= nulls <= 60
    assert all(r["email"] is not None for r in first)
    # an undeclared field rides along unless asked not to, or the schema forbids it
    assert all(EXTRA_FIELD in r for r in first)
    assert EXTRA_FIELD not in generate_records(USERS_SCHEMA, 1, extra_field=False)[0]
    closed = generate_records(CLOSED_SCHEMA, 3)
    assert [r["id"] for r in closed] == [1, 2, 3]
    assert all(set(r) == {"id", "name"} for r in closed)


def test_records_of_directory_schema_are_about_200_bytes() -> None:
    from headwater.schema import load_record_schema
    from headwater_directory.hooks import DIRECTORY

    schema = load_record_schema(DIRECTORY, DIRECTORY.resource("directory_users"))
    records = generate_records(schema, 500, seed=0)
    average = sum(len(json.dumps(r)) for r in records) / len(records)
    assert 150 <= average <= 260
    assert {"id", "etag", "lastLoginTime", EXTRA_FIELD} == set(records[0])


# ------------------------------------------------------------------------ auth


def test_oauth_token_issued_and_checked() -> None:
    from headwater_directory.hooks import DIRECTORY

    with Simulator(DIRECTORY, records={"directory_users": 5}) as sim:
        settings = sim.settings
        assert settings["base_url"] == sim.base_url
        assert settings["token_url"] == f"{sim.base_url}/oauth2/token"
        assert set(settings) == {"base_url", "client_id", "client_secret", "token_url"}

        wrong = fetch_token(sim, client_secret="nope")
        assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"
        grant = fetch_token(sim, grant_type="password")
        assert grant.status_code == 400 and grant.json()["error"] == "unsupported_grant_type"
        assert requests.get(settings["token_url"], timeout=5).status_code == 405

        good = fetch_token(sim)
        assert good.status_code == 200
        body = good.json()
        assert body["token_type"] == "Bearer" and body["expires_in"] == 3600
        # client credentials in an HTTP Basic header are accepted too
        basic = requests.post(
            settings["token_url"],
            data={"grant_type": "client_credentials"},
            auth=(settings["client_id"], settings["client_secret"]),
            timeout=5,
        )
        assert basic.status_code == 200
        assert sim.tokens_issued == 2

        url = f"{sim.base_url}/v1/users"
        missing = requests.get(url, timeout=5)
        assert missing.status_code == 401 and "error" in missing.json()
        forged = requests.get(url, headers={"Authorization": "Bearer forged"}, timeout=5)
        assert forged.status_code == 401
        ok = requests.get(
            url, headers={"Authorization": f"Bearer {body['access_token']}"}, timeout=5
        )
        assert ok.status_code == 200
        assert ok.json()["users"] == sim.data["directory_users"]

        sim.revoke_tokens()
        revoked = requests.get(
            url, headers={"Authorization": f"Bearer {body['access_token']}"}, timeout=5
        )
        assert revoked.status_code == 401


def test_oauth_scope_extra_form_and_foreign_token_url(make_connector: ConnectorFactory) -> None:
    auth = OAuth2ClientCredentials(
        token_url="https://login.example.com/oauth2/token",
        scope="https://api.example.com/.default",
        extra_form={"audience": "api"},
    )
    connector = make_connector(auth)
    with Simulator(
        connector, records={"users": 3}, credentials={"client_secret": "canary-s3cret"}
    ) as sim:
        settings = sim.settings
        # a token URL on another host is served here, at /oauth2/token
        assert settings["token_url"] == f"{sim.base_url}/oauth2/token"
        assert settings["scope"] == "https://api.example.com/.default"
        assert settings["client_secret"] == "canary-s3cret"

        assert fetch_token(sim, audience="api").status_code == 200
        no_scope = fetch_token(sim, scope=None, audience="api")
        assert no_scope.status_code == 400 and no_scope.json()["error"] == "invalid_scope"
        assert fetch_token(sim, scope="other", audience="api").status_code == 400
        assert fetch_token(sim).status_code == 400  # audience missing


def test_oauth_token_path_comes_from_the_template(make_connector: ConnectorFactory) -> None:
    connector = make_connector(OAuth2ClientCredentials(token_url="{base_url}/oauth/token"))
    with Simulator(connector, records={"users": 1}) as sim:
        assert sim.settings["token_url"] == f"{sim.base_url}/oauth/token"
        assert fetch_token(sim).status_code == 200
        gone = requests.post(f"{sim.base_url}/oauth2/token", data={}, timeout=5)
        assert gone.status_code == 404
        assert [r.resource for r in sim.requests] == ["token", None]


def test_token_expires_after_ttl(make_connector: ConnectorFactory) -> None:
    connector = make_connector(OAuth2ClientCredentials())
    with Simulator(connector, records={"users": 2}, token_ttl=0.3) as sim:
        token = fetch_token(sim).json()
        assert token["expires_in"] == 0.3  # announced truthfully, even below a second
        headers = {"Authorization": f"Bearer {token['access_token']}"}
        url = f"{sim.base_url}/v1/users"
        assert requests.get(url, headers=headers, timeout=5).status_code == 200
        time.sleep(0.4)
        expired = requests.get(url, headers=headers, timeout=5)
        assert expired.status_code == 401
        assert "invalid_token" in expired.headers["WWW-Authenticate"]
        assert requests.get(url, headers=bearer(sim), timeout=5).status_code == 200


def test_a_token_is_accepted_on_its_first_request_however_late(
    make_connector: ConnectorFactory,
) -> None:
    # a busy machine may stall between fetching a token and the request it was fetched
    # for: with a test's short TTL, that token is still accepted once
    connector = make_connector(OAuth2ClientCredentials())
    with Simulator(connector, records={"users": 2}, token_ttl=0.2) as sim:
        token = fetch_token(sim).json()
        headers = {"Authorization": f"Bearer {token['access_token']}"}
        url = f"{sim.base_url}/v1/users"
        time.sleep(0.3)
        assert requests.get(url, headers=headers, timeout=5).status_code == 200
        assert requests.get(url, headers=headers, timeout=5).status_code == 401
        # a revoked token is refused, used or not
        unused = {"Authorization": f"Bearer {fetch_token(sim).json()['access_token']}"}
        sim.revoke_tokens()
        assert requests.get(url, headers=unused, timeout=5).status_code == 401


def test_api_key_in_query_or_header_as_declared(make_connector: ConnectorFactory) -> None:
    in_query = make_connector(ApiKeyAuth(name="api_key", location="query"))
    with Simulator(in_query, records={"users": 2}) as sim:
        key = sim.settings["api_key"]
        assert set(sim.settings) == {"base_url", "api_key"}
        url = f"{sim.base_url}/v1/users"
        assert requests.get(url, params={"api_key": key}, timeout=5).status_code == 200
        assert requests.get(url, headers={"api_key": key}, timeout=5).status_code == 401
        assert requests.get(url, params={"api_key": "wrong"}, timeout=5).status_code == 401

    in_header = make_connector(ApiKeyAuth(name="X-API-Key", location="header"))
    with Simulator(in_header, records={"users": 2}) as sim:
        key = sim.settings["api_key"]
        url = f"{sim.base_url}/v1/users"
        assert requests.get(url, headers={"x-api-key": key}, timeout=5).status_code == 200
        assert requests.get(url, params={"X-API-Key": key}, timeout=5).status_code == 401


def test_bearer_basic_and_no_auth(make_connector: ConnectorFactory) -> None:
    with Simulator(make_connector(BearerAuth()), records={"users": 1}) as sim:
        url = f"{sim.base_url}/v1/users"
        good = {"Authorization": f"Bearer {sim.settings['token']}"}
        assert requests.get(url, headers=good, timeout=5).status_code == 200
        assert requests.get(url, timeout=5).status_code == 401

    with Simulator(make_connector(BasicAuth()), records={"users": 1}) as sim:
        url = f"{sim.base_url}/v1/users"
        user, password = sim.settings["username"], sim.settings["password"]
        assert requests.get(url, auth=(user, password), timeout=5).status_code == 200
        assert requests.get(url, auth=(user, "wrong"), timeout=5).status_code == 401

    with Simulator(make_connector(None), records={"users": 1}) as sim:
        assert sim.settings == {"base_url": sim.base_url}
        assert requests.get(f"{sim.base_url}/v1/users", timeout=5).status_code == 200


# ------------------------------------------------------------------ pagination


def read_offset(sim: Simulator, limit: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    records: list[dict[str, Any]] = []
    bodies = []
    with requests.Session() as session:
        offset = 0
        while True:
            response = session.get(
                f"{sim.base_url}/v1/users", params={"offset": offset, "limit": limit}, timeout=5
            )
            assert response.status_code == 200
            assert response.headers["Content-Length"] == str(len(response.content))
            body = response.json()
            bodies.append(body)
            records.extend(body["users"])
            if len(body["users"]) < limit:
                return records, bodies
            offset += limit


def test_warm_decodes_the_records_before_serving_not_on_a_later_page(
    make_connector: ConnectorFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A starting_after cursor is looked up in an index of every record; warm() builds it
    up front, so the second page of a has_more API decodes nothing while serving."""
    from headwater.testing import paging

    decoded: list[bytes] = []
    loads = paging._loads
    monkeypatch.setattr(paging, "_loads", lambda data: decoded.append(data) or loads(data))
    spec = LastRecordPagination(page_size=10, has_more_path=("has_more",))
    with Simulator(make_connector(pagination=spec), records={"users": 25}) as sim:
        sim.warm()
        assert len(decoded) == 25
        records: list[dict[str, Any]] = []
        after = None
        while True:
            params = {"starting_after": after} if after else {}
            body = requests.get(f"{sim.base_url}/v1/users", params=params, timeout=5).json()
            records.extend(body["users"])
            if not body["has_more"]:
                break
            after = body["users"][-1]["id"]
        assert records == sim.data["users"]
        assert len(decoded) == 25  # the later pages used the index warm() built


def test_offset_pagination_with_and_without_total(make_connector: ConnectorFactory) -> None:
    with Simulator(
        make_connector(pagination=OffsetPagination(limit=100)), records={"users": 250}
    ) as sim:
        records, bodies = read_offset(sim, 100)
        assert records == sim.data["users"] and len(records) == 250
        assert [len(b["users"]) for b in bodies] == [100, 100, 50]
        assert all(set(b) == {"users"} for b in bodies)
        default = requests.get(f"{sim.base_url}/v1/users", timeout=5).json()
        assert len(default["users"]) == 100  # limit defaults to the spec's
        huge = requests.get(f"{sim.base_url}/v1/users", params={"limit": 5000}, timeout=5)
        assert len(huge.json()["users"]) == 250
        bad = requests.get(f"{sim.base_url}/v1/users", params={"offset": "x"}, timeout=5)
        assert bad.status_code == 400

    spec = OffsetPagination(limit=40, total_path=("meta", "total"))
    with Simulator(make_connector(pagination=spec), records={"users": 90}) as sim:
        records, bodies = read_offset(sim, 40)
        assert records == sim.data["users"]
        assert all(b["meta"] == {"total": 90} for b in bodies)


def test_a_big_resource_is_served_a_page_at_a_time_as_it_would_be_whole(
    make_connector: ConnectorFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    # above LAZY_RECORDS an offset-paged resource is made a page at a time (a 10M-record
    # soak would need 46 GB up front): the same pages, and grow still works
    spec = OffsetPagination(limit=40, total_path=("meta", "total"))
    with Simulator(make_connector(pagination=spec), records={"users": 90}, seed=5) as whole:
        monkeypatch.setattr("headwater.testing.simulator.LAZY_RECORDS", 50)
        with Simulator(make_connector(pagination=spec), records={"users": 90}, seed=5) as lazy:
            assert len(lazy.data["users"]) == 90
            assert read_offset(lazy, 40) == read_offset(whole, 40)
            for sim in (whole, lazy):
                sim.grow("users", 3)
            assert read_offset(lazy, 40) == read_offset(whole, 40)
            assert len(lazy.data["users"]) == 93


def test_cursor_pagination(make_connector: ConnectorFactory) -> None:
    spec = CursorPagination(cursor_path="next_page_token", cursor_param="next_page_token")
    with Simulator(make_connector(pagination=spec), records={"users": 70}) as sim:
        url = f"{sim.base_url}/v1/users"
        records: list[dict[str, Any]] = []
        params: dict[str, str] = {}
        pages = 0
        while True:
            body = requests.get(url, params=params, timeout=5).json()
            pages += 1
            assert body["page_size"] == 30 and body["total_records"] == 70
            records.extend(body["users"])
            if body["next_page_token"] == "":
                break
            params = {"next_page_token": body["next_page_token"]}
        assert pages == 3 and records == sim.data["users"]
        assert "next_page_token" not in sim.requests[0].query
        sized = requests.get(url, params={"page_size": 50}, timeout=5).json()
        assert len(sized["users"]) == 50 and sized["page_size"] == 50
        bad = requests.get(url, params={"next_page_token": "garbage!"}, timeout=5)
        assert bad.status_code == 400


@pytest.mark.parametrize(
    ("selector", "cursor_path", "field"),
    [
        ("users", "$.users[-1].id", "id"),
        ("users", "$.users[-1:].nickname", "nickname"),
        (None, "$[-1].id", "id"),
    ],
)
def test_cursor_read_from_the_last_record(
    make_connector: ConnectorFactory, selector: Any, cursor_path: str, field: str
) -> None:
    """Stripe's ``data[-1].id``: each page starts after the record the cursor names (a
    field every record has, unique, even a nullable one); the body may be the list."""
    spec = CursorPagination(cursor_path=cursor_path, cursor_param="starting_after")
    connector = make_connector(pagination=spec, data_selector=selector)
    with Simulator(connector, records={"users": 70}) as sim:
        url = f"{sim.base_url}/v1/users"
        records: list[dict[str, Any]] = []
        params: dict[str, str] = {}
        while True:
            body = requests.get(url, params=params, timeout=5).json()
            page = body if selector is None else body["users"]
            if not page:
                break
            records.extend(page)
            params = {"starting_after": page[-1][field]}
        assert records == sim.data["users"]
        assert len({r[field] for r in records}) == 70 and None not in {r[field] for r in records}
        bad = requests.get(url, params={"starting_after": "nobody"}, timeout=5)
        assert bad.status_code == 400 and "nobody" in bad.text


def test_next_link_pagination(make_connector: ConnectorFactory) -> None:
    connector = make_connector(
        ApiKeyAuth(name="api_key", location="query"),
        data_selector="value",
        pagination=NextLinkPagination(next_path="@odata.nextLink"),
        params={"$select": "id,email"},
    )
    with Simulator(connector, records={"users": 95}, page_size=40) as sim:
        url: str | None = f"{sim.base_url}/v1/users"
        params: dict[str, str] | None = {"api_key": sim.settings["api_key"], "$select": "id,email"}
        records: list[dict[str, Any]] = []
        links = []
        while url:
            response = requests.get(url, params=params, timeout=5)
            assert response.status_code == 200, response.text
            body = response.json()
            assert "@odata.context" in body
            records.extend(body["value"])
            url = body.get("@odata.nextLink")
            params = None  # the link carries the whole query
            if url:
                links.append(url)
        assert records == sim.data["users"]
        assert len(links) == 2
        for link in links:
            assert link.startswith(f"{sim.base_url}/v1/users?")
            assert f"api_key={sim.settings['api_key']}" in link
            assert "$skiptoken=" in link
        assert [r.query.get("$select") for r in sim.requests] == [["id,email"]] * 3


def test_page_number_pagination(make_connector: ConnectorFactory) -> None:
    spec = PageNumberPagination(page_size=20, total_pages_path="total_pages")
    with Simulator(make_connector(pagination=spec), records={"users": 45}) as sim:
        url = f"{sim.base_url}/v1/users"
        first = requests.get(url, timeout=5).json()  # no page parameter: page `start`
        assert first["total_pages"] == 3 and len(first["users"]) == 20
        records = []
        for page in (1, 2, 3, 4):
            records.extend(requests.get(url, params={"page": page}, timeout=5).json()["users"])
        assert records == sim.data["users"]
        assert requests.get(url, params={"page": 0}, timeout=5).status_code == 400

    zero_based = PageNumberPagination(page_param="p", start=0, page_size_param="size")
    with Simulator(make_connector(pagination=zero_based), records={"users": 60}) as sim:
        url = f"{sim.base_url}/v1/users"
        assert len(requests.get(url, params={"p": 0}, timeout=5).json()["users"]) == 50
        last = requests.get(url, params={"p": 1}, timeout=5).json()
        assert "total_pages" not in last and len(last["users"]) == 10
        assert len(requests.get(url, params={"p": 0, "size": 7}, timeout=5).json()["users"]) == 7


def test_single_page_and_body_as_list(make_connector: ConnectorFactory) -> None:
    connector = make_connector(pagination=SinglePage(), data_selector=None)
    with Simulator(connector, records={"users": 321}) as sim:
        body = requests.get(f"{sim.base_url}/v1/users", timeout=5).json()
        assert isinstance(body, list) and body == sim.data["users"]

    nested = make_connector(data_selector=("result", "items"))
    with Simulator(nested, records={"users": 4}) as sim:
        body = requests.get(f"{sim.base_url}/v1/users", timeout=5).json()
        assert body == {"result": {"items": sim.data["users"]}}


def test_layouts_that_cannot_be_served_are_refused(make_connector: ConnectorFactory) -> None:
    # The spec itself refuses a cursor read from a body that is the list of records.
    with pytest.raises(ValueError, match="must name the field holding the records"):
        make_connector(data_selector=None, pagination=CursorPagination())
    with pytest.raises(ValueError, match="collides"):
        Simulator(make_connector(pagination=OffsetPagination(total_path=("users", "total"))))
    with pytest.raises(ValueError, match="does not declare"):
        Simulator(make_connector(), records={"nope": 1})
    # a cursor from a list other than the records, or from deep inside a record
    for path in ("$.others[-1].id", "$.users[-1].address.city", "$.users[0].id", "$..next"):
        spec = CursorPagination(cursor_path=path)
        with pytest.raises(ValueError, match=r"or a field of the last record \(\$\.data\[-1\]"):
            Simulator(make_connector(pagination=spec))


# --------------------------------------------------------------------- children


def meetings_connector(package: str, **meetings: Any) -> Connector:
    return Connector(
        name="meetingsapi",
        package=package,
        resources=[
            Resource(
                name="users",
                path="/v1/users",
                schema="schemas/users.json",
                data_selector="users",
                pagination=CursorPagination(cursor_param="next_page_token", page_size=30),
            ),
            Resource(
                name="meetings",
                path="/v1/meetings/{user_id}",
                schema="schemas/meetings.json",
                data_selector="meetings",
                parent=ParentSpec(
                    resource="users", field="id", placeholder="user_id", column="user_id"
                ),
                **meetings,
            ),
        ],
    )


def test_children_served_per_parent(package: str) -> None:
    with Simulator(meetings_connector(package), records={"users": 20}) as sim:
        users = sim.data["users"]
        meetings = sim.data["meetings"]
        assert list(meetings) == [u["id"] for u in users]
        assert [len(v) for v in meetings.values()].count(0) == 2  # every tenth parent
        assert all(len(v) in (0, 3) for v in meetings.values())
        ids = [m["id"] for v in meetings.values() for m in v]
        assert len(ids) == len(set(ids)) == 54

        for user in users:
            response = requests.get(f"{sim.base_url}/v1/meetings/{user['id']}", timeout=5)
            assert response.status_code == 200
            body = response.json()["meetings"]
            assert body == meetings[user["id"]]
            assert all("user_id" not in m for m in body)  # the client adds the column
        unknown = requests.get(f"{sim.base_url}/v1/meetings/u-999999", timeout=5)
        assert unknown.status_code == 404 and unknown.json()["error"] == "not_found"
        assert sim.requests[-1].resource == "meetings"

        sim.grow("users", 5)
        assert len(sim.data["users"]) == 25 and len(sim.data["meetings"]) == 25
        newest = sim.data["users"][-1]["id"]
        response = requests.get(f"{sim.base_url}/v1/meetings/{newest}", timeout=5)
        assert response.json()["meetings"] == sim.data["meetings"][newest]


# ------------------------------------------------------------------ incremental


def test_since_filter_grow_and_mutate(make_connector: ConnectorFactory) -> None:
    connector = make_connector(
        pagination=OffsetPagination(limit=1000),
        incremental=IncrementalSpec(cursor_field="updated_at", param="since"),
    )
    with Simulator(connector, records={"users": 50}) as sim:
        url = f"{sim.base_url}/v1/users"
        original = list(sim.data["users"])
        cut = original[29]["updated_at"]
        since = requests.get(url, params={"since": cut}, timeout=5).json()["users"]
        assert since == original[30:]
        # offsets and other spellings of the same instant work
        as_offset = datetime.fromisoformat(cut.replace("Z", "+00:00")).astimezone(timezone.utc)
        with_offset = as_offset.isoformat()
        assert requests.get(url, params={"since": with_offset}, timeout=5).json()["users"] == since
        assert requests.get(url, params={"since": "yesterday"}, timeout=5).status_code == 400

        latest = original[-1]["updated_at"]
        sim.grow("users", 10)
        grown = sim.data["users"]
        assert len(grown) == 60 and grown[:50] == original
        assert len({r["id"] for r in grown}) == 60
        new = requests.get(url, params={"since": latest}, timeout=5).json()["users"]
        assert new == grown[50:]

        latest = grown[-1]["updated_at"]
        sim.mutate("users", 5)
        mutated = sim.data["users"]
        assert [r["id"] for r in mutated] == [r["id"] for r in grown]
        for before, after in zip(grown[:5], mutated[:5], strict=True):
            assert (
                after["first_name"] != before["first_name"]
                or after[EXTRA_FIELD] != before[EXTRA_FIELD]
            )
            assert after["updated_at"] > latest
        assert mutated[5:] == grown[5:]
        changed = requests.get(url, params={"since": latest}, timeout=5).json()["users"]
        assert changed == mutated[:5]  # ordered by the cursor, ascending
        assert requests.get(url, timeout=5).json()["users"] == mutated  # caches were dropped
        validator = jsonschema.Draft202012Validator(USERS_SCHEMA)
        for record in mutated:
            validator.validate(record)


def test_records_start_after_an_initial_value_later_than_the_generated_ones(
    make_connector: ConnectorFactory,
) -> None:
    initial = "2025-06-01T00:00:00Z"
    connector = make_connector(
        pagination=OffsetPagination(limit=1000),
        incremental=IncrementalSpec(cursor_field="updated_at", param="since", initial=initial),
    )
    with Simulator(connector, records={"users": 20}) as sim:
        served = requests.get(
            f"{sim.base_url}/v1/users", params={"since": initial}, timeout=5
        ).json()["users"]
        assert len(served) == 20  # a first run is served every record
        cursors = [r["updated_at"] for r in sim.data["users"]]
        assert cursors == sorted(cursors) and cursors[0] > initial


# ------------------------------------------------------------------------ faults


def test_status_fault_with_retry_after_and_after_count(make_connector: ConnectorFactory) -> None:
    faults = [Fault("status", status=429, retry_after="1", after=1, count=2)]
    with Simulator(make_connector(), records={"users": 3}, faults=faults) as sim:
        url = f"{sim.base_url}/v1/users"
        statuses = []
        for _ in range(5):
            response = requests.get(url, timeout=5)
            statuses.append(response.status_code)
            if response.status_code == 429:
                assert response.headers["Retry-After"] == "1"
                assert response.json()["error"] == "simulated_fault"
        assert statuses == [200, 429, 429, 200, 200]
        assert [r.status for r in sim.requests] == statuses

        sim.add_fault(Fault("status", resource="users", status=500, count=None))
        assert [requests.get(url, timeout=5).status_code for _ in range(3)] == [500] * 3
        sim.clear_faults()
        assert requests.get(url, timeout=5).status_code == 200


def test_drop_fault(make_connector: ConnectorFactory) -> None:
    with Simulator(make_connector(), records={"users": 3}, faults=[Fault("drop")]) as sim:
        url = f"{sim.base_url}/v1/users"
        with pytest.raises(requests.ConnectionError):
            requests.get(url, timeout=5)
        assert requests.get(url, timeout=5).status_code == 200
        assert [r.status for r in sim.requests] == [0, 200]


def test_malformed_json_and_html_faults(make_connector: ConnectorFactory) -> None:
    faults = [Fault("malformed_json"), Fault("html_200")]
    with Simulator(make_connector(), records={"users": 30}, faults=faults) as sim:
        url = f"{sim.base_url}/v1/users"
        broken = requests.get(url, timeout=5)
        assert broken.status_code == 200
        assert broken.headers["Content-Type"] == "application/json"
        with pytest.raises(ValueError):
            broken.json()
        html = requests.get(url, timeout=5)
        assert html.status_code == 200 and html.headers["Content-Type"].startswith("text/html")
        assert html.text.lstrip().startswith("<!DOCTYPE html>")
        assert requests.get(url, timeout=5).json()["users"] == sim.data["users"]


def test_latency_fault_and_resource_and_token_targeting(package: str) -> None:
    connector = Connector(
        name="latencyapi",
        package=package,
        auth=OAuth2ClientCredentials(),
        resources=[
            Resource(
                name="users", path="/v1/users", schema="schemas/users.json", data_selector="users"
            ),
            Resource(
                name="closed", path="/v1/closed", schema="schemas/closed.json", data_selector="data"
            ),
        ],
    )
    faults = [
        Fault("status", resource="token", status=503),
        Fault("latency", resource="closed", delay=0.2),
    ]
    with Simulator(connector, records={"users": 2, "closed": 2}, faults=faults) as sim:
        assert fetch_token(sim).status_code == 503
        headers = bearer(sim)
        started = time.monotonic()
        assert requests.get(f"{sim.base_url}/v1/users", headers=headers, timeout=5).ok
        assert time.monotonic() - started < 0.15
        started = time.monotonic()
        slow = requests.get(f"{sim.base_url}/v1/closed", headers=headers, timeout=5)
        assert slow.ok and time.monotonic() - started >= 0.2
        assert slow.json()["data"] == sim.data["closed"]
        assert [(r.resource, r.status) for r in sim.requests] == [
            ("token", 503),
            ("token", 200),
            ("users", 200),
            ("closed", 200),
        ]
        assert sim.requests[-1].duration >= 0.2


def test_fault_validation() -> None:
    with pytest.raises(ValueError):
        Fault("explode")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        Fault("status", count=0)
    assert Fault("status", retry_after=2).retry_after == "2"  # type: ignore[arg-type]


# -------------------------------------------------------- log, concurrency, lifecycle


def test_request_log_and_peak_concurrency(make_connector: ConnectorFactory) -> None:
    connector = make_connector(ApiKeyAuth(name="api_key", location="query"))
    with Simulator(connector, records={"users": 10}, latency=0.05) as sim:
        key = sim.settings["api_key"]
        errors: list[BaseException] = []

        def client(n: int) -> None:
            try:
                with requests.Session() as session:
                    for _ in range(2):
                        r = session.get(
                            f"{sim.base_url}/v1/users",
                            params={"api_key": key, "client": str(n)},
                            headers={"X-Client": str(n)},
                            timeout=5,
                        )
                        assert r.status_code == 200
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=client, args=(n,)) for n in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert not errors
        assert 2 <= sim.peak_concurrency <= 8
        log = sim.requests
        assert len(log) == 16
        assert all(isinstance(r, RequestRecord) for r in log)
        assert all(r.method == "GET" and r.path == "/v1/users" and r.status == 200 for r in log)
        assert all(r.resource == "users" and r.duration >= 0.05 for r in log)
        assert sorted(r.query["client"][0] for r in log) == sorted([str(n) for n in range(8)] * 2)
        assert {r.headers["x-client"] for r in log} == {str(n) for n in range(8)}
        assert all(r.query["api_key"] == [key] for r in log)
        assert log[0].time <= time.time()

        sim.reset_log()
        assert sim.requests == [] and sim.peak_concurrency == 0


def test_same_seed_same_data(package: str) -> None:
    connector = meetings_connector(package)
    one = Simulator(connector, records={"users": 30}, seed=3)
    two = Simulator(connector, records={"users": 30}, seed=3)
    other = Simulator(connector, records={"users": 30}, seed=4)
    assert one.data == two.data
    assert one.data["users"] != other.data["users"]
    assert [u["id"] for u in one.data["users"]] == [u["id"] for u in other.data["users"]]
    # credentials are random per simulator
    with one, two:
        assert one.settings["base_url"] != two.settings["base_url"]


def test_defaults_and_schemas_override(package: str) -> None:
    sim = Simulator(meetings_connector(package), schemas={"users": CLOSED_SCHEMA})
    assert len(sim.data["users"]) == 250
    assert set(sim.data["users"][0]) == {"id", "name"}
    counts = [len(v) for v in sim.data["meetings"].values()]
    assert len(counts) == 250 and set(counts) == {0, 3}
    with pytest.raises(RuntimeError):
        _ = sim.base_url  # not started


def test_stop_is_prompt_idempotent_and_closes_keep_alive(make_connector: ConnectorFactory) -> None:
    sim = Simulator(make_connector(), records={"users": 5})
    sim.start()
    session = requests.Session()
    url = f"{sim.base_url}/v1/users"
    assert session.get(url, timeout=5).status_code == 200
    assert session.get(url, timeout=5).status_code == 200  # same kept-alive connection
    started = time.monotonic()
    sim.stop()
    sim.stop()
    assert time.monotonic() - started < 1.0
    with pytest.raises(requests.ConnectionError):
        session.get(url, timeout=2)
    session.close()


def test_basic_header_encoding_is_urlencoded_per_rfc_6749(make_connector: ConnectorFactory) -> None:
    connector = make_connector(OAuth2ClientCredentials())
    with Simulator(
        connector, records={"users": 1}, credentials={"client_secret": "a+b/c=d"}
    ) as sim:
        from urllib.parse import quote_plus

        pair = f"{quote_plus(sim.settings['client_id'])}:{quote_plus('a+b/c=d')}"
        header = "Basic " + base64.b64encode(pair.encode()).decode()
        response = requests.post(
            sim.settings["token_url"],
            data={"grant_type": "client_credentials"},
            headers={"Authorization": header},
            timeout=5,
        )
        assert response.status_code == 200


def test_fault_every_nth_request(make_connector: ConnectorFactory) -> None:
    sim = Simulator(make_connector(), faults=[Fault("status", status=503, every=3, count=None)])
    with sim:  # a connector without auth
        statuses = [
            requests.get(f"{sim.base_url}/v1/users", timeout=5).status_code for _ in range(9)
        ]
    assert statuses == [200, 200, 503] * 3
