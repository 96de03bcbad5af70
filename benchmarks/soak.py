"""Soak run: many records, faults at a steady rate, the real CLI in its own process.

    uv run python -m benchmarks.soak                      # 1,000,000 records
    uv run python -m benchmarks.soak --records 200000 --every 300

``headwater simulate directory`` serves the API (its own process) with a 503 every
``--every`` requests, a dropped connection every ``1.4 * --every`` and a 429 with
``Retry-After: 1`` every ``3 * --every``; ``headwater run directory`` loads it into DuckDB
in a fresh directory. The run must exit 0 with every record exactly once; its peak RSS
is reported. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb

# `headwater run`, reporting its own peak RSS (VmHWM) on stderr as it exits.
_RUN_AND_REPORT_PEAK = (
    "import sys\n"
    "from headwater.cli import main\n"
    "code = main(sys.argv[1:])\n"
    "hwm = next(l for l in open('/proc/self/status') if l.startswith('VmHWM'))\n"
    "print('PEAK', hwm.split()[1], file=sys.stderr)\n"
    "sys.exit(code)\n"
)


def _serve(records: int, every: int) -> tuple[subprocess.Popen[str], dict[str, str]]:
    faults = [
        f"status,status=503,every={every},count=none",
        f"drop,every={int(every * 1.4)},count=none",
        f"status,status=429,retry_after=1,every={every * 3},count=none",
    ]
    command = [
        sys.executable,
        "-m",
        "headwater",
        "simulate",
        "directory",
        "--records",
        str(records),
    ]
    for fault in faults:
        command += ["--fault", fault]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    env: dict[str, str] = {}
    assert server.stdout is not None
    while len(env) < 4:
        line = server.stdout.readline()
        if not line:
            raise SystemExit(
                f"the simulator did not start: {server.stderr.read() if server.stderr else ''}"
            )
        if line.startswith("export "):
            key, _, value = line[len("export ") :].strip().partition("=")
            env[key] = value
    return server, env


def soak(records: int, every: int) -> dict[str, float]:
    """One soak run; returns its measurements (raises SystemExit on a wrong result)."""
    server, env = _serve(records, every)
    work = Path(tempfile.mkdtemp(prefix="headwater-soak-"))
    try:
        started = time.monotonic()
        run = subprocess.Popen(
            [sys.executable, "-c", _RUN_AND_REPORT_PEAK, "run", "directory"],
            cwd=work,
            env={
                **os.environ,
                **env,
                "DLT_DATA_DIR": str(work / "dlt"),
                "RUNTIME__DLTHUB_TELEMETRY": "false",
            },
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        _out, err = run.communicate(timeout=3600)
        seconds = time.monotonic() - started
        if run.returncode != 0:
            raise SystemExit(f"the soak run failed ({run.returncode}): {err[-2000:]}")
        with duckdb.connect(str(work / "headwater_directory.duckdb"), read_only=True) as con:
            ((total, distinct),) = con.sql(
                "select count(*), count(distinct id) from directory_data.directory_users"
            ).fetchall()
        if (total, distinct) != (records, records):
            raise SystemExit(f"loaded {total} rows ({distinct} distinct), served {records}")
    finally:
        server.terminate()
        server.wait(timeout=30)
    peak_kb = next(int(line.split()[1]) for line in err.splitlines() if line.startswith("PEAK "))
    return {"records": records, "seconds": round(seconds, 1), "peak_rss_mb": round(peak_kb / 1024)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.soak", description=__doc__)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--every", type=int, default=500, help="a 503 every N requests")
    args = parser.parse_args(argv)
    result = soak(args.records, args.every)
    print(json.dumps(result))
    print(
        f"soak: {result['records']:,} records with faults every {args.every} requests "
        f"loaded exactly once in {result['seconds']} s; peak RSS of the run "
        f"{result['peak_rss_mb']} MB"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
