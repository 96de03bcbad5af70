"""What every peer script shares (standard library only: it runs in a peer's venv).

A peer script is started by the harness as ``<peer python> <script> SPEC.json``, with
the same spec as :mod:`benchmarks.case` (``case``, ``server``, ``options``, ``out``).
It measures from after its imports to the end of the load, checks the row count and
writes the same result fields (``seconds``, ``cpu_seconds``, ``records``,
``peak_rss_mb``, ``extra``) to ``out``; :func:`main` does the bookkeeping.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

PAGE_SIZE = 100


class CorrectnessError(AssertionError):
    """The sink does not hold what the API served."""


def peak_rss_mb() -> float:
    """This process's peak resident set size in MB (``VmHWM``)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def check(what: str, loaded: int, served: int) -> None:
    """Fail the case when the sink does not hold every served row."""
    if loaded != served:
        raise CorrectnessError(
            f"CORRECTNESS: {what} holds {loaded} rows but the simulator served {served}"
        )


def count_rows(database: Path, dataset: str, table: str) -> int:
    """Rows of ``dataset.table`` in a DuckDB file."""
    import duckdb

    with duckdb.connect(str(database), read_only=True) as conn:
        row = conn.execute(f'select count(*) from "{dataset}"."{table}"').fetchone()
    return int(row[0]) if row else 0


def run_piped(
    source: Sequence[str], sink: Callable[[Any], int], env: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """Run ``source`` (a connector printing one JSON message a line) and feed its stdout
    to ``sink`` in this process: the rows the sink counted, the source's CPU seconds and
    peak RSS (``wait4``), and its exit code."""
    proc = subprocess.Popen(
        list(source),
        stdout=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        env=dict(env) if env is not None else None,
        bufsize=1 << 20,
    )
    assert proc.stdout is not None
    try:
        counted = sink(proc.stdout)
    finally:
        proc.stdout.close()
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    return {
        "counted": counted,
        "exit_code": proc.returncode,
        "source_cpu_seconds": usage.ru_utime + usage.ru_stime,
        "source_peak_rss_mb": usage.ru_maxrss / 1024,
    }


def _exit_when_stdin_closes() -> None:
    def watch() -> None:
        try:
            while os.read(0, 4096):
                pass
        except OSError:
            pass
        os._exit(3)

    threading.Thread(target=watch, name="stdin-watchdog", daemon=True).start()


def _describe(exc: BaseException) -> str:
    parts: list[str] = []
    current: BaseException | None = exc
    while current is not None and len(parts) < 4:
        lines = str(current).strip().splitlines()
        parts.append(f"{type(current).__name__}: {lines[-1] if lines else ''}".strip())
        current = current.__cause__ or current.__context__
    return " <- ".join(parts)[:800]


def main(run: Callable[[Mapping[str, Any], Mapping[str, Any], str], dict[str, Any]]) -> int:
    """Run one peer case from the spec file in ``sys.argv[1]``; write its result."""
    spec = json.loads(Path(sys.argv[1]).read_text())
    _exit_when_stdin_closes()
    out = Path(spec["out"])
    started = time.perf_counter()
    try:
        result = run(spec["server"], spec.get("options", {}), spec["case"])
    except Exception as exc:
        traceback.print_exc()
        out.write_text(
            json.dumps(
                {
                    "case": spec["case"],
                    "ok": False,
                    "error": _describe(exc),
                    "correctness": isinstance(exc, CorrectnessError),
                }
            )
        )
        return 1
    seconds = result["seconds"]
    peak = peak_rss_mb()
    extra = result.setdefault("extra", {})
    if "source_peak_rss_mb" in extra:
        # source and sink run at once: their sum bounds what the pair held
        peak += extra["source_peak_rss_mb"]
    result.update(
        {
            "case": spec["case"],
            "ok": True,
            "records_per_s": result["records"] / seconds if seconds > 0 else None,
            "peak_rss_mb": round(peak, 1),
            "process_seconds": round(time.perf_counter() - started, 3),
            "python": sys.version.split()[0],
        }
    )
    out.write_text(json.dumps(result, default=str))
    return 0


def token(settings: Mapping[str, str]) -> str:
    """An access token from the simulator's OAuth2 endpoint (client credentials)."""
    import urllib.parse
    import urllib.request

    body = urllib.parse.urlencode(
        {
            "grant_type": "client_credentials",
            "client_id": settings["client_id"],
            "client_secret": settings["client_secret"],
        }
    ).encode()
    with urllib.request.urlopen(settings["token_url"], data=body, timeout=30) as response:
        return str(json.loads(response.read())["access_token"])
