"""Headwater's performance benchmarks (run by hand, not in CI).

``python -m benchmarks`` (or ``uv run python -m benchmarks``) from the repository root
measures, against a simulated API served on 127.0.0.1 by a separate process:

* throughput, peak memory and CPU time of loading a flat paginated API with a plain
  ``requests`` loop (wire speed), the peers a user would pick instead (dlt's
  ``rest_api_source`` defaults and tuned, an Airbyte declarative manifest, a Singer SDK
  tap; each in its own virtual environment, see :mod:`benchmarks.peers`) and Headwater
  (offset, Link-header and has_more pages), at one or more record counts;
* child-resource fan-out (one slow request per parent) against its ideal time;
* fetching offset pages with a known total sequentially vs concurrently;
* start-up time of the ``headwater`` command and the fixed cost of a one-page run.

``python -m benchmarks --check`` is the regression guard (:mod:`benchmarks.check`);
``python -m benchmarks.anatomy`` splits the page loop's cost by layer. See
:mod:`benchmarks.harness` for the options and :mod:`benchmarks.case` for what each
case measures. Results go to ``benchmarks/results/latest.json``.
"""
