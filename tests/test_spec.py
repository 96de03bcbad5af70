"""Specs validate on construction, with messages that name the field."""

from __future__ import annotations

import attrs
import pytest
from headwater.spec import (
    Connector,
    CursorPagination,
    IncrementalSpec,
    NextLinkPagination,
    OffsetPagination,
    ParentSpec,
    Resource,
    ResponseRule,
    RetryPolicy,
    SessionLogin,
    TemplateAuth,
)


def res(**kw):
    base = dict(name="users", path="/v1/users", schema="s.json")
    base.update(kw)
    return Resource(**base)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: res(name="Users"), "Resource.name must be a lower-case identifier"),
        (lambda: res(path="v1/users"), "Resource.path of 'users' must start with '/'"),
        (lambda: OffsetPagination(limit=0), "OffsetPagination.limit must be a positive integer"),
        (lambda: RetryPolicy(status_codes=(700,)), "RetryPolicy.status_codes must hold HTTP"),
        (lambda: RetryPolicy(backoff_factor=-1), "RetryPolicy.backoff_factor must be a number"),
        (lambda: ResponseRule(action="ignore"), "ResponseRule needs status_code, contains"),
        (lambda: res(pagination="offset"), "Resource.pagination of 'users' must be one of"),
        (
            lambda: res(response_rules=[{"status_code": 404, "action": "ignore"}]),
            "Resource.response_rules of 'users' must hold ResponseRule objects",
        ),
        (
            lambda: res(path="/v1/m", parent=ParentSpec(resource="users", placeholder="uid")),
            "must contain {uid}",
        ),
        (
            lambda: Connector(name="c", package="p", resources=[res(), res()]),
            "declares 'users' twice",
        ),
        (
            lambda: Connector(
                name="c",
                package="p",
                resources=[
                    res(name="m", path="/m/{x}", parent=ParentSpec(resource="u", placeholder="x"))
                ],
            ),
            "names parent 'u', which the connector does not declare",
        ),
        (lambda: Connector(name="c", package="p", resources=[]), "must not be empty"),
        (
            lambda: TemplateAuth(headers={"X-Auth": '{"key":{"v":"{api_key}"}}'}),
            "TemplateAuth headers.X-Auth doubles some literal braces but not others",
        ),
        (
            lambda: SessionLogin(body={"q": "{a{b}}}", "password": "{password}"}),
            "SessionLogin body.q doubles some literal braces but not others",
        ),
        (
            lambda: Connector(name="c", package="p", resources=[res()], auth="oauth2"),
            "Connector.auth of 'c' must be one of",
        ),
    ],
)
def test_invalid_specs_name_the_field(make, message):
    with pytest.raises(
        (ValueError, TypeError), match=message.replace("(", r"\(").replace("{", r"\{")
    ):
        make()


@pytest.mark.parametrize(
    "make, message",
    [
        (
            lambda: IncrementalSpec(cursor_field="ts", param="since", location="header"),
            "IncrementalSpec.location must be one of 'query', 'body' (got 'header')",
        ),
        (
            lambda: IncrementalSpec(cursor_field="ts", param="since", client_filter="yes"),
            "IncrementalSpec.client_filter must be bool (got str 'yes')",
        ),
        (
            lambda: RetryPolicy(max_retries="3"),
            "RetryPolicy.max_retries must be int (got str '3')",
        ),
        # each failed with Python's or dlt's own words, or not at all until the run
        (
            lambda: res(primary_key=5),
            "Resource.primary_key must be a field name or a tuple of field names (or "
            "None), got int 5",
        ),
        (
            lambda: res(primary_key=("id", 5)),
            "Resource.primary_key must be a field name or a tuple of field names (or "
            "None), got tuple ('id', 5)",
        ),
        (
            lambda: res(params=[1]),
            "Resource.params must be a mapping of names to values (a dict), got list [1]",
        ),
        (
            lambda: res(headers=["x"]),
            "Resource.headers must be a mapping of names to values (a dict), got list ['x']",
        ),
        (
            lambda: CursorPagination(cursor_path=None),
            "CursorPagination.cursor_path must be a response field name or a tuple of "
            "field names, got None",
        ),
        (
            lambda: Connector(
                name="c", package="p", resources=[res(), res(name="users_quarantine")]
            ),
            "Connector.resources of 'c' declares 'users_quarantine', the name of the table "
            "that keeps resource 'users''s records breaking its schema; rename the resource",
        ),
    ],
)
def test_a_wrong_choice_or_type_is_one_readable_line(make, message):
    """attrs' own validators put a repr of the attribute in the error (some 1,200
    characters, printed twice by a plugin's warning and the run's error)."""
    with pytest.raises((ValueError, TypeError)) as error:
        make()
    assert str(error.value) == message


def test_specs_are_frozen_and_hashable():
    r = res(
        params={"a": 1},
        data_selector="v",
        pagination=NextLinkPagination(next_path="@odata.nextLink"),
    )
    assert hash(r) == hash(
        res(
            params={"a": 1},
            data_selector="v",
            pagination=NextLinkPagination(next_path="@odata.nextLink"),
        )
    )
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        r.name = "x"
    with pytest.raises(TypeError):
        r.params["b"] = 2
    # a dotted field name is one literal key, a list is a nested path
    assert NextLinkPagination(next_path="@odata.nextLink").next_path == "@odata.nextLink"
    assert NextLinkPagination(next_path=["links", "next"]).next_path == ("links", "next")


def test_body_reading_pagination_needs_a_data_selector():
    with pytest.raises(ValueError, match="must name the field holding the records"):
        res(pagination=NextLinkPagination(next_path="@odata.nextLink"))
    res(data_selector="value", pagination=NextLinkPagination(next_path="@odata.nextLink"))
    # an end flag is a field of the response object too, even when the cursor is a field
    # of the last record of a bare list
    with pytest.raises(ValueError, match="pagination reads end_path from the same response"):
        res(pagination=CursorPagination(cursor_path="$[-1].id", end_path="end_of_stream"))
    res(pagination=CursorPagination(cursor_path="$[-1].id"))


def test_auth_kind_is_class_data_not_a_field():
    from headwater.spec import OAuth2ClientCredentials

    spec = OAuth2ClientCredentials()
    assert spec.kind == "oauth2_client_credentials"
    assert "kind" not in attrs.fields_dict(OAuth2ClientCredentials)
