"""The headwater-analytics distribution: one entry point, three connectors, no other
connector distribution needed, and each connector described from its declaration."""

from __future__ import annotations

import subprocess
import sys
from importlib import metadata

import headwater
import pytest
from headwater.run.describe import describe_connector


def test_entry_point_and_dependencies():
    (ep,) = [e for e in metadata.entry_points(group="headwater") if e.name == "analytics"]
    assert ep.value == "headwater_analytics.hooks"
    assert ep.dist is not None and ep.dist.name == "headwater-analytics"
    # the core, and destination drivers only as extras
    assert metadata.requires("headwater-analytics") == [
        "headwater>=0.1.0",
        "headwater[duckdb]>=0.1.0; extra == 'duckdb'",
        "headwater[postgres]>=0.1.0; extra == 'postgres'",
    ]
    code = (
        "import sys, headwater_analytics.hooks; "
        "print(sorted(m for m in sys.modules if m.startswith(('headwater_hr', "
        "'headwater_directory', 'dlt'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"  # nor dlt: declaring is cheap


def test_three_connectors_with_the_contracts_resources():
    declared = {c.name: c.resource_names for c in headwater.connectors()}
    assert declared == {
        "analytics_odata": ("users", "groups", "conversations"),
        "analytics_events": ("events",),
        "analytics_meetings": ("users", "meetings"),
    }


@pytest.mark.parametrize(
    "name, expected",
    [
        ("analytics_odata", ["GET /v1/resource/groups", "next_link(next_path='@odata.nextLink')",
                             "SOURCES__ANALYTICS_ODATA__EXTRA_RESOURCES",
                             "status 403 -> ignore", "status 404 -> ignore",
                             "default 'https://api.example.com/.default'"]),
        ("analytics_events", ["GET /v1/resource", "offset(limit=100", "sync_mode",
                              "incremental:       on timestamp; sends since (start) in the query",
                              "timestamp    timestamp  not null"]),
        ("analytics_meetings", ["GET /v1/meetings/{user_id}", "max_workers    default 8",
                                "also accepted as authorization_endpoint",
                                "page_size=30", "one request per users.id"]),
    ],
)  # fmt: skip
def test_describe(name, expected):
    text = describe_connector(name)
    for line in expected:
        assert line in text
    assert "429, 500, 502, 503, 504" in text
    assert "max retries:  3 (backoff factor 2" in text
