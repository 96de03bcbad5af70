"""The regression guard: ``python -m benchmarks --check`` against ``benchmarks/baseline.json``.

Run it before committing a change to the hot path. It measures the guarded cases (the
plain ``requests`` loop and Headwater's flat cases) as the baseline says (record count,
repeats), and fails when a case's throughput *relative to the loop, measured in the same
run* dropped by more than :data:`TOLERANCE` from the baseline's ratio: one line per
regression, exit 1. Ratios, not seconds, so that the check carries from one machine
(and one load) to another. ``python -m benchmarks --update-baseline`` measures the same
and writes the baseline.

This module only compares; :mod:`benchmarks.harness` measures.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = [
    "BASELINE",
    "GUARDED_CASES",
    "TOLERANCE",
    "BaselineError",
    "compare",
    "load_baseline",
    "make_baseline",
    "ratios_to_loop",
]

BASELINE = Path(__file__).resolve().parent / "baseline.json"
#: The cases measured by the guard (the loop is the reference of every ratio).
GUARDED_CASES = ("requests_loop", "headwater", "headwater_link", "headwater_has_more")
#: The record count and repeats of a new baseline.
DEFAULT_RECORDS = 200_000
DEFAULT_REPEAT = 3
#: A ratio may drop this much (a fraction of the baseline's) before the check fails.
TOLERANCE = 0.10
LOOP = "requests_loop"


class BaselineError(ValueError):
    """The baseline file is missing or malformed (the message says how to fix it)."""


def ratios_to_loop(cases: Mapping[str, Mapping[str, Any]]) -> dict[str, float | None]:
    """Each case's throughput over the loop's, from one record count's summaries
    (``None`` for a case that failed, and for every case when the loop failed)."""
    loop = cases.get(LOOP, {})
    loop_rate = loop.get("records_per_s") if loop.get("ok") else None
    out: dict[str, float | None] = {}
    for name, summary in cases.items():
        if name == LOOP:
            continue
        rate = summary.get("records_per_s") if summary.get("ok") else None
        out[name] = round(rate / loop_rate, 4) if rate and loop_rate else None
    return out


def compare(
    baseline: Mapping[str, Any],
    cases: Mapping[str, Mapping[str, Any]],
    tolerance: float = TOLERANCE,
) -> list[str]:
    """One line per regression of ``cases`` (one record count's summaries) against
    ``baseline``; empty when every guarded ratio is within ``tolerance`` of it.

    A case that failed, or is missing, is a regression; so is a failed loop (no ratio
    can be measured then). A ratio above the baseline is never one."""
    loop = cases.get(LOOP)
    if loop is None or not loop.get("ok"):
        why = (loop or {}).get("error") or "not run"
        return [f"{LOOP}: failed ({why}); no ratio can be measured"]
    current = ratios_to_loop(cases)
    problems: list[str] = []
    for name, expected in baseline["ratios"].items():
        summary = cases.get(name)
        if summary is None:
            problems.append(f"{name}: not measured (baseline {expected:.2f}x the loop)")
            continue
        ratio = current.get(name)
        if ratio is None:
            why = summary.get("error") or "failed"
            problems.append(f"{name}: failed ({why}); baseline {expected:.2f}x the loop")
            continue
        # (a hair of slack so that a drop of exactly the tolerance passes)
        if ratio < expected * (1 - tolerance) - 1e-9:
            change = ratio / expected - 1
            problems.append(
                f"{name}: {ratio:.2f}x the requests loop, baseline {expected:.2f}x "
                f"({change:+.0%}, more than the {tolerance:.0%} allowed)"
            )
    return problems


def load_baseline(path: Path = BASELINE) -> dict[str, Any]:
    """The baseline at ``path``; :class:`BaselineError` when missing or malformed."""
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise BaselineError(
            f"no benchmark baseline at {path}: run `python -m benchmarks --update-baseline`"
        ) from None
    except json.JSONDecodeError as exc:
        raise BaselineError(
            f"{path} is not JSON ({exc.msg}, line {exc.lineno}): "
            "run `python -m benchmarks --update-baseline` to write it anew"
        ) from None
    ratios = data.get("ratios") if isinstance(data, dict) else None
    records = data.get("records") if isinstance(data, dict) else None
    if (
        not isinstance(ratios, dict)
        or not ratios
        or not all(isinstance(v, (int, float)) and v > 0 for v in ratios.values())
        or not isinstance(records, int)
        or records < 1
    ):
        raise BaselineError(
            f"{path} needs 'records' (a positive integer) and 'ratios' (case: positive "
            "number): run `python -m benchmarks --update-baseline` to write it anew"
        )
    return data


def make_baseline(
    records: int,
    repeat: int,
    cases: Mapping[str, Mapping[str, Any]],
    environment: Mapping[str, Any],
) -> dict[str, Any]:
    """A baseline of the :data:`GUARDED_CASES` among one record count's summaries;
    :class:`BaselineError` when one of them failed (a baseline must hold every ratio)."""
    ratios = {n: r for n, r in ratios_to_loop(cases).items() if n in GUARDED_CASES}
    if cases.get(LOOP, {}).get("ok"):
        failed = [n for n, r in ratios.items() if r is None]
    else:
        failed = [LOOP]
    if failed or not ratios:
        raise BaselineError(
            f"not writing the baseline: {', '.join(failed) or 'no case'} failed; fix and rerun"
        )
    return {
        "about": "Throughput of each case over the plain requests loop's, measured in one "
        "run (medians). Written by `python -m benchmarks --update-baseline`; "
        "`python -m benchmarks --check` fails when a ratio drops by more than "
        f"{TOLERANCE:.0%}.",
        "records": records,
        "repeat": repeat,
        "ratios": {n: r for n, r in ratios.items() if r is not None},
        "records_per_s": {
            n: s.get("records_per_s") for n, s in cases.items() if n in GUARDED_CASES
        },
        "environment": {
            k: environment.get(k)
            for k in ("commit", "python", "cpus", "load_average_at_start", "versions")
        },
    }
