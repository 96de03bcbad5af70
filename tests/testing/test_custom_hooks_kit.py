"""A connector whose own ``headwater_auth`` and ``headwater_paginator`` hooks replace the
declared kinds is still testable offline: ``describe`` names the plugin, the simulator
serves what the author says the API expects, and the conformance suite checks what it
can and reports the rest as not checkable. Also: a fault with a chosen body reaches a
response rule matching body text."""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path

import headwater
import pytest
import requests
from headwater import hookimpl
from headwater.cli import main
from headwater.spec import OffsetPagination, ResponseRule, RetryPolicy
from headwater.testing import CustomAuth, Fault, Page, Simulator
from helpers import Declares, connector, rows_of

#: The connector: an API token in a header of its own and pages whose next start comes
#: in a response header — both built by its own hooks, nothing declared for them.
HOOKS = '''
"""gadgets: auth and pages by the connector's own hooks."""

from dlt.sources.helpers.rest_client.paginators import BasePaginator
from headwater import hookimpl
from headwater.spec import Connector, OffsetPagination, Resource
from requests.auth import AuthBase

SCHEMA = "schemas/directory_users.json"
GADGETS = Connector(
    name="gadgets",
    package="headwater_directory",
    base_url="https://gadgets.test",
    settings={"api_token": {"type": "string", "writeOnly": True, "description": "API token"}},
    required_settings=("api_token",),
    resources=[
        Resource(name="widgets", path="/widgets", schema=SCHEMA, data_selector="items"),
        Resource(
            name="parts",
            path="/parts",
            schema=SCHEMA,
            data_selector="items",
            pagination=OffsetPagination(limit=40),
        ),
    ],
)


class TokenHeader(AuthBase):
    def __init__(self, token):
        self.token = token

    def __call__(self, request):
        request.headers["X-Gadget-Token"] = self.token
        return request


class FromHeader(BasePaginator):
    """The next page starts where the X-Next-From response header says (?from=)."""

    def __init__(self):
        super().__init__()
        self.start = None

    def update_state(self, response, data=None):
        self.start = response.headers.get("X-Next-From")
        self._has_next_page = self.start is not None

    def update_request(self, request):
        request.params["from"] = self.start


@hookimpl
def headwater_connectors():
    return [GADGETS]


@hookimpl
def headwater_auth(connector, settings):
    if connector.name != "gadgets":
        return None
    return TokenHeader(settings["api_token"])


@hookimpl
def headwater_paginator(connector, resource):
    if connector.name == "gadgets" and resource.name == "widgets":
        return FromHeader()
    return None
'''

#: What the connector's tests tell the simulator about those hooks.
BEHAVIOUR = """
from headwater.testing import CustomAuth, Page


def token_check(request, settings):
    return request.header("X-Gadget-Token") == settings["api_token"]


AUTH = CustomAuth({"api_token": "gadget-token-0"}, token_check)


def widget_pages(records, request):
    start = int(request.param("from") or 0)
    end = start + 7
    more = {"X-Next-From": str(end)} if end < len(records) else {}
    return Page(records[start:end], headers=more)
"""


@pytest.fixture
def gadgets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The connector's modules importable here and, as an installed entry point, in the
    ``headwater`` processes the conformance suite starts."""
    code = tmp_path / "code"
    code.mkdir()
    (code / "gadget_hooks.py").write_text(HOOKS)
    (code / "gadget_behaviour.py").write_text(BEHAVIOUR)
    info = tmp_path / "site" / "headwater_gadgets-0.1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: headwater-gadgets\nVersion: 0.1.0\n"
    )
    (info / "entry_points.txt").write_text("[headwater]\ngadgets = gadget_hooks\n")
    monkeypatch.syspath_prepend(str(code))
    path = os.pathsep.join([str(info.parent), str(code), os.environ.get("PYTHONPATH", "")])
    monkeypatch.setenv("PYTHONPATH", path.rstrip(os.pathsep))
    for name in ("gadget_hooks", "gadget_behaviour"):
        sys.modules.pop(name, None)
    hooks = importlib.import_module("gadget_hooks")
    behaviour = importlib.import_module("gadget_behaviour")
    yield hooks, behaviour
    for name in ("gadget_hooks", "gadget_behaviour"):
        sys.modules.pop(name, None)


def test_describe_names_the_plugin_of_each_custom_hook(capsys, headwater_plugins, gadgets):
    hooks, _ = gadgets
    headwater_plugins(hooks)
    assert main(["describe", "gadgets"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert "  auth:         custom (plugin gadget_hooks): nothing declared" in out
    widgets, parts = out.index("  widgets"), out.index("  parts")
    assert "    pagination:        custom (plugin gadget_hooks)" in out[widgets:parts]
    assert "                       declared single_page, replaced by the hook" in out[widgets:parts]
    assert any(line.startswith("    pagination:        offset(limit=40") for line in out[parts:])
    assert "  api_token      secret, required" in out


def test_describe_says_declared_when_a_plugin_hook_handles_other_connectors(
    capsys, headwater_plugins, gadgets
):
    """A plugin implementing the hooks for *its* connector leaves others as declared."""
    hooks, _ = gadgets
    other = connector("other")
    headwater_plugins(hooks, Declares(other))
    assert main(["describe", "other"]) == 0
    out = capsys.readouterr().out
    assert "  auth:         none" in out and "custom" not in out


def test_describe_asks_hooks_with_the_settings_a_run_would_have(
    capsys, headwater_plugins, monkeypatch
):
    """A hook that pages only when an optional setting is set: describe says declared
    while it is unset (as a run would use the declared paginator), custom once set."""
    import attrs
    from headwater import hookimpl

    declared = attrs.evolve(connector("tuned"), settings={"page_size": {"type": "integer"}})

    class Tuning:
        @hookimpl
        def headwater_paginator(self, connector, resource, settings):
            if connector.name != "tuned" or settings.get("page_size") is None:
                return None
            from headwater.http.paginators import OffsetPaginator

            return OffsetPaginator(limit=settings["page_size"])

    headwater_plugins(Declares(declared), Tuning())
    assert main(["describe", "tuned"]) == 0
    assert "    pagination:        single_page" in capsys.readouterr().out
    monkeypatch.setenv("SOURCES__TUNED__PAGE_SIZE", "25")
    assert main(["describe", "tuned"]) == 0
    assert "    pagination:        custom (plugin Tuning)" in capsys.readouterr().out


class Replaces:
    """A wrapper that replaces whatever auth and paginator the others decided."""

    @hookimpl(wrapper=True)
    def headwater_auth(self, connector, settings):
        decided = yield
        if connector.name != "wrapped":
            return decided
        from headwater import BearerAuthenticator

        return BearerAuthenticator("from-the-vault")

    @hookimpl(wrapper=True)
    def headwater_paginator(self, connector, resource):
        decided = yield
        if connector.name != "wrapped":
            return decided
        from headwater.http.paginators import OffsetPaginator

        return OffsetPaginator(limit=700)


class HandsOn:
    """A wrapper that looks at the auth and paginator and hands them on unchanged."""

    @hookimpl(wrapper=True)
    def headwater_auth(self, connector, settings):
        decided = yield
        return decided

    @hookimpl(wrapper=True)
    def headwater_paginator(self, connector, resource):
        decided = yield
        assert decided is not None
        return decided


WRAPPED = connector("wrapped", pagination=OffsetPagination(limit=100))


def test_describe_names_a_wrapper_that_replaces_the_answer(capsys, headwater_plugins):
    """The wrapper's answer is what a run authenticates and pages with: describe names
    it; one that hands the answer on unchanged leaves the declared kinds."""
    headwater_plugins(Declares(WRAPPED), HandsOn())
    assert main(["describe", "wrapped"]) == 0
    out = capsys.readouterr().out
    assert "  auth:         none" in out and "custom" not in out
    assert "    pagination:        offset(limit=100" in out
    headwater_plugins(Declares(WRAPPED), HandsOn(), Replaces())
    assert main(["describe", "wrapped"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert "  auth:         custom (plugin Replaces): nothing declared" in out
    at = out.index("    pagination:        custom (plugin Replaces)")
    assert out[at + 1].startswith("                       declared offset(limit=100")


def test_simulator_serves_the_authors_auth_and_pages(headwater_plugins, api_simulator, gadgets):
    hooks, behaviour = gadgets
    headwater_plugins(hooks)
    sim = api_simulator(
        hooks.GADGETS,
        records={"widgets": 30, "parts": 50},
        auth=behaviour.AUTH,
        pages={"widgets": behaviour.widget_pages},
        credentials={"api_token": "tok-given"},
    )
    assert sim.settings == {"base_url": sim.base_url, "api_token": "tok-given"}
    refused = requests.get(f"{sim.base_url}/widgets", headers={"X-Gadget-Token": "wrong"})
    assert refused.status_code == 401
    rows = rows_of(headwater.source("gadgets", **sim.settings))
    served = sim.data["widgets"] + sim.data["parts"]
    assert sorted(r["id"] for r in rows) == sorted(r["id"] for r in served)
    answered = [r for r in sim.requests_for("widgets") if r.status == 200]
    starts = [r.query.get("from", ["0"])[-1] for r in answered]
    assert starts == ["0", "7", "14", "21", "28"]  # the hook's paginator, page by page
    assert len(sim.requests_for("parts")) == 2  # the declared offset pages: 40 + 10
    assert all(r.headers["x-gadget-token"] == "tok-given" for r in sim.requests[1:])


def test_simulator_refuses_pages_for_an_undeclared_resource(gadgets):
    hooks, behaviour = gadgets
    with pytest.raises(ValueError, match=r"pages names resources \['gizmos'\]"):
        Simulator(hooks.GADGETS, pages={"gizmos": behaviour.widget_pages})


SUITES = """
import gadget_behaviour
import gadget_hooks
from headwater.testing.conformance import ConformanceSuite


class TestNothingSimulated(ConformanceSuite):
    connector = "gadgets"
    plugins = (gadget_hooks,)
    records = 30


class TestAuthSimulated(ConformanceSuite):
    connector = "gadgets"
    plugins = (gadget_hooks,)
    records = 30
    simulated_auth = gadget_behaviour.AUTH


class TestAllSimulated(ConformanceSuite):
    connector = "gadgets"
    plugins = (gadget_hooks,)
    records = 30
    simulated_auth = gadget_behaviour.AUTH
    simulated_pages = {"widgets": gadget_behaviour.widget_pages}
"""


def test_conformance_suite_checks_what_it_can_and_reports_the_rest_not_checkable(pytester, gadgets):
    """Three ways to adopt the suite for the same connector (~30 s: three suites, each
    canary check runs the CLI five times)."""
    pytester.makepyfile(test_gadgets_conformance=SUITES)
    result = pytester.runpytest("-p", "no:cacheprovider", "-p", "no:randomly")
    reports = [
        r
        for r in result.reprec.getreports("pytest_runtest_logreport")
        if r.when == "call" or r.skipped
    ]
    outcome = {r.nodeid.split("::", 1)[1]: (r.outcome, r.longrepr) for r in reports}
    warned = [
        str(call.warning_message.message)
        for call in result.reprec.getcalls("pytest_warning_recorded")
    ]

    def of(suite: str) -> dict[str, tuple[str, object]]:
        return {k.split("::")[1]: v for k, v in outcome.items() if k.startswith(suite + "::")}

    checks = of("TestAllSimulated")
    assert len(checks) == 9
    incremental = (
        "test_backfill_leaves_the_normal_position",
        "test_killed_backfill_resumes_at_the_slice_it_was_reading",
    )
    # Nothing simulated: the custom auth makes every check not checkable, none fails.
    for name, (state, why) in of("TestNothingSimulated").items():
        assert state == "skipped", name
        assert why[2].startswith(
            "Skipped: not checkable: gadgets authenticates with its own headwater_auth hook "
            "(plugin gadget_hooks)"
        ), why
    # The auth simulated: parts is checked, widgets (the custom paginator) reported.
    for suite in ("TestAuthSimulated", "TestAllSimulated"):
        for name, (state, why) in of(suite).items():
            if name == "test_token_renewed_mid_run":
                assert state == "skipped" and "not checkable" in why[2], (suite, why)
            elif name in incremental:  # gadgets has no incremental resource
                assert state == "skipped" and "no top-level incremental" in why[2], (suite, why)
            else:
                assert state == "passed", (suite, name, why)
    widgets_reported = [w for w in warned if w.startswith("not checkable: resource widgets")]
    # once per check of TestAuthSimulated but the renewal one (the incremental ones see
    # what is checked, then skip); TestAllSimulated: none
    assert len(widgets_reported) == 8, warned
    assert "set simulated_pages = {'widgets': function}" in widgets_reported[0]


WRAPPED_SUITES = """
from headwater import OffsetPaginator, hookimpl
from headwater.spec import OffsetPagination
from headwater.testing.conformance import ConformanceSuite
from helpers import Declares, connector

WRAPPED = connector("wrapped", pagination=OffsetPagination(limit=100))


class Replaces:
    @hookimpl(wrapper=True)
    def headwater_paginator(self, connector, resource):
        decided = yield
        return OffsetPaginator(limit=700) if connector.name == "wrapped" else decided


class Text:
    @hookimpl(tryfirst=True)
    def headwater_paginator(self, connector, resource):
        return "nope"


class TestReplaced(ConformanceSuite):
    connector = "wrapped"
    plugins = (Declares(WRAPPED), Replaces())
    records = 250


class TestWrongType(ConformanceSuite):
    connector = "wrapped"
    plugins = (Declares(WRAPPED), Text())
    records = 250
"""


def test_conformance_suite_reports_a_replacing_wrapper_and_fails_a_wrong_answer(pytester):
    """A wrapper whose paginator replaces the declared one is not checkable, as a plain
    hook is; a hook answering with the wrong type fails the suite with the error a run
    gives."""
    pytester.makepyfile(test_wrapped_conformance=WRAPPED_SUITES)
    result = pytester.runpytest(
        "-p", "no:cacheprovider", "-p", "no:randomly", "-k", "extracted_exactly"
    )
    reports = {
        r.nodeid.split("::")[1]: r
        for r in result.reprec.getreports("pytest_runtest_logreport")
        if (r.when == "setup" and not r.passed) or r.when == "call"
    }
    replaced, wrong = reports["TestReplaced"], reports["TestWrongType"]
    assert replaced.skipped, replaced.longrepr
    assert replaced.longrepr[2].startswith(
        "Skipped: not checkable: resource items pages with its own headwater_paginator "
        "hook (plugin Replaces)"
    )
    assert wrong.failed
    assert str(wrong.longrepr) == (
        "plugin 'Text': headwater_paginator for connector wrapped returned str, "
        "expected a dlt BasePaginator"
    )


def test_a_fault_with_a_chosen_body_reaches_a_rule_matching_body_text(
    headwater_plugins, api_simulator
):
    """404 with "no such tenant" in the body is ignored by the rule; a 404 without it is
    not: the fault's body is what the rule sees."""
    declared = connector(
        rules=[ResponseRule(action="ignore", status_code=404, contains="no such tenant")],
        retry=RetryPolicy(max_retries=0),
    )
    headwater_plugins(Declares(declared))
    sim = api_simulator(declared, records={"items": 5})
    sim.add_fault(Fault("status", status=404, body={"error": "no such tenant: t-9"}))
    assert rows_of(headwater.source("testapi", **sim.settings)) == []
    [answered] = sim.requests_for("items")
    assert answered.status == 404

    sim.add_fault(Fault("status", status=404, body="<p>gone</p>", content_type="text/html"))
    with pytest.raises(Exception, match=r"answered HTTP 404"):
        rows_of(headwater.source("testapi", **sim.settings))


def test_a_fault_body_is_sent_as_given(api_simulator):
    sim = api_simulator(connector(), records={"items": 1})
    sim.add_fault(Fault("status", status=200, body='{"error": "quota"}'))
    sim.add_fault(Fault("status", status=429, body="slow down", retry_after=1))
    first = requests.get(f"{sim.base_url}/items")
    assert (first.status_code, first.text) == (200, '{"error": "quota"}')
    assert first.headers["Content-Type"].startswith("application/json")
    second = requests.get(f"{sim.base_url}/items")
    assert (second.status_code, second.text, second.headers["Retry-After"]) == (
        429,
        "slow down",
        "1",
    )
    assert second.headers["Content-Type"].startswith("text/plain")
    with pytest.raises(ValueError, match='Fault.body goes with kind "status"'):
        Fault("drop", body="x")


def test_custom_auth_needs_a_callable_check():
    with pytest.raises(TypeError, match="CustomAuth.check must be callable"):
        CustomAuth({"api_token": "x"}, "not callable")
    with pytest.raises(TypeError, match="must return a Page"):
        from headwater.testing.custom import compose_page

        compose_page(connector().resources[0], [{"id": "1"}])
    assert Page([1], fields={"meta.next": "n"}).fields == {"meta.next": "n"}


#: A connector whose record schema comes from its own headwater_record_schema hook:
#: the file its resource names does not ship.
INLINE_HOOKS = """
from headwater import hookimpl
from headwater.spec import OffsetPagination
from helpers import connector

SCHEMA = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "label": {"type": ["string", "null"]},
        "seen": {"type": ["string", "null"], "format": "date-time"},
    },
    "required": ["id"],
}
INLINE = connector(
    "inline",
    schema="schemas/not_shipped.json",
    pagination=OffsetPagination(limit=50),
    primary_key="id",
    write_disposition="merge",
)


@hookimpl
def headwater_connectors():
    return [INLINE]


@hookimpl
def headwater_record_schema(connector):
    return SCHEMA if connector.name == "inline" else None
"""


@pytest.fixture
def inline_hooks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    code = tmp_path / "inline_code"
    code.mkdir()
    (code / "inline_hooks.py").write_text(INLINE_HOOKS)
    monkeypatch.syspath_prepend(str(code))
    sys.modules.pop("inline_hooks", None)
    yield importlib.import_module("inline_hooks")
    sys.modules.pop("inline_hooks", None)


def test_the_simulator_takes_the_record_schema_from_the_hook(
    headwater_plugins, api_simulator, inline_hooks
):
    """As the source does: the simulator serves records of the schema the hook gives."""
    headwater_plugins(inline_hooks)
    sim = api_simulator("inline", records={"items": 120})
    assert {"id", "label", "seen"} <= set(sim.data["items"][0])
    rows = rows_of(headwater.source("inline", **sim.settings))
    assert sorted(r["id"] for r in rows) == sorted(r["id"] for r in sim.data["items"])


def test_the_conformance_suite_checks_a_connector_whose_schema_comes_from_its_hook(
    pytester, inline_hooks
):
    pytester.makepyfile(
        test_inline_conformance="""
        import inline_hooks
        from headwater.testing.conformance import ConformanceSuite


        class TestInline(ConformanceSuite):
            connector = "inline"
            plugins = (inline_hooks,)
            records = 60
        """
    )
    result = pytester.runpytest(
        "-p", "no:cacheprovider", "-p", "no:randomly", "-k", "extracted_exactly or column_types"
    )
    result.assert_outcomes(passed=2, deselected=7)
