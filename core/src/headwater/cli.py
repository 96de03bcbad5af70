"""The ``headwater`` command.

Exit codes: 0 success; 1 the run failed (API or load error); 2 usage or configuration
error (unknown connector, missing or invalid setting) — one readable line, no
traceback (``--debug`` shows it), nothing loaded.

``--help`` and ``list`` never import dlt: it is imported by the commands that run.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Sequence
from typing import Any

from headwater import __version__, redact
from headwater.errors import ConfigError, HeadwaterError
from headwater.term import BOLD, GREEN, RED, YELLOW, style

__all__ = ["main"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

_EPILOG = """\
examples:
  headwater list
  headwater describe directory
  export SOURCES__DIRECTORY__CLIENT_ID=... SOURCES__DIRECTORY__CLIENT_SECRET=...
  headwater check directory
  headwater run directory --destination duckdb
  headwater demo                       # every connector against its simulated API

exit codes: 0 success, 1 the run failed, 2 usage or configuration error
"""


class _Parser(argparse.ArgumentParser):
    """argparse with the contract's exit code 2 and a one-line error."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USAGE, f"headwater: error: {message} (see `{self.prog} --help`)\n")


def _add_progress(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--progress",
        choices=("auto", "bar", "log", "off"),
        default="auto",
        help="progress on stderr: a live line on a terminal (bar), timestamped lines "
        "otherwise (log), or none (default: auto)",
    )


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="headwater",
        description="Pull data from REST APIs into any dlt destination.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"headwater {__version__}")
    parser.add_argument(
        "--debug", action="store_true", help="show tracebacks and debug logs (secrets redacted)"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="show progress logs")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    sub.add_parser(
        "list",
        help="list installed connectors",
        description="List installed connectors, their distribution and version, and resources.",
        epilog="examples:\n  headwater list\n"
        "  pip install headwater-hr && headwater list     # hr appears",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p = sub.add_parser(
        "describe",
        help="show everything a connector declares",
        description="Show a connector's auth, settings (with env var names), resources, "
        "pagination, schema columns, retry policy and response rules.",
        epilog="example:\n  headwater describe directory",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("name", help="connector name")
    p = sub.add_parser(
        "check",
        help="check settings and fetch one page of each resource, loading nothing",
        description="Resolve and validate settings, obtain a token, fetch the first page of "
        "each resource and report per resource. Nothing is loaded.",
        epilog="example:\n  headwater check directory --base-url http://127.0.0.1:8080",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("name", help="connector name")
    p.add_argument("--base-url", help="the API's base URL (overrides settings)")
    p = sub.add_parser(
        "run",
        help="load a connector into a destination",
        description="Extract every (or the chosen) resource of a connector and load it.",
        epilog="examples:\n  headwater run directory\n"
        "  headwater run directory --resource directory_users --destination duckdb\n"
        "  headwater run directory --full-refresh --dataset-name users_raw",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("name", help="connector name")
    p.add_argument(
        "--resource",
        action="append",
        dest="resources",
        metavar="R",
        help="load only this resource (repeatable)",
    )
    p.add_argument("--destination", default="duckdb", help="dlt destination (default: duckdb)")
    p.add_argument("--dataset-name", help="dataset (schema) name (default: <connector>_data)")
    p.add_argument("--pipeline-name", help="dlt pipeline name (default: headwater_<connector>)")
    p.add_argument("--base-url", help="the API's base URL (overrides settings)")
    p.add_argument(
        "--full-refresh",
        action="store_true",
        help="drop the connector's tables and state first, then load everything",
    )
    p.add_argument(
        "--all-or-nothing",
        action="store_true",
        help="load nothing if any resource fails (default: load the resources that "
        "succeeded, report the ones that failed, exit 1)",
    )
    _add_progress(p)
    p = sub.add_parser(
        "demo",
        help="run connectors against their simulated APIs into DuckDB",
        description="Start the API simulator for every installed connector (or those named), "
        "load each into one local DuckDB file, and show what was loaded. "
        "Needs no credentials and no network beyond 127.0.0.1.",
        epilog="examples:\n  headwater demo\n  headwater demo directory --records 5000",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("names", nargs="*", metavar="NAME", help="connectors (default: all installed)")
    p.add_argument(
        "--output", default="headwater_demo.duckdb", help="DuckDB file (default: %(default)s)"
    )
    p.add_argument("--records", type=int, help="records per top-level resource")
    _add_progress(p)
    p = sub.add_parser(
        "query",
        help="query what `run` loaded into DuckDB, read-only",
        description="Run SQL on the DuckDB file `headwater run NAME` loads into from this "
        "folder (./headwater_<name>.duckdb, or the file DESTINATION__DUCKDB__CREDENTIALS "
        "names), opened read-only, and print the result as a table. Unqualified table "
        "names are looked up in the dataset. Needs no DuckDB command line.",
        epilog="examples:\n"
        '  headwater query directory "SELECT count(*) FROM directory_users"\n'
        '  headwater query hr "SELECT * FROM hr_data.employees LIMIT 10"\n'
        "  headwater query directory --file headwater_demo.duckdb "
        '"SELECT * FROM directory.directory_users LIMIT 5"',
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("name", help="connector name")
    p.add_argument("sql", metavar="SQL", help="the query (DuckDB SQL)")
    p.add_argument(
        "--destination", default="duckdb", help="the run's destination (only duckdb is read)"
    )
    p.add_argument("--dataset-name", help="dataset (schema) name (default: <connector>_data)")
    p.add_argument("--pipeline-name", help="dlt pipeline name (default: headwater_<connector>)")
    p.add_argument("--file", help="the DuckDB file (default: the one `run` loads into)")
    p = sub.add_parser(
        "simulate",
        help="serve a connector's simulated API in the foreground",
        description="Serve one connector's API on 127.0.0.1 from its declared specs, with "
        "generated records and optional faults, and print the settings that point "
        "Headwater at it. Stop with Ctrl-C.",
        epilog="examples:\n  headwater simulate directory --port 8080\n"
        "  headwater simulate hr --fault status,status=429,retry_after=1,count=3\n"
        "  headwater simulate directory --fault drop,count=2 --latency 0.05",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("name", help="connector name")
    p.add_argument("--port", type=int, default=0, help="port (default: a free one)")
    p.add_argument("--records", type=int, help="records per top-level resource")
    p.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="KIND[,key=value...]",
        help="inject a fault: status, drop, malformed_json, html_200 or latency, with "
        "Fault fields as key=value (resource, count, after, every, status, retry_after, delay)",
    )
    p.add_argument("--latency", type=float, default=0.0, help="seconds added to every request")
    p.add_argument("--token-ttl", type=float, default=3600.0, help="token lifetime in seconds")
    p.add_argument("--rate-limit", metavar="N/PERIOD", help="answer 429 beyond this, e.g. 5/second")
    p = sub.add_parser(
        "new",
        help="scaffold a new connector distribution",
        description="Create a connector distribution for a new API: pyproject with the "
        "entry point, the hooks module, a JSON Schema, a settings schema, tests that run the "
        "conformance suite, and a README. It installs and its tests pass as generated.",
        epilog="examples:\n  headwater new acme\n  headwater new acme --directory ~/src\n"
        '  cd headwater-acme && pip install -e ".[duckdb,test]" && pytest',
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("name", help="connector name: lower case letters, digits and _")
    p.add_argument(
        "--directory",
        default=".",
        help="where to create headwater-NAME/ (default: the current directory)",
    )
    p.add_argument(
        "--force", action="store_true", help="write into headwater-NAME/ even if it exists"
    )
    sub.add_parser(
        "plugins",
        help="list plugins and the hooks each implements",
        description="List registered plugins, their distribution and implemented hooks.",
        epilog="examples:\n  headwater plugins\n"
        "  HEADWATER_DISABLE_PLUGINS=my_plugin headwater plugins   # without one plugin",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    return parser


def _setup_logging(debug: bool, verbose: bool) -> None:
    redact.install()
    level = logging.DEBUG if debug else logging.INFO if verbose else logging.WARNING
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # dlt logs through its own logger; route it through ours at the same level.
    os.environ.setdefault("RUNTIME__LOG_LEVEL", logging.getLevelName(level))
    os.environ.setdefault("RUNTIME__LOG_FORMAT", "{levelname} {name}: {message}")


def _print_table(rows: Sequence[Sequence[Any]], header: Sequence[str]) -> None:
    cells = [list(map(str, header))] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    for n, row in enumerate(cells):
        line = "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
        print(style(line, BOLD, stream=sys.stdout) if n == 0 else line)
        if n == 0:
            print("  ".join("-" * w for w in widths))


# ---------------------------------------------------------------- commands


def cmd_list(args: argparse.Namespace) -> int:
    from headwater.plugins import get_registry

    registry = get_registry()
    rows = []
    for connector in registry.connectors():
        dist = registry.plugin_distribution(registry.owner(connector.name))
        rows.append(
            (
                connector.name,
                dist[0] if dist else f"(plugin {registry.owner(connector.name)})",
                dist[1] if dist else "",
                ", ".join(connector.resource_names),
            )
        )
    if not rows:
        print("no connectors installed; try `pip install headwater-directory`")
        return EXIT_OK
    _print_table(rows, ("connector", "distribution", "version", "resources"))
    return EXIT_OK


def cmd_describe(args: argparse.Namespace) -> int:
    from headwater.describe import describe_connector

    print(describe_connector(args.name), end="")
    return EXIT_OK


def cmd_plugins(args: argparse.Namespace) -> int:
    from headwater.plugins import describe_plugins, get_plugin_manager

    rows = [
        (p["name"], f"{p['distribution']} {p['version']}".strip(), ", ".join(p["hooks"]))
        for p in describe_plugins(get_plugin_manager())
    ]
    _print_table(rows, ("plugin", "distribution", "hooks"))
    return EXIT_OK


def _settings_from_args(args: argparse.Namespace) -> dict[str, Any]:
    return {"base_url": args.base_url} if getattr(args, "base_url", None) else {}


def cmd_check(args: argparse.Namespace) -> int:
    from headwater.check import check_connector

    results = check_connector(args.name, _settings_from_args(args))
    failed = False
    for name, ok, detail in results:
        mark = (
            style("ok  ", GREEN, stream=sys.stdout) if ok else style("FAIL", RED, stream=sys.stdout)
        )
        print(f"{mark}  {name}: {detail}")
        failed |= not ok
    return EXIT_FAILED if failed else EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
    from headwater.progress import make_progress
    from headwater.run import run_connector

    started = time.monotonic()
    result = run_connector(
        args.name,
        _settings_from_args(args),
        resources=args.resources,
        destination=args.destination,
        dataset_name=args.dataset_name,
        pipeline_name=args.pipeline_name,
        full_refresh=args.full_refresh,
        all_or_nothing=args.all_or_nothing,
        progress=make_progress(args.progress),
    )
    elapsed = time.monotonic() - started
    rows = sorted(result.row_counts.items())
    summary = (
        f"loaded {args.name} into {result.destination} dataset {result.dataset_name} "
        f"in {elapsed:.1f} s"
    )
    print(style(summary, BOLD, stream=sys.stdout))
    if rows:
        _print_table(rows, ("table", "rows"))
    else:
        print("no new rows")
    if result.location:
        print(f"data: {result.location}")
    if result.hint:
        print(f"look: {result.hint}")
    for warning in result.warnings:
        prefix = style("headwater: warning:", YELLOW, BOLD, stream=sys.stderr)
        print(f"{prefix} {redact.redact(warning)}", file=sys.stderr)
    for failure in result.failures:
        print(f"{_error_prefix()} {redact.redact(failure)}", file=sys.stderr)
    return EXIT_FAILED if result.failures else EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    from headwater.demo import run_demo
    from headwater.progress import make_progress

    result = run_demo(
        args.names,
        output=args.output,
        records=args.records,
        progress=make_progress(args.progress),
    )
    print(f"\nloaded into {result.database} in {result.seconds:.1f} s:")
    _print_table(
        [(f"{dataset}.{table}", rows) for dataset, table, rows in result.tables],
        ("table", "rows"),
    )
    if result.tables:
        from headwater.query import query_hint

        dataset, table, _ = result.tables[0]
        print(f"\nquery it: {query_hint(dataset, dataset, table, file=str(result.database))}")
    return EXIT_OK


def cmd_query(args: argparse.Namespace) -> int:
    from headwater.query import MAX_ROWS, format_rows, run_query

    result = run_query(
        args.name,
        args.sql,
        pipeline_name=args.pipeline_name,
        dataset_name=args.dataset_name,
        destination=args.destination,
        file=args.file,
    )
    if result.columns:
        _print_table(format_rows(result.rows), result.columns)
        print(f"({len(result.rows)} row{'' if len(result.rows) == 1 else 's'})")
    if result.truncated:
        print(f"showing the first {MAX_ROWS} rows: add a LIMIT to see others", file=sys.stderr)
    return EXIT_OK


def _parse_fault(text: str) -> Any:
    from typing import get_args

    from headwater.testing import Fault
    from headwater.testing.simulator import FaultKind

    kind, _, rest = text.partition(",")
    if kind not in get_args(FaultKind):
        raise ConfigError(
            f"--fault {text}: unknown fault kind {kind!r}; use one of: "
            f"{', '.join(get_args(FaultKind))}"
        )
    fields: dict[str, Any] = {}
    for item in filter(None, rest.split(",")):
        key, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(f"--fault {text}: expected key=value, got {item!r}")
        if key in ("count", "after", "status", "every"):
            fields[key] = None if value == "none" else int(value)
        elif key == "delay":
            fields[key] = float(value)
        else:
            fields[key] = value
    try:
        return Fault(kind, **fields)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"--fault {text}: {exc}") from None


def cmd_simulate(args: argparse.Namespace) -> int:
    from headwater.plugins import get_registry
    from headwater.settings import env_var
    from headwater.testing import Simulator

    connector = get_registry().get(args.name)
    faults = [_parse_fault(f) for f in args.fault]
    counts = None
    if args.records is not None:
        counts = {r.name: args.records for r in connector.resources if r.parent is None}
    sim = Simulator(
        connector,
        counts,
        port=args.port,
        faults=faults,
        latency=args.latency,
        token_ttl=args.token_ttl,
        rate_limit=args.rate_limit,
    )
    with sim:
        print(f"serving {connector.name} at {sim.base_url} (Ctrl-C to stop)")
        print("these simulator-only credentials point Headwater at it:")
        for key, value in sim.settings.items():
            print(f"export {env_var(connector.name, key)}={value}")
        sys.stdout.flush()
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            print(f"\nstopped after {len(sim.requests)} requests")
    return EXIT_OK


def cmd_new(args: argparse.Namespace) -> int:
    from headwater.scaffold import cmd_new as scaffold

    return scaffold(args)


COMMANDS = {
    "new": cmd_new,
    "demo": cmd_demo,
    "simulate": cmd_simulate,
    "list": cmd_list,
    "describe": cmd_describe,
    "check": cmd_check,
    "run": cmd_run,
    "query": cmd_query,
    "plugins": cmd_plugins,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``headwater`` command; returns the exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return EXIT_USAGE
    # Headwater does not phone home on the user's behalf; RUNTIME__DLTHUB_TELEMETRY=true
    # turns dlt's anonymous telemetry back on.
    os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
    _setup_logging(args.debug, args.verbose)
    try:
        return COMMANDS[args.command](args)
    except ConfigError as exc:
        return _fail(exc, EXIT_USAGE, args.debug)
    except HeadwaterError as exc:
        return _fail(exc, EXIT_FAILED, args.debug)
    except KeyboardInterrupt:
        print("headwater: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        from headwater.run import explain

        known = explain(exc)
        if known is not None:
            return _fail(
                known,
                EXIT_USAGE if isinstance(known, ConfigError) else EXIT_FAILED,
                args.debug,
                original=exc,
            )
        return _fail(exc, EXIT_FAILED, args.debug, unexpected=True)


def _fail(
    exc: BaseException,
    code: int,
    debug: bool,
    *,
    original: BaseException | None = None,
    unexpected: bool = False,
) -> int:
    if debug:
        import traceback

        text = "".join(traceback.format_exception(original or exc))
        print(redact.redact(text), file=sys.stderr, end="")
    message = redact.redact(str(exc)).strip().splitlines()
    line = message[0] if message else type(exc).__name__
    if unexpected:
        line = f"unexpected {type(exc).__name__}: {line} (rerun with --debug for the traceback)"
    print(f"{_error_prefix()} {line}", file=sys.stderr)
    return code


def _error_prefix() -> str:
    return style("headwater: error:", RED, BOLD, stream=sys.stderr)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
