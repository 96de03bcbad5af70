"""Plugin discovery, overriding, and broken plugins."""

from __future__ import annotations

import os
import sys
import textwrap
import warnings

import headwater
import pytest
from headwater import hookimpl
from headwater.errors import ConnectorNotFound, PluginError
from headwater.plugin.manager import PluginWarning, get_registry, make_plugin_manager, use
from headwater.spec import OffsetPagination, ParentSpec, Resource
from helpers import Declares, connector, extraction_error, records, rows_of


def install_fake_distribution(tmp_path, monkeypatch, name, module_source, ep_name=None):
    """Put a distribution with a ``headwater`` entry point on sys.path, as pip would."""
    site = tmp_path / "site"
    site.mkdir(exist_ok=True)
    module = name.replace("-", "_")
    (site / f"{module}.py").write_text(textwrap.dedent(module_source))
    info = site / f"{module}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[headwater]\n{ep_name or module} = {module}\n")
    monkeypatch.syspath_prepend(str(site))
    sys.modules.pop(module, None)


def not_found(name: str) -> str:
    """The message of the :class:`ConnectorNotFound` that ``headwater.source(name)`` raises."""
    with pytest.raises(ConnectorNotFound) as err:
        headwater.source(name)
    return str(err.value)


def test_installed_connector_discovered_through_entry_point():
    use(make_plugin_manager(strict=True))
    registry = get_registry()
    assert "directory" in [c.name for c in registry.connectors()]
    assert registry.plugin_distribution(registry.owner("directory"))[0] == "headwater-directory"


def test_headwater_paginator_override_of_another_connector_is_used(
    headwater_plugins, requests_mock
):
    import headwater_directory.hooks
    from headwater.http.paginators import OffsetPaginator

    used = []

    class SmallPages:
        @hookimpl
        def headwater_paginator(self, connector, resource):
            if connector.name != "directory":
                return None
            used.append(resource.name)
            return OffsetPaginator(limit=10)

    headwater_plugins(headwater_directory.hooks, SmallPages())
    requests_mock.post("https://api.example.com/oauth2/token", json={"access_token": "tttt"})

    def cb(request, context):
        off, lim = int(request.qs["offset"][0]), int(request.qs["limit"][0])
        return {"users": records(25)[off : off + lim]}

    requests_mock.get("https://api.example.com/v1/users", json=cb)
    rows = rows_of(headwater.source("directory", client_id="abcd", client_secret="efgh"))
    assert len(rows) == 25 and used == ["directory_users"]
    limits = {q.qs["limit"][0] for q in requests_mock.request_history if q.method == "GET"}
    assert limits == {"10"}


def test_headwater_record_schema_wrapper_adjusts_builtin_result(headwater_plugins):
    import headwater_directory.hooks

    class AddColumn:
        @hookimpl(wrapper=True)
        def headwater_record_schema(self, connector, resource):
            schema = yield
            return {**schema, "properties": {**schema["properties"], "dept": {"type": "string"}}}

    headwater_plugins(headwater_directory.hooks, AddColumn())
    src = headwater.source("directory", client_id="abcd", client_secret="efgh")
    assert "dept" in src.schema.tables["directory_users"]["columns"]


def test_broken_plugin_is_skipped_with_a_warning(tmp_path, monkeypatch):
    install_fake_distribution(
        tmp_path, monkeypatch, "headwater-broken", "raise RuntimeError('boom')"
    )
    with pytest.warns(
        PluginWarning, match=r"plugin 'headwater_broken' \(headwater-broken\) was skipped.*boom"
    ):
        pm = make_plugin_manager(strict=False)
    use(pm)
    assert "directory" in [c.name for c in get_registry().connectors()]
    with pytest.raises(PluginError, match="boom"):
        make_plugin_manager(strict=True)


def test_misspelled_hook_is_reported(tmp_path, monkeypatch):
    install_fake_distribution(
        tmp_path,
        monkeypatch,
        "headwater-typo",
        """
        from headwater import hookimpl

        @hookimpl
        def headwater_paginater(connector, resource):
            return None
        """,
    )
    with pytest.warns(
        PluginWarning, match="unknown hook.*headwater_paginater.*did you mean headwater_paginator"
    ):
        pm = make_plugin_manager(strict=False)
    assert pm.get_plugin("headwater_typo") is None
    with pytest.raises(PluginError, match="headwater_paginater"):
        make_plugin_manager(strict=True)


def test_hook_with_unknown_argument_is_rejected():
    class Bad:
        @hookimpl
        def headwater_auth(self, connector, setings):
            return None

    with pytest.raises(PluginError, match="setings"):
        make_plugin_manager(entry_points=False, plugins=[("bad", Bad())], strict=True)


def test_headwater_connectors_duplicate_names_name_both_plugins(headwater_plugins):
    class One(Declares):
        pass

    class Two(Declares):
        pass

    headwater_plugins(One(connector("dup")), Two(connector("dup")))
    with pytest.raises(
        PluginError, match="connector 'dup' is declared by two plugins: 'One' and 'Two'"
    ):
        headwater.connectors()


def test_bad_return_value_names_the_plugin(headwater_plugins):
    class ReturnsDict:
        @hookimpl
        def headwater_connectors(self):
            return {"name": "x"}

    headwater_plugins(ReturnsDict())
    with pytest.raises(PluginError, match="must return a list of Connector, got dict"):
        headwater.connectors()

    class BadPaginator:
        @hookimpl
        def headwater_paginator(self, connector, resource):
            return OffsetPagination()  # a spec, not a paginator

    headwater_plugins(Declares(connector()), BadPaginator())
    error = extraction_error(headwater.source("testapi"))  # hooks run at extraction
    assert isinstance(error, PluginError)
    assert "headwater_paginator for connector testapi returned OffsetPagination" in str(error)


def test_a_connector_of_a_disabled_plugin_says_so_not_install_it(
    monkeypatch, headwater_env, capsys
):
    """The distribution is installed, only blocked: `pip install` would not help, and
    overriding.md's "Replace a declaration" has users export HEADWATER_DISABLE_PLUGINS."""
    from headwater.cli import main

    monkeypatch.setenv("HEADWATER_DISABLE_PLUGINS", "directory, other")
    use(make_plugin_manager(strict=True))
    expected = (
        "connector 'directory' is provided by plugin 'directory' (headwater-directory), which "
        "HEADWATER_DISABLE_PLUGINS disables; remove it from HEADWATER_DISABLE_PLUGINS, or "
        "register a plugin that declares 'directory' in its place"
    )
    assert not_found("directory") == expected
    for command in ("run", "check", "describe", "simulate"):
        assert main([command, "directory"]) == 2
        assert capsys.readouterr().err.splitlines() == [f"headwater: error: {expected}"]

    # a family's plugin declares connectors named otherwise
    monkeypatch.setenv("HEADWATER_DISABLE_PLUGINS", "analytics")
    use(make_plugin_manager(strict=True))
    assert not_found("analytics_odata").startswith(
        "connector 'analytics_odata' would be provided by plugin 'analytics' "
        "(headwater-analytics), which HEADWATER_DISABLE_PLUGINS disables; "
    )
    # by its name only: a typo of the family is not said to be the plugin's
    assert not_found("analytics_meetingz").endswith("; or check the connector's name")
    # a name no disabled plugin is known to declare: they are named, not pip install alone
    assert not_found("gizmo") == (
        "connector 'gizmo' is not installed (installed: directory, hr); try `pip install "
        "headwater-gizmo`, or remove from HEADWATER_DISABLE_PLUGINS the plugin that may "
        "declare it: 'analytics' (headwater-analytics)"
    )
    # disabled in code, not by the environment
    use(make_plugin_manager(strict=True, disabled=["hr"]))
    assert not_found("hr") == (
        "connector 'hr' is provided by plugin 'hr' (headwater-hr), which is disabled; enable "
        "it, or register a plugin that declares 'hr' in its place"
    )


def test_unknown_connector_suggests(headwater_plugins):
    import headwater_directory.hooks

    headwater_plugins(headwater_directory.hooks)
    with pytest.raises(ConnectorNotFound, match="did you mean directory"):
        headwater.source("directroy")


def test_plugin_manager_is_lazy():
    import subprocess

    code = (
        "import sys, headwater, headwater.cli; "
        "assert 'dlt' not in sys.modules, 'dlt imported'; "
        "from headwater.plugin.manager import get_registry; get_registry().connectors(); "
        "assert 'dlt' not in sys.modules, 'dlt imported by plugin loading'; print('ok')"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "ok", out.stderr
    warnings.simplefilter("default")


class WrapsResources:
    """Tries to wrap a collecting hook, which Headwater gathers plugin by plugin."""

    @hookimpl(wrapper=True)
    def headwater_resources(self, connector, settings):
        return (yield)


def test_headwater_resources_wrapper_is_refused_with_the_alternative():
    with pytest.raises(PluginError) as err:
        make_plugin_manager(
            entry_points=False, plugins=[("wrapper", WrapsResources())], strict=True
        )
    assert str(err.value) == (
        "plugin 'wrapper' was skipped: headwater_resources cannot be a wrapper (Headwater "
        "collects what each plugin returns); implement it without wrapper=True to add to it, "
        "or wrap a per-concern hook such as headwater_paginator"
    )
    with pytest.warns(PluginWarning, match="headwater_resources cannot be a wrapper"):
        pm = make_plugin_manager(
            entry_points=False, plugins=[("wrapper", WrapsResources())], strict=False
        )
    assert not pm.has_plugin("wrapper")


def test_a_connector_whose_plugin_fails_to_import_says_so_not_install_it(
    tmp_path, monkeypatch, headwater_env
):
    """The distribution is installed: `pip install` would not help. The CLI says what
    failed, as one warning line and one error line (no Python warning block)."""
    import os
    import subprocess

    install_fake_distribution(
        tmp_path, monkeypatch, "headwater-tracker", "raise ValueError('bad declaration')", "tracker"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path / "site"), *sys.path])}
    done = subprocess.run(
        [sys.executable, "-m", "headwater", "describe", "tracker"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    why = "importing headwater_tracker failed with ValueError: bad declaration"
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"headwater: warning: plugin 'tracker' (headwater-tracker) was skipped: {why}",
        f"headwater: error: connector 'tracker' (headwater-tracker) could not be loaded: {why}; "
        "fix the plugin and run again",
    ]


def test_describe_shows_the_retry_policy_and_rules_plugins_give(headwater_plugins, capsys):
    import attrs
    import headwater_directory.hooks
    from headwater.cli import main
    from headwater.spec import ResponseRule

    class Tweaks:
        @hookimpl(wrapper=True)
        def headwater_retry_policy(self, connector, resource):
            policy = yield
            return attrs.evolve(
                policy,
                max_retries=policy.max_retries + 1,
                status_codes=(*policy.status_codes, 520),
            )

        @hookimpl
        def headwater_response_rules(self, connector, resource):
            return [ResponseRule(status_code=400, contains="rate limit", action="retry")]

    headwater_plugins(headwater_directory.hooks, Tweaks())
    assert main(["describe", "directory"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert "  retry on:     429, 500, 502, 503, 504, 520, dropped connections, timeouts" in out
    assert any(line.startswith("  max retries:  4 (") for line in out), out
    assert "  rule:         status 400 and body contains 'rate limit' -> retry" in out


class PassesOn:
    """A wrapper that hands on whatever the others decided."""

    @hookimpl(wrapper=True)
    def headwater_paginator(self, connector, resource):
        return (yield)


class NotMine:
    @hookimpl
    def headwater_paginator(self, connector, resource):
        return None


class ReturnsText:
    @hookimpl
    def headwater_paginator(self, connector, resource):
        return "not a paginator" if connector.name == "testapi" else None


def test_run_checks_what_a_paginator_hook_returns_as_check_does(
    headwater_env, headwater_plugins, capsys
):
    """`run` watches pages through a paginator wrapper of its own: it must not hide a
    wrong answer from the check, and the error names the plugin that gave it. `describe`
    asks the hook too (to say whether it replaces the declared paging): the same error."""
    from headwater.cli import main

    headwater_plugins(Declares(connector()), NotMine(), ReturnsText(), PassesOn())
    for command in (["check", "testapi"], ["run", "testapi"], ["describe", "testapi"]):
        assert main(command) == 2, command
        assert capsys.readouterr().err.splitlines()[-1] == (
            "headwater: error: plugin 'ReturnsText': headwater_paginator for connector "
            "testapi returned str, expected a dlt BasePaginator"
        )


class TokenText:
    @hookimpl(tryfirst=True)
    def headwater_auth(self, connector, settings):
        return "token-string" if connector.name == "testapi" else None


def test_describe_checks_what_an_auth_hook_returns_as_check_does(
    headwater_env, headwater_plugins, capsys
):
    from headwater.cli import main

    headwater_plugins(Declares(connector()), TokenText())
    for command in (["check", "testapi"], ["describe", "testapi"]):
        assert main(command) == 2, command
        assert capsys.readouterr().err.splitlines()[-1] == (
            "headwater: error: plugin 'TokenText': headwater_auth for connector testapi "
            "returned str, expected a requests AuthBase"
        )


def test_the_kits_quick_retries_leave_a_wrong_policy_to_the_check(headwater_plugins):
    from headwater.testing.cli_process import NoWaiting

    class DictPolicy:
        @hookimpl
        def headwater_retry_policy(self, connector, resource):
            return {"max_retries": 1}

    headwater_plugins(Declares(connector()), DictPolicy(), NoWaiting())
    error = extraction_error(headwater.source("testapi"))
    assert str(error) == (
        "plugin 'DictPolicy': headwater_retry_policy for connector testapi returned dict, "
        "expected a RetryPolicy"
    )


def test_a_wrong_answer_a_wrapper_makes_names_the_wrapper(headwater_plugins):
    class BreaksPolicy:
        @hookimpl(wrapper=True)
        def headwater_retry_policy(self, connector, resource):
            policy = yield
            return {"max_retries": policy.max_retries}

    headwater_plugins(Declares(connector()), BreaksPolicy(), PassesOn())
    error = extraction_error(headwater.source("testapi"))
    assert str(error) == (
        "plugin 'BreaksPolicy': headwater_retry_policy for connector testapi returned dict, "
        "expected a RetryPolicy"
    )


class VaultAuth:
    @hookimpl
    def headwater_auth(self, connector, settings):
        if connector.name == "testapi":
            raise KeyError("vault_path")  # a bug in the plugin


def test_a_hook_that_raises_is_named_with_the_plugin(headwater_env, headwater_plugins, capsys):
    from headwater.cli import main

    headwater_plugins(Declares(connector()), VaultAuth(), PassesOn())
    expected = (
        "plugin 'VaultAuth' failed in headwater_auth for connector testapi: KeyError: 'vault_path'"
    )
    error = extraction_error(headwater.source("testapi"))
    assert isinstance(error, PluginError) and str(error) == expected
    for command in (["check", "testapi"], ["run", "testapi"]):
        assert main(command) == 2, command
        assert capsys.readouterr().err.splitlines()[-1] == f"headwater: error: {expected}"


class FailingConnectors:
    @hookimpl
    def headwater_connectors(self):
        raise ValueError("connectors boom")

    @hookimpl
    def headwater_paginator(self, connector, resource):
        raise AssertionError("a skipped plugin's hooks are not called")


class HalfWrongConnectors:
    @hookimpl
    def headwater_connectors(self):
        return [connector("half"), "gizmo"]


def test_a_plugin_whose_headwater_connectors_fails_is_skipped_with_a_warning(headwater_env):
    """One broken plugin does not stop every command: it is skipped, as a plugin that
    fails to import is, and a name it might declare says why it is not there."""
    plugins = [
        ("conns", FailingConnectors()),
        ("half", HalfWrongConnectors()),
        ("good", Declares(connector())),
    ]
    pm = make_plugin_manager(entry_points=False, plugins=plugins, strict=False)
    use(pm)
    with pytest.warns(PluginWarning) as warned:
        assert [c.name for c in headwater.connectors()] == ["testapi"]
    assert [str(w.message) for w in warned] == [
        "plugin 'conns' was skipped: headwater_connectors failed: ValueError: connectors boom",
        "plugin 'half' was skipped: headwater_connectors returned str, not a Connector",
    ]
    assert not pm.has_plugin("conns") and not pm.has_plugin("half")
    assert not_found("gizmo") == (
        "connector 'gizmo' is not installed (installed: testapi); try `pip install "
        "headwater-gizmo`, or fix the plugins that were skipped and may declare it: 'conns' "
        "(headwater_connectors failed: ValueError: connectors boom), 'half' "
        "(headwater_connectors returned str, not a Connector)"
    )
    with pytest.raises(ConnectorNotFound, match="connector 'conns' could not be loaded"):
        headwater.source("conns")

    use(make_plugin_manager(entry_points=False, plugins=plugins, strict=True))
    with pytest.raises(
        PluginError,
        match="^plugin 'conns' failed in headwater_connectors: ValueError: connectors boom$",
    ):
        headwater.connectors()


def test_the_cli_skips_a_plugin_whose_headwater_connectors_fails(
    tmp_path, monkeypatch, headwater_env
):
    install_fake_distribution(
        tmp_path,
        monkeypatch,
        "headwater-conns",
        """
        from headwater import hookimpl

        @hookimpl
        def headwater_connectors():
            raise ValueError("connectors boom")
        """,
        "conns",
    )
    import subprocess

    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path / "site"), *sys.path])}

    def headwater_cli(*args, **more_env):
        command = [sys.executable, "-m", "headwater", *args]
        return subprocess.run(
            command, env={**env, **more_env}, capture_output=True, text=True, timeout=120
        )

    listed = headwater_cli("list")
    assert listed.returncode == 0, listed.stderr
    assert listed.stderr.splitlines() == [
        "headwater: warning: plugin 'conns' (headwater-conns) was skipped: "
        "headwater_connectors failed: ValueError: connectors boom"
    ]
    assert "directory" in listed.stdout
    strict = headwater_cli("list", HEADWATER_STRICT_PLUGINS="1")
    assert strict.returncode == 2
    assert strict.stderr.splitlines() == [
        "headwater: error: plugin 'conns' (headwater-conns) failed in headwater_connectors: "
        "ValueError: connectors boom"
    ]


class SchemaAsList:
    @hookimpl(tryfirst=True)
    def headwater_record_schema(self, connector, resource):
        return ["not", "a", "schema"]


class SchemaStoreDown:
    @hookimpl(tryfirst=True)
    def headwater_record_schema(self, connector, resource):
        raise RuntimeError("schema store down")


@pytest.mark.parametrize(
    ("plugin", "expected"),
    [
        (
            SchemaAsList(),
            "plugin 'SchemaAsList': headwater_record_schema for connector testapi returned "
            "list, expected a JSON Schema mapping",
        ),
        (
            SchemaStoreDown(),
            "plugin 'SchemaStoreDown' failed in headwater_record_schema for connector "
            "testapi: RuntimeError: schema store down",
        ),
    ],
)
def test_every_command_names_the_plugin_whose_record_schema_fails(
    headwater_env, headwater_plugins, capsys, plugin, expected
):
    """describe, check and the schema drift of a run ask headwater_record_schema as a
    run's assembly does: a wrong answer or an exception names the plugin (exit 2)."""
    from headwater.cli import main
    from headwater.run.drift import declared_schemas

    spec = connector()
    headwater_plugins(Declares(spec), plugin)
    for command in (["describe", "testapi"], ["check", "testapi"]):
        capsys.readouterr()
        assert main(command) == 2, command
        assert capsys.readouterr().err == f"headwater: error: {expected}\n", command
    with pytest.raises(PluginError) as err:
        declared_schemas(spec)
    assert str(err.value) == expected


def test_describe_names_the_plugin_whose_token_store_is_not_one(headwater_plugins, capsys):
    from headwater.cli import main
    from headwater.spec import OAuth2RefreshToken

    class NumberStore:
        @hookimpl(tryfirst=True)
        def headwater_token_store(self, connector, settings):
            return 5

    headwater_plugins(Declares(connector(auth=OAuth2RefreshToken())), NumberStore())
    assert main(["describe", "testapi"]) == 2
    assert capsys.readouterr().err == (
        "headwater: error: plugin 'NumberStore': headwater_token_store for connector testapi "
        "returned int, expected a token store with load() and save()\n"
    )


def test_a_wrong_answer_an_old_style_wrapper_forces_names_that_wrapper(headwater_plugins):
    """An old-style hookwrapper's force_result is its answer, not that of a new-style
    wrapper around it that hands the answer on unchanged."""

    class ForcesList:
        @hookimpl(hookwrapper=True)
        def headwater_paginator(self, connector, resource):
            outcome = yield
            outcome.force_result(["x"])

    class Watches:  # as a run's sampling watches the paginator: hands it on unchanged
        @hookimpl(wrapper=True, tryfirst=True)
        def headwater_paginator(self, connector, resource):
            return (yield)

    class Peeks:  # old style too, looking only
        @hookimpl(hookwrapper=True)
        def headwater_paginator(self, connector, resource):
            outcome = yield
            outcome.get_result()

    headwater_plugins(Declares(connector()), ForcesList(), Watches(), PassesOn(), Peeks())
    error = extraction_error(headwater.source("testapi"))
    assert str(error) == (
        "plugin 'ForcesList': headwater_paginator for connector testapi returned list, "
        "expected a dlt BasePaginator"
    )


def test_an_old_style_wrapper_that_raises_is_named(headwater_plugins):
    class Raises:
        @hookimpl(hookwrapper=True)
        def headwater_retry_policy(self, connector, resource):
            yield
            raise KeyError("policy_table")

    headwater_plugins(Declares(connector()), Raises(), PassesOn())
    error = extraction_error(headwater.source("testapi"))
    assert str(error) == (
        "plugin 'Raises' failed in headwater_retry_policy for connector testapi: "
        "KeyError: 'policy_table'"
    )


def test_a_collected_answer_of_the_wrong_type_names_its_plugin(headwater_plugins):
    """headwater_response_rules answering a str instead of a list names that plugin,
    not every plugin implementing the hook."""
    from headwater.spec import ResponseRule

    class RulesAsText:
        @hookimpl
        def headwater_response_rules(self, connector, resource):
            return "ignore 404"

    class GoodRules:
        @hookimpl
        def headwater_response_rules(self, connector, resource):
            return [ResponseRule(status_code=404, action="ignore")]

    class AddsRule:  # a wrapper adding a wrong item to the collected answer
        @hookimpl(wrapper=True)
        def headwater_response_rules(self, connector, resource):
            rules = yield
            rules.append(["status 500 -> retry"])
            return rules

    headwater_plugins(Declares(connector()), GoodRules(), RulesAsText())
    error = extraction_error(headwater.source("testapi"))
    assert str(error) == (
        "plugin 'RulesAsText': headwater_response_rules for connector testapi returned "
        "str, expected ResponseRule objects"
    )
    headwater_plugins(Declares(connector()), GoodRules(), AddsRule())
    error = extraction_error(headwater.source("testapi"))
    assert str(error) == (
        "plugin 'AddsRule': headwater_response_rules for connector testapi returned "
        "str, expected ResponseRule objects"
    )

    class Forgets:  # a wrapper that forgets to return the rules
        @hookimpl(wrapper=True)
        def headwater_response_rules(self, connector, resource):
            yield

    headwater_plugins(Declares(connector()), GoodRules(), Forgets())
    error = extraction_error(headwater.source("testapi"))
    assert str(error) == (
        "plugin 'Forgets': headwater_response_rules for connector testapi returned "
        "NoneType, expected ResponseRule objects"
    )


class TeapotFirst:
    """A wrapper of the collected headwater_response_rules adding its rule in front, as
    a flat list (the spec's shape), of what the others gave."""

    @hookimpl(wrapper=True)
    def headwater_response_rules(self, connector, resource):
        from headwater.spec import ResponseRule

        rules = yield
        return [ResponseRule(action="ignore", status_code=418), *rules]


class BrewFirst:
    """The same, in the shape pluggy hands over: a list of each plugin's list."""

    @hookimpl(wrapper=True)
    def headwater_response_rules(self, connector, resource):
        from headwater.spec import ResponseRule

        rules = yield
        return [[ResponseRule(action="ignore", status_code=418, contains="brew")], *rules]


def test_a_response_rules_wrapper_may_give_rules_flat_or_per_plugin(
    headwater_env, headwater_plugins, api_simulator, capsys
):
    """The wrapper's rules come first either way: the 418 the declared rule would fail
    on is ignored, and describe lists the rules in the order they are tried."""
    from headwater.cli import main
    from headwater.spec import ResponseRule, RetryPolicy
    from headwater.testing import Fault

    declared = connector(
        rules=[ResponseRule(action="fail", status_code=418)], retry=RetryPolicy(max_retries=0)
    )
    for wrapper in (TeapotFirst(), BrewFirst()):
        headwater_plugins(Declares(declared), wrapper)
        sim = api_simulator(declared, records={"items": 5})
        sim.add_fault(Fault("status", status=418, body="brew no coffee"))
        assert rows_of(headwater.source("testapi", **sim.settings)) == []
        assert [r.status for r in sim.requests_for("items")] == [418]
        assert main(["describe", "testapi"]) == 0
        rules = [line for line in capsys.readouterr().out.splitlines() if "-> " in line]
        assert rules[0].endswith("-> ignore") and rules[1].endswith("status 418 -> fail"), rules


class AddsDirectoryUsers:
    """Adds a resource under the name the directory connector already declares."""

    @hookimpl
    def headwater_resources(self, connector):
        if connector.name != "directory":
            return []
        return [Resource(name="directory_users", path="/v1/users", schema="s.json")]


def test_a_resource_a_plugin_adds_under_a_declared_name_names_the_plugin(
    headwater_env, headwater_plugins, monkeypatch, capsys
):
    """One line naming the plugin, the resource and the fix, from every command (exit
    2, nothing sent) and from headwater.source() itself, before anything is extracted."""
    import headwater_directory.hooks
    from headwater.cli import main

    headwater_plugins(headwater_directory.hooks, AddsDirectoryUsers())
    monkeypatch.setenv("SOURCES__DIRECTORY__BASE_URL", "http://127.0.0.1:9")  # never asked
    monkeypatch.setenv("SOURCES__DIRECTORY__CLIENT_ID", "an-id")
    monkeypatch.setenv("SOURCES__DIRECTORY__CLIENT_SECRET", "a-secret")
    expected = (
        "plugin 'AddsDirectoryUsers' adds resource 'directory_users' to connector directory, "
        "which already declares a resource of that name; rename the resource the plugin's "
        "headwater_resources adds"
    )
    with pytest.raises(PluginError) as err:
        headwater.source("directory")
    assert str(err.value) == expected
    for command in ("run", "check"):  # describe and simulate show what is declared
        assert main([command, "directory"]) == 2, command
        assert capsys.readouterr().err.splitlines() == [f"headwater: error: {expected}"]


def test_resources_plugins_add_under_one_name_name_the_plugins(headwater_plugins):
    def adds(*names: str, parent: str | None = None) -> object:
        class Adds:
            @hookimpl
            def headwater_resources(self):
                of = None if parent is None else ParentSpec(resource=parent, field="id")
                path = "/{parent_id}" if parent else "/x"
                return [Resource(name=n, path=path, schema="s.json", parent=of) for n in names]

        return Adds()

    headwater_plugins(Declares(connector()), adds("extra"), adds("extra"))
    with pytest.raises(PluginError) as err:
        headwater.source("testapi")
    assert str(err.value) == (
        "plugins 'Adds' and 'Adds-2' both add resource 'extra' to connector testapi; rename "
        "it in the headwater_resources of one of them"
    )
    headwater_plugins(Declares(connector()), adds("extra", "extra"))
    with pytest.raises(PluginError) as err:
        headwater.source("testapi")
    assert str(err.value) == (
        "plugin 'Adds' adds resource 'extra' to connector testapi twice; rename one of them "
        "in its headwater_resources"
    )
    headwater_plugins(Declares(connector()), adds("extra", parent="nope"))
    with pytest.raises(PluginError) as err:
        headwater.source("testapi")
    assert str(err.value) == (
        "plugin 'Adds' adds resource 'extra' to connector testapi with parent 'nope', which "
        "neither the connector nor a plugin declares; name a declared resource as its parent "
        "in its headwater_resources"
    )


class AddsUsersQuarantine:
    """Adds a resource named like the table that keeps directory_users' bad records."""

    @hookimpl
    def headwater_resources(self, connector):
        if connector.name != "directory":
            return []
        return [Resource(name="directory_users_quarantine", path="/v1/users", schema="s.json")]


def test_a_resource_a_plugin_adds_under_a_quarantine_tables_name_names_the_plugin(
    headwater_env, headwater_plugins
):
    """It shared the quarantine table without a word, then failed a run whose records
    broke the schema with Arrow's 'Column record is declared non-nullable'."""
    import headwater_directory.hooks

    headwater_plugins(headwater_directory.hooks, AddsUsersQuarantine())
    with pytest.raises(PluginError) as err:
        headwater.source("directory")
    assert str(err.value) == (
        "plugin 'AddsUsersQuarantine' adds resource 'directory_users_quarantine' to connector "
        "directory, the name of the table that keeps resource 'directory_users''s records "
        "breaking its schema; rename the resource the plugin's headwater_resources adds"
    )
