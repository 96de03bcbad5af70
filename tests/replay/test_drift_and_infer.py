"""Schema drift and inferred schemas against a simulator whose records deliberately
differ from the declaration (#19)."""

from __future__ import annotations

import json
from pathlib import Path

import headwater_directory
from headwater.run.check import check_connector
from headwater.run.drift import find_drift
from headwater.run.infer import infer_schema
from headwater.run.pipeline import run_connector
from headwater_directory.hooks import DIRECTORY
from helpers import cli, settings_env

SHIPPED = Path(headwater_directory.__file__).parent / "schemas" / "directory_users.json"

#: What the "real" API sends instead of the declared directory_users schema:
#: ``lastLoginTime`` renamed ``lastSeen``, ``etag`` an integer, a nested ``manager``
#: object and an email address nobody declared.
REAL = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "etag": {"type": "integer"},
        "lastSeen": {"type": "string", "format": "date-time"},
        "mail": {"type": "string", "format": "email"},
        "manager": {
            "type": "object",
            "properties": {"id": {"type": "string"}, "level": {"type": "integer"}},
            "required": ["id", "level"],
        },
    },
    "required": ["id", "etag", "lastSeen", "mail", "manager"],
}


def _drifting(api_simulator, records=120):
    return api_simulator(
        DIRECTORY,
        records={"directory_users": records},
        schemas={"directory_users": REAL},
        extra_field=False,
    )


def test_check_reports_each_kind_of_drift_with_counts(api_simulator, headwater_env):
    sim = _drifting(api_simulator)
    drift: list[str] = []
    results = check_connector("directory", sim.settings, drift=drift)
    assert results[0][1], results
    text = "\n".join(drift)
    first_page = len(sim.data["directory_users"][:100])
    assert f"({first_page} records from 1 pages)" in text
    assert "declared fields never seen: lastLoginTime" in text
    assert f"fields seen but not declared: lastSeen ({first_page}), mail ({first_page}), " in text
    assert f"manager ({first_page})" in text
    assert f"field etag has types the schema does not declare: integer in {first_page}" in text


def test_cli_check_replay_prints_drift_from_a_recording(api_simulator, headwater_env, tmp_path):
    sim = _drifting(api_simulator)
    cassettes = tmp_path / "rec"
    recorded = cli(
        "record", "directory", "--to", str(cassettes), env=settings_env("directory", sim)
    )
    assert recorded.returncode == 0, recorded.stderr
    sim.stop()
    checked = cli("check", "directory", "--replay", str(cassettes), env={})
    assert checked.returncode == 0, checked.stderr
    drift = [line for line in checked.stdout.splitlines() if line.startswith("drift")]
    assert any("declared fields never seen: lastLoginTime" in line for line in drift), drift
    assert any("field etag has types" in line for line in drift), drift


def test_run_summary_warns_of_drift(api_simulator, headwater_env):
    sim = _drifting(api_simulator)
    settings = {**sim.settings, "validation": "warn"}
    result = run_connector("directory", settings, pipelines_dir=str(headwater_env / "p"))
    assert result.row_counts["directory_users"] == 120
    warnings = "\n".join(result.warnings)
    assert "declared fields never seen: lastLoginTime" in warnings
    assert "field etag has types the schema does not declare: integer in 120" in warnings
    # the directory schema expects extra fields (additionalProperties: true): `check`
    # lists them, a run does not warn about them every time
    assert "not declared" not in warnings


def test_no_drift_reported_when_the_api_sends_what_is_declared(api_simulator, headwater_env):
    sim = api_simulator(DIRECTORY, records={"directory_users": 50}, extra_field=False)
    result = run_connector("directory", sim.settings, pipelines_dir=str(headwater_env / "p"))
    assert not [w for w in result.warnings if "records from" in w], result.warnings


def test_find_drift_counts_nulls_of_a_non_nullable_field():
    schema = {"properties": {"id": {"type": "string"}, "n": {"type": "number"}}}
    records = [{"id": "a", "n": 1}, {"id": None, "n": 2.5}, {"id": "c", "n": None}]
    drift = find_drift("r", schema, records, pages=1)
    assert drift.types == {"id": {"null": 1}, "n": {"null": 1}}  # an integer is a number
    assert drift.unseen == () and drift.undeclared == {}


def test_schema_infer_merges_records_with_the_declaration(api_simulator, headwater_env, tmp_path):
    sim = _drifting(api_simulator)
    out = tmp_path / "proposed"
    env = settings_env("directory", sim)
    shipped = SHIPPED.read_bytes()
    result = cli("schema", "infer", "directory", "--out", str(out), env=env)
    assert result.returncode == 0, result.stderr
    proposed = json.loads((out / "directory_users.proposed.json").read_text())
    props = proposed["properties"]
    # declared, never seen: kept, and no longer required-looking
    assert props["lastLoginTime"]["format"] == "date-time"
    # the declared string-or-null etag now also allows the integers the API sends
    assert set(props["etag"]["type"]) == {"string", "null", "integer"}
    # undeclared fields proposed with their formats and nested properties
    assert props["lastSeen"] == {"type": "string", "format": "date-time"}
    assert props["mail"] == {"type": "string", "format": "email"}
    assert props["manager"]["type"] == "object"
    assert props["manager"]["properties"]["level"] == {"type": "integer"}
    assert set(props["manager"]["required"]) == {"id", "level"}
    assert proposed["required"] == ["id"]
    assert SHIPPED.read_bytes() == shipped  # proposed beside, never over, the shipped one


def test_infer_schema_makes_a_field_nullable_when_records_leave_it_null():
    declared = {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}
    proposed = infer_schema(declared, [{"name": "a"}, {"name": None}, {}])
    assert set(proposed["properties"]["name"]["type"]) == {"string", "null"}
    assert proposed.get("required", []) == []


def test_a_childs_parent_column_is_not_drift(api_simulator, headwater_env, headwater_plugins):
    """Headwater adds the parent's field to each child record (``ParentSpec.column``):
    the API never sent it, so it is no field "seen but not declared"."""
    import request_examples

    headwater_plugins(request_examples)
    sim = api_simulator(
        request_examples.GITHUB, records={"repos": 3, "issues": 2}, extra_field=False
    )
    issues = request_examples.GITHUB.resource("issues")
    assert issues.parent is not None and issues.parent.column == "repo"
    result = run_connector("gh_example", sim.settings, pipelines_dir=str(headwater_env / "p"))
    assert result.row_counts["issues"] == 6
    assert not [w for w in result.warnings if "not declared" in w], result.warnings
