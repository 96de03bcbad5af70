"""The comparison of ``python -m benchmarks --check`` (benchmarks/check.py), without timing.

The benchmark itself is never run here: these tests feed the comparison summaries such
as the harness makes and check which lines it reports.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

_PATH = Path(__file__).resolve().parent.parent / "benchmarks" / "check.py"
_spec = importlib.util.spec_from_file_location("benchmarks_check_under_test", _PATH)
assert _spec is not None and _spec.loader is not None
check = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = check
_spec.loader.exec_module(check)

BASELINE = {"records": 200_000, "repeat": 3, "ratios": {"headwater": 0.80, "headwater_link": 0.70}}


def ok(rate: float) -> dict:
    return {"ok": True, "records_per_s": rate, "records": 200_000, "seconds": 200_000 / rate}


def failed(error: str) -> dict:
    return {"ok": False, "error": error}


def test_ratios_within_the_tolerance_pass() -> None:
    # 0.80 -> 0.73 is -8.75%, inside the 10% allowed; 0.70 -> 0.75 is a gain
    cases = {"requests_loop": ok(100_000), "headwater": ok(73_000), "headwater_link": ok(75_000)}
    assert check.compare(BASELINE, cases) == []


def test_a_drop_of_more_than_ten_percent_is_one_line_naming_the_case() -> None:
    cases = {"requests_loop": ok(100_000), "headwater": ok(71_000), "headwater_link": ok(70_000)}
    problems = check.compare(BASELINE, cases)
    assert problems == [
        "headwater: 0.71x the requests loop, baseline 0.80x (-11%, more than the 10% allowed)"
    ]


def test_the_ratio_not_the_speed_is_compared() -> None:
    # everything twice as slow (a busier machine): same ratios, no regression
    cases = {"requests_loop": ok(50_000), "headwater": ok(40_000), "headwater_link": ok(35_000)}
    assert check.compare(BASELINE, cases) == []
    # the loop faster and Headwater not: a regression of each case
    cases = {"requests_loop": ok(150_000), "headwater": ok(80_000), "headwater_link": ok(70_000)}
    assert [p.split(":")[0] for p in check.compare(BASELINE, cases)] == [
        "headwater",
        "headwater_link",
    ]


def test_exactly_at_the_tolerance_passes() -> None:
    cases = {"requests_loop": ok(100_000), "headwater": ok(72_000), "headwater_link": ok(63_000)}
    assert check.compare(BASELINE, cases) == []


def test_a_failed_or_missing_case_is_a_regression() -> None:
    cases = {
        "requests_loop": ok(100_000),
        "headwater": failed("CORRECTNESS: DuckDB table holds 199900 rows but ..."),
    }
    problems = check.compare(BASELINE, cases)
    assert problems == [
        "headwater: failed (CORRECTNESS: DuckDB table holds 199900 rows but ...); "
        "baseline 0.80x the loop",
        "headwater_link: not measured (baseline 0.70x the loop)",
    ]


def test_a_failed_loop_is_one_line() -> None:
    cases = {"requests_loop": failed("timed out"), "headwater": ok(80_000)}
    assert check.compare(BASELINE, cases) == [
        "requests_loop: failed (timed out); no ratio can be measured"
    ]


def test_make_baseline_keeps_the_ratios_and_refuses_a_failed_case() -> None:
    cases = {"requests_loop": ok(100_000), "headwater": ok(81_234), "headwater_link": ok(70_000)}
    baseline = check.make_baseline(200_000, 3, cases, {"commit": "abc", "cpus": 2})
    assert baseline["ratios"] == {"headwater": 0.8123, "headwater_link": 0.7}
    assert (baseline["records"], baseline["repeat"]) == (200_000, 3)
    assert check.compare(baseline, cases) == []
    cases["headwater_link"] = failed("boom")
    with pytest.raises(check.BaselineError, match="headwater_link failed"):
        check.make_baseline(200_000, 3, cases, {})


def test_load_baseline_errors_say_how_to_fix(tmp_path: Path) -> None:
    path = tmp_path / "baseline.json"
    with pytest.raises(check.BaselineError, match="--update-baseline"):
        check.load_baseline(path)
    path.write_text("{not json")
    with pytest.raises(check.BaselineError, match="not JSON.*--update-baseline"):
        check.load_baseline(path)
    path.write_text(json.dumps({"records": 10, "ratios": {"headwater": "fast"}}))
    with pytest.raises(check.BaselineError, match="'ratios'"):
        check.load_baseline(path)
    path.write_text(json.dumps(BASELINE))
    assert check.load_baseline(path) == BASELINE


def test_the_committed_baseline_is_valid() -> None:
    baseline = check.load_baseline(check.BASELINE)
    assert "headwater" in baseline["ratios"]
    assert set(baseline["ratios"]) <= set(check.GUARDED_CASES)
