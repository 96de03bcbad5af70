"""Headwater's performance benchmarks (run by hand, not in CI).

``python -m benchmarks`` (or ``uv run python -m benchmarks``) from the repository root
measures, against a simulated API served on 127.0.0.1 by a separate process:

* throughput and peak memory of loading a flat paginated API into DuckDB with a plain
  ``requests`` loop (wire speed), dlt's ``rest_api_source`` (defaults, and jsonl) and
  Headwater, at one or more record counts;
* child-resource fan-out (one slow request per parent) against its ideal time;
* fetching offset pages with a known total sequentially vs concurrently;
* start-up time of the ``headwater`` command.

See :mod:`benchmarks.harness` for the options and :mod:`benchmarks.case` for what each
case measures. Results go to ``benchmarks/results/latest.json``.
"""
