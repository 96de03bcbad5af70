"""Serve one simulated API in its own process, for the benchmarks.

::

    python -m benchmarks.serve --connector directory --records 200000
    python -m benchmarks.serve --connector bench_fanout --records 300 \\
        --latency 0.02 --latency-resource meetings

Prints one JSON line on stdout once the server is listening::

    {"ready": true, "connector": ..., "base_url": ..., "settings": {...},
     "served": {"<resource>": <rows>}, "setup_seconds": ..., "pid": ...}

then serves until stdin closes (so it never outlives the process that started it with
a pipe) or it receives SIGTERM / SIGINT. While serving it answers one command per stdin
line with one JSON line:

* ``stats``: requests so far, per resource (count, first arrival, last completion,
  span in seconds), the first arrival and last answer of all (wall clock) and the
  seconds spent answering, peak concurrency, tokens issued and the process's CPU
  seconds;
* ``reset``: forget the request log (and the peak concurrency).

The server runs in a separate process so that its CPU time and memory (the generated
records of a 1M-record API take GBs) never count against the client being measured.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from collections.abc import Sequence
from typing import Any

__all__ = ["main", "served_rows", "stats"]


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.serve", description="Serve one simulated API for benchmarks."
    )
    parser.add_argument(
        "--connector",
        default="directory",
        help="directory (installed), bench_fanout or bench_pages (default: directory)",
    )
    parser.add_argument(
        "--records",
        type=int,
        default=None,
        help="records of each top-level resource (default: the simulator's)",
    )
    parser.add_argument(
        "--child-records",
        type=int,
        default=None,
        help="records per parent of each child resource (every tenth parent has none)",
    )
    parser.add_argument(
        "--latency", type=float, default=0.0, help="seconds to wait before each API answer"
    )
    parser.add_argument(
        "--latency-resource",
        default=None,
        help="apply --latency only to this resource's requests (default: every API request)",
    )
    parser.add_argument(
        "--page-size", type=int, default=100, help="page size of next-link pagination"
    )
    parser.add_argument("--port", type=int, default=0, help="port (default: any free one)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the generated records")
    return parser.parse_args(argv)


def served_rows(sim: Any) -> dict[str, int]:
    """Rows each resource serves (for a child resource: summed over its parents)."""
    out: dict[str, int] = {}
    for name, data in sim.data.items():
        out[name] = sum(len(v) for v in data.values()) if isinstance(data, dict) else len(data)
    return out


def stats(sim: Any) -> dict[str, Any]:
    """What the simulator saw since the last reset."""
    by_resource: dict[str, dict[str, Any]] = {}
    for record in sim.requests:
        name = record.resource or "(unrouted)"
        entry = by_resource.setdefault(
            name, {"count": 0, "first": record.time, "last_end": 0.0, "errors": 0}
        )
        entry["count"] += 1
        entry["first"] = min(entry["first"], record.time)
        entry["last_end"] = max(entry["last_end"], record.time + record.duration)
        if record.status >= 400 or record.status == 0:
            entry["errors"] += 1
    for entry in by_resource.values():
        entry["span"] = round(entry["last_end"] - entry["first"], 4)
    records = list(sim.requests)
    return {
        "requests": sum(e["count"] for e in by_resource.values()),
        # wall clock (time.time) of the first arrival and the last answer, and the
        # seconds spent answering, summed over the requests
        "first_arrival": min((r.time for r in records), default=None),
        "last_end": max((r.time + r.duration for r in records), default=None),
        "busy_seconds": round(sum(r.duration for r in records), 4),
        "by_resource": by_resource,
        "peak_concurrency": sim.peak_concurrency,
        "tokens_issued": sim.tokens_issued,
        # CPU time of the simulator process so far (it shares the cores with the client)
        "cpu_seconds": round(time.process_time(), 3),
    }


def _reply(payload: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(payload) + "\n")
    sys.stdout.flush()


def _terminate(signum: int, frame: Any) -> None:
    raise SystemExit(0)


def main(argv: Sequence[str] | None = None) -> int:
    """Start the simulator, announce it, answer commands until stdin closes."""
    args = _parse(argv)
    signal.signal(signal.SIGTERM, _terminate)
    os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")

    from headwater.testing import Fault, Simulator

    from benchmarks.connectors import connector_named

    started = time.perf_counter()
    connector = connector_named(args.connector)
    records: dict[str, int] = {}
    for resource in connector.resources:
        count = args.child_records if resource.parent is not None else args.records
        if count is not None:
            records[resource.name] = count
    faults = []
    latency = args.latency
    if args.latency_resource is not None and latency:
        if args.latency_resource not in connector.resource_names:
            print(
                f"serve: connector {connector.name} has no resource {args.latency_resource!r}",
                file=sys.stderr,
            )
            return 2
        faults.append(
            Fault(kind="latency", resource=args.latency_resource, count=None, delay=latency)
        )
        latency = 0.0
    sim = Simulator(
        connector,
        records=records,
        seed=args.seed,
        latency=latency,
        faults=faults,
        port=args.port,
        page_size=args.page_size,
        # a benchmark must never see a token expire mid-run
        token_ttl=24 * 3600,
    )
    sim.warm()  # the simulator's one-off work is set-up, not part of a timed case
    sim.start()
    try:
        _reply(
            {
                "ready": True,
                "connector": connector.name,
                "base_url": sim.base_url,
                "settings": sim.settings,
                "served": served_rows(sim),
                "setup_seconds": round(time.perf_counter() - started, 3),
                "pid": os.getpid(),
            }
        )
        for line in sys.stdin:
            command = line.strip()
            if command == "stats":
                _reply(stats(sim))
            elif command == "reset":
                sim.reset_log()
                _reply({"ok": True})
            elif command:
                _reply({"error": f"unknown command {command!r} (stats, reset)"})
    except (KeyboardInterrupt, BrokenPipeError):
        pass
    finally:
        sim.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
