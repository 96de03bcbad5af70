"""Parallel windows: 8 slices of a cursor-paginated API at 20 ms latency, read one
after another (``parallel_windows=1``) and 8 at once (``parallel_windows=8``).

Run by hand from the repository root::

    uv run python -m benchmarks.windows [--latency 0.02] [--repeat 3]

Each measurement extracts the ``events`` resource of an in-process simulator into a
fresh dlt pipeline (extract only: the load is the same either way). Prints the
median seconds of each mode, the speed-up of the whole extract and of the reads
alone (less the time of an extract that reads nothing; the issue's goal: >= 5x) and
the peak Python memory traced during a parallel extract.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import tracemalloc
from datetime import datetime, timedelta, timezone

SLICES = 8
PAGE_SIZE = 10
RECORDS = SLICES * 60  # one record a minute: 60 a slice, 6 pages a slice

SCHEMA = {
    "type": "object",
    "properties": {"id": {"type": "string"}, "ts": {"type": "string", "format": "date-time"}},
    "required": ["id", "ts"],
}


def _connector():
    from headwater.spec import Connector, CursorPagination, IncrementalSpec, Resource

    return Connector(
        name="windows_bench",
        package="headwater",
        resources=[
            Resource(
                name="events",
                path="/v1/events",
                schema="unused.json",
                data_selector="data",
                pagination=CursorPagination(page_size=PAGE_SIZE),
                incremental=IncrementalSpec(
                    cursor_field="ts", param="start", end_param="end", window="1h"
                ),
            )
        ],
    )


def _plugin(connector):
    from headwater import hookimpl

    class Plugin:
        @hookimpl
        def headwater_connectors(self):
            return [connector]

        @hookimpl
        def headwater_record_schema(self, connector, resource):
            return SCHEMA if connector.name == "windows_bench" else None

    return Plugin()


def _extract(sim, parallel: int, workdir: str, hours: int = SLICES) -> float:
    import dlt
    from headwater.load.assemble import build_source
    from headwater.load.incremental import RunBounds

    t0 = datetime(2024, 1, 1, tzinfo=timezone.utc)
    source = build_source(
        "windows_bench",
        {"start_date": "2024-01-01", "parallel_windows": parallel, **sim.settings},
        bounds=RunBounds(end=t0 + timedelta(hours=hours)),
        arrow=False,
    )
    pipeline = dlt.pipeline(
        pipeline_name=f"bench_{parallel}_{time.monotonic_ns()}",
        pipelines_dir=workdir,
        destination="duckdb",
    )
    started = time.perf_counter()
    pipeline.extract(source)
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> dict[str, float]:
    """Run the benchmark; returns the medians and the ratio."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--latency", type=float, default=0.02)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)

    from headwater.plugin import manager
    from headwater.testing import Simulator

    connector = _connector()
    plugin = _plugin(connector)
    manager.use(manager.make_plugin_manager(plugins=[("bench", plugin)], entry_points=False))
    os.environ.setdefault("RUNTIME__LOG_LEVEL", "WARNING")
    results: dict[str, float] = {}
    with (
        tempfile.TemporaryDirectory() as workdir,
        Simulator(
            connector,
            records={"events": RECORDS},
            latency=args.latency,
            page_size=PAGE_SIZE,
            schemas={"events": SCHEMA},
        ) as sim,
    ):
        _extract(sim, 1, workdir)  # warm up (imports, first connections)
        for parallel in (1, SLICES):
            times = []
            for _ in range(args.repeat):
                sim.reset_log()
                times.append(_extract(sim, parallel, workdir))
                requests = len(sim.requests_for("events"))
            results[f"parallel_{parallel}_s"] = statistics.median(times)
            results[f"parallel_{parallel}_requests"] = requests
            results[f"parallel_{parallel}_peak_concurrency"] = sim.peak_concurrency
        # an extract that reads nothing: what dlt costs around the reads
        results["extract_overhead_s"] = statistics.median(
            _extract(sim, 1, workdir, hours=0) for _ in range(args.repeat)
        )
        tracemalloc.start()
        _extract(sim, SLICES, workdir)
        results["parallel_peak_mib"] = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    overhead = results["extract_overhead_s"]
    results["reads_speedup"] = (results["parallel_1_s"] - overhead) / max(
        results[f"parallel_{SLICES}_s"] - overhead, 1e-6
    )
    results["speedup"] = results["parallel_1_s"] / results[f"parallel_{SLICES}_s"]
    for key, value in results.items():
        print(f"{key:32} {value:.3f}" if isinstance(value, float) else f"{key:32} {value}")
    return results


if __name__ == "__main__":
    main()
