"""The benchmark harness behind ``python -m benchmarks``.

For each record count it starts the simulated ``directory`` API in its own process
(:mod:`benchmarks.serve`), then runs every selected case in a fresh process
(:mod:`benchmarks.case`) with its own temporary directory, DuckDB file and
``DLT_DATA_DIR``, and collects wall time, records/s and peak RSS. The fan-out and
pages-in-parallel cases get their own simulated APIs; the start-up case times the
``headwater`` command. It prints one table per record count plus the ratios, and
writes everything to ``benchmarks/results/latest.json``.

Every process it starts is in its own session and is killed (process group) on any
exit: normal, exception, Ctrl-C, SIGTERM, or a case exceeding its timeout. The
servers also exit on their own when the harness dies, because their stdin closes.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import datetime as _dt
import json
import math
import os
import platform
import queue
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from benchmarks.check import (
    BASELINE,
    GUARDED_CASES,
    TOLERANCE,
    BaselineError,
    compare,
    load_baseline,
    make_baseline,
    ratios_to_loop,
)
from benchmarks.check import DEFAULT_RECORDS as CHECK_DEFAULT_RECORDS
from benchmarks.check import DEFAULT_REPEAT as CHECK_DEFAULT_REPEAT

__all__ = ["ALL_CASES", "FLAT_CASES", "main"]

REPO = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results" / "latest.json"

#: Cases over the flat ``directory`` API (or the same records paged another way),
#: run once per record count. The peers run in their own environments
#: (:mod:`benchmarks.peers`); ``headwater*`` in this one.
FLAT_CASES = (
    "requests_loop",
    "dlt_rest_api_defaults",
    "dlt_rest_api_tuned",
    "airbyte_manifest",
    "singer_tap",
    "headwater",
    "headwater_link",
    "headwater_has_more",
    "headwater_rows",
    "headwater_warm",
)
#: The connector each flat case's simulator serves (``directory`` when not listed).
CASE_CONNECTOR = {"headwater_link": "bench_link", "headwater_has_more": "bench_has_more"}
#: What each flat case is, for the tables.
CASE_LABELS = {
    "requests_loop": "plain `requests` loop (download + parse only)",
    "dlt_rest_api_defaults": "dlt `rest_api_source`, defaults",
    "dlt_rest_api_tuned": "dlt `rest_api_source`, tuned (parquet, 100k buffers)",
    "airbyte_manifest": "Airbyte declarative manifest (counted at the sink)",
    "singer_tap": "Singer SDK tap (counted at the sink)",
    "headwater": "Headwater (`headwater run`, merge)",
    "headwater_link": "Headwater, Link-header pages",
    "headwater_has_more": "Headwater, has_more (last id) pages",
    "headwater_rows": "Headwater, Arrow path off",
    "headwater_warm": "Headwater, second run in one process",
}
#: Cases that do not depend on the record count.
OTHER_CASES = ("fanout", "parallel_pages", "startup", "fixed_cost")
ALL_CASES = FLAT_CASES + OTHER_CASES

#: dlt's defaults need ~3.4 GB at 200k records and grow with the count: skipped above.
DEFAULTS_LIMIT = 200_000
QUICK_RECORDS = 20_000
DEFAULT_RECORDS = (200_000, 1_000_000)
#: Fan-out: parents, child rows per parent, seconds per child request.
DEFAULT_FANOUT_PARENTS = 300
FANOUT_CHILDREN = 3
#: Pages in parallel: pages of 100 records, seconds per page.
PAGES = 200
PAGE_SIZE = 100
#: Start-up timings: runs per command (after one untimed warm-up run).
STARTUP_RUNS = 5
SERVER_START_TIMEOUT = 900.0

# Every process started here, so that any exit kills them (see _cleanup).
_LIVE: set[subprocess.Popen] = set()
_LIVE_LOCK = threading.Lock()


# ----------------------------------------------------------------------- processes


def _kill_group(proc: subprocess.Popen, sig: int = signal.SIGKILL) -> None:
    """Signal ``proc``'s process group (it leads its own session), then ``proc``."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(sig)


def _reap(proc: subprocess.Popen, timeout: float = 30.0) -> None:
    """Wait for ``proc`` (killing its group if it will not end) so no zombie is left."""
    if proc.stdin is not None:
        with contextlib.suppress(OSError):
            proc.stdin.close()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=timeout)
    with _LIVE_LOCK:
        _LIVE.discard(proc)


def _track(proc: subprocess.Popen) -> subprocess.Popen:
    with _LIVE_LOCK:
        _LIVE.add(proc)
    return proc


def _cleanup() -> None:
    """Kill and reap every process this harness started that is still running."""
    with _LIVE_LOCK:
        procs = list(_LIVE)
    for proc in procs:
        if proc.poll() is None:
            _kill_group(proc)
        _reap(proc, timeout=10)


atexit.register(_cleanup)


def _on_sigterm(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)


#: ``--env KEY=VALUE`` pairs, set in every case and start-up process.
_EXTRA_ENV: dict[str, str] = {}


def _clean_env(work: Path | None = None) -> dict[str, str]:
    """The environment of a benchmark process: no ambient dlt or Headwater config,
    telemetry off, the repository importable, and (with ``work``) dlt's data there,
    plus the ``--env`` values."""
    dropped = (
        "SOURCES__",
        "DESTINATION__",
        "DATA_WRITER__",
        "NORMALIZE__",
        "EXTRACT__",
        "LOAD__",
        "RUNTIME__",
        "HEADWATER_",
        "DLT_",
    )
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith(dropped)}
    env["RUNTIME__DLTHUB_TELEMETRY"] = "false"
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p
    )
    env["PYTHONUNBUFFERED"] = "1"
    if work is not None:
        env["DLT_DATA_DIR"] = str(work / "dlt_data")
        env["DLT_PROJECT_DIR"] = str(work)
        env.update(_EXTRA_ENV)
    return env


class Server:
    """A :mod:`benchmarks.serve` process: started, queried and always stopped."""

    def __init__(self, *args: str) -> None:
        self.args = [sys.executable, "-m", "benchmarks.serve", *args]
        self.proc: subprocess.Popen | None = None
        self.info: dict[str, Any] = {}
        self._lines: queue.Queue[str | None] = queue.Queue()

    def __enter__(self) -> Server:
        self.start()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()

    def start(self) -> dict[str, Any]:
        """Start the server and wait for its announcement line."""
        self.proc = _track(
            subprocess.Popen(
                self.args,
                cwd=REPO,
                env=_clean_env(),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
                start_new_session=True,
            )
        )
        stdout = self.proc.stdout
        assert stdout is not None
        threading.Thread(target=self._read, args=(stdout,), daemon=True).start()
        self.info = self._reply(SERVER_START_TIMEOUT)
        if not self.info.get("ready"):
            raise RuntimeError(f"the simulator did not start: {self.info}")
        return self.info

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            self._lines.put(line)
        self._lines.put(None)

    def _reply(self, timeout: float) -> dict[str, Any]:
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            raise RuntimeError(f"the simulator did not answer within {timeout:.0f} s") from None
        if line is None:
            code = self.proc.poll() if self.proc else None
            raise RuntimeError(f"the simulator exited (code {code}); see its messages above")
        return json.loads(line)

    def command(self, command: str, timeout: float = 60.0) -> dict[str, Any]:
        """Send ``stats`` or ``reset``; the server's JSON answer."""
        assert self.proc is not None and self.proc.stdin is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        return self._reply(timeout)

    def stop(self) -> None:
        """Close the server's stdin (it stops itself), escalating to SIGTERM, SIGKILL."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.stdin is not None:
            with contextlib.suppress(OSError):
                proc.stdin.close()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            _kill_group(proc, signal.SIGTERM)
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                _kill_group(proc)
        _reap(proc)


def _wait_rusage(proc: subprocess.Popen, timeout: float) -> tuple[int, float | None]:
    """Wait for ``proc`` with :func:`os.wait4`: its exit code and peak RSS in MB
    (``ru_maxrss`` of that child alone); :class:`subprocess.TimeoutExpired` on timeout."""
    deadline = time.monotonic() + timeout
    delay = 0.005
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            proc.returncode = os.waitstatus_to_exitcode(status)
            scale = 1024 * 1024 if sys.platform == "darwin" else 1024
            return proc.returncode, usage.ru_maxrss / scale
        if time.monotonic() >= deadline:
            raise subprocess.TimeoutExpired(proc.args, timeout)
        time.sleep(delay)
        delay = min(delay * 2, 0.1)


def run_case(
    case: str,
    server: Mapping[str, Any],
    options: Mapping[str, Any],
    *,
    timeout: float,
    keep: bool = False,
) -> dict[str, Any]:
    """Run ``case`` once in a fresh process and temporary directory; its result dict
    (``ok`` False with ``error`` on failure or timeout)."""
    from benchmarks.peers import PEER_CASES, PeerUnavailable, ensure_venv, script_of

    command = [sys.executable, "-m", "benchmarks.case"]
    if case in PEER_CASES:
        try:
            command = [str(ensure_venv(PEER_CASES[case][0])), str(script_of(case))]
        except PeerUnavailable as exc:
            return {"ok": False, "case": case, "error": f"cannot install the peer: {exc}"}
        options = {**_peer_options(case), **options}
    work = Path(tempfile.mkdtemp(prefix=f"headwater-bench-{case}-"))
    spec = {"case": case, "server": server, "options": dict(options), "out": str(work / "out")}
    (work / "spec.json").write_text(json.dumps(spec))
    log_path = work / "output.log"
    result: dict[str, Any] = {"ok": False, "error": "not run"}
    started = time.perf_counter()
    try:
        with open(log_path, "wb") as log:
            proc = _track(
                subprocess.Popen(
                    [*command, str(work / "spec.json")],
                    cwd=work,
                    env=_clean_env(work),
                    stdin=subprocess.PIPE,  # the case exits when this closes
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
            wait_rss: float | None = None
            try:
                code, wait_rss = _wait_rusage(proc, timeout)
            except subprocess.TimeoutExpired:
                _kill_group(proc)
                code = None
            finally:
                _reap(proc)
        out = work / "out"
        if code is None:
            result = {"ok": False, "error": f"timed out after {timeout:.0f} s (killed)"}
        elif out.exists():
            result = json.loads(out.read_text())
        else:
            result = {"ok": False, "error": f"the case process exited with code {code}"}
        if wait_rss is not None and result.get("ok"):
            # VmHWM of the case process vs ru_maxrss from wait4: the larger, to be safe.
            result["peak_rss_mb"] = round(max(result.get("peak_rss_mb") or 0.0, wait_rss), 1)
        if not result.get("ok"):
            tail = log_path.read_text(errors="replace").strip().splitlines()[-15:]
            result["log_tail"] = tail
            if keep:
                result["workdir"] = str(work)
    finally:
        if not (keep and not result.get("ok")):
            shutil.rmtree(work, ignore_errors=True)
    result["wall_seconds"] = round(time.perf_counter() - started, 3)
    result.setdefault("case", case)
    return result


def _peer_options(case: str) -> dict[str, Any]:
    """What a peer case needs from the ``directory`` declaration (Airbyte's manifest,
    the Singer tap's stream), generated by :mod:`benchmarks.translate`; ``{}`` for the
    others. A declaration the translation does not cover fails the case, saying why."""
    if case not in ("airbyte_manifest", "singer_tap"):
        return {}
    from benchmarks.connectors import connector_named
    from benchmarks.translate import airbyte_manifest, peer_declaration

    declaration = peer_declaration(connector_named("directory"), "directory_users")
    options: dict[str, Any] = {"declaration": declaration}
    if case == "airbyte_manifest":
        options["manifest"] = airbyte_manifest(declaration)
    return options


# ----------------------------------------------------------------------- summaries


def _median(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def summarize(runs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Medians over repeated runs of one case (``ok`` only if every run was)."""
    good = [r for r in runs if r.get("ok")]
    failed = [r for r in runs if not r.get("ok")]
    if failed or not good:
        first = failed[0] if failed else {"error": "no run"}
        return {
            "ok": False,
            "error": first.get("error"),
            "correctness": any(r.get("correctness") for r in failed),
            "log_tail": first.get("log_tail", []),
            "runs": len(runs),
        }
    seconds = _median(r["seconds"] for r in good)
    records = good[0]["records"]
    phase_names = sorted({p for r in good for p in r.get("phases", {})})
    return {
        "ok": True,
        "runs": len(good),
        "records": records,
        "seconds": round(seconds, 3) if seconds is not None else None,
        "records_per_s": round(records / seconds, 1) if seconds else None,
        "peak_rss_mb": _median(r.get("peak_rss_mb") for r in good),
        "cpu_seconds": _median(r.get("cpu_seconds") for r in good),
        "server_cpu_seconds": _median(r.get("server_cpu_seconds") for r in good),
        "phases": {p: _median(r.get("phases", {}).get(p) for r in good) for p in phase_names},
        "all_seconds": [round(r["seconds"], 3) for r in good],
        "extra": good[0].get("extra", {}),
    }


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a and b else None


# ------------------------------------------------------------------------ printing


def _fmt(value: Any, spec: str = ",.0f") -> str:
    if value is None:
        return "-"
    if isinstance(value, str):
        return value
    return format(value, spec)


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A plain-text table: first column left-aligned, the others right-aligned."""
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        padded = [
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  ".join(padded).rstrip()

    return "\n".join([line(headers), "  ".join("-" * w for w in widths), *map(line, rows)])


def print_flat(records: int, cases: Mapping[str, Mapping[str, Any]]) -> None:
    """The table of one record count, then its ratios."""
    headers = (
        "case",
        "records",
        "seconds",
        "records/s",
        "x loop",
        "peak RSS MB",
        "CPU s",
        "extract",
        "normalize",
        "load",
        "other",
        "sim CPU s",
    )
    loop = cases.get("requests_loop", {}).get("records_per_s")
    rows = []
    for name, s in cases.items():
        if s.get("skipped"):
            rows.append((name, _fmt(records), "skipped", *[""] * 9))
        elif not s.get("ok"):
            rows.append((name, _fmt(records), "FAILED", *[""] * 9))
        else:
            phases = s.get("phases", {})
            steps = [phases.get(p) for p in ("extract", "normalize", "load")]
            other = s["seconds"] - sum(steps) if None not in steps else None
            rows.append(
                (
                    name,
                    _fmt(s["records"]),
                    _fmt(s["seconds"], ".2f"),
                    _fmt(s["records_per_s"]),
                    _fmt(_ratio(s["records_per_s"], loop), ".2f"),
                    _fmt(s["peak_rss_mb"], ",.0f"),
                    _fmt(s.get("cpu_seconds"), ".2f"),
                    _fmt(phases.get("extract"), ".2f"),
                    _fmt(phases.get("normalize"), ".2f"),
                    _fmt(phases.get("load"), ".2f"),
                    _fmt(other, ".2f"),
                    _fmt(s.get("server_cpu_seconds"), ".2f"),
                )
            )
    print(f"\n== {records:,} records: directory records, pages of {PAGE_SIZE} ==")
    print(_table(headers, rows))
    if any(s.get("phases") for s in cases.values()):
        print(
            "  extract/normalize/load: dlt's step times (pipeline trace); other: the rest "
            "of the timed span (source and pipeline set-up, destination sync, state)"
        )
    print(
        "  CPU s: the case's CPU time (all threads; source + sink for the piped peers) over "
        "the timed span; sim CPU s: the simulator's over the whole case process"
    )
    for name, s in cases.items():
        if s.get("skipped"):
            print(f"  {name}: {s['skipped']}")
        elif not s.get("ok"):
            kind = "CORRECTNESS FAILURE" if s.get("correctness") else "FAILED"
            print(f"  {kind} {name}: {s.get('error')}")
            for line in s.get("log_tail", [])[-8:]:
                print(f"    | {line}")
    print("\n" + markdown_table(records, cases))


def markdown_table(records: int, cases: Mapping[str, Mapping[str, Any]]) -> str:
    """The side-by-side table of one record count, in Markdown (for the docs): a case
    that did not load the API has a row saying why."""
    loop = cases.get("requests_loop", {}).get("records_per_s")
    lines = [
        "| case | records | seconds | records/s | x loop | peak RSS | CPU s |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, s in cases.items():
        label = CASE_LABELS.get(name, name)
        if s.get("skipped"):
            lines.append(f"| {label} | {records:,} | {s['skipped']} | | | | |")
        elif not s.get("ok"):
            why = str(s.get("error") or "failed").replace("|", "/")[:200]
            lines.append(f"| {label} | {records:,} | could not load the API: {why} | | | | |")
        else:
            lines.append(
                f"| {label} | {s['records']:,} | {s['seconds']:.2f} | "
                f"{s['records_per_s']:,.0f} | {_fmt(_ratio(s['records_per_s'], loop), '.2f')}x | "
                f"{s['peak_rss_mb']:,.0f} MB | {_fmt(s.get('cpu_seconds'), '.2f')} |"
            )
    return "\n".join(lines)


def flat_ratios(cases: Mapping[str, Mapping[str, Any]]) -> dict[str, float | None]:
    """Throughput of every flat case relative to the plain ``requests`` loop
    (``<case>_vs_requests_loop``), and of ``headwater`` relative to each other case."""
    loop = cases.get("requests_loop", {}).get("records_per_s")
    out: dict[str, float | None] = {
        f"{name}_vs_requests_loop": _ratio(s.get("records_per_s"), loop)
        for name, s in cases.items()
        if name != "requests_loop" and s.get("ok")
    }
    hw = cases.get("headwater", {}).get("records_per_s")
    for name, s in cases.items():
        if name not in ("headwater", "requests_loop") and s.get("ok"):
            out[f"headwater_vs_{name}"] = _ratio(hw, s.get("records_per_s"))
    return out


# --------------------------------------------------------------------------- cases


def bench_flat(
    counts: Sequence[int],
    cases: Sequence[str],
    args: argparse.Namespace,
    out: dict[int, dict[str, Any]],
) -> dict[int, dict[str, Any]]:
    """The flat cases for each record count, each against a server of its connector;
    filled into ``out`` as they finish (so an interrupted run keeps what it measured).

    Round by round rather than case by case: this machine's speed drifts by a quarter
    over minutes (other tenants, CPU steal), and a case measured only in a slow spell
    would be compared with a yardstick measured in a fast one. Each round runs every
    case once, the cases of other connectors (Link-header, has_more) included: their
    servers are started in turn within the round, so their ratio to the loop compares
    runs a minute apart, not runs of another part of the harness run.
    """
    selected = [c for c in FLAT_CASES if c in cases]
    connectors = list(dict.fromkeys(CASE_CONNECTOR.get(c, "directory") for c in selected))
    for count in counts:
        results: dict[str, Any] = {}
        out[count] = results
        runs, skipped = _flat_runs(selected, count, args)
        for i in range(args.repeat):
            for connector in connectors:
                here = [c for c in runs if CASE_CONNECTOR.get(c, "directory") == connector]
                if not here:
                    continue
                print(f"\n-- round {i + 1}/{args.repeat}: serving {count:,} {connector} records")
                with Server("--connector", connector, "--records", str(count)) as server:
                    info = server.info
                    print(
                        f"   simulator ready in {info['setup_seconds']:.1f} s at {info['base_url']}"
                    )
                    _flat_round(here, server, args, runs, i)
        summarized = {**skipped, **{c: {**summarize(d), "raw": d} for c, d in runs.items()}}
        # in the order of FLAT_CASES, whatever the servers' order
        results.update({c: summarized[c] for c in selected if c in summarized})
        print_flat(count, results)
    return out


def _flat_runs(
    cases: Sequence[str], count: int, args: argparse.Namespace
) -> tuple[dict[str, list[dict[str, Any]]], dict[str, dict[str, Any]]]:
    """The runs to fill, by case, and the cases skipped at this record count."""
    runs: dict[str, list[dict[str, Any]]] = {}
    skipped: dict[str, dict[str, Any]] = {}
    for case in cases:
        if case == "dlt_rest_api_defaults" and count > DEFAULTS_LIMIT and not args.all:
            print(f"   {case}: skipped above {DEFAULTS_LIMIT:,} records (use --all)")
            skipped[case] = {
                "ok": False,
                "skipped": f"skipped above {DEFAULTS_LIMIT:,} records "
                "(slow, GBs of memory; --all runs it)",
            }
        else:
            runs[case] = []
    return runs, skipped


def _flat_round(
    cases: Sequence[str],
    server: Server,
    args: argparse.Namespace,
    runs: dict[str, list[dict[str, Any]]],
    round_index: int,
) -> None:
    """One run of each of ``cases`` against ``server``, appended to ``runs``."""
    for case in cases:
        done = runs[case]
        if done and not done[-1].get("ok") and "cannot install" in str(done[-1].get("error")):
            continue
        print(f"   {case} run {round_index + 1}/{args.repeat} ...", end=" ", flush=True)
        before = server.command("stats").get("cpu_seconds")
        run = run_case(case, server.info, {}, timeout=args.timeout, keep=args.keep)
        after = server.command("stats").get("cpu_seconds")
        if before is not None and after is not None:
            # includes the case's start-up and row count, when it is idle
            run["server_cpu_seconds"] = round(after - before, 3)
        done.append(run)
        print(_run_line(run), flush=True)


def _run_line(run: Mapping[str, Any]) -> str:
    if not run.get("ok"):
        return f"FAILED: {run.get('error')}"
    return (
        f"{run['seconds']:.2f} s, {run['records_per_s']:,.0f} rec/s, {run['peak_rss_mb']:,.0f} MB"
    )


def bench_fanout(args: argparse.Namespace) -> dict[str, Any]:
    """Parents, then one slow request per parent: elapsed vs the ideal."""
    from headwater.settings import DEFAULT_MAX_WORKERS

    workers = args.max_workers or DEFAULT_MAX_WORKERS
    latency = args.child_latency
    parents = args.fanout_parents
    ideal = math.ceil(parents / workers) * latency
    print(
        f"\n-- fanout: {parents} parents, {latency} s per child request, max_workers {workers} ...",
        flush=True,
    )
    runs = []
    with Server(
        "--connector", "bench_fanout",
        "--records", str(parents),
        "--child-records", str(FANOUT_CHILDREN),
        "--latency", str(latency),
        "--latency-resource", "meetings",
    ) as server:  # fmt: skip
        options = {"max_workers": args.max_workers, "latency": latency}
        for i in range(args.repeat):
            server.command("reset")
            print(f"   fanout run {i + 1}/{args.repeat} ...", end=" ", flush=True)
            run = run_case("fanout", server.info, options, timeout=args.timeout, keep=args.keep)
            stats = server.command("stats")
            meetings = stats["by_resource"].get("meetings", {})
            run["server"] = {
                "child_requests": meetings.get("count"),
                "child_span": meetings.get("span"),
                "peak_concurrency": stats["peak_concurrency"],
                "tokens_issued": stats["tokens_issued"],
            }
            runs.append(run)
            print(_run_line(run), flush=True)
    summary = summarize(runs)
    summary["raw"] = runs
    good = [r for r in runs if r.get("ok")]
    extract = _median(r.get("phases", {}).get("extract") for r in good)
    span = _median(r["server"]["child_span"] for r in good)
    summary.update(
        {
            "parents": parents,
            "child_latency": latency,
            "max_workers": workers,
            "ideal_seconds": round(ideal, 3),
            "extract_seconds": extract,
            "child_span_seconds": span,
            "extract_vs_ideal": _ratio(extract, ideal),
            "child_span_vs_ideal": _ratio(span, ideal),
            "peak_concurrency": max((r["server"]["peak_concurrency"] for r in good), default=None),
        }
    )
    print_fanout(summary)
    return summary


def print_fanout(s: Mapping[str, Any]) -> None:
    """The fan-out result in a few lines."""
    print(
        f"\n== fanout: {s['parents']} parents x 1 child request ({s['child_latency']} s each), "
        f"max_workers {s['max_workers']} =="
    )
    if not s.get("ok"):
        print(f"  FAILED: {s.get('error')}")
        return
    rows = [
        ("ideal ceil(parents/max_workers) x latency", _fmt(s["ideal_seconds"], ".2f"), "1.00x"),
        (
            "child requests, first arrival to last answer (server)",
            _fmt(s["child_span_seconds"], ".2f"),
            f"{_fmt(s['child_span_vs_ideal'], '.2f')}x",
        ),
        (
            "extract step (dlt trace)",
            _fmt(s["extract_seconds"], ".2f"),
            f"{_fmt(s['extract_vs_ideal'], '.2f')}x",
        ),
        ("whole run (extract + normalize + load)", _fmt(s["seconds"], ".2f"), ""),
    ]
    print(_table(("measure", "seconds", "vs ideal"), rows))
    print(
        f"  rows loaded: {s['records']:,}; peak concurrent requests at the server: "
        f"{s['peak_concurrency']}; peak RSS {s['peak_rss_mb']:,.0f} MB"
    )


def bench_parallel_pages(args: argparse.Namespace) -> dict[str, Any]:
    """Offset pages with a known total: sequential, and concurrent once Headwater can."""
    from benchmarks.case import PARALLEL_PAGES_SETTING, parallel_pages_available

    latency = args.page_latency
    available = parallel_pages_available()
    print(
        f"\n-- parallel_pages: {PAGES} pages of {PAGE_SIZE}, {latency} s per page ...",
        flush=True,
    )
    modes: dict[str, Any] = {"sequential": {}}
    if available:
        modes["parallel"] = {"parallel_pages": args.parallel_pages}
    summaries: dict[str, Any] = {}
    with Server(
        "--connector", "bench_pages",
        "--records", str(PAGES * PAGE_SIZE),
        "--latency", str(latency),
    ) as server:  # fmt: skip
        for mode, options in modes.items():
            runs = []
            for i in range(args.repeat):
                server.command("reset")
                print(f"   {mode} run {i + 1}/{args.repeat} ...", end=" ", flush=True)
                run = run_case(
                    "parallel_pages", server.info, options, timeout=args.timeout, keep=args.keep
                )
                stats = server.command("stats")
                run["server"] = {
                    "page_requests": stats["by_resource"].get("items", {}).get("count"),
                    "span": stats["by_resource"].get("items", {}).get("span"),
                    "peak_concurrency": stats["peak_concurrency"],
                }
                runs.append(run)
                print(_run_line(run), flush=True)
            summary = summarize(runs)
            summary["raw"] = runs
            good = [r for r in runs if r.get("ok")]
            summary["extract_seconds"] = _median(r.get("phases", {}).get("extract") for r in good)
            summary["peak_concurrency"] = max(
                (r["server"]["peak_concurrency"] for r in good), default=None
            )
            summaries[mode] = summary
    result: dict[str, Any] = {
        "pages": PAGES,
        "page_size": PAGE_SIZE,
        "latency": latency,
        "setting": PARALLEL_PAGES_SETTING,
        "available": available,
        "ideal_sequential_seconds": round(PAGES * latency, 3),
        **summaries,
    }
    if available:
        result["ideal_parallel_seconds"] = round(
            math.ceil(PAGES / args.parallel_pages) * latency, 3
        )
        result["speedup"] = _ratio(
            summaries["sequential"].get("seconds"), summaries["parallel"].get("seconds")
        )
        result["extract_speedup"] = _ratio(
            summaries["sequential"].get("extract_seconds"),
            summaries["parallel"].get("extract_seconds"),
        )
    print_parallel_pages(result)
    return result


def print_parallel_pages(r: Mapping[str, Any]) -> None:
    """The pages-in-parallel result in a few lines."""
    print(
        f"\n== parallel_pages: {r['pages']} pages of {r['page_size']} "
        f"({r['pages'] * r['page_size']:,} records), {r['latency']} s per page =="
    )
    rows = []
    for mode in ("sequential", "parallel"):
        s = r.get(mode)
        if s is None:
            continue
        if not s.get("ok"):
            rows.append((mode, "FAILED", "", "", ""))
            print(f"  FAILED {mode}: {s.get('error')}")
            continue
        ideal = (
            r["ideal_sequential_seconds"]
            if mode == "sequential"
            else r.get("ideal_parallel_seconds")
        )
        rows.append(
            (
                mode,
                _fmt(s["seconds"], ".2f"),
                _fmt(s["extract_seconds"], ".2f"),
                _fmt(ideal, ".2f"),
                str(s["peak_concurrency"]),
            )
        )
    if rows:
        print(_table(("mode", "seconds", "extract", "ideal", "peak concurrency"), rows))
    if not r["available"]:
        print(f"  parallel pages: not available (Headwater has no {r['setting']!r} setting yet)")
    elif r.get("speedup") is not None:
        print(
            f"  sequential / parallel speedup: {r['speedup']:.2f}x "
            f"(extract step {_fmt(r.get('extract_speedup'), '.2f')}x)"
        )


def bench_startup(args: argparse.Namespace) -> dict[str, Any]:
    """Wall time of short commands: ``headwater --help``, ``headwater list``, imports."""
    bin_dir = Path(sys.executable).parent
    script = bin_dir / "headwater"
    if script.exists():
        headwater_cmd = [str(script)]
    elif shutil.which("headwater"):
        headwater_cmd = [str(shutil.which("headwater"))]
    else:
        headwater_cmd = [sys.executable, "-m", "headwater"]
    commands = {
        "headwater --help": [*headwater_cmd, "--help"],
        "headwater list": [*headwater_cmd, "list"],
        'python -c "import headwater"': [sys.executable, "-c", "import headwater"],
        'python -c "import dlt"': [sys.executable, "-c", "import dlt"],
        "python -c pass": [sys.executable, "-c", "pass"],
    }
    # the piped peers' start-up, which their rows of the side-by-side table include
    from benchmarks.peers import PeerUnavailable, ensure_venv

    try:
        airbyte = ensure_venv("airbyte")
        commands["Airbyte source-declarative-manifest spec"] = [
            str(airbyte.parent / "source-declarative-manifest"),
            "spec",
        ]
        singer = ensure_venv("singer")
        commands["Singer SDK tap imports"] = [
            str(singer),
            "-c",
            "import singer_sdk, singer_sdk.streams, singer_sdk.authenticators",
        ]
    except PeerUnavailable as exc:
        print(f"   peers' start-up not measured: {exc}")
    print(f"\n-- startup: median of {STARTUP_RUNS} runs each (after a warm-up) ...", flush=True)
    work = Path(tempfile.mkdtemp(prefix="headwater-bench-startup-"))
    results: dict[str, Any] = {}
    try:
        env = _clean_env(work)
        for label, command in commands.items():
            times: list[float] = []
            error = None
            for i in range(STARTUP_RUNS + 1):
                started = time.perf_counter()
                try:
                    done = subprocess.run(
                        command,
                        cwd=work,
                        env=env,
                        stdin=subprocess.DEVNULL,
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.PIPE,
                        timeout=120,
                        start_new_session=True,
                    )
                except subprocess.TimeoutExpired:
                    error = "timed out after 120 s"
                    break
                if done.returncode != 0:
                    stderr = done.stderr.decode(errors="replace")[-300:]
                    error = f"exit code {done.returncode}: {stderr}"
                    break
                if i:  # the first run only warms the caches
                    times.append(time.perf_counter() - started)
            results[label] = {
                "ok": error is None,
                "error": error,
                "median_seconds": round(statistics.median(times), 4) if times else None,
                "min_seconds": round(min(times), 4) if times else None,
                "runs": len(times),
            }
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("\n== startup (wall time of a fresh process) ==")
    rows = [
        (
            label,
            _fmt(r["median_seconds"], ".3f") if r["ok"] else "FAILED",
            _fmt(r["min_seconds"], ".3f") if r["ok"] else "",
        )
        for label, r in results.items()
    ]
    print(_table(("command", "median s", "min s"), rows))
    for label, r in results.items():
        if not r["ok"]:
            print(f"  FAILED {label}: {r['error']}")
    return results


#: Fixed cost: records of the one-page API, runs of ``headwater run``.
FIXED_COST_RECORDS = 50
FIXED_COST_RUNS = 5


def _importtime(stderr: str, top: int = 10) -> dict[str, Any]:
    """A ``python -X importtime`` log summed by top-level package: the packages whose
    modules took the most time of their own (ms), and the total."""
    by_package: dict[str, float] = {}
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        parts = line.split(":", 1)[1].split("|")
        if len(parts) != 3 or not parts[0].strip().isdigit():
            continue
        package = parts[2].strip().split(".")[0]
        by_package[package] = by_package.get(package, 0.0) + int(parts[0]) / 1000
    ranked = sorted(by_package.items(), key=lambda kv: -kv[1])
    return {
        "total_ms": round(sum(by_package.values()), 1),
        "top_ms": {k: round(v, 1) for k, v in ranked[:top]},
    }


def _trace_phases(pipelines_dir: Path, name: str) -> dict[str, float]:
    """dlt's step times (extract, normalize, load) of the last run of pipeline ``name``
    (``{}`` when there is no trace)."""
    import dlt

    try:
        trace = dlt.attach(pipeline_name=name, pipelines_dir=str(pipelines_dir)).last_trace
    except Exception:
        return {}
    out: dict[str, float] = {}
    for step in getattr(trace, "steps", None) or ():
        if step.step in ("extract", "normalize", "load") and step.finished_at is not None:
            seconds = (step.finished_at - step.started_at).total_seconds()
            out[f"{step.step}_step"] = out.get(f"{step.step}_step", 0.0) + seconds
    return out


def bench_fixed_cost(args: argparse.Namespace) -> dict[str, Any]:
    """What a ``headwater run`` costs besides its requests: a one-page resource, run as
    a user does (a fresh ``headwater run`` process, a fresh working directory each time).

    Per run: the wall time of the process, the seconds the simulator spent answering
    (token + page), the time from the process start to the first request (imports,
    settings, the source) and from the last answer to the exit (extract's end, normalize,
    load, the DuckDB file closed). Medians of :data:`FIXED_COST_RUNS` after a warm-up.
    One more run under ``python -X importtime`` says which packages the imports are."""
    print(
        f"\n-- fixed cost: one-page `headwater run directory` ({FIXED_COST_RECORDS} records), "
        f"median of {FIXED_COST_RUNS} ...",
        flush=True,
    )
    from headwater.settings import env_var

    base = Path(tempfile.mkdtemp(prefix="headwater-bench-fixed-"))
    runs: list[dict[str, float]] = []
    result: dict[str, Any] = {"ok": False, "records": FIXED_COST_RECORDS}
    try:
        with Server(
            "--connector", "directory", "--records", str(FIXED_COST_RECORDS)
        ) as server:  # fmt: skip
            settings = server.info["settings"]
            for i in range(FIXED_COST_RUNS + 2):
                work = base / f"run{i}"
                work.mkdir()
                env = _clean_env(work)
                env.update({env_var("directory", k): str(v) for k, v in settings.items()})
                importtime = i == FIXED_COST_RUNS + 1
                flags = ["-X", "importtime"] if importtime else []
                command = [sys.executable, *flags, "-m", "headwater", "run", "directory"]
                command += ["--progress", "off"]
                server.command("reset")
                started_wall, started = time.time(), time.perf_counter()
                done = subprocess.run(
                    command,
                    cwd=work,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                    timeout=300,
                    start_new_session=True,
                )
                wall = time.perf_counter() - started
                ended_wall = started_wall + wall
                stderr = done.stderr.decode(errors="replace")
                if done.returncode != 0:
                    result["error"] = f"exit code {done.returncode}: {stderr[-300:]}"
                    return result
                if importtime:
                    result["importtime"] = _importtime(stderr)
                    continue
                stats = server.command("stats")
                if i == 0 or stats.get("first_arrival") is None:
                    continue  # warm-up
                busy = stats["busy_seconds"]
                phases = _trace_phases(work / ".headwater" / "pipelines", "headwater_directory")
                runs.append(
                    {
                        **phases,
                        "wall": wall,
                        "requests": busy,
                        "above_requests": wall - busy,
                        "to_first_request": stats["first_arrival"] - started_wall,
                        "after_last_answer": ended_wall - stats["last_end"],
                        "request_count": stats["requests"],
                    }
                )
    finally:
        shutil.rmtree(base, ignore_errors=True)
    keys = {k for r in runs for k in r}
    medians = {k: round(statistics.median(r[k] for r in runs if k in r), 4) for k in keys}
    result.update({"ok": True, "runs": len(runs), **medians})
    print("\n== fixed cost of a one-page `headwater run` (medians, seconds) ==")
    rows = [
        ("wall time of the process", _fmt(medians["wall"], ".3f")),
        (
            f"requests ({medians['request_count']:.0f}: token + page), at the server",
            _fmt(medians["requests"], ".4f"),
        ),
        ("wall time above the requests", _fmt(medians["above_requests"], ".3f")),
        ("  process start to first request", _fmt(medians["to_first_request"], ".3f")),
        ("  last answer to exit", _fmt(medians["after_last_answer"], ".3f")),
        ("dlt's extract step (has the requests)", _fmt(medians.get("extract_step"), ".3f")),
        ("dlt's normalize step", _fmt(medians.get("normalize_step"), ".3f")),
        ("dlt's load step", _fmt(medians.get("load_step"), ".3f")),
    ]
    print(_table(("measure", "seconds"), rows))
    imports = result.get("importtime")
    if imports:
        top = ", ".join(f"{k} {v:.0f}" for k, v in list(imports["top_ms"].items())[:8])
        print(
            f"  imports (python -X importtime, self time by package, ms): {top}; "
            f"all {imports['total_ms']:.0f} ms"
        )
    return result


# ---------------------------------------------------------------------- top level


def _environment() -> dict[str, Any]:
    """Where the numbers were measured."""
    from importlib import metadata

    versions = {}
    for dist in ("headwater", "dlt", "duckdb", "requests", "orjson"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = None
    commit = None
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=10,
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain"], cwd=REPO, capture_output=True, text=True, timeout=10
        )
        if head.returncode == 0:
            commit = head.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {
        "load_average_at_start": [round(x, 2) for x in load] if load else None,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "versions": versions,
        "commit": commit,
    }


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Headwater throughput, memory, fan-out and start-up benchmarks "
        "against a local simulated API.",
    )
    parser.add_argument(
        "--records",
        default=None,
        help="comma-separated record counts for the flat cases (default: "
        + ",".join(str(n) for n in DEFAULT_RECORDS)
        + "; with --check, the baseline's)",
    )
    parser.add_argument(
        "--cases",
        default=None,
        help=f"comma-separated cases to run (default: all: {', '.join(ALL_CASES)}; with "
        "--check or --update-baseline, the guarded ones)",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=None,
        help="runs per case; medians are reported (default 1; with --check, the baseline's)",
    )
    guard = parser.add_mutually_exclusive_group()
    guard.add_argument(
        "--check",
        action="store_true",
        help="measure the guarded cases and fail (exit 1, one line per regression) when a "
        f"throughput ratio to the requests loop dropped more than {TOLERANCE * 100:.0f}%% "
        "below the baseline",
    )
    guard.add_argument(
        "--update-baseline",
        action="store_true",
        help="measure the guarded cases and write their ratios as the new baseline",
    )
    parser.add_argument(
        "--from-results",
        type=Path,
        default=None,
        metavar="JSON",
        help="with --check or --update-baseline: use the results file of an earlier run "
        "(e.g. benchmarks/results/latest.json) instead of measuring",
    )
    parser.add_argument(
        "--baseline",
        type=Path,
        default=BASELINE,
        help="the baseline file of --check / --update-baseline (default: %(default)s)",
    )
    parser.add_argument(
        "--quick", action="store_true", help=f"smoke test: {QUICK_RECORDS:,} records only"
    )
    parser.add_argument(
        "--all",
        action="store_true",
        help=f"also run dlt_rest_api_defaults above {DEFAULTS_LIMIT:,} records (slow, GBs)",
    )
    parser.add_argument(
        "--max-workers",
        type=int,
        default=None,
        help="fanout: Headwater's max_workers setting (default: Headwater's default)",
    )
    parser.add_argument(
        "--fanout-parents",
        type=int,
        default=DEFAULT_FANOUT_PARENTS,
        help="fanout: parent records, one child request each (default %(default)s)",
    )
    parser.add_argument(
        "--child-latency",
        type=float,
        default=0.02,
        help="fanout: seconds per child request (default %(default)s)",
    )
    parser.add_argument(
        "--page-latency",
        type=float,
        default=0.02,
        help="parallel_pages: seconds per page request (default %(default)s)",
    )
    parser.add_argument(
        "--parallel-pages",
        type=int,
        default=8,
        help="parallel_pages: value of Headwater's parallel_pages setting, once it exists "
        "(default %(default)s)",
    )
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="set an environment variable in every case process (repeatable), "
        "e.g. --env HEADWATER_ARROW=0",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=900.0,
        help="seconds before a case process is killed (default %(default)s)",
    )
    parser.add_argument(
        "--output", type=Path, default=RESULTS, help="JSON results file (default: %(default)s)"
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the temporary directory of failed cases"
    )
    args = parser.parse_args(argv)
    args.baseline_data = None
    if args.check:
        try:
            args.baseline_data = load_baseline(args.baseline)
        except BaselineError as exc:
            parser.exit(2, f"python -m benchmarks: error: {exc}\n")
    if args.check or args.update_baseline:
        if args.cases is None:
            guarded = list(GUARDED_CASES)
            if args.baseline_data is not None:
                guarded = ["requests_loop", *args.baseline_data["ratios"]]
            args.cases = ",".join(dict.fromkeys(guarded))
        if args.records is None:
            data = args.baseline_data
            args.records = str(data["records"] if data else CHECK_DEFAULT_RECORDS)
        if args.repeat is None:
            data = args.baseline_data
            args.repeat = int(data.get("repeat") or CHECK_DEFAULT_REPEAT) if data else 3
    if args.cases is None:
        args.cases = ",".join(ALL_CASES)
    if args.records is None:
        args.records = ",".join(str(n) for n in DEFAULT_RECORDS)
    if args.repeat is None:
        args.repeat = 1
    args.case_list = [c.strip() for c in args.cases.split(",") if c.strip()]
    unknown = [c for c in args.case_list if c not in ALL_CASES]
    if unknown:
        parser.error(f"unknown case(s) {', '.join(unknown)}; cases: {', '.join(ALL_CASES)}")
    if args.quick:
        args.counts = [QUICK_RECORDS]
    else:
        try:
            args.counts = [int(n.replace("_", "")) for n in args.records.split(",") if n.strip()]
        except ValueError:
            parser.error(f"--records must be comma-separated integers, got {args.records!r}")
        if not args.counts or any(n < 1 for n in args.counts):
            parser.error("--records needs at least one positive count")
    args.extra_env = {}
    for pair in args.env:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            parser.error(f"--env needs KEY=VALUE, got {pair!r}")
        args.extra_env[key] = value
    if args.repeat < 1:
        parser.error("--repeat must be >= 1")
    if args.from_results is not None and not (args.check or args.update_baseline):
        parser.error("--from-results needs --check or --update-baseline")
    if (args.check or args.update_baseline) and (
        len(args.counts) != 1 or "requests_loop" not in args.case_list or args.quick
    ):
        parser.error(
            "--check and --update-baseline need one record count (no --quick) and the "
            "requests_loop case (the reference of every ratio)"
        )
    if args.max_workers is not None and not 1 <= args.max_workers <= 64:
        parser.error("--max-workers must be between 1 and 64")
    if args.fanout_parents < 1:
        parser.error("--fanout-parents must be >= 1")
    if args.parallel_pages < 1:
        parser.error("--parallel-pages must be >= 1")
    return args


def _strip_raw(value: Any) -> Any:
    """The results without bulky per-run log tails (kept only for failures)."""
    if isinstance(value, dict):
        return {k: _strip_raw(v) for k, v in value.items() if not (k == "log_tail" and not v)}
    if isinstance(value, list):
        return [_strip_raw(v) for v in value]
    return value


def _failures(results: Mapping[str, Any]) -> list[str]:
    failed: list[str] = []
    for count, cases in results.get("flat", {}).items():
        for name, s in cases.items():
            if not s.get("ok") and not s.get("skipped"):
                failed.append(f"{name} @ {count}: {s.get('error')}")
    fanout = results.get("fanout")
    if fanout is not None and not fanout.get("ok"):
        failed.append(f"fanout: {fanout.get('error')}")
    pages = results.get("parallel_pages")
    if pages is not None:
        for mode in ("sequential", "parallel"):
            if mode in pages and not pages[mode].get("ok"):
                failed.append(f"parallel_pages {mode}: {pages[mode].get('error')}")
    for label, r in results.get("startup", {}).items():
        if not r.get("ok"):
            failed.append(f"startup {label}: {r.get('error')}")
    return failed


def _derive(results: dict[str, Any]) -> None:
    """Add the cross-case ratios of the flat cases to ``results``."""
    flat = results.get("flat")
    if not flat:
        return
    results["ratios"] = {str(n): flat_ratios(s) for n, s in flat.items()}
    rss = {
        n: s["headwater"]["peak_rss_mb"]
        for n, s in flat.items()
        if s.get("headwater", {}).get("ok")
    }
    if len(rss) >= 2:
        low, high = min(rss), max(rss)
        results["headwater_rss_growth"] = {
            "from_records": low,
            "to_records": high,
            "ratio": _ratio(rss[high], rss[low]),
        }


def _compile_bytecode() -> None:
    """Compile the environment's modules once, as ``pip install`` does at install time.

    uv does not compile at install, and with ``PYTHONDONTWRITEBYTECODE`` set (as on this
    machine) nothing is ever cached: every case process would then compile dlt and its
    dependencies from source, about 0.45 s that no pip-installed user pays. Measuring
    that would favour the cases that import less (the plain loop)."""
    import compileall
    import sysconfig

    paths = {sysconfig.get_paths()[key] for key in ("purelib", "platlib")}
    started = time.perf_counter()
    for path in sorted(paths):
        compileall.compile_dir(path, quiet=2, workers=0)
    print(f"bytecode compiled in {time.perf_counter() - started:.1f} s (as pip install does)")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the selected benchmarks, print the tables, write the JSON results."""
    args = _parse(argv)
    if args.from_results is not None:
        return _guard_from(args)
    _compile_bytecode()
    _EXTRA_ENV.clear()
    _EXTRA_ENV.update(args.extra_env)
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    cases = args.case_list
    started = time.perf_counter()
    results: dict[str, Any] = {
        "generated_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "environment": _environment(),
        "options": {
            "records": args.counts,
            "cases": cases,
            "repeat": args.repeat,
            "quick": args.quick,
            "all": args.all,
            "timeout": args.timeout,
            "env": args.extra_env,
        },
    }
    env = results["environment"]
    print(
        f"Headwater benchmarks: Python {env['python']}, dlt {env['versions']['dlt']}, "
        f"duckdb {env['versions']['duckdb']}, {env['cpus']} CPUs, commit {env['commit']}; "
        f"cases {', '.join(cases)}; repeat {args.repeat}"
        + (f"; env {args.extra_env}" if args.extra_env else "")
    )
    load = env.get("load_average_at_start")
    if load and env["cpus"] and load[0] > 0.5 * env["cpus"]:
        print(
            f"warning: the machine is busy (load average {load[0]:.1f} on {env['cpus']} CPUs); "
            "numbers will be noisy — use --repeat 3 on a quiet machine for figures to quote"
        )
    interrupted = False
    try:
        if any(c in FLAT_CASES for c in cases):
            results["flat"] = {}
            bench_flat(args.counts, cases, args, results["flat"])
        if "fanout" in cases:
            results["fanout"] = bench_fanout(args)
        if "parallel_pages" in cases:
            results["parallel_pages"] = bench_parallel_pages(args)
        if "startup" in cases:
            results["startup"] = bench_startup(args)
        if "fixed_cost" in cases:
            results["fixed_cost"] = bench_fixed_cost(args)
    except KeyboardInterrupt:
        interrupted = True
        print("\ninterrupted: stopping every benchmark process", file=sys.stderr)
    finally:
        _cleanup()
        signal.signal(signal.SIGTERM, previous)
        _derive(results)
        results["total_seconds"] = round(time.perf_counter() - started, 1)
        if hasattr(os, "getloadavg"):
            results["environment"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
        results["interrupted"] = interrupted
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(_strip_raw(results), indent=2, default=str) + "\n")

    print_summary(results)
    print(f"\nresults: {args.output}  ({results['total_seconds']:.0f} s in all)")
    if (args.check or args.update_baseline) and not interrupted:
        return _guard(args, results)
    failed = _failures(results)
    if failed:
        print("\nFAILED:", file=sys.stderr)
        for line in failed:
            print(f"  {line}", file=sys.stderr)
        return 1
    return 130 if interrupted else 0


def _guard_from(args: argparse.Namespace) -> int:
    """``--check`` / ``--update-baseline`` on a results file written earlier (no run)."""
    try:
        results = json.loads(args.from_results.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        print(
            f"python -m benchmarks: error: cannot read {args.from_results}: {exc}",
            file=sys.stderr,
        )
        return 2
    counts = [int(n) for n in results.get("flat", {})]
    if args.counts[0] not in counts:
        print(
            f"python -m benchmarks: error: {args.from_results} has no {args.counts[0]:,}-record "
            f"results (it has {', '.join(f'{n:,}' for n in counts) or 'none'}); pass --records",
            file=sys.stderr,
        )
        return 2
    args.repeat = int(results.get("options", {}).get("repeat") or args.repeat)
    return _guard(args, results)


def _guard(args: argparse.Namespace, results: Mapping[str, Any]) -> int:
    """``--check``: compare with the baseline (exit 1 on a regression);
    ``--update-baseline``: write it (exit 1 if a guarded case failed)."""
    count = args.counts[0]
    flat = results.get("flat", {})
    cases = flat.get(count) or flat.get(str(count)) or {}
    load = results["environment"].get("load_average_at_start")
    if args.update_baseline:
        try:
            baseline = make_baseline(count, args.repeat, cases, results["environment"])
        except BaselineError as exc:
            print(f"\n{exc}", file=sys.stderr)
            return 1
        args.baseline.write_text(json.dumps(baseline, indent=2) + "\n")
        ratios = ", ".join(f"{n} {r:.2f}x" for n, r in baseline["ratios"].items())
        print(f"\nbaseline written to {args.baseline}: {ratios} the requests loop")
        return 0
    problems = compare(args.baseline_data, cases)
    guarded = args.baseline_data["ratios"]
    ratios = ", ".join(
        f"{n} {r:.2f}x" for n, r in ratios_to_loop(cases).items() if r is not None and n in guarded
    )
    if problems:
        print(f"\ncheck FAILED against {args.baseline} (load average {load}):", file=sys.stderr)
        for line in problems:
            print(line, file=sys.stderr)
        return 1
    print(f"\ncheck OK against {args.baseline}: {ratios} the requests loop (load {load})")
    return 0


def print_summary(results: Mapping[str, Any]) -> None:
    """The headline ratios across every benchmark that ran."""
    lines = []
    for count, ratios in results.get("ratios", {}).items():
        parts = [
            f"{k.removesuffix('_vs_requests_loop')} {v:.2f}x"
            for k, v in ratios.items()
            if v and k.endswith("_vs_requests_loop")
        ]
        if parts:
            lines.append(f"  {int(count):,} records, throughput vs the loop: " + ", ".join(parts))
        parts = [
            f"{k.removeprefix('headwater_vs_')} {v:.2f}x"
            for k, v in ratios.items()
            if v and k.startswith("headwater_vs_")
        ]
        if parts:
            lines.append(f"  {int(count):,} records, headwater throughput vs: " + ", ".join(parts))
    growth = results.get("headwater_rss_growth")
    if growth and growth.get("ratio"):
        lines.append(
            f"  headwater peak RSS {growth['to_records']:,} / {growth['from_records']:,} records: "
            f"{growth['ratio']:.2f}x"
        )
    fanout = results.get("fanout")
    if fanout and fanout.get("ok"):
        lines.append(
            f"  fanout elapsed / ideal: extract {_fmt(fanout['extract_vs_ideal'], '.2f')}x, "
            f"server-side child span {_fmt(fanout['child_span_vs_ideal'], '.2f')}x "
            f"(ideal {fanout['ideal_seconds']:.2f} s)"
        )
    pages = results.get("parallel_pages")
    if pages:
        if pages.get("available"):
            lines.append(
                f"  parallel_pages sequential / parallel: {_fmt(pages.get('speedup'), '.2f')}x"
            )
        else:
            lines.append("  parallel pages: not available")
    startup = results.get("startup")
    if startup:
        parts = [
            f"{label} {r['median_seconds']:.2f} s" for label, r in startup.items() if r.get("ok")
        ]
        lines.append("  startup: " + "; ".join(parts))
    if lines:
        print("\n== summary ==")
        print("\n".join(lines))
